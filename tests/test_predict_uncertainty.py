"""Predictions carry calibrated std and out-of-domain flags; any trained model predicts structures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

import xasflow
from xasflow.cli.main import main
from xasflow.errors import XasflowError
from xasflow.inference.predictor import Predictor
from xasflow.models import FeaturizerSpec, ModelSpec, XASRegressor

EXAMPLES = Path(xasflow.__file__).parent / "examples" / "structures"


def _box(species: list[str], coords: list[list[float]], a: float = 12.0) -> Structure:
    return Structure(Lattice.cubic(a), species, coords, coords_are_cartesian=True)


FOREIGN = {
    "Cu-O dimer in a 12 A box": _box(["Cu", "O"], [[0, 0, 0], [1.85, 0, 0]]),
    "lone Cu atom in a 12 A box": _box(["Cu"], [[0, 0, 0]]),
    "Cu-H dimer in a 12 A box": _box(["Cu", "H"], [[0, 0, 0], [1.5, 0, 0]]),
    "Cu in solid xenon": Structure(
        Lattice.cubic(6.2), ["Cu", "Xe", "Xe", "Xe"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    ),
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_foreign_cu_environments_are_flagged(name: str) -> None:
    result = xasflow.predict(FOREIGN[name], element="Cu")
    assert all(s.in_domain is False and s.ood_score > 1 for s in result.sites), name
    assert not result.in_domain


def test_ordinary_crystals_are_in_domain_with_positive_std() -> None:
    for cif in ("Cu2O_cuprite.cif", "CuO_tenorite.cif"):
        result = xasflow.predict(EXAMPLES / cif, element="Cu")
        assert result.in_domain, cif
        for site in result.sites:
            assert site.std.shape == (141,) and np.all(site.std > 0) and 0 <= site.ood_score <= 1
        assert result.average_std.shape == (141,) and result.interval_95 > 1


def test_default_predictor_is_reused() -> None:
    from xasflow.inference.predictor import default_predictor

    xasflow.predict(EXAMPLES / "Cu2O_cuprite.cif", element="Cu")
    before = default_predictor.cache_info().hits
    xasflow.predict(EXAMPLES / "CuO_tenorite.cif", element="Cu")
    assert default_predictor.cache_info().hits == before + 1


def test_cli_json_and_csv_carry_std_and_flags_and_warn(tmp_path, capsys) -> None:
    FOREIGN["Cu-O dimer in a 12 A box"].to(filename=str(tmp_path / "dimer.cif"))
    out = tmp_path / "p.json"
    args = ["predict", str(tmp_path / "dimer.cif"), str(EXAMPLES / "CuO_tenorite.cif"), "--element", "Cu"]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "out of the model's training domain" in line]
    assert len(warnings) == 1 and "dimer.cif" in warnings[0]
    records = {Path(r["source"]).stem: r for r in json.loads(out.read_text())["predictions"]}
    for name, expected in (("dimer", False), ("CuO_tenorite", True)):
        record = records[name]
        assert len(record["average_std"]) == 141 and record["interval_95"] > 1
        for site in record["sites"]:
            assert len(site["std"]) == 141 and site["in_domain"] is expected and site["ood_score"] >= 0


def test_features_json_has_std_and_flags(data_root, tmp_path) -> None:
    from xasflow.io.omnixas import read_matrix

    rows = read_matrix(data_root / "ml_data" / "Ti_FEFF_val_X.txt.gz")[:6]
    rows[5] = rows[5] + 1e5  # far outside anything seen in training
    np.savetxt(tmp_path / "X.txt", rows)
    out = tmp_path / "y.json"
    assert main(["predict", "--features", str(tmp_path / "X.txt"), "--element", "Ti", "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert np.array(payload["spectra"]).shape == np.array(payload["std"]).shape == (6, 141)
    assert payload["in_domain"][:5] == [True] * 5 and payload["in_domain"][5] is False
    assert len(payload["ood_score"]) == 6 and payload["ood_score"][5] > 1
    txt = tmp_path / "y.txt"
    assert main(["predict", "--features", str(tmp_path / "X.txt"), "--element", "Ti", "--out", str(txt)]) == 0
    assert np.allclose(np.loadtxt(txt), payload["spectra"], rtol=1e-8)
    assert (
        main(["predict", "--features", str(tmp_path / "X.txt"), "--element", "Ti", "--out", str(tmp_path / "y.csv")])
        == 2
    )


def test_model_trained_with_xasflow_train_predicts_structures(data_root, tmp_path, capsys) -> None:
    card = tmp_path / "cu_expert.json"
    train = ["train", "--mode", "expert", "--element", "Cu", "--data-dir", str(data_root), "--out", str(card)]
    assert main([*train, "--max-epochs", "3", "--members", "2"]) == 0
    out = tmp_path / "p.json"
    assert main(["predict", str(EXAMPLES / "CuO_tenorite.cif"), "--model", str(card), "--out", str(out)]) == 0
    record = json.loads(out.read_text())["predictions"][0]
    assert record["model"] == "expert" and len(record["sites"][0]["std"]) == 141
    mine = Predictor(model=card).predict_structure(Structure.from_file(EXAMPLES / "CuO_tenorite.cif"), "Cu")
    assert np.allclose(mine.average, record["average"])
    # It knows only Cu: a Ti structure is refused per file, clearly.
    assert (
        main(["predict", str(EXAMPLES / "TiO2_rutile.cif"), "--model", str(card), "--element", "Ti", "--out", str(out)])
        == 2
    )
    assert "not Ti" in capsys.readouterr().err


def test_bad_model_argument_is_one_clear_error(tmp_path, capsys) -> None:
    (tmp_path / "x.json").write_text('{"not": "a model"}')
    for bad, message in ((tmp_path / "x.json", "not an xasflow model card"), (tmp_path / "none.json", "no such model")):
        code = main(
            ["predict", str(EXAMPLES / "CuO_tenorite.cif"), "--model", str(bad), "--out", str(tmp_path / "o.json")]
        )
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err
        assert not (tmp_path / "o.json").exists()


def _tiny_model(n_features: int, featurizer: FeaturizerSpec) -> XASRegressor:
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (60, n_features))
    y = 1 + 0.1 * rng.random((60, 141))
    model = XASRegressor(
        hidden=(8,), n_members=2, max_epochs=2, spec=ModelSpec("Cu", featurizer=featurizer), n_features=n_features
    )
    return model.fit(X[:40], y[:40]).calibrate(X[40:], y[40:])


def test_featurizer_version_mismatch_is_refused(tmp_path) -> None:
    model = _tiny_model(64, FeaturizerSpec("m3gnet", "M3GNet-other-weights@000000/destination-sum/x1000"))
    card = model.save(tmp_path / "m.npz")
    with pytest.raises(XasflowError, match="featurizer here gives version"):
        Predictor(model=card).predict_structure(Structure.from_file(EXAMPLES / "CuO_tenorite.cif"), "Cu")


def test_acsf_model_gets_its_acsf_featurizer_with_its_species(tmp_path) -> None:
    from xasflow.features import get_featurizer

    species = ["Cu", "O"]
    featurizer = get_featurizer("acsf", species=species)
    spec = FeaturizerSpec("acsf", featurizer.version, {"species": species})
    card = _tiny_model(featurizer.dim, spec).save(tmp_path / "acsf.npz")
    result = Predictor(model=card).predict_structure(Structure.from_file(EXAMPLES / "CuO_tenorite.cif"), "Cu")
    assert result.average.shape == (141,) and np.isfinite(result.average).all()


def test_feature_rows_use_the_sets_model_on_published_features(tmp_path) -> None:
    """A default on a richer representation does not take published rows; the set's m3gnet model does."""
    zoo = tmp_path / "zoo"
    (zoo / "Cu_FEFF").mkdir(parents=True)
    rich = _tiny_model(80, FeaturizerSpec("m3gnet-env", "M3GNet@0/env"))
    rich.save(zoo / "Cu_FEFF" / "expert.npz")
    _tiny_model(64, FeaturizerSpec("m3gnet", "M3GNet@0/published")).save(zoo / "Cu_FEFF" / "universal.npz")
    index = {"format": "xasflow-zoo", "sets": {"Cu_FEFF": {"default": "expert", "models": ["expert", "universal"]}}}
    (zoo / "index.json").write_text(json.dumps(index))
    rows = np.random.default_rng(1).normal(0, 1, (3, 64))
    predictor = Predictor(zoo_dir=zoo)
    assert predictor.model_for("Cu").featurizer_spec.name == "m3gnet-env"
    assert predictor.model_for_rows("Cu").featurizer_spec.name == "m3gnet"
    assert predictor.predict_features(rows, "Cu").shape == (3, 141)
    assert predictor.estimate_features(rows, "Cu").std.shape == (3, 141)
    # Asked for by name, the model is used as it is, and rows of the wrong width are refused by name.
    with pytest.raises(XasflowError, match=r"m3gnet-env feature rows for .*: has 64 columns but the model expects 80"):
        Predictor(model="expert", zoo_dir=zoo).predict_features(rows, "Cu")
    with pytest.raises(XasflowError, match="no Cu FEFF model reads soap features"):
        predictor.predict_features(rows, "Cu", featurizer="soap")
