"""The four kinds of the paper: expert, universal, tuned (hierarchical transfer) and cross-fidelity.

Each trainer is registered for its :class:`~xasflow.kinds.ModelKind`; train through
:func:`xasflow.training.train.train`.

Every mode fits an ensemble on the set's fitting + early-stopping rows (each member early-stops on its own
material-grouped share of them) and then calibrates its std and out-of-domain threshold on the set's
evaluation rows, which no member has seen.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from xasflow.constants import ELEMENTS
from xasflow.errors import XasflowError
from xasflow.evaluation.metrics import Scores, score
from xasflow.io.omnixas import material_ids
from xasflow.kinds import ModelKind, tuned_kind
from xasflow.models.config import reference_widths
from xasflow.models.estimator import XASRegressor
from xasflow.models.provenance import Provenance
from xasflow.models.spec import FeaturizerSpec, ModelSpec
from xasflow.training.config import Recipe
from xasflow.training.data import SetData, Subset
from xasflow.training.train import register

#: The kinds trained here (their names; the residual head trains in :mod:`xasflow.training.head`).
MODES = tuple(k.value for k in ModelKind if k is not ModelKind.HEAD)


def _pooled(data: SetData) -> Subset:
    """Fitting and early-stopping rows together (members carve their own stop shares)."""
    return Subset(
        np.concatenate([data.train.ids, data.stop.ids]),
        np.vstack([data.train.X, data.stop.X]),
        np.vstack([data.train.y, data.stop.y]),
    )


def _stop_fraction(sets: Sequence[SetData]) -> float:
    stop = sum(len(s.stop) for s in sets)
    return stop / (stop + sum(len(s.train) for s in sets))


def featurizer_spec(data: Sequence[SetData]) -> FeaturizerSpec:
    versions = sorted({d.feature_version for d in data})
    return FeaturizerSpec(name=data[0].feature, version=" + ".join(versions))


def _provenance(model: XASRegressor, data: Sequence[SetData], recipe: Recipe) -> None:
    previous = getattr(model, "provenance_", Provenance())
    model.set_provenance(
        Provenance(
            data={d.key: {"protocol": d.protocol, "ids_sha256_16": d.ids_hash(), "sizes": d.sizes()} for d in data},
            metrics={},
            baseline_spectrum=tuple(round(float(v), 7) for v in data[0].baseline) if len(data) == 1 else None,
            pretraining=previous.pretraining,
            recipe=recipe.as_dict(),
        )
    )


def calibrate_on_eval(model: XASRegressor, sets: Sequence[SetData], seed: int = 0) -> XASRegressor:
    """Calibrate std and domain threshold on the evaluation rows of ``sets`` (per element)."""
    model.calibrate(
        np.vstack([s.eval.X for s in sets]),
        np.vstack([s.eval.y for s in sets]),
        elements=[s.element for s in sets for _ in range(len(s.eval))] if model.conditioning else None,
        groups=np.concatenate([material_ids(s.eval.ids) for s in sets]),
        seed=seed,
    )
    return model


@register(ModelKind.EXPERT)
def _expert(sets: Sequence[SetData], recipe: Recipe, base: XASRegressor | None = None) -> XASRegressor:
    if len(sets) != 1:
        raise XasflowError("an expert trains on one set")
    return _train_expert(sets[0], recipe)


def _train_expert(data: SetData, recipe: Recipe) -> XASRegressor:
    """An ensemble of one set only, with the published per-set widths, calibrated on the set's eval rows."""
    model = XASRegressor(
        hidden=reference_widths(data.key),
        spec=ModelSpec(data.element, data.fidelity, ModelKind.EXPERT, featurizer_spec([data])),
        n_features=data.train.X.shape[1],
        stop_fraction=_stop_fraction([data]),
        **recipe.estimator_params("train"),
    )
    pool = _pooled(data)
    model.fit(pool.X, pool.y, groups=material_ids(pool.ids))
    _provenance(model, [data], recipe)
    return calibrate_on_eval(model, [data], recipe.train.seed)


