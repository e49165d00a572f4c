"""What the training driver knows about a model and the estimator does not (recorded in its card)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Provenance:
    """What the training driver knows and the estimator does not: data, metrics, recipe, baseline."""

    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    baseline_spectrum: tuple[float, ...] | None = None
    pretraining: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = None
