"""The shipped model zoo: every model loads (checksum verified) and predicts sane spectra."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from xasflow.cli.main import main
from xasflow.errors import XasflowError
from xasflow.zoo import available_models, load_model, packaged_zoo_dir, read_index

SHIPPED = available_models()


def test_zoo_covers_every_set_with_spectra_and_is_small() -> None:
    sets = {(el, fid) for el, fid, _ in SHIPPED}
    assert sets == {(el, "FEFF") for el in ("Ti", "V", "Cr", "Co", "Ni", "Cu")} | {("Ti", "VASP"), ("Cu", "VASP")}
    size = sum(p.stat().st_size for p in packaged_zoo_dir().rglob("*") if p.is_file())
    assert size < 30e6
    index = read_index()
    for entry in index["sets"].values():
        assert entry["default"] == max(entry["eta"], key=entry["eta"].get)


@pytest.mark.parametrize(("element", "fidelity", "name"), SHIPPED)
def test_every_shipped_model_predicts(element: str, fidelity: str, name: str, data_root) -> None:
    from xasflow.evaluation.metrics import score
    from xasflow.io.omnixas import ml_data_path, read_matrix

    model = load_model(element, fidelity, name)
    card = model.card
    assert card["element"] == element and card["fidelity"] == fidelity and card["name"] == name
    assert card["weights"]["sha256"] and card["featurizer"]["name"] == "m3gnet"
    # Measured now, not read from the card: better than the mean-spectrum baseline on published rows.
    X = read_matrix(ml_data_path(data_root, element, fidelity, "val", "X"), 64)
    y = read_matrix(ml_data_path(data_root, element, fidelity, "val", "y"), 141)
    out = model.predict(X, element=element if model.config.conditioning else None)
    assert out.shape == y.shape and np.all(np.isfinite(out))
    assert score(y, out, np.asarray(card["baseline_spectrum"])).eta > 1.0


def test_default_model_and_sets_without_model() -> None:
    assert load_model("Cu").name == read_index()["sets"]["Cu_FEFF"]["default"]
    with pytest.raises(XasflowError, match="features but no spectra"):
        load_model("Fe", "FEFF")
    with pytest.raises(XasflowError, match="no training data"):
        load_model("V", "VASP")
    with pytest.raises(XasflowError, match="has no model 'best'"):
        load_model("Cu", "FEFF", "best")


def test_tampered_zoo_model_is_rejected(tmp_path, capsys) -> None:
    zoo = tmp_path / "zoo"
    shutil.copytree(packaged_zoo_dir(), zoo)
    weights = zoo / "Cr_FEFF" / "expert.npz"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(XasflowError, match="checksum mismatch"):
        load_model("Cr", "FEFF", "expert", root=zoo)
    assert main(["zoo", "verify", "--zoo-dir", str(zoo)]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    card = json.loads((zoo / "Cr_FEFF" / "tuned.json").read_text())
    assert load_model("Cr", "FEFF", "tuned", root=zoo).card["weights"]["sha256"] == card["weights"]["sha256"]


def test_evaluate_zoo_model_on_published_rows(data_root, capsys) -> None:
    ml = data_root / "ml_data"
    args = ["evaluate", "--element", "Ni", "--features", str(ml / "Ni_FEFF_val_X.txt.gz")]
    assert main([*args, "--spectra", str(ml / "Ni_FEFF_val_y.txt.gz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 432 and result["eta"] > 2
