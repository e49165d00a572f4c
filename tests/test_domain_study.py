"""The Fe/Mn domain-reference study: site errors aligned to sites, and a score that follows the error."""

from __future__ import annotations

import numpy as np
import pytest

from xasflow.errors import XasflowError
from xasflow.training.domain_study import domain_reference_study
from xasflow.training.new_element import site_errors


def test_site_errors_follow_campaign_order_and_leave_skipped_folds_nan():
    materials = np.array(["b", "a", "b", "c"])
    folds = [
        {"material": "a", "mse": [0.1]},
        {"material": "b", "mse": [0.2, 0.3]},
        {"material": "c", "sites": 1, "skipped": "too few other sites"},
    ]
    out = site_errors(folds, materials)
    assert out[:3].tolist() == [0.2, 0.1, 0.3]
    assert np.isnan(out[3])


def _population(seed: int = 0):
    rng = np.random.default_rng(seed)
    published = rng.normal(size=(400, 6))
    # Sites: most like the population, some shifted away; the error grows with the shift.
    shift = np.r_[np.zeros(24), np.linspace(2.0, 6.0, 8)]
    X = rng.normal(size=(32, 6)) + shift[:, None]
    mse = 0.01 + 0.01 * shift + 0.002 * rng.random(32)
    materials = np.array([f"m{i // 2}" for i in range(32)])
    return X, materials, mse, published, np.array([f"p{i}" for i in range(400)])


def test_a_reference_covering_the_population_ranks_sites_by_error_and_flags_the_far_ones():
    X, materials, mse, published, published_materials = _population()
    study = domain_reference_study(X, materials, mse, published, published_materials, seed=0)
    ref = study["published"]
    assert ref.spearman > 0.5
    assert ref.spearman_interval[0] <= ref.spearman <= ref.spearman_interval[1]
    assert ref.mse_flagged is not None and ref.mse_unflagged is not None
    assert ref.mse_flagged > ref.mse_unflagged
    assert set(study) == {"published", "training"}
    assert len(study["training"].scores) == 32


def test_too_few_sites_with_an_error_is_one_clear_error():
    X, materials, mse, published, published_materials = _population()
    mse[4:] = np.nan
    with pytest.raises(XasflowError, match="at least 8"):
        domain_reference_study(X, materials, mse, published, published_materials)
