"""New-element models: material draws, borrowed calibration, domain on other rows, the zoo set, end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from devscripts import load_script
from xasflow.errors import XasflowError
from xasflow.models.calibration import coverage
from xasflow.training.config import transfer_recipe
from xasflow.training.new_element import (
    AnalogueDraw,
    NewElementConfig,
    borrowed_calibration,
    build_new_element_model,
    draw_materials,
)

REPO = Path(__file__).resolve().parents[1]
TINY = transfer_recipe(hidden=(16,), members=2, max_epochs=4, few_max_epochs=6, patience=2, few_patience=3)


def test_draw_takes_whole_materials_up_to_n_rows():
    materials = np.array(["a"] * 3 + ["b"] * 2 + [f"m{i}" for i in range(10)])
    for seed in range(5):
        chosen = draw_materials(materials, 6, seed)
        assert chosen.sum() == 6
        # every chosen material but the last one taken is complete
        partial = [m for m in set(materials[chosen]) if (materials[chosen] == m).sum() < (materials == m).sum()]
        assert len(partial) <= 1
    assert not np.array_equal(draw_materials(materials, 6, 0), draw_materials(materials, 6, 1))


def _draws(element: str, scale: float, seed: int) -> list[AnalogueDraw]:
    """Residuals whose true std is ``scale`` × the member spread."""
    rng = np.random.default_rng(seed)
    spread = rng.uniform(0.5, 1.5, (400, 141))
    residual = rng.normal(0, 1, spread.shape) * spread * scale
    return [AnalogueDraw(element, 0, 6, 6, 1.0, residual, spread)]


def test_borrowed_calibration_recovers_a_common_scale_and_reports_leave_one_out_coverage():
    draws = _draws("Cr", 3.0, 1) + _draws("Co", 3.0, 2)
    calibration, report, per_element = borrowed_calibration(draws)
    assert np.median(calibration.scale) == pytest.approx(3.0, rel=0.1)
    assert report.coverage_68 == pytest.approx(0.6827, abs=0.02) and report.coverage_95 == pytest.approx(0.95, abs=0.02)
    assert set(per_element) == {"Cr", "Co"}
    # An analogue whose errors are twice as large is under-covered when held out: the check can fail.
    _, _, uneven = borrowed_calibration(_draws("Cr", 3.0, 1) + _draws("Co", 6.0, 2))
    assert uneven["Co"][0] < 0.5 and uneven["Cr"][0] > 0.85
    fresh = _draws("Fe", 3.0, 3)[0]
    assert coverage(fresh.residual, calibration.std(fresh.spread)) == pytest.approx(0.6827, abs=0.03)
    with pytest.raises(XasflowError, match="at least two analogue"):
        borrowed_calibration(_draws("Cr", 3.0, 1))


def test_config_refuses_the_element_as_its_own_analogue():
    with pytest.raises(XasflowError, match="its own analogue"):
        NewElementConfig("Cr", analogues=("Cr", "Co"))
    with pytest.raises(XasflowError, match="is not supported"):
        NewElementConfig("Xx")
    with pytest.raises(XasflowError, match="unknown transfer method"):
        NewElementConfig("Fe", method="ridge")
    assert NewElementConfig("Fe").method == "tuned" and NewElementConfig("Fe", method="head").method == "head"


def _script():
    return load_script("new_element_models")


def test_script_methods_per_element():
    parse = _script().parse_methods
    assert parse([], ["Fe", "Mn"]) == {"Fe": "tuned", "Mn": "tuned"}
    assert parse(["head"], ["Fe", "Mn"]) == {"Fe": "head", "Mn": "head"}
    assert parse(["Fe=tuned", "Mn=head"], ["Fe", "Mn"]) == {"Fe": "tuned", "Mn": "head"}
    assert parse(["head", "Fe=tuned"], ["Fe", "Mn"]) == {"Fe": "tuned", "Mn": "head"}
    with pytest.raises(XasflowError, match="choose one of"):
        parse(["Mn=ridge"], ["Fe", "Mn"])
    with pytest.raises(XasflowError, match="not among"):
        parse(["Co=head"], ["Fe", "Mn"])


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """Cache of the tiny pretrained models, shared by the Fe builds of this module."""
    return tmp_path_factory.mktemp("new_element_cache")


@pytest.fixture(scope="module")
def fe_model(data_root, pretrained):
    """A tiny Fe model from the campaign's Fe sites (features from the campaign tree)."""
    from xasflow.training.new_element import campaign_rows

    reserved = data_root.parent / "reserved"
    dataset, X, _ = campaign_rows(REPO / "data" / "campaigns" / "fe_mn", "Fe", reserved)
    config = NewElementConfig("Fe", ("Cr", "Co"), 1, TINY, 0)
    model, report = build_new_element_model(
        X, dataset.spectra, dataset.material_ids, data_root, reserved, config, cache=pretrained, log=lambda _: None
    )
    return model, report, X, dataset


