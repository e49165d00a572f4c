"""ModelSpec: the estimator's metadata (element, fidelity, kind, featurizer) apart from its hyperparameters."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace

import numpy as np
import pytest
from sklearn.base import clone

from xasflow.errors import XasflowError
from xasflow.kinds import ModelKind
from xasflow.models import FeaturizerSpec, ModelCard, ModelSpec, XASRegressor
from xasflow.zoo import packaged_zoo_dir

SHIPPED_CARDS = sorted(p for p in packaged_zoo_dir().rglob("*.json") if p.name != "index.json")
TINY = {"hidden": (8,), "n_members": 2, "max_epochs": 2, "patience": 2, "batch_size": 16}


def _rows(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 64)), 1 + 0.1 * rng.random((n, 141))


def test_spec_validates_normalises_and_round_trips_through_a_dict() -> None:
    spec = ModelSpec("Cu", "vasp", ModelKind.CROSS_FIDELITY, FeaturizerSpec("acsf", "v1", {"species": ["Cu", "O"]}))
    assert spec.fidelity == "VASP" and spec.kind == "cross-fidelity" and type(spec.kind) is str
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert ModelSpec() == ModelSpec(None, "FEFF", "expert", None)
    with pytest.raises(XasflowError, match="element 'Zn'"):
        ModelSpec("Zn")
    with pytest.raises(XasflowError, match="fidelity"):
        ModelSpec("Cu", "DFT")
    with pytest.raises(XasflowError, match="unknown model kind"):
        ModelSpec("Cu", kind="student")
    with pytest.raises(XasflowError, match="unknown model spec entries colour"):
        ModelSpec.from_dict({"element": "Cu", "colour": "red"})


def test_spec_is_one_parameter_read_through_properties_and_changed_with_with_spec() -> None:
    model = XASRegressor(**TINY, spec=ModelSpec("Ni", kind="universal"))
    params = model.get_params()
    assert params["spec"] == ModelSpec("Ni", kind="universal")
    assert not {"element", "fidelity", "kind", "featurizer"} & set(params)
    assert (model.element, model.fidelity, model.kind, model.name) == ("Ni", "FEFF", "universal", "universal")
    assert model.featurizer_spec.name == "m3gnet"  # the published rows by default
    assert model.with_spec(fidelity="VASP", kind=ModelKind.CROSS_FIDELITY) is model
    assert (model.element, model.fidelity, model.kind, model.name) == ("Ni", "VASP", "cross-fidelity", "tuned")
    with pytest.raises(AttributeError):
        model.element = "Cu"  # read-only: the spec is the one place
    with pytest.raises(ValueError, match=r"use with_spec\(element=...\)"):
        model.set_params(element="Cu")
    with pytest.raises(XasflowError, match="element 'Zn'"):
        model.with_spec(element="Zn")
    default = XASRegressor(**TINY)
    assert default.spec is None and (default.element, default.fidelity, default.kind) == (None, "FEFF", "expert")


def test_sklearn_clone_keeps_the_spec_and_drops_the_learned_state() -> None:
    X, y = _rows()
    featurizer = FeaturizerSpec("m3gnet", "some-version")
    model = XASRegressor(**TINY, spec=ModelSpec("Co", featurizer=featurizer)).fit(X, y)
    twin = clone(model)
    assert twin.get_params() == model.get_params() and twin.spec == model.spec
    assert twin.element == "Co" and twin.featurizer_spec == featurizer and not hasattr(twin, "networks_")
    assert clone(XASRegressor(**TINY)).spec is None
    # the copy's spec is its own to change
    twin.with_spec(element="Ni")
    assert model.element == "Co"


def test_saved_card_has_a_spec_section_and_hyperparameters_in_params(tmp_path) -> None:
    X, y = _rows()
    model = XASRegressor(**TINY, spec=ModelSpec("Ti", "VASP")).fit(X, y)
    path = model.save(tmp_path / "m.npz")
    raw = json.loads(path.read_text())
    assert raw["spec"] == {
        "element": "Ti",
        "fidelity": "VASP",
        "kind": "expert",
        "featurizer": raw["featurizer"],  # the default featurizer, spelled out
    }
    assert not {"spec", "element", "fidelity", "kind", "featurizer"} & set(raw["params"])
    assert raw["params"]["n_features"] == 64 and raw["params"]["encoding"] == "onehot"
    loaded = XASRegressor.load(path)
    assert loaded.spec == replace(model.model_spec, featurizer=model.featurizer_spec)
    assert np.array_equal(loaded.predict(X[:3]), XASRegressor.load(path).predict(X[:3]))


def test_a_card_whose_spec_contradicts_its_header_is_invalid(tmp_path) -> None:
    X, y = _rows()
    card = XASRegressor(**TINY, spec=ModelSpec("Ti")).fit(X, y).card
    with pytest.raises(XasflowError, match="spec section differs"):
        replace(card, spec=replace(card.spec, element="Cu")).validate()
    with pytest.raises(XasflowError, match="params hold spec entries element"):
        replace(card, params={**card.params, "element": "Ti"}).validate()
    with pytest.raises(XasflowError, match="malformed model card"):
        ModelCard.from_dict({**card.to_dict(), "spec": {"element": "Ti", "colour": "red"}})


@pytest.mark.parametrize("path", SHIPPED_CARDS, ids=lambda p: str(p.relative_to(packaged_zoo_dir())))
def test_every_shipped_card_loads_with_the_spec_its_params_recorded(path, tmp_path) -> None:
    """Cards written before the spec section keep element/fidelity/kind in ``params``: they become the spec."""
    raw = json.loads(path.read_text())
    model = XASRegressor.load(path)
    if "spec" in raw:  # a card written since: the section is the record
        expected = raw["spec"]
    else:
        expected = {key: raw["params"][key] for key in ("element", "fidelity", "kind")}
        expected["featurizer"] = raw["featurizer"]  # null in the legacy params, recorded in its own block
    assert model.spec.to_dict() == expected
    assert (model.element, model.fidelity, model.kind) == (expected["element"], expected["fidelity"], expected["kind"])
    assert model.featurizer_spec == FeaturizerSpec(**raw["featurizer"]) and model.name == raw["name"]
    hyper = {k: v for k, v in raw["params"].items() if k not in ("element", "fidelity", "kind", "featurizer")}
    assert json.loads(json.dumps({**model.get_params(), "spec": None})) == {**hyper, "spec": None}
    # Saved again it writes the spec section; loaded back it predicts the same.
    element = model.element or (model.conditioning[0] if model.conditioning else None)
    X = np.random.default_rng(0).normal(size=(3, model.n_features))
    resaved = XASRegressor.load(model.save(tmp_path / "m.npz"))
    assert resaved.spec == model.spec and resaved.get_params() == model.get_params()
    assert np.allclose(resaved.predict(X, elements=element), model.predict(X, elements=element), rtol=0, atol=1e-9)


def test_an_estimator_pickled_before_the_spec_unpickles_with_one() -> None:
    X, y = _rows()
    model = XASRegressor(**TINY).fit(X, y)
    state = dict(vars(model))
    del state["spec"]
    state.update(element="Fe", fidelity="FEFF", kind=ModelKind.TUNED, featurizer=None)  # the old attributes
    old = XASRegressor.__new__(XASRegressor)
    old.__setstate__(state)
    restored = pickle.loads(pickle.dumps(old))
    assert restored.spec == ModelSpec("Fe", kind="tuned") and restored.name == "tuned"
    assert not {"element", "fidelity", "kind", "featurizer"} & set(vars(restored))
    assert np.array_equal(restored.predict(X[:2]), model.predict(X[:2]))
