"""Transfer to an element with few (or no) spectra of its own.

Building blocks of the new-element study and of active learning: a universal model pretrained on other
elements (element one-hot or element descriptors as the code), fine-tuning it on ``k`` rows, an expert
from scratch, and a ridge head that learns the residual of the transferred spectrum from the frozen
network's last hidden layer. All take plain arrays (features, spectra, material of each row).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from xasflow.constants import ELEMENTS
from xasflow.errors import XasflowError
from xasflow.models.estimator import XASRegressor

#: Below this many materials, early-stopping shares are carved by row (a material cannot be split otherwise).
MIN_GROUPS = 5


@dataclass(frozen=True)
class TransferSettings:
    """Sizes and optimiser settings shared by every transfer method (small nets: the 2-core budget).

    Parameters
    ----------
    hidden, dropout
        Architecture of every network.
    lr, tune_lr
        Learning rate from scratch and for fine-tuning (BatchNorm statistics frozen when fine-tuning).
    batch_size, max_epochs, patience
        Training loop of the universal models; ``patience`` epochs without improvement on the
        early-stopping share stop it.
    few_batch_size, few_max_epochs, few_patience
        The same for fits on one element's few rows (expert, fine-tuning): smaller batches and more epochs,
        so that 10 rows get as many optimiser steps as the early stopping asks for.
    members
        Ensemble size.
    stop_fraction
        Share of the (few) rows each member early-stops on.
    """

    hidden: tuple[int, ...] = (256, 256)
    dropout: float = 0.1
    lr: float = 1e-3
    tune_lr: float = 2e-4
    batch_size: int = 128
    max_epochs: int = 150
    patience: int = 15
    few_batch_size: int = 32
    few_max_epochs: int = 400
    few_patience: int = 30
    members: int = 1
    stop_fraction: float = 0.2
    threads: int = 1

    def as_dict(self) -> dict:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out


def _params(settings: TransferSettings, seed: int, lr: float, few: bool = False) -> dict:
    return {
        "hidden": tuple(settings.hidden),
        "dropout": settings.dropout,
        "standardize": True,
        "lr": lr,
        "batch_size": settings.few_batch_size if few else settings.batch_size,
        "max_epochs": settings.few_max_epochs if few else settings.max_epochs,
        "patience": settings.few_patience if few else settings.patience,
        "weight_decay": 1e-4,
        "schedule": "plateau",
        "n_members": settings.members,
        "random_state": seed,
        "threads": settings.threads,
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
    settings: TransferSettings,
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
        kind="universal",
        stop_fraction=0.1,
        **_params(settings, seed, settings.lr),
    )
    return model.fit(X, y, elements=list(elements), groups=fit_groups(groups))


def pretrain_by_element(
    rows: dict[str, dict], settings: TransferSettings, seed: int = 0, encoding: str = "descriptors"
) -> XASRegressor:
    """:func:`pretrain` on per-element row sets ``{element: {"X", "y", "materials"}}`` (stacked in that order)."""
    if not rows:
        raise XasflowError("no rows of any element to pretrain on")
    return pretrain(
        np.vstack([r["X"] for r in rows.values()]),
        np.vstack([r["y"] for r in rows.values()]),
        [e for e, r in rows.items() for _ in range(len(r["X"]))],
        np.concatenate([r["materials"] for r in rows.values()]),
        settings,
        seed,
        encoding,
    )


def train_expert(
    X: np.ndarray, y: np.ndarray, groups: Sequence[str], element: str, settings: TransferSettings, seed: int = 0
) -> XASRegressor:
    """An ensemble trained from scratch on one element's rows."""
    model = XASRegressor(
        element=element,
        kind="expert",
        stop_fraction=settings.stop_fraction,
        **_params(settings, seed, settings.lr, few=True),
    )
    return model.fit(X, y, groups=fit_groups(groups))


