"""Metrics and reports of spectrum predictions."""

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
