"""Run FEFF10 for one site: isolated working folder, glibc setting, time limit, validated output."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from xasflow.data.xmu import spectrum_from_xmu
from xasflow.errors import InputError
from xasflow.io.omnixas import make_site_id
from xasflow.simulation.inputs import replace_cards
from xasflow.simulation.output import (
    SiteState,
    poscar_path,
    site_dir,
    site_status,
    write_marker,
    write_text,
)

#: FEFF10 frees and re-allocates two ~62 MB arrays inside its FMS loops; these glibc settings keep
#: the memory mapped and halve the run time with identical output (measured, shared/README.md).
GLIBC_ENV: dict[str, str] = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_MAX_": "0",
    "MALLOC_TRIM_THRESHOLD_": "4294967296",
    "MALLOC_TOP_PAD_": "268435456",
}

#: Sub-folder of the output root holding the per-site FEFF working folders.
WORK_DIR = ".work"


def feff_version() -> str:
    """Version of the installed ``feff10-rs`` package (FEFF 10.0.0), or ``"missing"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"feff10-rs {version('feff10-rs')}"
    except PackageNotFoundError:
        return "missing"


@dataclass(frozen=True)
class SiteTask:
    """Everything a worker needs to simulate one site (inputs are generated on the client).

    ``rungs`` is the retry ladder as ``(rung name, card overrides)`` pairs, tried in order
    (:mod:`xasflow.simulation.ladder`); empty means one plain run. ``card_set`` is the name of the
    FEFF card set and ``fingerprint`` its :meth:`~xasflow.simulation.feff_cards.FeffCardSet.fingerprint`,
    as written to the site marker.
    """

    material_id: str
    site: int
    element: str
    card_set: str
    fingerprint: str
    feff_inp: str
    poscar: str
    n_atoms: int
    n_fms: int
    est_seconds: float
    source: str = ""
    rungs: tuple[tuple[str, dict[str, str]], ...] = ()
    ladder: str = "none"
    retry_failed: bool = False

    @property
    def site_id(self) -> str:
        return make_site_id(self.material_id, self.site)


@dataclass
class SiteOutcome:
    """Result of one attempt at one site.

    ``status``: finished, skipped, failed, timeout, conflict, reserved or given-up. ``rung`` names the
    ladder rung that finished; ``rungs_tried`` lists every FEFF run (rung, status, reason, seconds);
    ``gave_up`` is true when every rung of a ladder failed (a rerun would fail the same way).
    """

    site_id: str
    material_id: str
    site: int
    status: str
    reason: str = ""
    seconds: float = 0.0
    host: str = ""
    attempts: int = 1
    n_atoms: int = 0
    est_seconds: float = 0.0
    cpu_seconds: float | None = None
    rung: str = ""
    rungs_tried: list[dict] = field(default_factory=list)
    gave_up: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class FeffFailure(Exception):
    """FEFF did not produce a usable result; ``kind`` is ``failed`` or ``timeout``."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _tail(text: str, lines: int = 3) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


_LOG_ALERT = re.compile(r"error|bad|exit|stop|fail|crash", re.IGNORECASE)


def _log_hint(workdir: Path) -> str:
    """The telling line of FEFF's newest log (an alert line if any, else the last line)."""
    logs = sorted(workdir.glob("log*.dat"), key=lambda p: p.stat().st_mtime, reverse=True)
    for log in logs:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith("point #")]
        if lines:
            alerts = [line for line in lines if _LOG_ALERT.search(line)]
            return f"{log.name}: {(alerts or lines)[-1]}"
    return ""


