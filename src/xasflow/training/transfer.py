"""Transfer to an element with few (or no) spectra of its own.

Building blocks of the new-element study and of active learning, on plain rows rather than a set of record
(:func:`xasflow.training.train.train` trains those), with the transfer recipe
(:func:`~xasflow.training.config.transfer_recipe`): a universal model pretrained on other
elements (element one-hot or element descriptors as the code), fine-tuning it on ``k`` rows, an expert
from scratch, and a ridge head (:func:`head_on_rows`, a model that saves and ships) that learns the residual
of the transferred spectrum from the frozen networks' last hidden layer. All take plain arrays (features, spectra,
material of each row).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from xasflow.constants import ELEMENTS
from xasflow.errors import XasflowError
from xasflow.kinds import ModelKind
from xasflow.models.estimator import XASRegressor
from xasflow.models.fitting import TrainConfig
from xasflow.models.spec import ModelSpec
from xasflow.training.config import Recipe

#: Below this many materials, early-stopping shares are carved by row (a material cannot be split otherwise).
MIN_GROUPS = 5


def _params(recipe: Recipe, seed: int, config: TrainConfig) -> dict:
    """Estimator hyperparameters of a transfer network trained from scratch with ``config``."""
    return {
        "hidden": tuple(recipe.hidden or (256, 256)),
        "dropout": recipe.dropout,
        "standardize": recipe.standardize,
        "lr": config.lr,
        "batch_size": config.batch_size,
        "max_epochs": config.max_epochs,
        "patience": config.patience,
        "weight_decay": config.weight_decay,
        "schedule": config.schedule,
        "n_members": recipe.ensemble,
        "random_state": seed,
        "threads": config.threads,
    }


def fit_groups(groups: Sequence[str] | np.ndarray) -> np.ndarray:
    """Materials as early-stopping groups, or one group per row when there are too few materials."""
    groups = np.asarray(groups, dtype=str)
    if len(np.unique(groups)) < MIN_GROUPS:
        return np.array([f"row{i}" for i in range(len(groups))])
    return groups


def pretrain(
    X: np.ndarray,
    y: np.ndarray,
    elements: Sequence[str],
    groups: Sequence[str],
    recipe: Recipe,
    seed: int = 0,
    encoding: str = "descriptors",
    extra_elements: Sequence[str] = (),
) -> XASRegressor:
    """A universal model on rows of several elements.

    ``extra_elements``: one-hot slots for elements without rows (so the model can later be fine-tuned on them).
    """
    present = set(elements) | set(extra_elements)
    model = XASRegressor(
        conditioning=tuple(e for e in ELEMENTS if e in present),
        encoding=encoding,
        spec=ModelSpec(kind=ModelKind.UNIVERSAL),
        stop_fraction=0.1,
        **_params(recipe, seed, recipe.train),
    )
    return model.fit(X, y, elements=list(elements), groups=fit_groups(groups))


def pretrain_by_element(
    rows: dict[str, dict], recipe: Recipe, seed: int = 0, encoding: str = "descriptors"
) -> XASRegressor:
    """:func:`pretrain` on per-element row sets ``{element: {"X", "y", "materials"}}`` (stacked in that order)."""
    if not rows:
        raise XasflowError("no rows of any element to pretrain on")
    return pretrain(
        np.vstack([r["X"] for r in rows.values()]),
        np.vstack([r["y"] for r in rows.values()]),
        [e for e, r in rows.items() for _ in range(len(r["X"]))],
        np.concatenate([r["materials"] for r in rows.values()]),
        recipe,
        seed,
        encoding,
    )


def expert_on_rows(
    X: np.ndarray, y: np.ndarray, groups: Sequence[str], element: str, recipe: Recipe, seed: int = 0
) -> XASRegressor:
    """An ensemble trained from scratch on one element's few rows (``recipe.few``)."""
    model = XASRegressor(
        spec=ModelSpec(element, kind=ModelKind.EXPERT),
        stop_fraction=recipe.stop_fraction or 0.2,
        **_params(recipe, seed, recipe.few or recipe.train),
    )
    return model.fit(X, y, groups=fit_groups(groups))


