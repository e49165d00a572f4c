"""Saving and loading an :class:`XASRegressor` as a model card (``.json``) beside its weights (``.npz``).

The ``.npz`` holds every member's state (``m{i}__{key}``), the domain reference rows of each element
(``domain__{El}__rows|mean|scale``) and the arrays of each element's residual head, if any
(``head__{El}__coef|intercept|…``, covered by the weights' checksum); the card holds everything else,
including the calibration and each head's penalty and rows.

This module reads and writes files; :meth:`XASRegressor.load <xasflow.models.estimator.XASRegressor.load>` sets
the state it reads, so the estimator imports this module and not the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from xasflow import __version__
from xasflow.errors import XasflowError
from xasflow.fileio import atomic_path
from xasflow.models.calibration import Calibration, CoverageReport
from xasflow.models.card import (
    SPEC_FIELDS,
    CalibrationSpec,
    DomainSpec,
    EnsembleSpec,
    FeaturizerSpec,
    ModelCard,
    ResidualHeadSpec,
    WeightsInfo,
    file_sha256,
)
from xasflow.models.config import ModelConfig
from xasflow.models.domain import ALPHA, DomainReference
from xasflow.models.network import SpectrumMLP
from xasflow.models.provenance import Provenance
from xasflow.models.residual_head import ALPHAS, ARRAY_NAMES, ResidualHeadState
from xasflow.models.spec import ModelSpec

if TYPE_CHECKING:
    from xasflow.models.estimator import XASRegressor

STORAGE_DTYPES = {"float32": np.float32, "float16": np.float16}
CALIBRATION_METHOD = "split-conformal per-energy scale of the member std (68.27 %), global z95; held-out rows"
DOMAIN_METHOD = (
    "mean distance to the k nearest training rows (standardised features + sqrt(d)-weighted log-magnitude z); "
    "threshold: split-conformal 1-alpha quantile of held-out distances"
)
HEAD_METHOD = (
    "ridge of (y - members' mean) on [members' last hidden layer, standardised X], design standardised; "
    f"alpha by generalised cross-validation over logspace(-2, 4, {len(ALPHAS)}); added to every member, clipped at 0"
)


def _check_fitted(model: XASRegressor) -> None:
    if not getattr(model, "networks_", None):
        raise XasflowError("model is not trained")


def _resampling(model: XASRegressor) -> str:
    return (
        f"seeds random_state+m; each member early-stops on its own material-grouped {model.stop_fraction:.0%} "
        "of the training rows unless an explicit early-stopping set is given"
    )


def build_card(model: XASRegressor, weights: WeightsInfo | None = None) -> ModelCard:
    """The card of a fitted model (spec, hyperparameters, learned blocks, the driver's provenance)."""
    _check_fitted(model)
    provenance: Provenance = getattr(model, "provenance_", Provenance())
    spec = replace(model.model_spec, featurizer=model.featurizer_spec)  # the default featurizer, spelled out
    params = model.get_params()
    del params["spec"]  # recorded in its own section
    params["hidden"] = list(params["hidden"])
    params["conditioning"] = list(params["conditioning"])
    calibration = {
        element: CalibrationSpec(
            method=CALIBRATION_METHOD,
            scale=tuple(round(float(s), 6) for s in cal.scale),
            z95=round(cal.z95, 6),
            floor=float(cal.floor),
            rows=report.rows,
            materials=report.materials,
            coverage_68=round(report.coverage_68, 6),
            coverage_95=round(report.coverage_95, 6),
        )
        for element, (cal, report) in model.calibration_.items()
    }
    domain = {
        element: DomainSpec(
            method=DOMAIN_METHOD,
            k=reference.k,
            reference_rows=len(reference.rows),
            threshold=float(reference.threshold),
            quantile=1 - ALPHA,
            heldout_flagged=round(float(getattr(model, "domain_flag_rate_", {}).get(element, float("nan"))), 6),
        )
        for element, reference in model.domain_.items()
        if reference.threshold is not None and element != "*"
    }
    heads = {
        element: ResidualHeadSpec(HEAD_METHOD, float(head.alpha), int(head.rows), int(head.n_design))
        for element, head in getattr(model, "residual_head_", {}).items()
    }
    training = {
        "seconds": round(float(getattr(model, "fit_seconds_", 0.0)), 2),
        "rows": int(getattr(model, "training_rows_", 0)),
        "epochs": [h.epochs for h in model.history_],
        "best_epochs": [h.best_epoch for h in model.history_],
    }
    return ModelCard(
        kind=spec.kind,
        name=model.name,
        element=spec.element,
        fidelity=spec.fidelity,
        params=params,
        featurizer=spec.featurizer,
        ensemble=EnsembleSpec(len(model.networks_), model.seeds, _resampling(model)),
        spec=spec,
        elements=tuple(e for e in model.elements_ if e != "*"),
        data=provenance.data,
        training=training,
        metrics=provenance.metrics,
        calibration=calibration,
        domain=domain,
        residual_head=heads,
        baseline_spectrum=provenance.baseline_spectrum,
        pretraining=provenance.pretraining,
        recipe=provenance.recipe,
        weights=weights,
        xasflow_version=__version__,
    )


def _is_linear_key(net: SpectrumMLP, key: str) -> bool:
    parts = key.split(".")
    return parts[0] == "layers" and isinstance(net.layers[int(parts[1])], torch.nn.Linear)


def save_model(model: XASRegressor, path, dtype: str = "float32", weights_file: str | None = None) -> Path:
    """Write weights and card atomically; returns the card path (see :meth:`XASRegressor.save`)."""
    _check_fitted(model)
    if dtype not in STORAGE_DTYPES:
        raise XasflowError(f"storage dtype must be one of {', '.join(STORAGE_DTYPES)}")
    card_path = Path(path).with_suffix(".json")
    if weights_file is not None:
        target = card_path.parent / weights_file
        if not target.is_file():
            raise XasflowError(f"{target}: weights to point at do not exist")
        info = WeightsInfo(weights_file, file_sha256(target), dtype, target.stat().st_size)
    else:
        weights_path = card_path.with_suffix(".npz")
        arrays: dict[str, np.ndarray] = {}
        for i, net in enumerate(model.networks_):
            for key, tensor in net.state_dict().items():
                value = tensor.detach().cpu().numpy()
                if value.dtype.kind == "f":
                    # Only Linear weights are downcast: BatchNorm variances of ×1000 inputs exceed float16.
                    value = value.astype(STORAGE_DTYPES[dtype] if _is_linear_key(net, key) else np.float32)
                arrays[f"m{i}__{key}"] = value
        for element, reference in model.domain_.items():
            arrays[f"domain__{element}__rows"] = reference.rows.astype(np.float16 if dtype == "float16" else np.float32)
            arrays[f"domain__{element}__mean"] = reference.mean
            arrays[f"domain__{element}__scale"] = reference.scale
            arrays[f"domain__{element}__magnitude"] = reference.magnitude
        for element, head in getattr(model, "residual_head_", {}).items():
            # Stored as fitted (coefficients are float32 values already): a loaded head predicts the same.
            arrays.update({f"head__{element}__{name}": value for name, value in head.arrays().items()})
        with atomic_path(weights_path, suffix=".npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
            info = WeightsInfo(weights_path.name, file_sha256(tmp), dtype, tmp.stat().st_size)
    build_card(model, info).write(card_path)
    return card_path


@dataclass(frozen=True)
class StoredModel:
    """A verified card and the path of its weights (the arrays are read by :func:`fitted_state`)."""

    card: ModelCard
    weights: Path
    source: Path


@dataclass
class FittedState:
    """The learned state of an estimator as read from a card and its weights."""

    networks: list[SpectrumMLP]
    fit_seconds: float
    training_rows: int
    elements: tuple[str, ...]
    domain: dict[str, DomainReference]
    domain_flag_rate: dict[str, float]
    calibration: dict[str, tuple[Calibration, CoverageReport]]
    provenance: Provenance
    card: ModelCard
    residual_head: dict[str, ResidualHeadState] = field(default_factory=dict)


def read_model(path) -> StoredModel:
    """Read a card and verify its weights' checksum.

    Raises
    ------
    XasflowError
        Missing/unreadable/edited card or weights, a non-model file, or weights not matching the card.
    """
    path = Path(path)
    if path.suffix not in (".json", ".npz"):
        raise XasflowError(f"{path}: not a model (give the .json card or the .npz weights)")
    card_path = path.with_suffix(".json")
    card = ModelCard.read(card_path)
    assert card.weights is not None  # validated
    weights = (card_path.parent / card.weights.file).resolve()
    if not weights.is_file():
        raise XasflowError(f"{weights}: model weights missing")
    actual = file_sha256(weights)
    if actual != card.weights.sha256:
        raise XasflowError(
            f"{weights}: checksum mismatch (sha256 {actual[:12]}…, card says {card.weights.sha256[:12]}…): "
            "the weights are corrupted or were modified; rebuild or reinstall the model"
        )
    return StoredModel(card, weights, card_path)


def card_spec(card: ModelCard) -> ModelSpec:
    """The estimator's :class:`~xasflow.models.spec.ModelSpec` recorded in ``card``.

    Cards written before the spec had its own section keep ``element``, ``fidelity`` and ``kind`` in their
    ``params`` (and ``featurizer: null`` there, the features in the card's ``featurizer`` block): those are
    read into the spec (the card's own ``element``, ``fidelity`` and ``kind`` where ``params`` lacks one).

    Raises
    ------
    XasflowError
        Invalid legacy entries.
    """
    if card.spec is not None:
        return card.spec
    recorded = {"element": card.element, "fidelity": card.fidelity, "kind": card.kind}
    legacy = {key: card.params.get(key, value) for key, value in recorded.items()}
    return ModelSpec(**legacy, featurizer=FeaturizerSpec(**vars(card.featurizer)))


def card_params(card: ModelCard) -> dict[str, Any]:
    """The estimator's hyperparameters recorded in ``card`` (without the spec, see :func:`card_spec`)."""
    params = {k: v for k, v in card.params.items() if k not in SPEC_FIELDS}
    params["hidden"] = tuple(params["hidden"])
    params["conditioning"] = tuple(params["conditioning"])
    return params


def fitted_state(stored: StoredModel, config: ModelConfig) -> FittedState:
    """The learned state of ``stored``: members of architecture ``config``, domain, calibration, provenance."""
    card, weights = stored.card, stored.weights
    try:
        with np.load(weights, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as exc:
        raise XasflowError(f"{weights}: cannot read model weights ({exc})") from exc
    networks = []
    for i in range(card.ensemble.members):
        net = SpectrumMLP(config)
        prefix = f"m{i}__"
        state = {k.removeprefix(prefix): torch.as_tensor(v) for k, v in arrays.items() if k.startswith(prefix)}
        reference = net.state_dict()
        try:
            net.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()})
        except (KeyError, RuntimeError) as exc:
            raise XasflowError(f"{weights}: weights do not match the card's architecture ({exc})") from exc
        networks.append(net.eval())
    domain = {}
    for key in arrays:
        if key.startswith("domain__") and key.endswith("__rows"):
            element = key.split("__")[1]
            spec = card.domain.get(element)
            domain[element] = DomainReference(
                arrays[key].astype(np.float32),
                arrays[f"domain__{element}__mean"],
                arrays[f"domain__{element}__scale"],
                arrays[f"domain__{element}__magnitude"],
                k=spec.k if spec else 5,
                threshold=spec.threshold if spec else None,
            )
    heads = {}
    for element, spec in card.residual_head.items():
        try:
            values = {name: arrays[f"head__{element}__{name}"] for name in ARRAY_NAMES}
        except KeyError as exc:
            raise XasflowError(f"{weights}: the card's {element} residual head has no arrays ({exc})") from exc
        heads[element] = ResidualHeadState.from_arrays(values, spec.alpha, spec.rows)
        if heads[element].n_design != spec.design_columns:
            raise XasflowError(f"{weights}: {element} residual head does not match the card's design width")
    return FittedState(
        networks=networks,
        fit_seconds=float(card.training.get("seconds", 0.0)),
        training_rows=int(card.training.get("rows", 0)),
        elements=card.elements or ("*",),
        domain=domain,
        domain_flag_rate={e: d.heldout_flagged for e, d in card.domain.items()},
        calibration={
            element: (
                Calibration(np.asarray(spec.scale), spec.z95, spec.floor),
                CoverageReport(spec.coverage_68, spec.coverage_95, spec.rows, spec.materials),
            )
            for element, spec in card.calibration.items()
        },
        provenance=Provenance(
            data=card.data,
            metrics=card.metrics,
            baseline_spectrum=card.baseline_spectrum,
            pretraining=card.pretraining,
            recipe=card.recipe,
        ),
        card=replace(card),
        residual_head=heads,
    )