def test_fe_model_is_calibrated_on_analogues_and_domained_on_published_fe_rows(fe_model, data_root):
    from xasflow.data.published import published_rows

    model, report, X, dataset = fe_model
    assert model.element == "Fe" and model.kind == "tuned" and model.is_calibrated
    n_materials = len(set(dataset.material_ids.tolist()))
    assert report.sites == len(X) >= 6 and report.materials == n_materials >= 5
    assert set(report.analogue_coverage) == {"Cr", "Co"}
    assert 0.4 < report.coverage_68 < 0.9 and report.loo_eta is not None and report.loo_eta > 0
    # the stricter baseline: the pooled held-out sites' own mean spectrum
    assert report.loo_eta_own_mean is not None and report.loo_eta_own_mean > 0
    # mvc-10511 has two sites: its fold predicts both from the other materials
    assert [f["sites"] for f in report.loo_folds if f["material"] == "mvc-10511"] == [2]
    estimate = model.estimate(X, elements="Fe")
    assert estimate.std.shape == (len(X), 141) and np.all(estimate.std > 0)
    # the domain is the published Fe population, not the training sites
    fe_rows = published_rows(data_root, "Fe", data_root.parent / "reserved", spectra=False)
    assert report.domain_rows == len(fe_rows["X"]) > 1000
    scores = model.domain_score(fe_rows["X"], elements="Fe")
    assert 0.9 < np.mean(scores <= 1.0) < 1.0
    assert model.domain_score(fe_rows["X"][:3] * 5, elements="Fe").min() > 1.0


def test_fe_set_in_a_zoo_predicts_a_structure(fe_model, tmp_path):
    from pymatgen.core import Lattice, Structure

    from xasflow.inference.predictor import Predictor
    from xasflow.zoo.build import add_new_element_set
    from xasflow.zoo.registry import read_index

    model, report, _, _ = fe_model
    zoo = tmp_path / "zoo"
    shutil.copytree(REPO / "src" / "xasflow" / "zoo" / "models", zoo)
    # the zoo as it was before Fe had a model: features only
    index = read_index(zoo)
    index["sets"].pop("Fe_FEFF", None)
    index["features_only"] = sorted({*index.get("features_only", []), "Fe_FEFF"})
    shutil.rmtree(zoo / "Fe_FEFF", ignore_errors=True)
    (zoo / "index.json").write_text(json.dumps(index))
    with pytest.raises(XasflowError, match="features but no spectra"):
        Predictor(zoo_dir=zoo).model_for("Fe")
    metrics = {
        "evaluation": {"eta": report.loo_eta},
        "coverage_68": report.coverage_68,
        "coverage_95": report.coverage_95,
        "sites": report.sites,
        "card_set": {"name": "screening"},
        "transfer": "fine-tuned descriptor universal",
    }
    add_new_element_set(zoo, model, metrics, provenance="test")
    index = read_index(zoo)
    assert "Fe_FEFF" not in index["features_only"] and index["sets"]["Fe_FEFF"]["default"] == "tuned"
    assert index["sets"]["Fe_FEFF"]["new_element"]["sites"] == report.sites
    assert set(index["sets"]) > {"Cu_FEFF", "Co_FEFF", "Fe_FEFF"}  # the other sets are kept
    card = json.loads((zoo / "Fe_FEFF" / "tuned.json").read_text())
    assert card["element"] == "Fe" and "calibration" in card and card["metrics"]["sites"] == report.sites
    wustite = Structure(Lattice.cubic(4.33), ["Fe", "O"] * 4, _rocksalt())
    prediction = Predictor(zoo_dir=zoo).predict_structure(wustite, "Fe")
    assert prediction.average.shape == (141,) and np.isfinite(prediction.average_std).all()