@register(ModelKind.UNIVERSAL)
def _universal(sets: Sequence[SetData], recipe: Recipe, base: XASRegressor | None = None) -> XASRegressor:
    return _train_universal(sets, recipe)


def _train_universal(sets: Sequence[SetData], recipe: Recipe) -> XASRegressor:
    """One ensemble over all FEFF sets with spectra (each element's spectrum on its own grid)."""
    sets = [s for s in sets if s.fidelity == "FEFF"]
    if not sets:
        raise XasflowError("the universal model needs at least one FEFF set with spectra")
    present = {s.element for s in sets}
    conditioning = tuple(e for e in ELEMENTS if e in present) if recipe.condition_universal else ()
    model = XASRegressor(
        hidden=reference_widths("universal"),
        conditioning=conditioning,
        spec=ModelSpec(None, "FEFF", ModelKind.UNIVERSAL, featurizer_spec(sets)),
        n_features=sets[0].train.X.shape[1],
        stop_fraction=_stop_fraction(sets),
        **recipe.estimator_params("train"),
    )
    pools = [_pooled(s) for s in sets]
    model.fit(
        np.vstack([p.X for p in pools]),
        np.vstack([p.y for p in pools]),
        elements=[s.element for s, p in zip(sets, pools, strict=True) for _ in range(len(p))],
        groups=np.concatenate([material_ids(p.ids) for p in pools]),
    )
    _provenance(model, sets, recipe)
    if conditioning:
        calibrate_on_eval(model, sets, recipe.train.seed)
    return model


def for_set(universal: XASRegressor, data: SetData) -> XASRegressor:
    """The universal model labelled with one FEFF set (for predicting and for the zoo)."""
    if universal.conditioning and data.element not in universal.conditioning:
        raise XasflowError(f"the universal model was not trained on {data.element}")
    model = universal.relabelled(data.element, data.fidelity)
    model.set_provenance(baseline_spectrum=tuple(round(float(v), 7) for v in data.baseline))
    if not universal.conditioning:
        # An unconditioned universal model knows no element: its domain and calibration are this set's.
        calibrate_on_eval(model, [data])
    return model


@register(ModelKind.TUNED)
@register(ModelKind.CROSS_FIDELITY)
def _tuned(sets: Sequence[SetData], recipe: Recipe, base: XASRegressor | None = None) -> XASRegressor:
    if len(sets) != 1 or base is None:
        raise XasflowError("fine-tuning takes one set and the universal model")
    return _fine_tune(base, sets[0], recipe)


def _fine_tune(universal: XASRegressor, data: SetData, recipe: Recipe) -> XASRegressor:
    """Universal weights fine-tuned on one set: ``tuned`` (FEFF) or ``cross-fidelity`` (VASP), calibrated."""
    if universal.conditioning and data.element not in universal.conditioning:
        raise XasflowError(f"the universal model was not trained on {data.element}; cannot fine-tune it for that")
    model = copy.deepcopy(universal).with_spec(
        element=data.element, fidelity=data.fidelity, kind=tuned_kind(data.fidelity)
    )
    params = recipe.estimator_params("tune")
    params.pop("dropout")  # the architecture stays the universal one
    params.pop("standardize")
    params.pop("n_members")
    params.pop("head")
    params.pop("n_components")
    model.set_params(
        warm_start=True,
        stop_fraction=_stop_fraction([data]),
        **params,
    )
    model.set_provenance(Provenance(pretraining={"data": universal.provenance_.data, "kind": "universal FEFF"}))
    pool = _pooled(data)
    model.fit(pool.X, pool.y, elements=data.element if model.conditioning else None, groups=material_ids(pool.ids))
    model.set_params(warm_start=False)
    _provenance(model, [data], recipe)
    return calibrate_on_eval(model, [data], recipe.tune.seed)


def evaluate(model: XASRegressor, data: SetData, part: str = "eval") -> tuple[Scores, np.ndarray]:
    """Scores of ``model`` on a part of a set (baseline: that set's mean training spectrum), and predictions."""
    subset = getattr(data, part)
    prediction = model.predict(subset.X, elements=data.element if model.conditioning else None)
    return score(subset.y, prediction, data.baseline), prediction
