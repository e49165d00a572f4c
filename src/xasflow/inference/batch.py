"""Predict many structure files, in process or on a Dask cluster, streaming to a journal.

On Dask the inputs travel in chunks, and each worker process keeps one :class:`Predictor` per set of
run options (models and featurizers are loaded once per process, not once per file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xasflow.errors import InputError, XasflowError
from xasflow.inference.journal import Journal, RunOptions, input_key

#: Predictors of this process, by run options (a Dask worker keeps its own).
_PREDICTORS: dict[RunOptions, Any] = {}
#: Chunks in flight per worker: enough to keep a worker busy while its last result travels.
CHUNKS_PER_WORKER = 2
#: Largest chunk: results stream to the journal at least this often per worker.
MAX_CHUNK = 16


def _predictor(options: RunOptions):
    """The cached predictor of this process for ``options``."""
    if options not in _PREDICTORS:
        import torch

        from xasflow.inference.predictor import Predictor

        torch.set_num_threads(int(os.environ.get("XASFLOW_TORCH_THREADS", "1")))
        _PREDICTORS[options] = Predictor(
            options.fidelity, options.model, options.sites, zoo_dir=options.zoo_dir, symprec=options.symprec
        )
    _PREDICTORS[options] = _PREDICTORS.pop(options)  # most recently used last (see trim_predictors)
    return _PREDICTORS[options]


def trim_predictors(keep: int) -> None:
    """Forget all but the ``keep`` most recently used predictors (a long-lived server sees many option sets)."""
    for options in list(_PREDICTORS)[: max(0, len(_PREDICTORS) - keep)]:
        del _PREDICTORS[options]


def warm_up(options: RunOptions) -> None:
    """Load what ``options`` need in this process (on a worker: before its first chunk).

    Raises ``XasflowError`` for a model the zoo cannot give, so a bad ``--model`` stops the run at once.
    """
    predictor = _predictor(options)
    if options.element is not None:
        predictor.featurizer_for(predictor.model_for(options.element))
    else:
        from xasflow.inference.predictor import check_model_name

        check_model_name(options.model, None, options.fidelity, options.zoo_dir)


def predict_one(path: str, options: RunOptions) -> dict[str, Any]:
    """Predict one file; never raises for bad input (the record carries the errors)."""
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
    except Exception as exc:  # one odd structure must not stop a batch of thousands
        record["errors"].append({"source": path, "message": f"prediction failed ({type(exc).__name__}: {exc})"})
    return record


def predict_chunk(paths: list[str], options: RunOptions) -> list[dict[str, Any]]:
    """:func:`predict_one` over a chunk of files (the unit of work sent to a Dask worker)."""
    return [predict_one(path, options) for path in paths]


@dataclass
class BatchResult:
    """Everything a batch run produced (including inputs finished by an earlier, interrupted run)."""

    predictions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    resumed: int = 0


def chunk_size(n_inputs: int, n_workers: int) -> int:
    """Inputs per chunk: about eight chunks per worker, between 1 and :data:`MAX_CHUNK`."""
    return max(1, min(MAX_CHUNK, n_inputs // max(1, 8 * n_workers)))


def _run_local(paths: list[str], options: RunOptions) -> Iterator[dict[str, Any]]:
    for path in paths:
        yield predict_one(path, options)


def _run_dask(paths: list[str], options: RunOptions, workers: int, scheduler: str | None) -> Iterator[dict[str, Any]]:
    from dask.distributed import as_completed

    from xasflow.parallel import dask_client

    env = {"OMP_NUM_THREADS": "1", "XASFLOW_TORCH_THREADS": os.environ.get("XASFLOW_TORCH_THREADS", "1")}
    with dask_client(max(1, workers), scheduler, env=env) as client:
        client.run(warm_up, options)  # every worker at once; a bad model fails here
        n_workers = len(client.scheduler_info().get("workers", {})) or max(1, workers)
        size = chunk_size(len(paths), n_workers)
        chunks = iter([paths[i : i + size] for i in range(0, len(paths), size)])
        futures = as_completed()
        # A bounded window of chunks in flight keeps memory flat for millions of inputs.
        for chunk in [c for _, c in zip(range(CHUNKS_PER_WORKER * n_workers), chunks, strict=False)]:
            futures.add(client.submit(predict_chunk, chunk, options, pure=False))
        for future in futures:
            yield from future.result()
            future.release()
            chunk = next(chunks, None)
            if chunk is not None:
                futures.add(client.submit(predict_chunk, chunk, options, pure=False))


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
