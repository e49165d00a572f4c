"""Calibration (synthetic noise of known size) and the out-of-domain score."""

from __future__ import annotations

import numpy as np

from xasflow.models import XASRegressor
from xasflow.models.calibration import cross_fitted_coverage, fit_calibration
from xasflow.models.domain import DomainReference, cross_fitted_flag_rate


def test_calibration_recovers_a_known_noise_scale() -> None:
    # Residuals ~ N(0, (3 * sigma)^2): the raw spread is 3x overconfident; the fitted scale must be ~3.
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.5, 2.0, (4000, 141))
    residual = rng.normal(0.0, 3.0 * sigma)
    cal = fit_calibration(residual, sigma)
    assert np.allclose(np.median(cal.scale), 3.0, rtol=0.05)
    assert 1.9 < cal.z95 < 2.1  # Gaussian residuals: the 95.45 % multiple is ~2
    fresh_sigma = rng.uniform(0.5, 2.0, (4000, 141))
    fresh = rng.normal(0.0, 3.0 * fresh_sigma)
    std = cal.std(fresh_sigma)
    assert abs(np.mean(np.abs(fresh) <= std) - 0.6827) < 0.01
    assert abs(np.mean(np.abs(fresh) <= cal.z95 * std) - 0.9545) < 0.01


def test_heavy_tails_get_a_wider_95_interval() -> None:
    rng = np.random.default_rng(1)
    sigma = np.ones((3000, 141))
    residual = rng.standard_t(3, size=sigma.shape)
    cal = fit_calibration(residual, sigma)
    assert cal.z95 > 2.2
    report = cross_fitted_coverage(residual, sigma, np.array([f"m{i // 2}" for i in range(3000)]))
    assert abs(report.coverage_68 - 0.6827) < 0.02 and abs(report.coverage_95 - 0.9545) < 0.02


def test_ensemble_on_noisy_data_is_calibrated_on_held_out_rows() -> None:
    # y = smooth function of X + noise of known size: calibrated intervals cover what they claim.
    rng = np.random.default_rng(2)
    X = rng.normal(0, 1, (900, 64))
    grid = np.linspace(0, 1, 141)
    y = 1.0 + 0.3 * np.tanh(X[:, :1]) * np.sin(3 * grid) + rng.normal(0, 0.05, (900, 141))
    model = XASRegressor(hidden=(64,), dropout=0.1, n_members=5, max_epochs=40, patience=8, batch_size=64)
    model.fit(X[:500], y[:500])
    model.calibrate(X[500:700], y[500:700])
    mean, std = model.predict(X[700:], return_std=True)
    residual = y[700:] - mean
    covered = np.mean(np.abs(residual) <= std)
    assert 0.63 <= covered <= 0.73
    z95 = model.calibration_["*"][0].z95
    assert 0.92 <= np.mean(np.abs(residual) <= z95 * std) <= 0.97


def test_domain_flags_foreign_rows_and_few_in_domain_rows() -> None:
    rng = np.random.default_rng(3)
    train = rng.normal(0, 1, (2000, 64))
    held = rng.normal(0, 1, (800, 64))
    reference = DomainReference.from_training(train)
    rate = cross_fitted_flag_rate(reference, held, np.array([f"m{i}" for i in range(800)]))
    assert rate <= 0.02
    reference.fit_threshold(held)
    fresh = reference.score(rng.normal(0, 1, (1000, 64)))
    assert np.mean(fresh > 1) <= 0.02
    foreign = reference.score(rng.normal(0, 1, (20, 64)) + 4.0)
    assert np.all(foreign > 1)