def test_fe_head_model_is_built_measured_and_shipped_by_the_script(
    fe_model, data_root, pretrained, tmp_path, monkeypatch
):
    """``--method Fe=head`` end to end on the pretrained models of ``fe_model`` (the head itself is a ridge: fast)."""
    from xasflow.models import XASRegressor
    from xasflow.zoo.registry import load_model, quality_note, read_index

    _, tuned_report, X, dataset = fe_model
    zoo = tmp_path / "zoo"
    shutil.copytree(REPO / "src" / "xasflow" / "zoo" / "models", zoo)
    (zoo / "Fe_FEFF" / "stale.npz").write_bytes(b"")  # a file of the set's previous build goes too
    script = _script()
    monkeypatch.setattr(script, "transfer_recipe", lambda members: TINY)
    args = ["--campaign", str(REPO / "data" / "campaigns" / "fe_mn"), "--elements", "Fe"]
    args += ["--data-dir", str(data_root), "--reserved", str(data_root.parent / "reserved")]
    args += ["--cache", str(pretrained), "--zoo", str(zoo), "--out", str(tmp_path / "out")]
    args += ["--analogues", "Cr", "Co", "--draws", "1", "--method", "Fe=head"]
    assert script.main(args) == 0
    entry = read_index(zoo)["sets"]["Fe_FEFF"]
    assert entry["default"] == "head" and entry["models"] == ["head"] and entry["new_element"]["method"] == "head"
    assert sorted(p.name for p in (zoo / "Fe_FEFF").iterdir()) == ["head.json", "head.npz"]
    assert read_index(zoo)["sets"]["Mn_FEFF"]["default"] == read_index()["sets"]["Mn_FEFF"]["default"]  # untouched
    model = load_model("Fe", root=zoo)
    assert model.kind == "head" and set(model.residual_head_) == {"Fe"} and model.is_calibrated
    assert model.residual_head_["Fe"].rows == len(X) and model.card_source_.recipe["method"] == "head"
    # the head is fitted on the same frozen networks as the tuned model started from
    base = XASRegressor.load(pretrained / "universal_all_s0.json")
    np.testing.assert_allclose(model.hidden_features(X, "Fe"), base.hidden_features(X, "Fe"), atol=0.01)  # float16
    assert np.mean((model.predict(X) - dataset.spectra) ** 2) < np.mean(
        (base.predict(X, elements="Fe") - dataset.spectra) ** 2
    )
    estimate = model.estimate(X)
    assert np.all(estimate.std > 0) and estimate.in_domain.mean() > 0.5
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    report = results["elements"]["Fe"]
    assert results["methods"] == {"Fe": "head"} and report["zoo_name"] == "head"
    assert report["leave_one_material_out_eta"] > 0 and report["sites"] == tuned_report.sites
    assert "Transfer method" in (tmp_path / "out" / "results.md").read_text()
    note = quality_note("Fe", root=zoo)
    assert "the Fe FEFF model (head)" in note and f"trained on {len(X)} simulated sites" in note


def test_method_curve_head_is_the_study_formula(fe_model, pretrained, monkeypatch):
    """``head_desc`` of the learning curve: the estimator's head gives the old ``ResidualHead`` numbers."""
    from sklearn.linear_model import RidgeCV

    from xasflow.models import XASRegressor
    from xasflow.training import new_element

    _, _, X, dataset = fe_model
    base = XASRegressor.load(pretrained / "universal_all_s0.json")
    args = (base, X, dataset.spectra, dataset.material_ids, "Fe", TINY, 0, (12,), 3)
    rows = {r["method"]: r for r in new_element.method_curve(*args)}
    assert set(rows) == set(new_element.CURVE_METHODS) and all(r["eta"] > 0 for r in rows.values())
    # a size no fold can reach repeats the largest (all sites): only the largest row is kept
    capped = new_element.method_curve(*args[:7], (12, len(X) + 5, 1000), 3)
    assert sorted({r["sites"] for r in capped}) == [12, 1000]

    class StudyHead:  # the removed ResidualHead: clip(base + ridge([hidden, standardised X]), 0)
        def __init__(self, base, X, y, element):
            self.x_mean, self.x_scale = X.mean(0), X.std(0) + 1e-6
            Z = self.design(base, X, element, raw=True)
            self.z_mean, self.z_scale = Z.mean(0), Z.std(0) + 1e-6
            residual = y - base.predict(X, elements=element)
            self.ridge = RidgeCV(alphas=tuple(np.logspace(-2, 4, 13))).fit((Z - self.z_mean) / self.z_scale, residual)
            self.base = base

        def design(self, base, X, element, raw=False):
            Z = np.hstack([base.hidden_features(X, element), (X - self.x_mean) / self.x_scale])
            return Z if raw else (Z - self.z_mean) / self.z_scale

        def predict(self, X, elements):
            correction = self.ridge.predict(self.design(self.base, X, elements))
            return np.clip(self.base.predict(X, elements=elements) + correction, 0.0, None)

    monkeypatch.setattr(new_element, "head_on_rows", StudyHead)
    old = {r["method"]: r for r in new_element.method_curve(*args)}
    assert old["head_desc"]["eta"] == pytest.approx(rows["head_desc"]["eta"], rel=1e-6)
    assert old["head_desc"]["eta_own_mean"] == pytest.approx(rows["head_desc"]["eta_own_mean"], rel=1e-6)


