"""XASRegressor: scikit-learn contract, determinism, ensembles, persistence with card + weights checksums."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from xasflow.errors import InputError, XasflowError
from xasflow.models import ModelCard, ModelSpec, XASRegressor

FAST = {"max_epochs": 6, "patience": 3, "batch_size": 16, "hidden": (32, 16), "n_members": 3, "spec": ModelSpec("Cu")}


def _toy(n: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 300, (n, 64))
    y = np.abs(np.sin(X[:, :1] / 300 + np.linspace(0, 3, 141))) + 0.5
    return X, y


def _fit(**kwargs) -> XASRegressor:
    X, y = _toy()
    model = XASRegressor(**{**FAST, **kwargs}).fit(X[:60], y[:60])
    return model.calibrate(X[60:], y[60:])


def test_sklearn_contract_get_set_params_and_clone() -> None:
    model = _fit(dropout=0.2, random_state=7)
    params = model.get_params()
    assert params["dropout"] == 0.2 and params["random_state"] == 7 and params["hidden"] == (32, 16)
    copy = clone(model)
    assert copy.get_params() == params
    assert not hasattr(copy, "networks_") and not hasattr(copy, "calibration_")
    with pytest.raises(XasflowError, match="not trained"):
        copy.predict(np.zeros((1, 64)))
    copy.set_params(dropout=0.3)
    assert copy.dropout == 0.3 and model.dropout == 0.2


def test_same_seed_same_ensemble_other_seed_differs() -> None:
    X, _ = _toy(10, seed=1)
    a, b, c = _fit(random_state=3), _fit(random_state=3), _fit(random_state=4)
    assert np.array_equal(a.predict(X), b.predict(X))
    assert not np.allclose(a.predict(X), c.predict(X))
    members = a.predict_members(X)
    assert members.shape == (3, 10, 141)
    # Members differ (seed and early-stopping share), so the ensemble has a spread.
    assert np.all(members.std(axis=0).mean(axis=1) > 0)


def test_predict_return_std_needs_calibration() -> None:
    X, y = _toy()
    model = XASRegressor(**FAST).fit(X[:60], y[:60])
    mean = model.predict(X[60:])
    assert mean.shape == (20, 141)
    with pytest.raises(XasflowError, match="not calibrated"):
        model.predict(X[60:], return_std=True)
    model.calibrate(X[60:], y[60:])
    mean2, std = model.predict(X[60:], return_std=True)
    assert np.array_equal(mean, mean2) and std.shape == mean.shape and np.all(std > 0)


def test_save_load_roundtrip_float16_and_card(tmp_path) -> None:
    model = _fit()
    X, _ = _toy(8, seed=2)
    card_path = model.save(tmp_path / "m.npz")
    loaded = XASRegressor.load(card_path)
    assert np.allclose(loaded.predict(X), model.predict(X), atol=1e-6)
    assert np.allclose(loaded.predict(X, return_std=True)[1], model.predict(X, return_std=True)[1], atol=1e-5)
    assert np.allclose(loaded.domain_score(X), model.domain_score(X), rtol=1e-5)
    assert loaded.get_params() == model.get_params() | {"spec": ModelSpec("Cu", featurizer=model.featurizer_spec)}
    card = ModelCard.read(card_path)
    assert card.spec == loaded.spec and not {"spec", "element", "kind", "fidelity", "featurizer"} & set(card.params)
    assert card.ensemble.members == 3 and card.ensemble.seeds == (0, 1, 2)
    assert card.energy_grid.points == 141 and card.calibration["Cu"].z95 > 1
    assert card.featurizer.name == "m3gnet" and "M3GNet" in card.featurizer.version
    half = XASRegressor.load(model.save(tmp_path / "h.npz", dtype="float16"))
    assert (tmp_path / "h.npz").stat().st_size < (tmp_path / "m.npz").stat().st_size
    assert np.allclose(half.predict(X), model.predict(X), rtol=0.02, atol=0.02)


def test_tampered_weights_are_rejected(tmp_path) -> None:
    card = _fit().save(tmp_path / "m.npz")
    weights = tmp_path / "m.npz"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(XasflowError, match="checksum mismatch"):
        XASRegressor.load(card)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["params"].update(conditioning=["Cu", "Ti"]), "modified after saving"),
        (lambda c: c["calibration"]["Cu"]["scale"].__setitem__(0, 9.0), "modified after saving"),
        (lambda c: c.update(element="Ti"), "modified after saving"),
    ],
)
def test_edited_card_is_rejected(tmp_path, edit, message) -> None:
    card_path = _fit().save(tmp_path / "m.npz")
    card = json.loads(card_path.read_text())
    edit(card)
    card_path.write_text(json.dumps(card))
    with pytest.raises(XasflowError, match=message):
        XASRegressor.load(card_path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.pop("featurizer"), "malformed model card"),
        (lambda c: c.update(energy_grid={"start_eV": 1.0, "step_eV": 0.25, "points": 141}), "energy grid"),
        (lambda c: c["calibration"]["Cu"].update(scale=[1.0] * 10), "calibration block"),
        (lambda c: c.update(element="Xx"), "not supported"),
        (lambda c: c["ensemble"].update(members=4), "ensemble"),
    ],
)
def test_inconsistent_card_is_rejected_even_with_a_fresh_checksum(tmp_path, edit, message) -> None:
    from xasflow.models.card import content_digest

    card_path = _fit().save(tmp_path / "m.npz")
    card = json.loads(card_path.read_text())
    edit(card)
    card["content_sha256"] = content_digest(card)
    card_path.write_text(json.dumps(card))
    with pytest.raises(XasflowError, match=message):
        XASRegressor.load(card_path)


def test_missing_or_foreign_card(tmp_path) -> None:
    with pytest.raises(XasflowError, match="card missing"):
        XASRegressor.load(tmp_path / "nothing.json")
    (tmp_path / "x.json").write_text('{"format": "something else"}')
    with pytest.raises(XasflowError, match="not an xasflow model card"):
        XASRegressor.load(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("not json at all")
    with pytest.raises(XasflowError, match="not a model card"):
        XASRegressor.load(tmp_path / "y.json")
    with pytest.raises(XasflowError, match="not a model"):
        XASRegressor.load(tmp_path / "structure.cif")


def test_bad_inputs_give_clear_errors() -> None:
    model = _fit()
    with pytest.raises(InputError, match="63 columns but the model expects 64"):
        model.predict(np.zeros((3, 63)))
    bad = np.zeros((3, 64))
    bad[1, 5] = np.nan
    with pytest.raises(InputError, match="NaN or infinite"):
        model.predict(bad)
    bad[1, 5] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        model.predict(bad)
    X, y = _toy()
    y = y.copy()
    y[0, 0] = np.inf
    with pytest.raises(InputError, match="spectra"):
        XASRegressor(**FAST).fit(X, y)
    with pytest.raises(XasflowError, match="n_members"):
        XASRegressor(**{**FAST, "n_members": 0}).fit(*_toy())


def test_conditioned_model_needs_known_element() -> None:
    X, y = _toy()
    elements = ["Cu", "Ti"] * 40
    model = XASRegressor(**{**FAST, "spec": ModelSpec(kind="universal"), "conditioning": ("Ti", "Cu")})
    model.fit(X, y, elements=elements)
    assert model.predict(X[:2], elements="Ti").shape == (2, 141)
    with pytest.raises(XasflowError, match="name the element"):
        model.predict(X[:2])
    with pytest.raises(XasflowError, match="cannot predict Fe"):
        model.predict(X[:2], elements="Fe")


def test_warm_start_continues_from_the_weights() -> None:
    X, y = _toy()
    model = XASRegressor(**FAST).fit(X[:60], y[:60])
    before = model.predict(X[60:])
    model.set_params(warm_start=True, max_epochs=1, lr=1e-6)
    model.fit(X[:60], y[:60])
    # One epoch at a tiny learning rate barely moves a warm-started ensemble (a fresh one would differ).
    assert np.allclose(model.predict(X[60:]), before, atol=0.05)


def test_loaded_model_clones_without_learned_state_and_owns_its_provenance(tmp_path) -> None:
    from xasflow.models import Provenance, check_is_fitted

    model = _fit().set_provenance(Provenance(data={"Cu_FEFF": {"rows": 60}}))
    model.set_provenance(metrics={"eta": 1.0})
    assert model.provenance_.data == {"Cu_FEFF": {"rows": 60}} and model.provenance_.metrics == {"eta": 1.0}
    loaded = XASRegressor.load(model.save(tmp_path / "m.npz"))
    assert loaded.provenance_.metrics == {"eta": 1.0} and loaded.card_source_.kind == "expert"
    fresh = clone(loaded)
    assert fresh.get_params() == loaded.get_params()
    assert not hasattr(fresh, "provenance_") and not hasattr(fresh, "card_source_")
    with pytest.raises(XasflowError, match="not trained"):
        check_is_fitted(fresh)
    check_is_fitted(loaded)


def test_relabelled_copy_of_an_element_free_model() -> None:
    X, y = _toy()
    model = XASRegressor(**{**FAST, "spec": None}).fit(X[:60], y[:60])
    copy = model.relabelled("Ni", "FEFF")
    assert copy.element == "Ni" and set(copy.domain_) == {"Ni"} and copy.calibration_ == {}
    assert model.element is None and set(model.domain_) == {"*"}
    assert copy.hidden_features(X[:3]).shape == (3, 3 * 16)


def test_persistence_does_not_import_the_estimator() -> None:
    """No import circle: the estimator imports persistence, persistence names the estimator only for typing."""
    import ast
    import inspect

    from xasflow.models import persistence

    tree = ast.parse(inspect.getsource(persistence))
    typing_only = {id(n) for node in tree.body if isinstance(node, ast.If) for n in ast.walk(node)}
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and id(node) not in typing_only
    }
    assert "xasflow.models.estimator" not in imported


def test_model_kinds_in_one_place() -> None:
    from xasflow.kinds import ZOO_NAMES, ModelKind, tuned_kind

    assert ModelKind.parse("cross-fidelity").zoo_name == "tuned"
    assert ZOO_NAMES == ("expert", "universal", "tuned", "head")
    assert ModelKind.HEAD.fine_tuned and ModelKind.TUNED.fine_tuned and not ModelKind.EXPERT.fine_tuned
    from xasflow.training.cv import CV_MODES

    assert CV_MODES == ("expert", "universal", "tuned")  # cross-validation does not run the head
    assert tuned_kind("VASP") is ModelKind.CROSS_FIDELITY and tuned_kind("FEFF") is ModelKind.TUNED
    with pytest.raises(XasflowError, match="unknown model kind"):
        ModelKind.parse("hybrid")
