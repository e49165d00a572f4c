"""Simulation campaigns: structures -> one FEFF task per site, run on a Dask cluster.

Planning (site selection, input generation, resume checks) happens on the client; each task
carries its ``feff.inp`` and POSCAR text, so workers only run FEFF and write the output tree.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from xasflow.data.reserved import ReservedSet
from xasflow.data.sites import DEFAULT_SYMPREC, absorbing_sites, parse_selection
from xasflow.errors import InputError, XasflowError, check_element
from xasflow.io.lightshow import material_id_for
from xasflow.io.structures import collect_inputs, read_structure
from xasflow.simulation.feff_cards import FEFF_CARD_SETS, FeffCardSet
from xasflow.simulation.inputs import build_site_input
from xasflow.simulation.ladder import DEFAULT_LADDER, RetryLadder
from xasflow.simulation.output import SiteState, site_dir, site_status, write_text
from xasflow.simulation.runner import SiteOutcome, SiteTask, feff_version, simulate_site

ORDERS = ("largest", "smallest", "coverage")


def estimate_seconds(n_fms: int, feff_card_set: FeffCardSet | None = None, n_atoms: int | None = None) -> float:
    """Estimated single-core CPU time (s) of one site with ``n_fms`` atoms in the FMS sphere.

    Uses the fitted cost model (:class:`~xasflow.simulation.feff_cards.CostModel`) of the FEFF card set
    (default ``published``).
    """
    from xasflow.simulation.feff_cards import PUBLISHED

    return (feff_card_set or PUBLISHED).estimate_seconds(n_fms, n_atoms)


@dataclass(frozen=True)
class CampaignConfig:
    """What to simulate and how.

    Attributes
    ----------
    feff_card_set
        The FEFF input parameters (:class:`~xasflow.simulation.feff_cards.FeffCardSet`).
    sites
        ``inequivalent`` (one site per symmetry class), ``all``, or comma-separated indices.
    order
        ``largest`` first (default: long tasks start early, short ones fill the gaps at the end)
        or ``smallest`` first (most sites per hour when the campaign is time-bounded), or
        ``coverage``: every material gets one site (its cheapest, or its first in ``priority``) before
        any gets a second, materials with no finished site first; within a round the sites listed in
        ``priority`` first (in that order), then the rest cheapest first.
    limit
        Keep only the first ``limit`` sites in scheduling order.
    timeout
        Per-site wall-time limit (s), ``None`` for none.
    retries
        How many times a failed or timed-out site is resubmitted (a site that failed every
        rung of the retry ladder is not: it would fail the same way).
    ladder
        Card changes tried in order when FEFF fails on a site (:mod:`xasflow.simulation.ladder`).
    reserved
        Materials whose ``element`` sites are reserved for evaluation: never simulated.
    retry_failed
        Run sites again that failed every rung of the same ladder in an earlier run.
    priority
        Site ids (``{material}_{site:03d}``), best first, that lead each round of the ``coverage`` order,
        e.g. from :func:`xasflow.active.campaign_order.diversity_priority` (written by
        ``scripts/campaign_priority.py``, read with :func:`read_priority`). Ids not planned are ignored;
        empty (default): the plain ``coverage`` order. Only with ``order="coverage"``.
    """

    element: str
    feff_card_set: FeffCardSet
    out: Path
    sites: str = "inequivalent"
    order: str = "largest"
    limit: int | None = None
    timeout: float | None = None
    retries: int = 1
    symprec: float = DEFAULT_SYMPREC
    ladder: RetryLadder = DEFAULT_LADDER
    reserved: ReservedSet | None = None
    retry_failed: bool = False
    priority: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_element(self.element)
        if self.order not in ORDERS:
            raise XasflowError(f"order {self.order!r} is not one of {', '.join(ORDERS)}")
        parse_selection(self.sites)
        if isinstance(self.priority, str):
            raise XasflowError("priority is a sequence of site ids, not one string")
        object.__setattr__(self, "priority", tuple(str(s) for s in self.priority))
        if self.priority and self.order != "coverage":
            raise XasflowError(f"a site priority orders the rounds of the coverage order, not order {self.order!r}")


def read_priority(path: str | Path) -> tuple[str, ...]:
    """Site ids of a priority file, best first: one id per line; blank lines and ``#`` comments skipped.

    Raises
    ------
    XasflowError
        If the file cannot be read or holds no site id.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise XasflowError(f"{path}: cannot read the site priority file ({exc.strerror or exc})") from None
    ids = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    ids = [i for i in ids if i]
    if not ids:
        raise XasflowError(f"{path}: the site priority file lists no site id")
    return tuple(dict.fromkeys(ids))


