"""Transfer building blocks: element descriptors, fine-tuning onto an unseen element, the residual head."""

from __future__ import annotations

import numpy as np
import pytest

from xasflow.errors import XasflowError
from xasflow.models import XASRegressor
from xasflow.models.elements import N_DESCRIPTORS, element_descriptors
from xasflow.training.config import transfer_recipe
from xasflow.training.transfer import expert_on_rows, fit_groups, head_on_rows, pretrain, tune_on_rows

SETTINGS = transfer_recipe(hidden=(16,), max_epochs=4, few_max_epochs=4, patience=2, few_patience=2, members=2)


def _rows(n: int, shift: float, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 64)) * 100 + shift
    W = np.random.default_rng(7).normal(size=(64, 141)) / 800
    return X, np.log1p(np.exp(X @ W)) + 0.5


@pytest.fixture(scope="module")
def sources():
    X1, y1 = _rows(40, 0.0, 1)
    X2, y2 = _rows(40, 30.0, 2)
    return np.vstack([X1, X2]), np.vstack([y1, y2]), ["Co"] * 40 + ["Ni"] * 40, [f"mp-{i // 2}" for i in range(80)]


def test_descriptors_are_scaled_and_ordered():
    ti, cu = element_descriptors("Ti"), element_descriptors("Cu")
    assert ti.shape == (N_DESCRIPTORS,) and np.all(np.abs(ti) <= 1.1) and np.all(cu > ti)
    with pytest.raises(XasflowError, match="no element descriptors"):
        element_descriptors("Zn")


def test_descriptor_model_predicts_and_fine_tunes_an_unseen_element(sources, tmp_path):
    X, y, elements, groups = sources
    universal = pretrain(X, y, elements, groups, SETTINGS, 0, "descriptors")
    assert universal.networks_[0].layers[0].in_features == 64 + N_DESCRIPTORS
    Xf, yf = _rows(12, 15.0, 3)
    zero_shot = universal.predict(Xf, elements="Fe")  # never seen: coded by its descriptors
    assert zero_shot.shape == (12, 141) and np.all(zero_shot >= 0)
    tuned = tune_on_rows(universal, Xf, yf, [f"mp-{i}" for i in range(12)], "Fe", SETTINGS, 0)
    assert "Fe" in tuned.conditioning and tuned.element == "Fe"
    assert not np.allclose(tuned.predict(Xf, elements="Fe"), zero_shot)
    np.testing.assert_array_equal(universal.predict(Xf, elements="Fe"), zero_shot)  # the base is untouched
    # A descriptor-coded model saves and loads with its encoding.
    Xc, yc = _rows(20, 15.0, 4)
    tuned.calibrate(Xc, yc, elements="Fe", groups=[f"c{i}" for i in range(20)])
    card = tuned.save(tmp_path / "fe.npz")
    again = XASRegressor.load(card)
    assert again.encoding == "descriptors"
    np.testing.assert_allclose(again.predict(Xf, elements="Fe"), tuned.predict(Xf, elements="Fe"), atol=1e-5)


def test_onehot_universal_needs_a_slot(sources):
    X, y, elements, groups = sources
    universal = pretrain(X, y, elements, groups, SETTINGS, 0, "onehot")
    with pytest.raises(XasflowError, match="no slot for Fe"):
        tune_on_rows(universal, X[:10], y[:10], groups[:10], "Fe", SETTINGS)
    slotted = pretrain(X, y, elements, groups, SETTINGS, 0, "onehot", extra_elements=("Fe",))
    assert slotted.conditioning == ("Fe", "Co", "Ni")
    tune_on_rows(slotted, X[:10], y[:10], groups[:10], "Fe", SETTINGS)


def _study_head(base: XASRegressor, X, y, X_test, element: str) -> np.ndarray:
    """The ``head_desc`` formula of the new-element study (the old ``ResidualHead``), written out."""
    from sklearn.linear_model import RidgeCV

    x_mean, x_scale = X.mean(0), X.std(0) + 1e-6
    Z = np.hstack([base.hidden_features(X, element), (X - x_mean) / x_scale])
    z_mean, z_scale = Z.mean(0), Z.std(0) + 1e-6
    ridge = RidgeCV(alphas=tuple(np.logspace(-2, 4, 13))).fit(
        (Z - z_mean) / z_scale, y - base.predict(X, elements=element)
    )
    Zt = (np.hstack([base.hidden_features(X_test, element), (X_test - x_mean) / x_scale]) - z_mean) / z_scale
    return np.clip(base.predict(X_test, elements=element) + ridge.predict(Zt), 0.0, None)


