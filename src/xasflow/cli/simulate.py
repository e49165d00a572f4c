"""``xasflow simulate``: FEFF10 campaigns from structures on a local or existing Dask cluster."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from xasflow.cli.common import add_reserved_options, progress, report_problem, reserved_from_args

#: Problems printed one per line before the rest is left to the report.
_MAX_PRINTED = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="FEFF10 K-edge XANES for absorbing sites of structures, one Dask task per site",
        description="Simulate K-edge XANES with FEFF10 into a Lightshow tree (ROOT/El/material/FEFF-XANES/...) "
        "that `xasflow data build-feff ROOT --element El` ingests. Finished sites are skipped on a rerun.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="structure files or folders (searched recursively)")
    parser.add_argument("--element", required=True, help="absorbing element (K edge)")
    parser.add_argument(
        "--sites", default="inequivalent", help="inequivalent (default), all, or comma-separated site indices"
    )
    parser.add_argument("--symprec", type=float, default=0.01, help="symmetry tolerance in Å (default 0.01)")
    parser.add_argument(
        "--cards",
        default="published",
        help="FEFF card set: published (default), screening, screening-s5 or fast (docs/simulation.md)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output root (Lightshow layout below ROOT/El)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, help="local Dask worker processes (default 1)")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:8786)")
    parser.add_argument("--timeout", type=float, default=None, help="per-site time limit in seconds (default none)")
    parser.add_argument(
        "--order", choices=("largest", "smallest"), default="largest", help="scheduling order (default largest first)"
    )
    parser.add_argument("--limit", type=int, default=None, help="simulate only the first N sites of the order")
    parser.add_argument("--retries", type=int, default=1, help="resubmissions of a failed site (default 1)")
    parser.add_argument("--report", type=Path, default=None, help="report JSON (default ROOT/El/simulate_report.json)")
    parser.add_argument("--plan", action="store_true", help="print the sites and estimated CPU time; run nothing")
    parser.add_argument(
        "--ladder",
        default="default",
        help="SCF retry ladder: default (card changes tried in order when FEFF fails) or none",
    )
    parser.add_argument(
        "--retry-failed", action="store_true", help="run again sites that failed every rung of the ladder earlier"
    )
    add_reserved_options(
        parser, "never simulated", "the inputs", include_help="simulate reserved materials too (evaluation sets only)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="data root whose ../reserved folder is searched (default: none)"
    )
    parser.set_defaults(handler=_simulate)


def _hms(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _simulate(args: argparse.Namespace) -> int:
    from xasflow.data.sites import check_symprec
    from xasflow.errors import XasflowError
    from xasflow.simulation.campaign import CampaignConfig, default_report_path, plan_campaign, run_campaign
    from xasflow.simulation.feff_cards import get_feff_card_set
    from xasflow.simulation.ladder import get_ladder

    if args.workers < 1:
        raise XasflowError("--workers must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise XasflowError("--timeout must be positive")
    reserved = reserved_from_args(args, args.element, list(args.paths))
    config = CampaignConfig(
        element=args.element,
        feff_card_set=get_feff_card_set(args.cards),
        out=args.out.resolve(),  # workers (and FEFF children) may run in another folder
        sites=args.sites,
        symprec=check_symprec(args.symprec),
        order=args.order,
        limit=args.limit,
        timeout=args.timeout,
        retries=max(0, args.retries),
        ladder=get_ladder(args.ladder),
        reserved=reserved,
        retry_failed=args.retry_failed,
    )
    plan = plan_campaign(args.paths, config, progress=lambda files: progress(files, len(files), desc="structures"))
    problems = [*plan.problems, *(f"{c.site_id}: {c.reason}" for c in plan.conflicts)]
    for problem in problems[:_MAX_PRINTED]:
        report_problem(problem)
    if len(problems) > _MAX_PRINTED:
        where = "run without --plan to list them in the report" if args.plan else "listed in the report"
        report_problem(f"... {len(problems) - _MAX_PRINTED} more problems ({where})")
    print(
        f"{plan.structures} structures, {len(plan.tasks)} sites to run, {len(plan.done)} finished earlier, "
        f"{len(plan.given_up)} given up earlier, {len(plan.conflicts)} conflicting, "
        f"{len(plan.problems)} input problems, {len(plan.reserved)} reserved (excluded); "
        f"estimated CPU time {_hms(plan.estimated_cpu_seconds)} (card set {config.feff_card_set.name}, "
        f"retry ladder {config.ladder.name})"
    )
    if plan.reserved:
        print(f"excluded as reserved for evaluation: {', '.join(o.site_id for o in plan.reserved)}")
    if args.plan:
        estimates = ", ".join(f"{name} {_hms(sec)}" for name, sec in plan.estimates_by_set.items())
        print(f"estimated CPU time of these sites by card set (one core, excluding ladder retries): {estimates}")
        print(f"{'site':<24} {'atoms':>6} {'fms':>5} {'est_s':>8}")
        for task in plan.tasks:
            print(f"{task.site_id:<24} {task.n_atoms:>6} {task.n_fms:>5} {task.est_seconds:>8.0f}")
        for outcome in plan.reserved:
            print(f"{outcome.site_id:<24} {'reserved: excluded':>21}")
        return 1 if problems else 0
    report_path = args.report or default_report_path(config)
    if not plan.tasks:
        print("nothing to run")
        return 1 if problems else 0
    _check_feff()
    from xasflow.parallel import dask_client

    with dask_client(args.workers, args.scheduler) as client:
        report = run_campaign(plan, client, report_path, on_progress=_progress_bar(len(plan.tasks)))
    for outcome in report.outcomes:
        if outcome.status in ("failed", "timeout"):
            report_problem(f"{outcome.site_id}: {outcome.reason}")
    counts = report.counts()
    rungs = ", ".join(f"{k} {v}" for k, v in report.rung_counts().items()) or "none"
    print(
        f"finished {counts.get('finished', 0)} (by rung: {rungs}), "
        f"failed {counts.get('failed', 0) + counts.get('timeout', 0)}, "
        f"skipped {counts.get('skipped', 0)}, given up earlier {counts.get('given-up', 0)}, "
        f"reserved {counts.get('reserved', 0)}, conflicts {counts.get('conflict', 0)} in {_hms(report.wall_seconds)} "
        f"({report.sites_per_hour:.1f} sites/hour); report: {report_path}"
    )
    return 1 if problems or counts.get("failed") or counts.get("timeout") else 0


def _check_feff() -> None:
    from importlib.util import find_spec

    from xasflow.errors import XasflowError

    if find_spec("feff10") is None:
        raise XasflowError("FEFF10 is not installed: pip install 'xasflow[feff]' (PyPI feff10-rs)")


def _progress_bar(total: int):
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="sites", file=sys.stderr, disable=os.environ.get("XASFLOW_PROGRESS") == "0")

    def update(p) -> None:
        eta = _hms(p.eta_seconds) if p.eta_seconds is not None else "?"
        bar.set_postfix_str(f"finished {p.finished} failed {p.failed} remaining {p.remaining} eta {eta}")
        bar.update(1)
        if p.remaining == 0:
            bar.close()

    return update