def _poscar_text(path: Path, structure) -> str:
    if path.name.upper().startswith(("POSCAR", "CONTCAR")):
        return path.read_text()  # keep the user's file byte for byte (site indices refer to it)
    from pymatgen.io.vasp import Poscar

    return Poscar(structure).get_str()


@dataclass
class Plan:
    """Tasks in scheduling order, plus what will not run and why."""

    config: CampaignConfig
    tasks: list[SiteTask] = field(default_factory=list)
    done: list[SiteOutcome] = field(default_factory=list)
    conflicts: list[SiteOutcome] = field(default_factory=list)
    problems: list[InputError] = field(default_factory=list)
    structures: int = 0
    reserved: list[SiteOutcome] = field(default_factory=list)
    given_up: list[SiteOutcome] = field(default_factory=list)
    #: Estimated CPU seconds of the tasks to run under every named FEFF card set (same sites).
    estimates_by_set: dict[str, float] = field(default_factory=dict)

    @property
    def estimated_cpu_seconds(self) -> float:
        return sum(t.est_seconds for t in self.tasks)


def plan_campaign(
    paths: Iterable[str | Path],
    config: CampaignConfig,
    progress: Callable[[list[Path]], Iterable[Path]] | None = None,
) -> Plan:
    """Read structures, select sites, build inputs and check the output tree; runs nothing."""
    plan = Plan(config=config)
    files, plan.problems = collect_inputs(paths)
    if not files:
        raise XasflowError("; ".join(str(p) for p in plan.problems) or "no structure files given")
    used_ids: dict[str, Path] = {}
    candidates: list[SiteTask] = []
    by_set: dict[str, dict[str, float]] = {}
    reserved = config.reserved or ReservedSet(config.element)
    rungs = config.ladder.plan(config.feff_card_set.cards)
    for path in progress(files) if progress else files:
        try:
            structure = read_structure(path)
            material = material_id_for(path)
            if material in used_ids and used_ids[material] != path:
                raise InputError(path, f"material id {material!r} already taken by {used_ids[material]}; rename")
            used_ids[material] = path
            sites = [s.index for s in absorbing_sites(structure, config.element, config.sites, path, config.symprec)]
            poscar = _poscar_text(path, structure)
        except InputError as err:
            plan.problems.append(err)
            continue
        plan.structures += 1
        if material in reserved:
            for index in sites:
                plan.reserved.append(
                    SiteOutcome(
                        site_id=f"{material}_{index:03d}",
                        material_id=material,
                        site=index,
                        status="reserved",
                        reason=f"{material} is reserved for independent evaluation of {config.element} "
                        f"({reserved.source}); not simulated",
                    )
                )
            continue
        for index in sites:
            try:
                inp = build_site_input(structure, index, config.element, config.feff_card_set, material, source=path)
            except InputError as err:
                plan.problems.append(err)
                continue
            distances = np.linalg.norm(inp.coords, axis=1)
            by_set[f"{material}_{index:03d}"] = {
                name: other.estimate_seconds(int((distances <= other.fms_radius_for(distances)).sum()), inp.n_atoms)
                for name, other in FEFF_CARD_SETS.items()
            }
            candidates.append(
                SiteTask(
                    material_id=material,
                    site=index,
                    element=config.element,
                    card_set=config.feff_card_set.name,
                    fingerprint=config.feff_card_set.fingerprint(),
                    feff_inp=inp.text,
                    poscar=poscar,
                    n_atoms=inp.n_atoms,
                    n_fms=inp.n_fms,
                    est_seconds=round(config.feff_card_set.estimate_seconds(inp.n_fms, inp.n_atoms), 1),
                    source=str(path),
                    rungs=rungs,
                    ladder=config.ladder.name,
                    retry_failed=config.retry_failed,
                )
            )
    if config.order == "coverage":
        candidates.sort(key=lambda t: (t.est_seconds, t.material_id, t.site))
    else:
        candidates.sort(key=lambda t: (t.est_seconds, t.material_id, t.site), reverse=config.order == "largest")
    if config.limit is not None:
        candidates = candidates[: config.limit]
    fingerprint = config.feff_card_set.fingerprint()
    ladder = None if config.retry_failed else config.ladder.name
    for task in candidates:
        status = site_status(
            site_dir(config.out, config.element, task.material_id, task.site),
            task.card_set,
            fingerprint,
            task.element,
            ladder=ladder,
        )
        if status.state is SiteState.DONE:
            plan.done.append(_outcome(task, "skipped", "finished earlier", status.seconds or 0.0))
        elif status.state is SiteState.GAVE_UP:
            plan.given_up.append(_outcome(task, "given-up", status.reason))
        elif status.state is SiteState.CONFLICT:
            plan.conflicts.append(_outcome(task, "conflict", status.reason))
        else:
            plan.tasks.append(task)
    if config.order == "coverage":
        plan.tasks = coverage_order(plan.tasks, [o.material_id for o in plan.done], config.priority)
    for name in FEFF_CARD_SETS:
        plan.estimates_by_set[name] = sum(by_set[t.site_id][name] for t in plan.tasks)
    return plan


