"""The one Dask client factory: a local cluster of single-threaded processes, or an existing scheduler."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from xasflow.errors import XasflowError

#: How long to wait for an existing scheduler before giving up.
CONNECT_TIMEOUT = "20s"

#: Environment of local worker processes, set before they start. Dask's default sets
#: ``MALLOC_TRIM_THRESHOLD_=65536``, which turns off glibc's adaptive mmap threshold: every large
#: tensor is then a fresh mmap, and M3GNet runs 2x slower than in a plain process. This keeps
#: the heap instead (the setting FEFF10 runs with, see ``simulation.runner.GLIBC_ENV``).
WORKER_ENVIRON: dict[str, int] = {
    "OMP_NUM_THREADS": 1,
    "MKL_NUM_THREADS": 1,
    "OPENBLAS_NUM_THREADS": 1,
    "MALLOC_ARENA_MAX": 1,
    "MALLOC_MMAP_MAX_": 0,
    "MALLOC_TRIM_THRESHOLD_": 4294967296,
    "MALLOC_TOP_PAD_": 268435456,
}


def start_client(workers: int = 1, scheduler: str | None = None, env: dict[str, str] | None = None):
    """A ``dask.distributed.Client``: on ``scheduler`` if given, else on a new local cluster.

    Parameters
    ----------
    workers
        Processes of the local cluster, one thread each (the work is serial per task).
    scheduler
        Address of an existing scheduler (``tcp://host:8786``); ``workers`` is then ignored.
    env
        Environment variables of the local worker processes (e.g. thread counts).

    Raises
    ------
    XasflowError
        If ``workers < 1`` or the scheduler cannot be reached.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise XasflowError(f"cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}: {exc})") from exc
    if workers < 1:
        raise XasflowError("--workers must be at least 1 for a local Dask cluster")
    # The statistical profiler samples every worker's stack each 10 ms: CPU the tasks need more.
    settings = {"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON, "distributed.worker.profile.enabled": False}
    with dask.config.set(settings):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: several clusters may run on one machine
            silence_logs=logging.ERROR,
            env=env or {},
        )
    return Client(cluster)


def stop_client(client) -> None:
    """Close ``client`` and, when it started one, its local cluster."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


@contextlib.contextmanager
def dask_client(workers: int = 1, scheduler: str | None = None, env: dict[str, str] | None = None) -> Iterator:
    """:func:`start_client` as a context manager that always stops what it started."""
    client = start_client(workers, scheduler, env)
    try:
        yield client
    finally:
        stop_client(client)
