"""XASRegressor: determinism, persistence with checksums, input validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xasflow.errors import InputError, XasflowError
from xasflow.models import ModelConfig, XASRegressor
from xasflow.training.config import TrainConfig

FAST = TrainConfig(max_epochs=6, patience=3, batch_size=16)


def _toy(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 300, (n, 64))
    y = np.abs(np.sin(X[:, :1] / 300 + np.linspace(0, 3, 141))) + 0.5
    return X, y


def _fit(seed: int = 0, **kwargs) -> XASRegressor:
    X, y = _toy()
    model = XASRegressor(ModelConfig((32, 16), **kwargs), element="Cu")
    return model.fit(
        X[:45], y[:45], X_stop=X[45:], y_stop=y[45:], train=TrainConfig(**{**FAST.as_dict(), "seed": seed})
    )


def test_same_seed_same_weights_other_seed_differs() -> None:
    a, b, c = _fit(seed=3), _fit(seed=3), _fit(seed=4)
    state_a, state_b = a.networks[0].state_dict(), b.networks[0].state_dict()
    for key in state_a:
        assert np.array_equal(state_a[key].numpy(), state_b[key].numpy()), key
    weights = [k for k in a.networks[0].state_dict() if k.endswith("weight")]
    assert any(not np.array_equal(a.networks[0].state_dict()[k], c.networks[0].state_dict()[k]) for k in weights)


def test_predict_shape_and_rows_independent_of_the_batch() -> None:
    model = _fit(standardize=True)
    X, _ = _toy(10, seed=1)
    out = model.predict(X)
    assert out.shape == (10, 141) and np.all(np.isfinite(out))
    # Inference mode: a row's spectrum does not depend on the other rows (BatchNorm, dropout off) ...
    np.testing.assert_allclose(model.predict(X[3:4])[0], out[3], rtol=1e-6)
    # ... and depends on the row itself.
    assert np.abs(out[0] - out[1]).max() > 0


def test_save_load_roundtrip_and_float16(tmp_path) -> None:
    model = _fit()
    X, _ = _toy(8, seed=2)
    card = model.save(tmp_path / "m.npz")
    loaded = XASRegressor.load(card)
    assert np.allclose(loaded.predict(X), model.predict(X), atol=1e-6)
    assert loaded.card["weights"]["sha256"] == json.loads(card.read_text())["weights"]["sha256"]
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


def test_missing_or_foreign_card(tmp_path) -> None:
    with pytest.raises(XasflowError, match="card missing"):
        XASRegressor.load(tmp_path / "nothing.json")
    (tmp_path / "x.json").write_text('{"format": "something else"}')
    with pytest.raises(XasflowError, match="not an xasflow model card"):
        XASRegressor.load(tmp_path / "x.json")


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
        XASRegressor(ModelConfig((8,)), element="Cu").fit(X, y, train=FAST)
    with pytest.raises(XasflowError, match="not trained"):
        XASRegressor(ModelConfig((8,)), element="Cu").predict(X)


def test_conditioned_model_needs_known_element() -> None:
    X, y = _toy()
    elements = ["Cu", "Ti"] * 30
    model = XASRegressor(ModelConfig((16,), conditioning=("Ti", "Cu")), name="universal")
    model.fit(X, y, elements=elements, train=FAST)
    assert model.predict(X[:2], element="Ti").shape == (2, 141)
    with pytest.raises(XasflowError, match="name the element"):
        model.predict(X[:2])
    with pytest.raises(XasflowError, match="cannot predict Fe"):
        model.predict(X[:2], element="Fe")
