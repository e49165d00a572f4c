"""Typed training configuration and the two recipes (published reference, improved)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from xasflow.errors import XasflowError

SCHEDULES = ("none", "plateau", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and stopping settings of one training run.

    Parameters
    ----------
    lr
        Adam learning rate.
    batch_size
        Mini-batch size.
    max_epochs, patience
        Upper bound of epochs; stop when the early-stopping loss has not improved for ``patience`` epochs
        (the best weights are restored).
    weight_decay
        Decoupled (AdamW) weight decay; 0 gives plain Adam.
    schedule
        Learning-rate schedule: ``none``, ``plateau`` (halve after ``patience // 3`` flat epochs) or ``cosine``.
    seed
        Seed of weight initialisation, shuffling and dropout.
    threads
        torch intra-op threads (1 keeps the 2-core machine usable by others).
    freeze_batchnorm
        Keep BatchNorm running statistics fixed (fine-tuning: one element's batches would otherwise overwrite
        the statistics learnt over all elements).
    """

    lr: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 500
    patience: int = 30
    weight_decay: float = 0.0
    schedule: str = "none"
    seed: int = 0
    threads: int = 1
    freeze_batchnorm: bool = False

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise XasflowError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.lr <= 0 or self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1 or self.threads < 1:
            raise XasflowError("lr, batch_size, max_epochs, patience and threads must be positive")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_seed(self, seed: int) -> TrainConfig:
        return replace(self, seed=seed)


@dataclass(frozen=True)
class Recipe:
    """Everything that distinguishes one way of training from another, for all modes.

    Parameters
    ----------
    name
        ``reference`` (the published recipe) or ``improved``.
    dropout, standardize
        Architecture knobs (hidden widths always follow the published per-set table).
    condition_universal
        Give the universal model the element as a one-hot input.
    train
        Settings for training from scratch (expert, universal).
    tune
        Settings for fine-tuning (tuned, cross-fidelity).
    ensemble
        Number of independently seeded members whose predictions are averaged.
    """

    name: str
    dropout: float
    standardize: bool
    condition_universal: bool
    train: TrainConfig
    tune: TrainConfig
    ensemble: int = 1

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["train"] = self.train.as_dict()
        out["tune"] = self.tune.as_dict()
        return out

    def with_seed(self, seed: int) -> Recipe:
        return replace(self, train=self.train.with_seed(seed), tune=self.tune.with_seed(seed))

    def with_max_epochs(self, max_epochs: int) -> Recipe:
        return replace(
            self, train=replace(self.train, max_epochs=max_epochs), tune=replace(self.tune, max_epochs=max_epochs)
        )

    def with_threads(self, threads: int) -> Recipe:
        return replace(self, train=replace(self.train, threads=threads), tune=replace(self.tune, threads=threads))


#: The published recipe: dropout 0.5, raw ×1000 inputs, Adam, constant learning rate, early stopping,
#: fine-tuning with the same optimiser settings.
REFERENCE = Recipe(
    name="reference",
    dropout=0.5,
    standardize=False,
    condition_universal=False,
    train=TrainConfig(lr=1e-3, batch_size=128, max_epochs=500, patience=30),
    tune=TrainConfig(lr=1e-3, batch_size=128, max_epochs=500, patience=30),
)

#: Our recipe; every change was kept only if it raised η on the early-stopping/evaluation subsets
#: (see docs/models.md for the measurements).
IMPROVED = Recipe(
    name="improved",
    dropout=0.1,
    standardize=True,
    condition_universal=True,
    train=TrainConfig(lr=1e-3, batch_size=64, max_epochs=500, patience=40, weight_decay=1e-4, schedule="plateau"),
    tune=TrainConfig(
        lr=2e-4,
        batch_size=64,
        max_epochs=500,
        patience=40,
        weight_decay=1e-4,
        schedule="plateau",
        freeze_batchnorm=True,
    ),
)

RECIPES: dict[str, Recipe] = {"reference": REFERENCE, "improved": IMPROVED}


def get_recipe(name: str) -> Recipe:
    """A recipe by name."""
    try:
        return RECIPES[name]
    except KeyError:
        raise XasflowError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}") from None
