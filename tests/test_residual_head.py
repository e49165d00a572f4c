"""The estimator's ridge residual head: fit, prediction, save/load, clone; models without one unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from xasflow.errors import XasflowError
from xasflow.models import ModelSpec, XASRegressor
from xasflow.models.residual_head import ALPHAS, ResidualHeadState


def _data(n: int, seed: int, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 64))
    W = np.random.default_rng(7).normal(size=(64, 141)) / 8
    return X, np.log1p(np.exp(X @ W)) + 0.5 + shift * X[:, :1]


@pytest.fixture(scope="module")
def base():
    X, y = _data(60, 0)
    return XASRegressor(hidden=(16,), n_members=3, max_epochs=3, spec=ModelSpec("Fe"), standardize=True).fit(X, y)


@pytest.fixture(scope="module")
def headed(base):
    import copy

    X, y = _data(40, 1, shift=0.3)  # a linear shift the networks never saw
    return copy.deepcopy(base).fit_residual_head(X, y)


def test_head_reduces_error_and_keeps_the_members_spread(base, headed):
    X, y = _data(30, 2, shift=0.3)
    base_err = np.mean((base.predict(X) - y) ** 2)
    head_err = np.mean((headed.predict(X) - y) ** 2)
    assert head_err < 0.5 * base_err
    state = headed.residual_head_["Fe"]
    assert isinstance(state, ResidualHeadState) and state.alpha in ALPHAS and state.rows == 40
    # One shift for all members: the spread is the networks' own, the mean is predict's.
    mean, spread = headed.member_mean_std(X)
    np.testing.assert_allclose(spread, base.member_mean_std(X)[1], atol=1e-12)
    np.testing.assert_array_equal(mean, headed.predict(X))
    assert mean.min() > -1e-12  # lifted to 0 up to rounding where the corrected mean was negative
    np.testing.assert_array_equal(headed.hidden_features(X), base.hidden_features(X))  # the networks are frozen


def test_head_equals_the_ridge_formula_of_the_study(base, headed):
    from sklearn.linear_model import RidgeCV

    Xf, yf = _data(40, 1, shift=0.3)
    X, _ = _data(30, 2, shift=0.3)
    x_mean, x_scale = Xf.mean(0), Xf.std(0) + 1e-6
    Z = np.hstack([base.hidden_features(Xf), (Xf - x_mean) / x_scale])
    z_mean, z_scale = Z.mean(0), Z.std(0) + 1e-6
    ridge = RidgeCV(alphas=tuple(np.logspace(-2, 4, 13))).fit((Z - z_mean) / z_scale, yf - base.predict(Xf))
    Zt = (np.hstack([base.hidden_features(X), (X - x_mean) / x_scale]) - z_mean) / z_scale
    expected = np.clip(base.predict(X) + ridge.predict(Zt), 0.0, None)
    np.testing.assert_allclose(headed.predict(X), expected, atol=1e-6)
    assert headed.residual_head_["Fe"].alpha == pytest.approx(ridge.alpha_)


def test_save_load_keeps_the_head(headed, tmp_path):
    X, _ = _data(30, 3, shift=0.3)
    model = XASRegressor.load(headed.save(tmp_path / "fe.npz"))
    assert set(model.residual_head_) == {"Fe"}
    np.testing.assert_array_equal(model.predict(X), headed.predict(X))
    card = json.loads((tmp_path / "fe.json").read_text())
    assert card["residual_head"]["Fe"]["rows"] == 40 and card["residual_head"]["Fe"]["alpha"] > 0
    assert "head__Fe__coef" in np.load(tmp_path / "fe.npz").files
    # the head's arrays are covered by the weights' checksum
    with np.load(tmp_path / "fe.npz") as archive:
        arrays = dict(archive)
    arrays["head__Fe__intercept"] = arrays["head__Fe__intercept"] + 1.0
    np.savez(tmp_path / "fe.npz", **arrays)
    with pytest.raises(XasflowError, match="checksum mismatch"):
        XASRegressor.load(tmp_path / "fe.json")


def test_a_model_without_head_is_unchanged(base, tmp_path):
    X, _ = _data(10, 4)
    assert base.residual_head_ == {}
    members = base.predict_members(X)
    np.testing.assert_array_equal(base.predict(X), members.mean(axis=0))
    base.save(tmp_path / "plain.npz")
    card = json.loads((tmp_path / "plain.json").read_text())
    assert "residual_head" not in card  # the card of a model without a head is as before
    assert not any(k.startswith("head__") for k in np.load(tmp_path / "plain.npz").files)
    again = XASRegressor.load(tmp_path / "plain.json")
    assert again.residual_head_ == {}
    np.testing.assert_array_equal(again.predict_members(X), members)


def test_clone_refit_and_calibration(base, headed):
    fresh = clone(headed)
    assert fresh.get_params() == headed.get_params() and not hasattr(fresh, "residual_head_")
    X, y = _data(24, 5, shift=0.3)
    refit = clone(base).fit(X, y)
    assert refit.residual_head_ == {}
    # a refit drops the head: it was fitted to the previous networks
    import copy

    again = copy.deepcopy(headed).fit(X, y)
    assert again.residual_head_ == {}
    # fitting a head drops the element's calibration (its predictions changed)
    calibrated = copy.deepcopy(base)
    Xc, yc = _data(40, 6)
    calibrated.calibrate(Xc, yc, groups=[f"m{i}" for i in range(40)])
    assert calibrated.is_calibrated
    calibrated.fit_residual_head(*_data(20, 7))
    assert not calibrated.is_calibrated
    calibrated.calibrate(Xc, yc, groups=[f"m{i}" for i in range(40)])
    _, std = calibrated.predict(Xc, return_std=True)
    assert np.all(std > 0)


def test_head_needs_rows(base):
    import copy

    with pytest.raises(XasflowError, match="at least 3 rows"):
        copy.deepcopy(base).fit_residual_head(*_data(2, 8))