def test_residual_head_learns_what_the_base_misses(sources, tmp_path):
    X, y, elements, groups = sources
    universal = pretrain(X, y, elements, groups, SETTINGS, 0, "descriptors")
    Xf, yf = _rows(60, 15.0, 5)
    yf = yf + 0.3 * (Xf[:, :1] / 100)  # a shift the base never saw, linear in a feature
    before = universal.predict(Xf[40:], elements="Fe")
    head = head_on_rows(universal, Xf[:40], yf[:40], "Fe")
    assert head.kind == "head" and head.element == "Fe" and "Fe" in head.conditioning
    np.testing.assert_array_equal(universal.predict(Xf[40:], elements="Fe"), before)  # the base is untouched
    assert not getattr(universal, "residual_head_", {})
    base_err = np.mean((before - yf[40:]) ** 2)
    predicted = head.predict(Xf[40:], elements="Fe")
    assert np.mean((predicted - yf[40:]) ** 2) < 0.5 * base_err and head.residual_head_["Fe"].alpha > 0
    # the same numbers as the study's ridge (coefficients kept at float32 precision)
    np.testing.assert_allclose(predicted, _study_head(universal, Xf[:40], yf[:40], Xf[40:], "Fe"), atol=1e-6)
    # other elements keep the universal model's predictions
    np.testing.assert_array_equal(head.predict(X[:5], elements="Co"), universal.predict(X[:5], elements="Co"))
    # calibrated, saved and loaded like any model
    Xc, yc = _rows(20, 15.0, 6)
    head.set_domain("Fe", Xc, Xc)
    head.calibrate(Xc, yc + 0.3 * (Xc[:, :1] / 100), elements="Fe", groups=[f"c{i}" for i in range(20)])
    again = XASRegressor.load(head.save(tmp_path / "fe_head.npz"))
    assert again.kind == "head" and again.name == "head"
    np.testing.assert_array_equal(again.predict(Xf[40:], elements="Fe"), predicted)
    mean, std = again.predict(Xf[40:], return_std=True, elements="Fe")
    np.testing.assert_array_equal(mean, predicted)
    assert np.all(std > 0)


def test_onehot_head_needs_a_slot(sources):
    X, y, elements, groups = sources
    universal = pretrain(X, y, elements, groups, SETTINGS, 0, "onehot")
    with pytest.raises(XasflowError, match="no slot for Fe"):
        head_on_rows(universal, X[:10], y[:10], "Fe")
    assert head_on_rows(universal, X[:10], y[:10], "Co").conditioning == ("Co", "Ni")


def test_expert_and_groups():
    assert len(set(fit_groups(["a", "a", "b"]))) == 3  # too few materials: one group per row
    assert list(fit_groups(list("abcdef"))) == list("abcdef")
    X, y = _rows(20, 0.0, 6)
    expert = expert_on_rows(X, y, [f"m{i}" for i in range(20)], "Fe", SETTINGS, 0)
    assert expert.predict(X).shape == (20, 141) and expert.kind == "expert"
    # a head on an unconditioned (one-element) model keeps its element's domain reference
    headed = head_on_rows(expert, X, y, "Fe")
    assert headed.conditioning == () and set(headed.residual_head_) == {"Fe"} and set(headed.domain_) == {"Fe"}
    assert headed.predict(X).shape == (20, 141) and headed.domain_["Fe"] is not expert.domain_["Fe"]


@pytest.mark.parametrize("head", ["residual", "pca"])
def test_descriptor_codes_with_an_offset_head_learn_each_element(head, tmp_path):
    """Descriptor codes are not one-hot: an offset head keeps one shared offset and learns the elements' own."""
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (120, 64))
    y = np.vstack([1 + 0.1 * rng.random((60, 141)), 3 + 0.1 * rng.random((60, 141))])
    elements = ["Co"] * 60 + ["Ni"] * 60
    model = XASRegressor(
        hidden=(16,), n_members=2, max_epochs=600, patience=600, encoding="descriptors",
        conditioning=("Co", "Ni"), head=head, n_components=4, dropout=0.0,
    )  # fmt: skip
    model.fit(X, y, elements=elements, groups=[f"m{i}" for i in range(120)])
    offset = model.networks_[0].output_offset.numpy()
    # One row: the mean of the member's training rows of both elements (~2), not either element's (1 or 3).
    assert offset.shape == (1, 141) and np.allclose(offset[0], y.mean(0), atol=0.15)
    predicted = model.predict(X, elements=elements)
    assert predicted[60:].mean() - predicted[:60].mean() > 1.5  # the elements differ by 2
    zero_shot = model.predict(X[:3], elements="Fe")  # an element without rows, coded by its descriptors
    assert zero_shot.shape == (3, 141) and np.isfinite(zero_shot).all()
    model.calibrate(X, y, elements=elements, groups=[f"m{i}" for i in range(120)])
    again = XASRegressor.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_allclose(again.predict(X[:5], elements="Ni"), model.predict(X[:5], elements="Ni"), atol=1e-5)