def fine_tune(
    universal: XASRegressor,
    X: np.ndarray,
    y: np.ndarray,
    groups: Sequence[str],
    element: str,
    settings: TransferSettings,
    seed: int = 0,
) -> XASRegressor:
    """Universal weights fine-tuned on one element's rows (lr ``tune_lr``, BatchNorm statistics frozen).

    Raises
    ------
    XasflowError
        A one-hot model without a slot for ``element``.
    """
    if universal.encoding == "onehot" and element not in universal.conditioning:
        raise XasflowError(f"the one-hot universal model has no slot for {element}; cannot fine-tune it for that")
    model = copy.deepcopy(universal)
    conditioning = universal.conditioning
    if element not in conditioning:  # descriptor code: record that the model now knows the element
        conditioning = tuple(e for e in ELEMENTS if e in {*conditioning, element})
    model.set_params(
        element=element,
        kind="tuned",
        warm_start=True,
        freeze_batchnorm=True,
        lr=settings.tune_lr,
        batch_size=settings.few_batch_size,
        max_epochs=settings.few_max_epochs,
        patience=settings.few_patience,
        stop_fraction=settings.stop_fraction,
        random_state=seed,
        conditioning=conditioning,
    )
    model.fit(X, y, elements=element, groups=fit_groups(groups))
    model.set_params(warm_start=False, freeze_batchnorm=False)
    return model


def embed(model: XASRegressor, X: np.ndarray, element: str | None) -> np.ndarray:
    """Last hidden layer of every member, concatenated: ``(n, members · width)``."""
    model._check_fitted()
    features = torch.as_tensor(np.asarray(X, dtype=np.float64), dtype=torch.float32)
    codes = model._codes(model._labels(len(features), element))
    out = []
    with torch.inference_mode():
        for net in model.networks_:
            net.eval()
            x = (features - net.feature_mean) / net.feature_scale
            if codes is not None:
                x = torch.cat([x, codes], dim=1)
            out.append(net.layers[:-2](x).double().numpy())
    return np.hstack(out)


class ResidualHead:
    """Ridge regression of ``y − base(x)`` on the base network's last hidden layer and the standardised features.

    The base is a model that already predicts the element (a descriptor-coded universal or a fine-tuned
    model); the ridge penalty is chosen by leave-one-out (generalised cross-validation) on the rows given,
    so it needs no separate validation rows. Predictions are clipped at zero (spectra are non-negative).
    """

    ALPHAS = tuple(np.logspace(-2, 4, 13))

    def __init__(self, base: XASRegressor, element: str) -> None:
        self.base = base
        self.element = element

    def _raw_design(self, X: np.ndarray) -> np.ndarray:
        element = self.element if self.base.conditioning else None
        return np.hstack([embed(self.base, X, element), (X - self.x_mean_) / self.x_scale_])

    def _design(self, X: np.ndarray) -> np.ndarray:
        return (self._raw_design(X) - self.z_mean_) / self.z_scale_

    def _base(self, X: np.ndarray) -> np.ndarray:
        return self.base.predict(X, elements=self.element if self.base.conditioning else None)

    def fit(self, X: np.ndarray, y: np.ndarray) -> ResidualHead:
        from sklearn.linear_model import RidgeCV

        X = np.asarray(X, dtype=np.float64)
        if len(X) < 3:
            raise XasflowError("the residual head needs at least 3 rows")
        self.x_mean_, self.x_scale_ = X.mean(0), X.std(0) + 1e-6
        Z = self._raw_design(X)
        self.z_mean_, self.z_scale_ = Z.mean(0), Z.std(0) + 1e-6
        Z = (Z - self.z_mean_) / self.z_scale_
        self.ridge_ = RidgeCV(alphas=self.ALPHAS).fit(Z, np.asarray(y) - self._base(X))
        return self

    @property
    def alpha(self) -> float:
        return float(self.ridge_.alpha_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return np.clip(self._base(X) + self.ridge_.predict(self._design(X)), 0.0, None)