def coverage_order(
    tasks: list[SiteTask], finished_materials: Iterable[str], priority: Sequence[str] = ()
) -> list[SiteTask]:
    """Material coverage first: a material's n-th site runs in round n (finished sites count).

    Parameters
    ----------
    tasks
        Planned tasks, cheapest first.
    finished_materials
        Material id of every finished site (a material with k finished sites starts in round k).
    priority
        Site ids, best first (e.g. feature-space diversity). A material's sites enter rounds in
        priority order (listed sites before unlisted ones, which keep the given order); within a
        round the listed sites run first, in priority order, then the rest in the given order.
        Ids of no task are ignored. Empty: within a round tasks keep their given order.

    Returns
    -------
    list[SiteTask]
        The same tasks: every material of the pool gets one site before any material gets a second.
    """
    positions = coverage_positions(
        [t.site_id for t in tasks], [t.material_id for t in tasks], finished_materials, priority
    )
    return [tasks[k] for k in positions]


def coverage_positions(
    site_ids: Sequence[str],
    materials: Sequence[str],
    finished_materials: Iterable[str] = (),
    priority: Sequence[str] = (),
) -> list[int]:
    """The order of :func:`coverage_order` on plain rows: positions into ``site_ids``, first to run first.

    Parameters
    ----------
    site_ids
        Site id of each row, in the given order (a campaign's: cheapest first).
    materials
        Material id of each row.
    finished_materials
        Material id of every finished site (a material with k finished sites starts in round k).
    priority
        Site ids, best first; the semantics of :func:`coverage_order` (unknown ids ignored).

    Returns
    -------
    list[int]
        Every position once: each material's first site (in priority, then given, order) before any
        material's second, and so on.

    Raises
    ------
    XasflowError
        ``site_ids`` and ``materials`` of different lengths.
    """
    if len(site_ids) != len(materials):
        raise XasflowError(f"{len(site_ids)} site ids for {len(materials)} material ids")
    place = {site_id: k for k, site_id in enumerate(dict.fromkeys(map(str, priority)))}
    unlisted = len(place)
    count: dict[str, int] = {}
    for material in finished_materials:
        count[str(material)] = count.get(str(material), 0) + 1
    keyed = sorted((place.get(str(s), unlisted), k) for k, s in enumerate(site_ids))
    ranked = []
    for prio, position in keyed:
        material = str(materials[position])
        rank = count.get(material, 0)
        count[material] = rank + 1
        ranked.append((rank, prio, position))
    return [position for *_, position in sorted(ranked)]


def _outcome(task: SiteTask, status: str, reason: str = "", seconds: float = 0.0) -> SiteOutcome:
    return SiteOutcome(
        site_id=task.site_id,
        material_id=task.material_id,
        site=task.site,
        status=status,
        reason=reason,
        seconds=seconds,
        n_atoms=task.n_atoms,
        est_seconds=task.est_seconds,
    )


@dataclass
class Progress:
    """Counts passed to the progress callback after every completed task."""

    finished: int
    failed: int
    remaining: int
    eta_seconds: float | None


@dataclass
class CampaignReport:
    """Machine-readable record of a campaign run (written as JSON)."""

    config: CampaignConfig
    outcomes: list[SiteOutcome] = field(default_factory=list)
    problems: list[InputError] = field(default_factory=list)
    started: str = ""
    wall_seconds: float = 0.0
    workers: int = 1
    interrupted: bool = False

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts

    def rung_counts(self) -> dict[str, int]:
        """Finished sites per retry-ladder rung (which card change made FEFF finish)."""
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            if outcome.status == "finished":
                counts[outcome.rung or "as-set"] = counts.get(outcome.rung or "as-set", 0) + 1
        return counts

    @property
    def sites_per_hour(self) -> float:
        finished = self.counts().get("finished", 0)
        return 3600.0 * finished / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_dict(self) -> dict:
        cfg = self.config
        return {
            "element": cfg.element,
            "card_set": cfg.feff_card_set.to_dict(),
            "feff": feff_version(),
            "site_selection": cfg.sites,
            "order": cfg.order,
            **({"priority_sites": len(cfg.priority)} if cfg.priority else {}),
            "timeout_s": cfg.timeout,
            "out": str(cfg.out),
            "started": self.started,
            "wall_seconds": round(self.wall_seconds, 1),
            "workers": self.workers,
            "interrupted": self.interrupted,
            "counts": self.counts(),
            "retry_ladder": {
                "name": cfg.ladder.name,
                "rungs": [{"name": r.name, "change": r.description} for r in cfg.ladder.rungs],
                "finished_by_rung": self.rung_counts(),
            },
            "reserved": {
                "source": cfg.reserved.source if cfg.reserved else "",
                "materials": len(cfg.reserved.materials) if cfg.reserved else 0,
                "sites_excluded": [o.site_id for o in self.outcomes if o.status == "reserved"],
            },
            "sites_per_hour": round(self.sites_per_hour, 2),
            "site_seconds_finished": round(sum(o.seconds for o in self.outcomes if o.status == "finished"), 1),
            "cpu_seconds_finished": round(
                sum(o.cpu_seconds or 0.0 for o in self.outcomes if o.status == "finished"), 1
            ),
            "sites": [o.to_dict() for o in self.outcomes],
            "input_problems": [{"source": p.source, "message": p.message} for p in self.problems],
        }

    def save(self, path: Path) -> None:
        write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")


