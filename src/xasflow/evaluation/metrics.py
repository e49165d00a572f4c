"""Spectrum-prediction metrics: MSE, η (gain over the mean-spectrum baseline), win rates, deciles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xasflow.errors import XasflowError


def _pair(target: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    target = np.asarray(target, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    if target.ndim != 2 or target.shape != prediction.shape:
        raise XasflowError(f"target {target.shape} and prediction {prediction.shape} must be equal-shaped (n, points)")
    if len(target) == 0:
        raise XasflowError("no spectra to evaluate")
    if not (np.all(np.isfinite(target)) and np.all(np.isfinite(prediction))):
        raise XasflowError("target or prediction contains NaN or infinite values")
    return target, prediction


def mse(target: np.ndarray, prediction: np.ndarray) -> float:
    """Mean squared error over all spectra and energy points."""
    target, prediction = _pair(target, prediction)
    return float(np.mean((target - prediction) ** 2))


def per_spectrum_mse(target: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """MSE of each spectrum (mean over its energy points), shape ``(n,)``."""
    target, prediction = _pair(target, prediction)
    return np.mean((target - prediction) ** 2, axis=1)


def eta(target: np.ndarray, prediction: np.ndarray, baseline_spectrum: np.ndarray) -> float:
    """η: median per-spectrum MSE of the mean-spectrum baseline over that of the model (higher is better).

    Parameters
    ----------
    target, prediction
        ``(n, points)`` spectra.
    baseline_spectrum
        ``(points,)`` mean of the *training* spectra of the set, predicted for every row by the baseline.
    """
    target, prediction = _pair(target, prediction)
    baseline_spectrum = np.asarray(baseline_spectrum, dtype=np.float64)
    if baseline_spectrum.shape != target.shape[1:]:
        raise XasflowError(f"baseline spectrum has shape {baseline_spectrum.shape}, expected ({target.shape[1]},)")
    baseline = np.median(per_spectrum_mse(target, np.broadcast_to(baseline_spectrum, target.shape)))
    model = np.median(per_spectrum_mse(target, prediction))
    if model == 0:
        return float("inf")
    return float(baseline / model)


def improvement(eta_a: float, eta_b: float) -> float:
    """Improvement of ``a`` over ``b`` in percent: ``(η_a − η_b) / η_b · 100``."""
    if eta_b == 0:
        raise XasflowError("improvement over a model with η = 0 is undefined")
    return float((eta_a - eta_b) / eta_b * 100.0)


def bootstrap_eta_difference(
    target: np.ndarray,
    prediction_a: np.ndarray,
    prediction_b: np.ndarray,
    baseline_spectrum: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap interval (resampling spectra) of η_a − η_b on the same rows: tells a gain from noise."""
    target, prediction_a = _pair(target, prediction_a)
    _, prediction_b = _pair(target, prediction_b)
    base = per_spectrum_mse(target, np.broadcast_to(np.asarray(baseline_spectrum, dtype=np.float64), target.shape))
    err_a = per_spectrum_mse(target, prediction_a)
    err_b = per_spectrum_mse(target, prediction_b)
    rows = np.random.default_rng(seed).integers(0, len(target), size=(n_boot, len(target)))
    med_base = np.median(base[rows], axis=1)
    diffs = med_base / np.median(err_a[rows], axis=1) - med_base / np.median(err_b[rows], axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(diffs, tail)), float(np.quantile(diffs, 1.0 - tail))


@dataclass(frozen=True)
class WinRates:
    """Share of spectra and of energy points where model ``a`` has the smaller absolute residual."""

    spectra: float
    points: float


def win_rates(target: np.ndarray, prediction_a: np.ndarray, prediction_b: np.ndarray) -> WinRates:
    """How often model ``a`` beats model ``b``: per spectrum (by MSE) and per energy point (by |residual|).

    Ties count as half a win, so two identical models score 0.5 each.
    """
    target, prediction_a = _pair(target, prediction_a)
    _, prediction_b = _pair(target, prediction_b)
    err_a = np.abs(target - prediction_a)
    err_b = np.abs(target - prediction_b)
    points = np.mean((err_a < err_b) + 0.5 * (err_a == err_b))
    mse_a = np.mean(err_a**2, axis=1)
    mse_b = np.mean(err_b**2, axis=1)
    spectra = np.mean((mse_a < mse_b) + 0.5 * (mse_a == mse_b))
    return WinRates(spectra=float(spectra), points=float(points))


@dataclass(frozen=True)
class DecileSpectra:
    """One spectrum per decile band of per-spectrum MSE (the row at the band's middle quantile)."""

    quantiles: np.ndarray
    rows: np.ndarray
    mse: np.ndarray
    target: np.ndarray
    prediction: np.ndarray


def decile_spectra(target: np.ndarray, prediction: np.ndarray, n: int = 10) -> DecileSpectra:
    """The row at the middle of each of ``n`` quantile bands of per-spectrum MSE, best to worst."""
    errors = per_spectrum_mse(target, prediction)
    order = np.argsort(errors, kind="stable")
    quantiles = (np.arange(n) + 0.5) / n
    positions = np.minimum((quantiles * (len(order) - 1)).round().astype(int), len(order) - 1)
    rows = order[positions]
    return DecileSpectra(
        quantiles=quantiles,
        rows=rows,
        mse=errors[rows],
        target=np.asarray(target)[rows],
        prediction=np.asarray(prediction)[rows],
    )


@dataclass(frozen=True)
class Scores:
    """The metrics of one model on one evaluation set."""

    eta: float
    mse: float
    median_mse: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"eta": self.eta, "mse": self.mse, "median_mse": self.median_mse, "n": self.n}


def score(target: np.ndarray, prediction: np.ndarray, baseline_spectrum: np.ndarray) -> Scores:
    """η, MSE and median per-spectrum MSE in one go."""
    return Scores(
        eta=eta(target, prediction, baseline_spectrum),
        mse=mse(target, prediction),
        median_mse=float(np.median(per_spectrum_mse(target, prediction))),
        n=len(target),
    )
