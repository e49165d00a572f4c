"""Child process running one FEFF10 calculation: ``python -m xasflow.simulation._feff_child INP WORKDIR``.

Runs in its own session so the parent can kill it (and FEFF10's per-stage worker processes)
as a group on timeout. Exit codes: 0 ok, 3 FEFF error (message on stderr), 4 feff10 missing.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import threading


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM us when the launching thread dies, and kill our group on SIGTERM.

    A Dask worker that is shut down mid-run would otherwise leave FEFF running orphaned.
    """

    def _kill_group(signum, frame):  # pragma: no cover - signal path
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.killpg(0, signal.SIGKILL)

    signal.signal(signal.SIGTERM, _kill_group)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        except OSError:
            pass


def keep_niceness() -> None:
    """Give this session's scheduler group the process's nice value.

    On Linux with autogroups (the default), a new session is a new scheduling group, and a nice value only
    ranks processes *within* a group: a ``nice -n 19`` campaign's FEFF would otherwise take a full core from
    an interactive test run. Raising a group's nice needs no privilege.
    """
    niceness = os.nice(0)
    if niceness <= 0:
        return
    try:
        with open("/proc/self/autogroup", "w") as handle:
            handle.write(str(niceness))
    except OSError:  # no autogroup support (other kernels, other systems): nothing to carry over
        pass


def main(argv: list[str]) -> int:
    inp, workdir = argv
    _die_with_parent()
    keep_niceness()
    try:
        import feff10
    except ImportError:
        print("FEFF10 is not installed (pip install 'xasflow[feff]' or feff10-rs)", file=sys.stderr)
        return 4
    # FEFF runs in a helper thread: the main thread stays in Python, so the SIGTERM handler can run
    # (a handler never runs while the main thread is blocked inside the native call).
    errors: list[BaseException] = []

    def _run() -> None:
        try:
            feff10.run(inp, workdir)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=_run, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.5)
    if errors:
        exc = errors[0]
        if not isinstance(exc, feff10.FeffError):
            raise exc
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    # CPU time of this process and FEFF's (reaped) stage processes: a load-independent cost.
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    print(f"cpu_seconds {sum(u.ru_utime + u.ru_stime for u in usage):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