def default_report_path(config: CampaignConfig) -> Path:
    return Path(config.out) / config.element / "simulate_report.json"


def run_campaign(
    plan: Plan,
    client,
    report_path: Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> CampaignReport:
    """Run the planned tasks on a ``dask.distributed.Client``; failures are retried ``config.retries`` times.

    The report is rewritten after every completed task, so an interrupted campaign keeps one. A task
    whose future is cancelled (the client shut down under it, e.g. on Ctrl-C in another thread) is not
    FEFF's failure: it is neither recorded nor retried, the report says ``interrupted``, and its marker,
    still ``running``, makes the next run resume it.
    """
    from dask.distributed import as_completed

    config = plan.config
    report_path = report_path or default_report_path(config)
    report = CampaignReport(
        config=config,
        outcomes=[*plan.done, *plan.conflicts, *plan.given_up, *plan.reserved],
        problems=list(plan.problems),
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        workers=max(1, len(client.scheduler_info().get("workers", {}))),
    )
    start = time.monotonic()
    tasks = {t.site_id: t for t in plan.tasks}
    attempts: dict[str, list[str]] = {sid: [] for sid in tasks}
    n = len(plan.tasks)

    def submit(task: SiteTask, attempt: int, rank: int):
        # Dask runs higher priorities first; rank 0 is the first task of the planned order.
        return client.submit(
            simulate_site,
            task,
            str(config.out),
            config.timeout,
            key=f"simulate-{config.element}-{config.feff_card_set.name}-{task.site_id}-{attempt}-{time.time_ns()}",
            priority=n - rank,
            pure=False,
        )

    futures = {}
    for rank, task in enumerate(plan.tasks):
        futures[submit(task, 1, rank)] = (task, rank)
    pending = as_completed(list(futures))
    finished = failed = 0
    done_est = done_actual = 0.0
    remaining_est = plan.estimated_cpu_seconds
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report.save(report_path)
    try:
        for future in pending:
            task, rank = futures.pop(future)
            try:
                outcome: SiteOutcome = future.result()
            except CancelledError:
                report.interrupted = True
                continue
            except Exception as exc:  # worker died or an unexpected bug: record, maybe retry
                outcome = _outcome(task, "failed", f"{type(exc).__name__}: {exc}")
            attempts[task.site_id].append(outcome.reason)
            retry = outcome.status in ("failed", "timeout") and not outcome.gave_up
            if retry and len(attempts[task.site_id]) <= config.retries:
                retry = submit(task, len(attempts[task.site_id]) + 1, rank)
                futures[retry] = (task, rank)
                pending.add(retry)
                continue
            outcome.attempts = len(attempts[task.site_id])
            if outcome.attempts > 1 and outcome.status != "finished":
                outcome.reason = "; ".join(f"attempt {k}: {r}" for k, r in enumerate(attempts[task.site_id], 1))
            report.outcomes.append(outcome)
            remaining_est -= task.est_seconds
            if outcome.status in ("finished", "skipped"):
                finished += 1
                if outcome.status == "finished":
                    done_est += task.est_seconds
                    done_actual += outcome.seconds
            else:
                failed += 1
            report.wall_seconds = time.monotonic() - start
            report.save(report_path)
            if on_progress:
                ratio = done_actual / done_est if done_est > 0 else 1.0
                eta = ratio * max(remaining_est, 0.0) / report.workers
                on_progress(Progress(finished, failed, n - finished - failed, eta))
    except BaseException:
        report.interrupted = True
        for future in futures:
            future.cancel()
        raise
    finally:
        report.wall_seconds = time.monotonic() - start
        report.save(report_path)
    return report
