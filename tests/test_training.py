"""Training modes end to end on small subsets of the published data (few epochs)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from xasflow.cli.main import main
from xasflow.data.dataset import XASDataset
from xasflow.data.published import load_published
from xasflow.errors import XasflowError
from xasflow.kinds import ModelKind
from xasflow.training.config import IMPROVED, REFERENCE
from xasflow.training.data import carve, load_sets
from xasflow.training.modes import evaluate
from xasflow.training.pipeline import train_all
from xasflow.training.train import train
from xasflow.zoo.build import replace_set_model, set_metrics, write_zoo
from xasflow.zoo.registry import available_models, load_model

QUICK = IMPROVED.with_max_epochs(4).with_ensemble(2)


@pytest.fixture(scope="module")
def small_catalog(data_root):
    """Cr FEFF and Ti FEFF/VASP: the smallest sets that cover every mode."""
    return load_sets(data_root, seed=0, elements=("Ti", "Cr"))


def test_carved_subsets_are_material_disjoint(small_catalog) -> None:
    for data in small_catalog.sets.values():
        assert data.train.materials.isdisjoint(data.eval.materials)
        assert data.train.materials.isdisjoint(data.stop.materials)
        assert data.stop.materials.isdisjoint(data.eval.materials)
        assert min(data.sizes().values()) > 0
    # FEFF fit rows never include the VASP evaluation structures (same features at both fidelities).
    vasp = small_catalog.sets["Ti_VASP"]
    feff = small_catalog.sets["Ti_FEFF"]
    assert feff.train.materials.isdisjoint(vasp.eval.materials | vasp.stop.materials)


def test_sets_without_spectra_or_data_are_clear_errors(data_root) -> None:
    catalog = load_sets(data_root, seed=0, elements=("Fe", "V"))
    with pytest.raises(XasflowError, match="features but no spectra"):
        catalog.get("Fe", "FEFF")
    with pytest.raises(XasflowError, match="no data"):
        catalog.get("V", "VASP")


def test_full_dataset_uses_published_train_and_val(data_root) -> None:
    val = load_published(data_root, "Cr", "FEFF")
    half = len(val) // 2
    fake = XASDataset(
        "Cr", "FEFF", val.ids, val.spectra, dict(val.features), np.array(["train"] * half + ["val"] * (len(val) - half))
    )
    data = carve(fake, seed=1)
    assert len(data.eval) == len(val) - half
    assert len(data.train) + len(data.stop) == half
    assert "published train" in data.protocol


def test_all_modes_end_to_end(small_catalog, tmp_path) -> None:
    trained = train_all(small_catalog, QUICK)
    keys = set(trained.models)
    for key in ("Ti_FEFF", "Cr_FEFF", "Ti_VASP"):
        assert (key, "expert") in keys and (key, "tuned") in keys
    assert ("Ti_VASP", "universal") not in keys
    universal = trained.models[("*", "universal")]
    assert universal.conditioning == ("Ti", "Cr")
    tuned = trained.models[("Ti_VASP", "tuned")]
    assert tuned.fidelity == "VASP" and tuned.kind == "cross-fidelity" and tuned.hidden == universal.hidden
    for (key, _), model in trained.models.items():
        if key == "*":
            continue
        scores, pred = evaluate(model, small_catalog.sets[key])
        assert pred.shape == (scores.n, 141) and np.isfinite(scores.eta)
        # Every model is a calibrated ensemble for its set's element.
        assert len(model.networks_) == 2 and small_catalog.sets[key].element in model.calibration_
    # A zoo written from these models loads back, checksums verified, with a default per set.
    index = write_zoo(small_catalog, trained, tmp_path / "zoo", dtype="float16")
    assert set(index["sets"]) == {"Ti_FEFF", "Cr_FEFF", "Ti_VASP"}
    assert ("Ti", "VASP", "tuned") in available_models(tmp_path / "zoo")
    assert ("Ti", "VASP", "expert") not in available_models(tmp_path / "zoo") or index["sets"]["Ti_VASP"][
        "default"
    ] == "expert"
    model = load_model("Ti", "FEFF", "universal", root=tmp_path / "zoo")
    X = small_catalog.sets["Ti_FEFF"].eval.X
    assert np.allclose(model.predict(X), trained.models[("Ti_FEFF", "universal")].predict(X), atol=0.05)
    shipped = index["sets"]["Cr_FEFF"]["default"]
    assert shipped in index["sets"]["Cr_FEFF"]["models"] and set(index["sets"]["Cr_FEFF"]["candidates_eta"]) == {
        "expert",
        "universal",
        "tuned",
    }
    card = json.loads((tmp_path / "zoo" / "Cr_FEFF" / f"{shipped}.json").read_text())
    assert card["metrics"]["evaluation"]["n"] == len(small_catalog.sets["Cr_FEFF"].eval)
    assert len(card["baseline_spectrum"]) == 141 and card["energy_grid"]["points"] == 141
    assert (
        0 < card["metrics"]["coverage_68"] < 1
        and card["calibration"]["Cr"]["rows"] == card["metrics"]["evaluation"]["n"]
    )
    assert card["ensemble"]["members"] == 2 and card["data"]["Cr_FEFF"]["sizes"]["eval"] > 0
    # One set's model replaced in place (scripts/retrain_set.py), commands recorded without machine paths.
    retrained = trained.models[("Cr_FEFF", shipped)]
    metrics = set_metrics(retrained, small_catalog, "Cr_FEFF")
    replace_set_model(tmp_path / "zoo", "Cr_FEFF", retrained, metrics, f"retrain --zoo-dir {tmp_path}/zoo")
    written = json.loads((tmp_path / "zoo" / "index.json").read_text())
    assert written["retrained"] == ["retrain --zoo-dir zoo"]
    assert written["sets"]["Cr_FEFF"]["eta"][shipped] == metrics["evaluation"]["eta"]
    assert load_model("Cr", "FEFF", root=tmp_path / "zoo").is_calibrated


CONDITIONED = dataclasses.replace(REFERENCE.with_max_epochs(3).with_ensemble(2), condition_universal=True)


@pytest.fixture(scope="module")
def conditioned_universal(small_catalog):
    return train(ModelKind.UNIVERSAL, small_catalog.feff(), CONDITIONED)


def test_fine_tuning_works_on_a_copy_of_the_universal_model(small_catalog, conditioned_universal) -> None:
    recipe, universal = CONDITIONED, conditioned_universal
    data = small_catalog.sets["Cr_FEFF"]
    before = universal.predict(data.eval.X, elements="Cr")
    tuned = train(ModelKind.TUNED, data, recipe, base=universal)
    # Fine-tuning changes a copy: the universal ensemble is untouched.
    assert np.array_equal(universal.predict(data.eval.X, elements="Cr"), before)
    assert universal.networks_[0] is not tuned.networks_[0]
    assert not np.array_equal(tuned.predict(data.eval.X), before)
    assert tuned.provenance_.pretraining["kind"] == "universal FEFF"


def test_head_kind_is_a_calibrated_copy_that_ships(small_catalog, conditioned_universal, tmp_path) -> None:
    from xasflow.inference.predictor import Predictor, check_model_name
    from xasflow.training.pipeline import TrainedModels

    universal, data = conditioned_universal, small_catalog.sets["Cr_FEFF"]
    before = universal.predict(data.eval.X, elements="Cr")
    with pytest.raises(XasflowError, match="give base="):
        train(ModelKind.HEAD, data, CONDITIONED)
    head = train(ModelKind.HEAD, data, CONDITIONED, base=universal)
    assert head.kind == "head" and head.name == "head" and head.element == "Cr" and head.fidelity == "FEFF"
    assert head.is_calibrated and set(head.residual_head_) == {"Cr"} and "Cr" in head.calibration_
    assert head.residual_head_["Cr"].rows == len(data.train) + len(data.stop)
    assert head.provenance_.pretraining["kind"] == "universal FEFF" and "Cr_FEFF" in head.provenance_.data
    np.testing.assert_array_equal(universal.predict(data.eval.X, elements="Cr"), before)  # a copy
    assert not getattr(universal, "residual_head_", {})
    # the head fits the fitting rows better than the frozen networks alone
    fit_X, fit_y = np.vstack([data.train.X, data.stop.X]), np.vstack([data.train.y, data.stop.y])
    assert np.mean((head.predict(fit_X) - fit_y) ** 2) < np.mean((universal.predict(fit_X, elements="Cr") - fit_y) ** 2)
    mean, std = head.predict(data.eval.X, return_std=True)
    assert np.all(std > 0) and np.all(np.isfinite(mean))
    # a head model in a zoo: listed, loaded by name and picked by the predictor with --model head
    trained = TrainedModels(CONDITIONED)
    trained.models[("Cr_FEFF", "head")] = head
    index = write_zoo(small_catalog, trained, tmp_path / "zoo", defaults={"Cr_FEFF": "head"})
    assert index["sets"]["Cr_FEFF"]["models"] == ["head"] and index["sets"]["Cr_FEFF"]["default"] == "head"
    assert ("Cr", "FEFF", "head") in available_models(tmp_path / "zoo")
    loaded = load_model("Cr", "FEFF", "head", root=tmp_path / "zoo")
    np.testing.assert_allclose(loaded.predict(data.eval.X), mean, atol=0.05)  # float16 members
    check_model_name("head", None, "FEFF", tmp_path / "zoo")
    assert Predictor(model="head", zoo_dir=tmp_path / "zoo").model_for("Cr").kind == "head"


def test_expert_training_is_deterministic(small_catalog) -> None:
    data = small_catalog.sets["Cr_FEFF"]
    a = train(ModelKind.EXPERT, data, QUICK).predict(data.eval.X)
    b = train(ModelKind.EXPERT, data, QUICK).predict(data.eval.X)
    assert np.array_equal(a, b)


def test_cli_train_and_evaluate(data_root, tmp_path, capsys) -> None:
    out = tmp_path / "cr.npz"
    args = ["train", "--mode", "expert", "--element", "Cr", "--data-dir", str(data_root), "--out", str(out)]
    assert main([*args, "--max-epochs", "3", "--members", "2"]) == 0
    assert "Cr_FEFF expert: η" in capsys.readouterr().out
    ml = data_root / "ml_data"
    features, spectra = str(ml / "Cr_FEFF_val_X.txt.gz"), str(ml / "Cr_FEFF_val_y.txt.gz")
    card = str(out.with_suffix(".json"))
    assert (
        main(["evaluate", "--model", card, "--element", "Cr", "--features", features, "--spectra", spectra, "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 305 and result["eta"] > 0 and "model's mean training spectrum" in result["note"]
    # Feature rows of the wrong width: one clear line, exit 2.
    wrong = str(ml / "Cr_FEFF_val_y.txt.gz")
    assert main(["evaluate", "--model", card, "--element", "Cr", "--features", wrong, "--spectra", spectra]) == 2
    assert "columns, expected 64" in capsys.readouterr().err


def test_cli_errors_are_one_line(data_root, tmp_path, capsys) -> None:
    code = main(
        [
            "train",
            "--mode",
            "expert",
            "--element",
            "Fe",
            "--data-dir",
            str(data_root),
            "--out",
            str(tmp_path / "fe.npz"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "features but no spectra" in err and "Traceback" not in err
    assert not (tmp_path / "fe.npz").exists()
    code = main(
        [
            "train",
            "--mode",
            "tuned",
            "--element",
            "Ti",
            "--fidelity",
            "VASP",
            "--data-dir",
            str(data_root),
            "--out",
            str(tmp_path / "x.npz"),
        ]
    )
    assert code == 2 and "cross-fidelity" in capsys.readouterr().err


def test_incomplete_full_dataset_is_rejected(data_root) -> None:
    from xasflow.training.full_data import check_full_dataset

    val = load_published(data_root, "Cr", "FEFF")
    with pytest.raises(XasflowError, match="train and val"):
        check_full_dataset(val, "cr.npz")
    no_features = XASDataset("Cr", "FEFF", val.ids, val.spectra, {}, val.splits)
    with pytest.raises(XasflowError, match="no 'm3gnet' features"):
        check_full_dataset(no_features, "cr.npz")


def test_train_dispatches_by_kind_and_refuses_what_it_cannot(small_catalog) -> None:
    from xasflow.kinds import ModelKind
    from xasflow.training.train import register, trainers

    assert set(trainers()) == set(ModelKind)
    data = small_catalog.sets["Cr_FEFF"]
    with pytest.raises(XasflowError, match="unknown model kind"):
        train("hybrid", data, QUICK)
    with pytest.raises(XasflowError, match="give base="):
        train(ModelKind.TUNED, data, QUICK)
    with pytest.raises(XasflowError, match="already registered"):
        register(ModelKind.EXPERT)(lambda sets, recipe, base: None)