def _rocksalt() -> list[list[float]]:
    fcc = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return [c for f in fcc for c in (f, [(f[0] + 0.5) % 1, f[1], f[2]])]


def test_a_few_sites_fine_tune_without_a_domain_reference_until_one_is_set():
    from xasflow.models import ModelSpec, XASRegressor

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 64)), 1 + 0.1 * rng.random((5, 141))
    model = XASRegressor(hidden=(8,), n_members=2, max_epochs=2, spec=ModelSpec("Fe"), stop_fraction=0.2).fit(X, y)
    with pytest.raises(XasflowError, match="no domain reference for Fe"):
        model.domain_score(X)
    with pytest.raises(XasflowError, match="too few training rows for an out-of-domain reference"):
        model.calibrate(rng.normal(size=(20, 64)), 1 + 0.1 * rng.random((20, 141)))
    model.set_domain("Fe", rng.normal(size=(200, 64)), rng.normal(size=(40, 64)))
    assert model.domain_score(X).shape == (5,)


def test_predicting_fe_says_once_what_the_model_was_trained_on(capsys, tmp_path):
    from xasflow.cli.main import main
    from xasflow.zoo.registry import card_path, quality_note

    card = json.loads(card_path("Fe").read_text())  # the set's default, whichever method it ships
    note = quality_note("Fe")
    assert f"trained on {card['metrics']['sites']} simulated sites of {card['metrics']['materials']} materials" in note
    assert "leave-one-material-out η" in note and "screening-s5" in note
    report = card["metrics"]["report"]
    free, n_free = report["leave_one_material_out_eta_without_twins"], report["sites_without_twins"]
    assert f"{free:.2f} on the {n_free} sites" in note
    minerals = card["data"]["Fe_FEFF"].get("sites_by_pool", {}).get("minerals (AMCSD)", 0)
    assert (f"({minerals} of them minerals;" in note) == (minerals > 0)  # sites from outside the shared pool said
    assert quality_note("Cu") == ""  # sets trained on published spectra carry no such note
    fe = sorted((REPO / "data" / "campaigns" / "fe_mn" / "Fe").glob("*/POSCAR"))[:2]
    cu = REPO / "src" / "xasflow" / "examples" / "structures" / "CuO_tenorite.cif"
    assert main(["predict", *map(str, fe), str(cu), "--out", str(tmp_path / "p.json")]) == 0
    err = capsys.readouterr().err
    assert err.count("the Fe FEFF model") == 1 and note in err


def test_twin_free_eta_leaves_out_sites_with_a_near_identical_site_of_another_material():
    from xasflow.training.new_element import near_twins, twin_free_eta

    rng = np.random.default_rng(0)
    y = rng.random((5, 141))
    y[1] = y[0] + 0.001  # a twin in another material
    y[3] = y[2] + 0.001  # the same material: not a twin
    materials = np.array(["a", "b", "c", "c", "d"])
    assert near_twins(y, materials).tolist() == [True, True, False, False, False]
    folds = [
        {"material": "a", "sites": 1, "mse": [0.001], "baseline_mse": [0.1]},
        {"material": "b", "sites": 1, "mse": [0.001], "baseline_mse": [0.1]},
        {"material": "c", "sites": 2, "mse": [0.02, 0.04], "baseline_mse": [0.1, 0.1]},
        {"material": "d", "sites": 1, "mse": [0.03], "baseline_mse": [0.09]},
        {"material": "e", "sites": 1, "skipped": "too few other sites"},
    ]
    value, n = twin_free_eta(y, materials, folds)
    assert n == 3 and value == pytest.approx(0.1 / 0.03)
    assert twin_free_eta(y[:2], materials[:2], folds[:2]) == (None, 0)
