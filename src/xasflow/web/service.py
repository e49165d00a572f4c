"""The computations behind the API: predictions as ``xasflow predict`` makes them, with one lock.

Predictors are the per-process cache of :mod:`xasflow.inference.batch` (models and M3GNet load once
per set of options and are shared by every request); torch models are not known to be thread-safe,
so requests take turns through :data:`LOCK`.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

from xasflow.errors import XasflowError
from xasflow.inference.journal import RunOptions
from xasflow.web.uploads import SavedUpload, relabel

#: One computation at a time in this process.
LOCK = threading.Lock()
#: Predictors kept (one per set of options: element, fidelity, model, sites); requests choose the options.
MAX_PREDICTORS = 4


def run_options(element: str | None, fidelity: str, model: str | None, sites: str, zoo_dir: Path | None) -> RunOptions:
    """Checked options of a predict request; ``XasflowError`` (HTTP 400) for a bad one.

    A model must be a zoo name: a request never names a file on the server.
    """
    from xasflow.data.sites import parse_selection
    from xasflow.errors import check_element, check_fidelity
    from xasflow.inference.predictor import is_model_file

    fidelity = check_fidelity(fidelity)
    element = check_element(element) if element else None
    parse_selection(sites)
    model = model or None
    if is_model_file(model):
        raise XasflowError(f"model {model!r}: give a zoo model name (tuned, expert, universal, head), not a file")
    zoo = str(zoo_dir.resolve()) if zoo_dir is not None else None
    with LOCK:
        _check_model(model, element, fidelity, zoo)
    return RunOptions(element=element, fidelity=fidelity, model=model, sites=sites, zoo_dir=zoo)


@functools.lru_cache(maxsize=64)
def _check_model(model: str | None, element: str | None, fidelity: str, zoo_dir: str | None) -> None:
    """:func:`~xasflow.inference.predictor.check_model_name`, once per combination that passed (a refusal raises)."""
    from xasflow.inference.predictor import check_model_name

    check_model_name(model, element, fidelity, zoo_dir)


def predict_uploads(
    uploads: list[SavedUpload], options: RunOptions
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Records and errors of ``uploads``, in order, as the CLI's batch gives them, labelled by upload name."""
    from xasflow.inference.batch import predict_one, trim_predictors

    predictions: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for upload in uploads:
        with LOCK:
            record = predict_one(str(upload.path), options)
            trim_predictors(MAX_PREDICTORS)
        for prediction in record["predictions"]:
            predictions.append({**prediction, "source": upload.name})
        for error in record["errors"]:
            errors.append({k: relabel(str(v), [upload]) for k, v in error.items()})
    return predictions, errors


def supported_elements(zoo_dir: Path | None) -> list[str]:
    """Elements with a model in the zoo at any fidelity."""
    from xasflow.constants import ELEMENTS
    from xasflow.zoo.registry import read_index

    found = {str(key).split("_")[0] for key in read_index(str(zoo_dir) if zoo_dir is not None else None)["sets"]}
    return [e for e in ELEMENTS if e in found]