def run_feff(feff_inp: Path, workdir: Path, timeout: float | None) -> tuple[float, float | None]:
    """Run FEFF10 on ``feff_inp`` in ``workdir`` in a child process; return wall and CPU time (s).

    Raises
    ------
    FeffFailure
        On a FEFF error, a missing ``xmu.dat`` or when ``timeout`` seconds pass (the child and
        FEFF's stage processes are killed).
    """
    # The child runs in ``workdir``: relative paths would be resolved against it a second time.
    feff_inp, workdir = Path(feff_inp).resolve(), Path(workdir).resolve()
    env = {**os.environ, **GLIBC_ENV}
    cmd = [sys.executable, "-m", "xasflow.simulation._feff_child", str(feff_inp), str(workdir)]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise FeffFailure("timeout", f"FEFF exceeded the time limit of {timeout:g} s and was stopped") from None
    except BaseException:
        _kill_group(proc)  # interrupted (worker shutdown, Ctrl-C): never leave FEFF running
        raise
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        detail = _tail(err) or _tail(out) or f"exit code {proc.returncode}"
        if log := _log_hint(workdir):
            detail += f" [{log}]"
        raise FeffFailure("failed", f"FEFF failed: {detail}")
    if not (workdir / "xmu.dat").is_file():
        raise FeffFailure("failed", f"FEFF finished without writing xmu.dat ({_tail(err) or 'no message'})")
    cpu = next((float(line.split()[1]) for line in out.splitlines() if line.startswith("cpu_seconds ")), None)
    return seconds, cpu


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def simulate_site(task: SiteTask, out_root: str | Path, timeout: float | None = None) -> SiteOutcome:
    """Simulate one site into the Lightshow tree below ``out_root``; never raises for a bad site.

    Finished sites of the same FEFF card set are skipped; folders of another FEFF card set are left alone.
    """
    out_root = Path(out_root)
    outcome = SiteOutcome(
        site_id=task.site_id,
        material_id=task.material_id,
        site=task.site,
        status="failed",
        host=socket.gethostname(),
        n_atoms=task.n_atoms,
        est_seconds=task.est_seconds,
    )
    folder = site_dir(out_root, task.element, task.material_id, task.site)
    ladder = None if task.retry_failed else task.ladder
    status = site_status(folder, task.card_set, task.fingerprint, task.element, ladder=ladder)
    if status.state is SiteState.DONE:
        outcome.status, outcome.reason, outcome.seconds = "skipped", "finished earlier", status.seconds or 0.0
        return outcome
    if status.state is SiteState.GAVE_UP:
        outcome.status, outcome.reason = "given-up", status.reason
        return outcome
    if status.state is SiteState.CONFLICT:
        outcome.status, outcome.reason = "conflict", status.reason
        return outcome
    poscar = poscar_path(out_root, task.element, task.material_id)
    if poscar.is_file() and poscar.read_text() != task.poscar:
        outcome.status = "conflict"
        outcome.reason = f"{poscar} holds a different structure for {task.material_id}; not overwritten"
        return outcome
    if not poscar.is_file():
        write_text(poscar, task.poscar)
    marker = {
        "card_set": task.card_set,
        "fingerprint": task.fingerprint,
        "element": task.element,
        "material_id": task.material_id,
        "site": task.site,
        "source": task.source,
        "feff": feff_version(),
        "n_atoms": task.n_atoms,
        "ladder": task.ladder,
        "status": "running",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": outcome.host,
    }
    write_marker(folder, marker)
    write_text(folder / "feff.inp", task.feff_inp)
    rungs = task.rungs or (("as-set", {}),)
    for index, (rung, overrides) in enumerate(rungs):
        text = replace_cards(task.feff_inp, overrides) if overrides else task.feff_inp
        marker.update(rung=rung, rung_index=index, cards_changed=overrides)
        if index:
            write_marker(folder, marker)  # an interrupted run shows which rung it was on
        kind, reason, seconds, cpu = _attempt(text, task, out_root, folder, timeout)
        outcome.rungs_tried.append(
            {"rung": rung, "cards_changed": overrides, "status": kind, "reason": reason, "seconds": seconds}
        )
        outcome.seconds = round(outcome.seconds + seconds, 1)
        if kind == "finished":
            outcome.status, outcome.rung, outcome.cpu_seconds, outcome.reason = "finished", rung, cpu, ""
            if overrides:
                write_text(folder / "feff.inp", text)  # the input that produced xmu.dat
            break
        outcome.status = kind
        if kind == "timeout":
            break  # a later rung is no cheaper: the ladder ends here
    if outcome.status != "finished":
        if len(outcome.rungs_tried) == 1:
            outcome.reason = outcome.rungs_tried[0]["reason"]
        else:
            outcome.reason = "; ".join(f"rung {t['rung']}: {t['reason']}" for t in outcome.rungs_tried)
        outcome.gave_up = outcome.status == "failed" and len(rungs) > 1 and len(outcome.rungs_tried) == len(rungs)
        if outcome.gave_up:
            outcome.reason = f"every rung of retry ladder {task.ladder!r} failed: {outcome.reason}"
    marker.update(
        status=outcome.status,
        reason=outcome.reason,
        seconds=outcome.seconds,
        cpu_seconds=outcome.cpu_seconds,
        rungs_tried=outcome.rungs_tried,
        gave_up=outcome.gave_up,
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if outcome.status != "finished":
        marker.pop("rung", None)
    write_marker(folder, marker)
    return outcome


def _attempt(
    text: str, task: SiteTask, out_root: Path, folder: Path, timeout: float | None
) -> tuple[str, str, float, float | None]:
    """One FEFF run of ``text``; on success ``xmu.dat`` is moved into ``folder`` atomically.

    Returns ``(status, reason, wall seconds, CPU seconds)`` with status finished, failed or timeout.
    The files of a failed run are kept in ``ROOT/.work/failed/``.
    """
    work = out_root / WORK_DIR / f"{task.element}_{task.material_id}_{task.site:03d}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    start = time.monotonic()
    try:
        (work / "feff.inp").write_text(text)
        seconds, cpu = run_feff(work / "feff.inp", work, timeout)
        try:
            spectrum_from_xmu(work / "xmu.dat", task.element)
        except InputError as exc:
            raise FeffFailure("failed", f"FEFF output unusable: {exc.message}") from None
        shutil.copyfile(work / "xmu.dat", work / "xmu.dat.copy")
        os.replace(work / "xmu.dat.copy", folder / "xmu.dat")  # same file system: atomic
        return "finished", "", round(seconds, 1), cpu
    except FeffFailure as exc:
        reason = exc.reason
        # Keep the last failed attempt's files for inspection (FEFF's own logs say more than its exit).
        kept = out_root / WORK_DIR / "failed" / work.name
        shutil.rmtree(kept, ignore_errors=True)
        kept.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.replace(work, kept)
            reason += f" (files kept in {kept})"
        return exc.kind, reason, round(time.monotonic() - start, 1), None
    finally:
        shutil.rmtree(work, ignore_errors=True)
