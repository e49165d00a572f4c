"""Similarity of an aligned prediction and a measurement (higher is more similar).

``rfactor`` (default): ``1 - Σ(measured - model)² / Σ measured²``, one minus the R-factor that
Athena's linear-combination fitting reports. It compares shape and amplitude on the normalised
edge-step scale and is the quantity the alignment minimises. ``pearson`` (shape only),
``cosine`` and ``dpearson`` (Pearson of the first derivatives, edge and peak positions) are the
alternatives; docs/experiment.md has how each ranks the development set.

``likelihood`` uses the prediction's calibrated standard deviation: the mean Gaussian
log-likelihood per point of the measurement given the aligned prediction, with per-point
variance ``std² + tau²``. ``std`` is the model's own uncertainty (model against FEFF), ``tau`` a
common floor for everything else (FEFF against experiment, noise, normalisation), profiled out by
maximum likelihood (:func:`profile_floor`). Points where the model is unsure count less, and a
candidate does not gain by being uncertain (the ``log`` term). Without a std it ranks like the
R-factor (``-0.5 log(2π e RSS/N)``, monotone in the residual sum of squares).
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


#: Floors ``tau`` (normalised μ units) over which the likelihood is maximised: from far below
#: measurement noise of a reference spectrum to half the edge step.
TAU_GRID = np.geomspace(1e-3, 0.5, 61)


def profile_floor(residual: np.ndarray, std: np.ndarray | None) -> tuple[float, float]:
    """Maximum over ``tau`` of the Gaussian log-likelihood of ``residual`` with variance ``std² + tau²``.

    Parameters
    ----------
    residual
        Measured minus model on the comparison energies.
    std
        The model's standard deviation on the same energies; ``None`` = zero.

    Returns
    -------
    (mean log-likelihood per point, tau)
    """
    residual = np.asarray(residual, float)
    sd = np.zeros_like(residual) if std is None else np.asarray(std, float)
    variance = sd[None, :] ** 2 + TAU_GRID[:, None] ** 2
    loglik = -0.5 * np.mean(residual[None, :] ** 2 / variance + np.log(2 * np.pi * variance), axis=1)
    best = int(np.argmax(loglik))
    return float(loglik[best]), float(TAU_GRID[best])


def likelihood(measured: np.ndarray, model: np.ndarray, std: np.ndarray | None = None) -> float:
    """Mean Gaussian log-likelihood per point with variance ``std² + tau²``, ``tau`` profiled out."""
    return profile_floor(np.asarray(measured, float) - np.asarray(model, float), std)[0]


#: Similarities that use the prediction's standard deviation (third argument, may be ``None``).
STD_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]] = {"likelihood": likelihood}

#: Every similarity name.
ALL_METRICS: tuple[str, ...] = (*METRICS, *STD_METRICS)


def get_metric(name: str) -> Callable[..., float]:
    """The metric called ``name``; ``XasflowError`` for an unknown one."""
    if name in METRICS:
        return METRICS[name]
    if name in STD_METRICS:
        return STD_METRICS[name]
    raise XasflowError(f"unknown similarity {name!r}; choose one of {', '.join(ALL_METRICS)}")


def score(
    measured: np.ndarray, model: np.ndarray, metric: str = DEFAULT_METRIC, std: np.ndarray | None = None
) -> float:
    """Similarity of two spectra on the same energies (higher = more similar); ``std`` for ``likelihood``."""
    measured, model = np.asarray(measured, float), np.asarray(model, float)
    if metric in STD_METRICS:
        return STD_METRICS[metric](measured, model, std)
    return get_metric(metric)(measured, model)
