"""Predict many structure files, in process or on a Dask cluster, streaming to a journal."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xasflow.errors import InputError, XasflowError
from xasflow.inference.journal import Journal, RunOptions, input_key

_WORKER_PREDICTORS: dict[RunOptions, Any] = {}


def _predictor(options: RunOptions):
    from xasflow.inference.predictor import Predictor

    if options not in _WORKER_PREDICTORS:
        _WORKER_PREDICTORS[options] = Predictor(options.fidelity, options.model, options.sites, options.symprec)
    return _WORKER_PREDICTORS[options]


def predict_one(path: str, options: RunOptions) -> dict[str, Any]:
    """Predict one file; never raises for bad input (the record carries the errors).

    Runs in a Dask worker too, so it loads models once per process.
    """
    import torch

    torch.set_num_threads(int(os.environ.get("XASFLOW_TORCH_THREADS", "1")))
    record: dict[str, Any] = {
        "key": input_key(Path(path)),
        "source": path,
        "predictions": [],
        "errors": [],
        "notes": [],
    }
    try:
        predictions, notes = _predictor(options).predict_path(path, options.element)
        record["predictions"] = [p.to_dict() for p in predictions]
        record["notes"] = notes
    except InputError as err:
        record["errors"].append({"source": err.source, "message": err.message})
    except XasflowError as err:
        record["errors"].append({"source": path, "message": str(err)})
    return record


@dataclass
class BatchResult:
    """Everything a batch run produced (including inputs finished by an earlier, interrupted run)."""

    predictions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    resumed: int = 0


def _run_local(paths: list[str], options: RunOptions) -> Iterator[dict[str, Any]]:
    for path in paths:
        yield predict_one(path, options)


def _run_dask(paths: list[str], options: RunOptions, workers: int, scheduler: str | None) -> Iterator[dict[str, Any]]:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
        )
        client = Client(cluster)
    try:
        # A bounded window of tasks in flight keeps memory flat for millions of inputs.
        window = max(8, 4 * max(workers, len(client.scheduler_info().get("workers", {})) or 1))
        pending = iter(paths)
        futures = as_completed()
        for path in [p for _, p in zip(range(window), pending, strict=False)]:
            futures.add(client.submit(predict_one, path, options, pure=False))
        for future in futures:
            yield future.result()
            future.release()
            nxt = next(pending, None)
            if nxt is not None:
                futures.add(client.submit(predict_one, nxt, options, pure=False))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_batch(
    paths: Iterable[Path],
    options: RunOptions,
    journal: Journal,
    workers: int = 0,
    scheduler: str | None = None,
    progress: Callable[[Iterator[dict[str, Any]], int], Iterator[dict[str, Any]]] | None = None,
) -> BatchResult:
    """Predict every path not already in the journal; results stream into the journal.

    Parameters
    ----------
    workers
        0 = in this process; N = a local Dask cluster of N single-threaded processes.
    scheduler
        Address of an existing Dask scheduler (overrides ``workers``).
    """
    paths = [str(p) for p in paths]
    todo = [p for p in paths if input_key(Path(p)) not in journal]
    result = BatchResult(resumed=len(paths) - len(todo))
    if todo:
        stream = _run_dask(todo, options, workers, scheduler) if (workers or scheduler) else _run_local(todo, options)
        if progress is not None:
            stream = progress(stream, len(todo))
        for record in stream:
            journal.append(record)
    # Output follows the input order, whatever order the workers finished in.
    for key in dict.fromkeys(input_key(Path(p)) for p in paths):
        record = journal.done[key]
        result.predictions += record["predictions"]
        result.errors += record["errors"]
        result.notes += record["notes"]
    return result
