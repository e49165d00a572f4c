"""The one way to train a model of record: ``train(kind, data, recipe)``, backed by a per-kind registry.

Every command, the zoo build and the scripts train through :func:`train`. A kind
(:class:`~xasflow.kinds.ModelKind`) is trained by the function registered for it with
:func:`register`; the four kinds of the paper register in :mod:`xasflow.training.modes`, the residual
head in :mod:`xasflow.training.head`. Adding a kind is a member of ``ModelKind`` and one module whose
trainer is decorated with ``@register(ModelKind.NEW)`` (and imported in :data:`TRAINER_MODULES`).

Rows without a set's splits (the few-row transfer of new elements and active learning) are trained by the
building blocks of :mod:`xasflow.training.transfer`, with the same :class:`~xasflow.training.config.Recipe`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Protocol

from xasflow.errors import XasflowError
from xasflow.kinds import ModelKind
from xasflow.models.estimator import XASRegressor
from xasflow.training.config import Recipe
from xasflow.training.data import SetData

#: Modules whose import registers trainers (one per kind or family of kinds).
TRAINER_MODULES = ("xasflow.training.modes", "xasflow.training.head")


class Trainer(Protocol):
    """Trains one kind: ``sets`` (one set, or every FEFF set for the universal model), a recipe and, for a
    fine-tuned kind, the model it starts from."""

    def __call__(self, sets: Sequence[SetData], recipe: Recipe, base: XASRegressor | None) -> XASRegressor: ...


_TRAINERS: dict[ModelKind, Trainer] = {}


def register(kind: ModelKind | str) -> Callable[[Trainer], Trainer]:
    """Decorator: ``trainer`` trains ``kind`` (one trainer per kind)."""
    kind = ModelKind.parse(kind)

    def decorate(trainer: Trainer) -> Trainer:
        if kind in _TRAINERS and _TRAINERS[kind] is not trainer:
            raise XasflowError(f"a trainer for {kind.value!r} is already registered")
        _TRAINERS[kind] = trainer
        return trainer

    return decorate


def trainers() -> dict[ModelKind, Trainer]:
    """Every registered trainer by kind."""
    for module in TRAINER_MODULES:
        importlib.import_module(module)
    return dict(_TRAINERS)


def train(
    kind: ModelKind | str,
    data: SetData | Sequence[SetData],
    recipe: Recipe,
    base: XASRegressor | None = None,
) -> XASRegressor:
    """Train a calibrated model of ``kind`` on ``data`` with ``recipe``.

    Parameters
    ----------
    kind
        A :class:`~xasflow.kinds.ModelKind` or its name.
    data
        One set (expert, tuned, cross-fidelity) or the sets of a universal model.
    recipe
        How to train (:data:`~xasflow.training.config.IMPROVED`, a selected candidate, ...).
    base
        The universal model a fine-tuned kind (tuned, cross-fidelity, head) starts from.

    Raises
    ------
    XasflowError
        An unknown kind, a fine-tuned kind without ``base``, or data the kind cannot train on.
    """
    kind = ModelKind.parse(kind)
    registered = trainers()
    if kind not in registered:
        raise XasflowError(f"no trainer registered for {kind.value!r}")
    if kind.fine_tuned and base is None:
        raise XasflowError(f"{kind.value} fine-tunes a universal model: give base=")
    sets = [data] if isinstance(data, SetData) else list(data)
    if not sets:
        raise XasflowError(f"{kind.value}: no data to train on")
    return registered[kind](sets, recipe, base)
