"""The calibrated std in matching: the likelihood similarity and the weighted alignment; the foil channel."""

from __future__ import annotations

import numpy as np
import pytest

from xasflow.compare import Candidate, rank
from xasflow.compare.align import DEFAULT_OFFSET
from xasflow.compare.normalize import NormalizedSpectrum
from xasflow.compare.score import TAU_GRID, likelihood, profile_floor, rfactor_similarity
from xasflow.constants import energy_grid


def _edge(energies: np.ndarray) -> np.ndarray:
    """A smooth edge with a white line: a stand-in for a predicted K edge."""
    x = energies - energies[0]
    return 1.0 / (1.0 + np.exp(-(x - 8.0) / 1.2)) + 0.5 * np.exp(-0.5 * ((x - 12.0) / 2.0) ** 2)


def _measurement(energies: np.ndarray, curve: np.ndarray, shift: float, seed: int = 0) -> NormalizedSpectrum:
    grid = np.arange(energies[0] - 60, energies[-1] + 100, 0.3)
    flat = np.interp(grid, energies + shift, curve) + np.random.default_rng(seed).normal(0, 0.002, grid.shape)
    return NormalizedSpectrum("synthetic", grid, flat, flat, flat, float(energies[0] + shift), 1.0, 0.0, 0.0, "Cu")


def test_std_weighting_ranks_the_true_candidate_where_the_r_factor_fails():
    """A candidate that is wrong only where it says it is unsure beats one that is a little wrong everywhere.

    ``true``: the right structure, but its prediction misses the white line by 0.15 where its own
    calibrated std is 0.15 (the model knows it is unsure there) and is exact elsewhere (std 0.005).
    ``decoy``: 0.04 too high everywhere, with the same small std everywhere. The R-factor prefers
    the decoy (smaller residual sum of squares); the likelihood prefers the true candidate.
    """
    energies = energy_grid("Cu")
    truth = _edge(energies)
    white_line = np.abs(energies - energies[0] - 12.0) < 2.5
    true_pred = truth - 0.15 * white_line
    true_std = np.where(white_line, 0.15, 0.005)
    decoy_pred = truth + 0.04
    decoy_std = np.full_like(truth, 0.005)
    measured = _measurement(energies, truth, DEFAULT_OFFSET["Cu"])
    candidates = [
        Candidate("true", "A", energies, true_pred, true_std),
        Candidate("decoy", "B", energies, decoy_pred, decoy_std),
    ]
    from xasflow.compare import AlignConfig

    config = AlignConfig(sigma=0.0, scale_bounds=(0.99, 1.01))  # isolate the weighting from broadening and scale
    unweighted = rank(measured, candidates, "Cu", metric="rfactor", config=config)
    weighted = rank(measured, candidates, "Cu", metric="likelihood", config=config)
    assert unweighted.best.candidate.source == "decoy"
    assert weighted.best.candidate.source == "true"
    assert weighted.config.weighted and not unweighted.config.weighted
    true_alignment = next(e.alignment for e in weighted.entries if e.candidate.source == "true")
    assert true_alignment.tau is not None and true_alignment.tau < 0.02  # the floor fits the exact points
    assert true_alignment.shift == pytest.approx(DEFAULT_OFFSET["Cu"], abs=0.3)


def test_likelihood_without_std_ranks_like_the_r_factor():
    rng = np.random.default_rng(1)
    measured = np.sin(np.linspace(0, 3, 141)) + 1.0
    models = [measured + rng.normal(0, s, measured.shape) for s in (0.01, 0.03, 0.1)]
    by_r = np.argsort([-rfactor_similarity(measured, m) for m in models])
    by_l = np.argsort([-likelihood(measured, m) for m in models])
    assert list(by_r) == list(by_l) == [0, 1, 2]
    # the profiled floor is the residual rms (within the grid's resolution)
    loglik, tau = profile_floor(measured - models[1], None)
    rms = float(np.sqrt(np.mean((measured - models[1]) ** 2)))
    assert tau == pytest.approx(rms, rel=0.1)
    assert loglik == pytest.approx(-0.5 * np.log(2 * np.pi * np.e * rms**2), abs=0.02)
    assert TAU_GRID[0] < 0.005 < 0.3 < TAU_GRID[-1]


def test_a_large_std_is_not_a_free_pass():
    """Of two candidates with the same residual, the one claiming a larger std scores lower (log term)."""
    measured = np.linspace(0, 1, 141)
    model = measured + 0.01 * np.cos(np.arange(141))
    assert likelihood(measured, model, np.full(141, 0.01)) > likelihood(measured, model, np.full(141, 0.2))


def test_reference_foil_channel_read(experiment_root):
    from xasflow.compare import normalize
    from xasflow.io.measured import read_measured

    with_ref = normalize(read_measured(experiment_root / "Cr" / "cr2o3_rt_001.xdi"), "Cr")
    assert with_ref.reference_flat is not None and with_ref.reference_flat.shape == with_ref.energy.shape
    # the reference is Cr metal: its edge is near the tabulated 5989 eV, well below Cr2O3's
    assert abs(with_ref.reference_e0 - 5989.0) < 5.0 and with_ref.e0 - with_ref.reference_e0 > 10.0
    without = normalize(read_measured(experiment_root / "Cr" / "cr2s3_rt_001.xdi"), "Cr")
    assert without.reference_flat is None and without.reference_e0 is None
