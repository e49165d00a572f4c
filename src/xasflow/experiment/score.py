"""Similarity of an aligned prediction and a measurement (higher is more similar).

``rfactor`` (default): ``1 - Σ(measured - model)² / Σ measured²``, one minus the R-factor that
Athena's linear-combination fitting reports. It compares shape and amplitude on the normalised
edge-step scale and is the quantity the alignment minimises. ``pearson`` (shape only),
``cosine`` and ``dpearson`` (Pearson of the first derivatives, edge and peak positions) are the
alternatives; docs/experiment.md has how each ranks the development set.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xasflow.errors import XasflowError


def rfactor_similarity(measured: np.ndarray, model: np.ndarray) -> float:
    """``1 - R`` with ``R = Σ(measured - model)² / Σ measured²``."""
    return float(1.0 - np.sum((measured - model) ** 2) / np.sum(measured**2))


def pearson(measured: np.ndarray, model: np.ndarray) -> float:
    """Pearson correlation coefficient."""
    return float(np.corrcoef(measured, model)[0, 1])


def cosine(measured: np.ndarray, model: np.ndarray) -> float:
    """Cosine of the angle between the two spectra."""
    return float(measured @ model / (np.linalg.norm(measured) * np.linalg.norm(model)))


def derivative_pearson(measured: np.ndarray, model: np.ndarray) -> float:
    """Pearson correlation of the first derivatives."""
    return pearson(np.gradient(measured), np.gradient(model))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "rfactor": rfactor_similarity,
    "pearson": pearson,
    "cosine": cosine,
    "dpearson": derivative_pearson,
}

DEFAULT_METRIC = "rfactor"


def get_metric(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """The metric called ``name``; ``XasflowError`` for an unknown one."""
    if name not in METRICS:
        raise XasflowError(f"unknown similarity {name!r}; choose one of {', '.join(METRICS)}")
    return METRICS[name]


def score(measured: np.ndarray, model: np.ndarray, metric: str = DEFAULT_METRIC) -> float:
    """Similarity of two spectra on the same energies (higher = more similar)."""
    return get_metric(metric)(np.asarray(measured, float), np.asarray(model, float))
