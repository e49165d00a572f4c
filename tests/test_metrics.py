"""Metrics on hand-computable toy inputs."""

from __future__ import annotations

import numpy as np
import pytest

from xasflow.errors import XasflowError
from xasflow.evaluation.metrics import (
    bootstrap_eta_difference,
    decile_spectra,
    eta,
    improvement,
    mse,
    per_spectrum_mse,
    score,
    win_rates,
)


def test_eta_on_toy_spectra() -> None:
    target = np.array([[0.0, 0.0], [2.0, 2.0], [4.0, 4.0]])
    baseline = np.array([2.0, 2.0])  # per-spectrum MSE 4, 0, 4 -> median 4
    prediction = target + np.array([[1.0, 1.0], [0.5, 0.5], [2.0, 2.0]])  # MSE 1, 0.25, 4 -> median 1
    assert per_spectrum_mse(target, prediction) == pytest.approx([1.0, 0.25, 4.0])
    assert eta(target, prediction, baseline) == pytest.approx(4.0)
    # The baseline itself scores exactly 1.
    assert eta(target, np.broadcast_to(baseline, target.shape), baseline) == pytest.approx(1.0)
    assert mse(target, prediction) == pytest.approx((1 + 0.25 + 4) / 3)
    s = score(target, prediction, baseline)
    assert (s.eta, s.median_mse, s.n) == (pytest.approx(4.0), pytest.approx(1.0), 3)


def test_improvement_percent() -> None:
    assert improvement(6.0, 4.0) == pytest.approx(50.0)
    assert improvement(3.0, 4.0) == pytest.approx(-25.0)
    with pytest.raises(XasflowError):
        improvement(1.0, 0.0)


def test_win_rates_count_spectra_and_points() -> None:
    target = np.zeros((2, 4))
    a = np.array([[0.1, 0.1, 0.1, 5.0], [0.1, 0.1, 0.1, 0.1]])
    b = np.full((2, 4), 0.2)
    wins = win_rates(target, a, b)
    assert wins.points == pytest.approx(7 / 8)
    assert wins.spectra == pytest.approx(0.5)  # a loses spectrum 0 (big outlier), wins spectrum 1
    assert win_rates(target, a, a).spectra == pytest.approx(0.5)


def test_decile_spectra_are_ordered_by_error() -> None:
    rng = np.random.default_rng(0)
    target = rng.random((50, 5))
    prediction = target + np.linspace(0, 1, 50)[:, None]
    deciles = decile_spectra(target, prediction)
    assert len(deciles.rows) == 10
    assert np.all(np.diff(deciles.mse) >= 0)
    assert np.array_equal(deciles.target, target[deciles.rows])


def test_bad_metric_inputs() -> None:
    with pytest.raises(XasflowError, match="NaN"):
        mse(np.array([[np.nan, 1.0]]), np.ones((1, 2)))
    with pytest.raises(XasflowError, match="shape"):
        mse(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(XasflowError, match="no spectra"):
        mse(np.ones((0, 3)), np.ones((0, 3)))


def test_bootstrap_interval_separates_gain_from_noise() -> None:
    rng = np.random.default_rng(1)
    target = rng.random((200, 10))
    baseline = target.mean(axis=0)
    good = target + rng.normal(0, 0.05, target.shape)
    bad = target + rng.normal(0, 0.2, target.shape)
    lo, hi = bootstrap_eta_difference(target, good, bad, baseline)
    assert 0 < lo < hi
    # A model against itself: the interval is exactly zero.
    assert bootstrap_eta_difference(target, good, good, baseline) == (0.0, 0.0)