def tune_on_rows(
    universal: XASRegressor,
    X: np.ndarray,
    y: np.ndarray,
    groups: Sequence[str],
    element: str,
    recipe: Recipe,
    seed: int = 0,
) -> XASRegressor:
    """Universal weights fine-tuned on one element's few rows (``recipe.tune``, BatchNorm statistics frozen).

    Raises
    ------
    XasflowError
        A one-hot model without a slot for ``element``.
    """
    if universal.encoding == "onehot" and element not in universal.conditioning:
        raise XasflowError(f"the one-hot universal model has no slot for {element}; cannot fine-tune it for that")
    model = copy.deepcopy(universal).with_spec(element=element, kind=ModelKind.TUNED)
    conditioning = universal.conditioning
    if element not in conditioning:  # descriptor code: record that the model now knows the element
        conditioning = tuple(e for e in ELEMENTS if e in {*conditioning, element})
    model.set_params(
        warm_start=True,
        freeze_batchnorm=True,
        lr=recipe.tune.lr,
        batch_size=recipe.tune.batch_size,
        max_epochs=recipe.tune.max_epochs,
        patience=recipe.tune.patience,
        stop_fraction=recipe.stop_fraction or 0.2,
        random_state=seed,
        conditioning=conditioning,
    )
    model.fit(X, y, elements=element, groups=fit_groups(groups))
    model.set_params(warm_start=False, freeze_batchnorm=False)
    return model


def embed(model: XASRegressor, X: np.ndarray, element: str | None) -> np.ndarray:
    """Last hidden layer of every member, concatenated: ``(n, members · width)``."""
    return model.hidden_features(X, element)


def head_on_rows(base: XASRegressor, X: np.ndarray, y: np.ndarray, element: str) -> XASRegressor:
    """A copy of ``base`` with a ridge residual head fitted on one element's few rows (networks frozen).

    The ``head_desc`` transfer of the new-element study: see
    :meth:`XASRegressor.fit_residual_head <xasflow.models.estimator.XASRegressor.fit_residual_head>`.
    The copy is labelled as ``tune_on_rows`` labels a fine-tuned one (element, kind ``head``, the element
    added to a descriptor model's conditioning) and, like a fine-tuned model, is a model of ``element``
    alone: the other elements' domain references and calibrations are not carried (calibrate it, or give
    it a domain with ``set_domain``). ``base`` is untouched.

    Raises
    ------
    XasflowError
        A one-hot model without a slot for ``element``, or fewer than 3 rows.
    """
    if base.encoding == "onehot" and base.conditioning and element not in base.conditioning:
        raise XasflowError(f"the one-hot universal model has no slot for {element}; cannot fit a head for it")
    model = copy.deepcopy(base).with_spec(element=element, kind=ModelKind.HEAD)
    conditioning = base.conditioning
    if conditioning and element not in conditioning:  # descriptor code: record that the model now knows the element
        conditioning = tuple(e for e in ELEMENTS if e in {*conditioning, element})
    model.set_params(conditioning=conditioning)
    if not conditioning and "*" in model.domain_:  # an unlabelled model's domain is its element's
        model.domain_ = {element: model.domain_["*"]}
    # Only this element's state ships (the other elements' reference rows would fill the weights file).
    model.domain_ = {e: r for e, r in model.domain_.items() if e == element}
    model.domain_flag_rate_ = {e: v for e, v in getattr(model, "domain_flag_rate_", {}).items() if e == element}
    model.calibration_ = {}
    model.residual_head_ = {e: h for e, h in getattr(model, "residual_head_", {}).items() if e == element}
    return model.fit_residual_head(X, y, element)
