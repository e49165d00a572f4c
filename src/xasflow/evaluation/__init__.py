"""Metrics of spectrum predictions (η, MSE, win rates, deciles); reports live in `xasflow.reports`."""

from __future__ import annotations

from xasflow.evaluation.metrics import (
    DecileSpectra,
    Scores,
    WinRates,
    bootstrap_eta_difference,
    decile_spectra,
    eta,
    improvement,
    mse,
    per_spectrum_mse,
    score,
    win_rates,
)

__all__ = [
    "DecileSpectra",
    "Scores",
    "WinRates",
    "bootstrap_eta_difference",
    "decile_spectra",
    "eta",
    "improvement",
    "mse",
    "per_spectrum_mse",
    "score",
    "win_rates",
]
