"""The four training modes: expert, universal, tuned (hierarchical transfer) and cross-fidelity."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xasflow.constants import ELEMENTS
from xasflow.errors import XasflowError
from xasflow.evaluation.metrics import Scores, score
from xasflow.models.config import ModelConfig, reference_widths
from xasflow.models.regressor import XASRegressor
from xasflow.training.config import Recipe
from xasflow.training.data import SetData

MODES = ("expert", "universal", "tuned", "cross-fidelity")


def _card_data(model: XASRegressor, data: Sequence[SetData], recipe: Recipe) -> None:
    model.card["recipe"] = recipe.as_dict()
    versions = sorted({d.feature_version for d in data})
    model.card["featurizer"] = {"name": data[0].feature, "version": " + ".join(versions)}
    model.card["data"] = {
        d.key: {"protocol": d.protocol, "ids_sha256_16": d.ids_hash(), "sizes": d.sizes()} for d in data
    }
    if len(data) == 1:
        _set_baseline(model, data[0])


def _set_baseline(model: XASRegressor, data: SetData) -> None:
    """The set's mean training spectrum, so η can be computed later on new data (``xasflow evaluate``)."""
    model.card["baseline_spectrum"] = [round(float(v), 7) for v in data.baseline]


def train_expert(data: SetData, recipe: Recipe) -> XASRegressor:
    """A model of one set only, with the published per-set widths."""
    config = ModelConfig(reference_widths(data.key), dropout=recipe.dropout, standardize=recipe.standardize)
    model = XASRegressor(config, element=data.element, fidelity=data.fidelity, name="expert", ensemble=recipe.ensemble)
    model.fit(data.train.X, data.train.y, X_stop=data.stop.X, y_stop=data.stop.y, train=recipe.train)
    _card_data(model, [data], recipe)
    return model


def train_universal(sets: Sequence[SetData], recipe: Recipe) -> XASRegressor:
    """One model over all FEFF sets with spectra (each element's spectrum on its own grid)."""
    sets = [s for s in sets if s.fidelity == "FEFF"]
    if not sets:
        raise XasflowError("the universal model needs at least one FEFF set with spectra")
    elements = [s.element for s in sets]
    conditioning = tuple(e for e in ELEMENTS if e in elements) if recipe.condition_universal else ()
    config = ModelConfig(
        reference_widths("universal"), dropout=recipe.dropout, standardize=recipe.standardize, conditioning=conditioning
    )
    model = XASRegressor(config, element=None, fidelity="FEFF", name="universal", ensemble=recipe.ensemble)
    model.fit(
        np.vstack([s.train.X for s in sets]),
        np.vstack([s.train.y for s in sets]),
        X_stop=np.vstack([s.stop.X for s in sets]),
        y_stop=np.vstack([s.stop.y for s in sets]),
        elements=[s.element for s in sets for _ in range(len(s.train))],
        elements_stop=[s.element for s in sets for _ in range(len(s.stop))],
        train=recipe.train,
    )
    model.card["elements"] = elements
    _card_data(model, sets, recipe)
    return model


def for_set(universal: XASRegressor, data: SetData) -> XASRegressor:
    """The universal model labelled with one FEFF set (for predicting and for the zoo)."""
    model = universal.copy(element=data.element, fidelity=data.fidelity)
    _set_baseline(model, data)
    return model


def fine_tune(universal: XASRegressor, data: SetData, recipe: Recipe) -> XASRegressor:
    """Universal weights fine-tuned on one set: ``tuned`` (FEFF) or cross-fidelity (VASP)."""
    conditioning = universal.config.conditioning
    if conditioning and data.element not in conditioning:
        raise XasflowError(f"the universal model was not trained on {data.element}; cannot fine-tune it for that")
    model = universal.copy(name="tuned", element=data.element, fidelity=data.fidelity)
    model.card["transfer"] = "cross-fidelity (FEFF universal -> VASP)" if data.fidelity == "VASP" else "FEFF universal"
    # The fine-tuned weights also carry what the universal model saw.
    model.card["pretraining"] = {"data": universal.card.get("data"), "training": universal.card.get("training")}
    model.fit(
        data.train.X,
        data.train.y,
        X_stop=data.stop.X,
        y_stop=data.stop.y,
        elements=data.element,
        elements_stop=data.element,
        train=recipe.tune,
        warm_start=True,
    )
    _card_data(model, [data], recipe)
    return model


def evaluate(model: XASRegressor, data: SetData, part: str = "eval") -> tuple[Scores, np.ndarray]:
    """Scores of ``model`` on a part of a set (baseline: that set's mean training spectrum), and predictions."""
    subset = getattr(data, part)
    prediction = model.predict(subset.X, element=data.element if model.config.conditioning else None)
    return score(subset.y, prediction, data.baseline), prediction
