"""Cross-validated selection: folds, candidates, a tiny CV end to end, new hyperparameters round-trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from xasflow.errors import XasflowError
from xasflow.models import ModelSpec, XASRegressor
from xasflow.training.candidates import PUBLISHED, TRAIN_CANDIDATES, candidate_names, get_candidate
from xasflow.training.config import REFERENCE, Recipe
from xasflow.training.cv import CVRunner, CVSettings, fold_of, load_cv_sets, read_results
from xasflow.training.selection import cells, grid_of, leave_fold_out, read_selection, write_report


@pytest.fixture(scope="module")
def cv_sets(data_root):
    return load_cv_sets(data_root, elements=("Ti", "Cr"))


def test_folds_are_deterministic_material_disjoint_and_shared_across_sets(cv_sets) -> None:
    data = cv_sets["Cr_FEFF"]
    folds = fold_of(data.materials, 5)
    assert np.array_equal(folds, fold_of(data.materials, 5))  # deterministic
    assert set(folds.tolist()) == set(range(5))
    for material in set(data.materials.tolist()):
        assert len(set(folds[data.materials == material].tolist())) == 1  # a material sits in one fold
    assert not np.array_equal(folds, fold_of(data.materials, 5, salt="other"))
    # The same material has the same fold in another set (FEFF vs VASP of Ti).
    ti_feff, ti_vasp = cv_sets["Ti_FEFF"], cv_sets["Ti_VASP"]
    shared = sorted(set(ti_feff.materials.tolist()) & set(ti_vasp.materials.tolist()))[:20]
    assert shared
    assert np.array_equal(fold_of(shared, 5), fold_of(list(shared), 5))
    f_feff = dict(zip(ti_feff.materials, fold_of(ti_feff.materials, 5), strict=True))
    f_vasp = dict(zip(ti_vasp.materials, fold_of(ti_vasp.materials, 5), strict=True))
    assert all(f_feff[m] == f_vasp[m] for m in shared)


def test_reserved_materials_are_dropped(data_root, tmp_path) -> None:
    sets = load_cv_sets(data_root, elements=("Cr",))
    victim = sets["Cr_FEFF"].materials[0]
    (tmp_path / "Cr_materials.txt").write_text(f"{victim}\n")
    kept = load_cv_sets(data_root, elements=("Cr",), reserved_dir=tmp_path)["Cr_FEFF"]
    assert victim not in set(kept.materials.tolist())
    assert len(kept.ids) < len(sets["Cr_FEFF"].ids)
    assert "reserved" in kept.source


def test_published_recipe_is_always_a_candidate() -> None:
    assert candidate_names(None)[0] == PUBLISHED
    assert candidate_names("pca,residual")[0] == PUBLISHED
    assert candidate_names("pca,reference").count(PUBLISHED) == 1
    assert get_candidate(PUBLISHED) == REFERENCE
    assert PUBLISHED in TRAIN_CANDIDATES
    tuned = get_candidate("residual|ref-tune")
    assert tuned.tune.lr == 1e-3 and tuned.head == "residual"
    assert tuned.universal_key() == get_candidate("residual").universal_key()  # shares the universal model
    assert get_candidate("pca").universal_key() != get_candidate("residual").universal_key()
    with pytest.raises(XasflowError, match="unknown"):
        get_candidate("nonsense")
    assert Recipe.from_dict(tuned.as_dict()) == tuned


def test_tiny_cv_end_to_end_produces_a_table_and_a_selection(cv_sets, tmp_path) -> None:
    sets = {k: cv_sets[k] for k in ("Cr_FEFF", "Ti_FEFF", "Ti_VASP")}
    runner = CVRunner(sets, tmp_path, CVSettings(n_folds=2, seeds=(0,), max_epochs=3), log=lambda _: None)
    for fold in (0, 1):
        for candidate in (PUBLISHED, "pca|recentre"):
            runner.run("Cr_FEFF", "expert", candidate, fold, 0)
            runner.run("Ti_VASP", "expert", candidate, fold, 0)
            runner.run("Ti_VASP", "tuned", candidate, fold, 0)
    results = read_results(tmp_path)
    assert {r["mode"] for r in results} == {"expert", "universal", "tuned"}
    first = json.loads(next((tmp_path / "runs").rglob("f0_s0.json")).read_text())
    assert first["n_eval"] > 0 and np.isfinite(first["eta"])
    # Cached: a second run reads the result instead of training again (the file is not rewritten).
    cached = next((tmp_path / "runs" / "Cr_FEFF" / "expert" / PUBLISHED).rglob("f0_s0.json"))
    stamp = cached.stat().st_mtime_ns
    again = runner.run("Cr_FEFF", "expert", PUBLISHED, 0, 0)
    assert cached.stat().st_mtime_ns == stamp and again == json.loads(cached.read_text())
    text = write_report(tmp_path, out=tmp_path / "report.md", selected=tmp_path / "selected.json", n_folds=2)
    assert "| Cr_FEFF |" in text and "Leave-fold-out" in text
    selection = read_selection(tmp_path / "selected.json")
    # Ti FEFF has only universal results (no published-recipe expert grid): no choice is made for it.
    assert set(selection["sets"]) == {"Cr_FEFF", "Ti_VASP"}
    record = selection["sets"]["Ti_VASP"]
    assert record["mode"] in ("expert", "tuned")
    assert Recipe.from_dict(record["recipe"]).name == record["candidate"]
    by_set = cells(results, 2)
    grid = grid_of(by_set["Cr_FEFF"])
    assert grid == [(0, 0), (1, 0)]
    assert set(leave_fold_out(by_set["Cr_FEFF"], grid)) == {0, 1}


@pytest.mark.parametrize("head", ["residual", "pca"])
def test_new_hyperparameters_round_trip_through_clone_and_save(tmp_path, head) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 64)) * 100
    y = np.abs(rng.normal(size=(60, 141))) + 1.0
    model = XASRegressor(
        hidden=(16,),
        head=head,
        n_components=5,
        deriv_weight=0.5,
        input_noise=0.1,
        loss="logmse" if head == "pca" else "mse",
        standardize=True,
        freeze_layers=0,
        max_epochs=2,
        n_members=2,
        spec=ModelSpec("Cr"),
    )
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "networks_")
    model.fit(X, y)
    model.calibrate(X[:30], y[:30])
    net = model.networks_[0]
    # The offset is the mean training spectrum of the member's fitting rows (non-zero, near y's mean).
    assert np.allclose(net.output_offset.numpy()[0], y.mean(0), atol=0.5)
    if head == "pca":
        components = net.components.numpy()
        assert np.allclose(components @ components.T, np.eye(5), atol=1e-4)  # orthonormal basis
    card = model.save(tmp_path / "m.npz")
    loaded = XASRegressor.load(card)
    assert loaded.get_params() == model.get_params() | {"spec": ModelSpec("Cr", featurizer=model.featurizer_spec)}
    assert loaded.head == head and loaded.deriv_weight == 0.5 and loaded.n_components == 5
    assert np.allclose(loaded.predict(X), model.predict(X), atol=1e-5)
    assert np.all(loaded.predict(X) >= 0)


def test_recentred_fine_tuning_moves_the_offset_to_the_new_mean() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 64))
    y = np.abs(rng.normal(size=(40, 141))) + 1.0
    model = XASRegressor(hidden=(8,), head="residual", max_epochs=1, n_members=1).fit(X, y)
    shifted = y + 3.0
    model.set_params(warm_start=True, refit_offset=True, lr=1e-9, max_epochs=1)
    model.fit(X, shifted)
    assert np.allclose(model.networks_[0].output_offset.numpy()[0], shifted[:36].mean(0), atol=0.3)


def test_frozen_blocks_do_not_change() -> None:
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 64)), np.abs(rng.normal(size=(40, 141)))
    model = XASRegressor(hidden=(8, 8), max_epochs=2, n_members=1, patience=5).fit(X, y)
    before = [p.detach().clone() for p in model.networks_[0].block_parameters(0)]
    stats = model.networks_[0].layers[1].running_mean.clone()
    model.set_params(warm_start=True, freeze_layers=1, max_epochs=3, patience=50)
    model.fit(X, y + 1.0)
    after = model.networks_[0].block_parameters(0)
    assert all(np.array_equal(a.numpy(), b.detach().numpy()) for a, b in zip(before, after, strict=True))
    assert np.array_equal(stats.numpy(), model.networks_[0].layers[1].running_mean.numpy())
    with pytest.raises(XasflowError, match="no parameter"):
        XASRegressor(hidden=(8,), freeze_layers=2, max_epochs=1, n_members=1, patience=1).fit(X, y)


def test_zoo_built_from_a_selection_ships_each_sets_choice(data_root, tmp_path) -> None:
    from xasflow.training.data import load_sets
    from xasflow.training.pipeline import RunSettings, train_selected
    from xasflow.training.selection import FORMAT, write_selection
    from xasflow.zoo.build import write_zoo
    from xasflow.zoo.registry import load_model

    def record(mode: str, candidate: str) -> dict:
        return {"mode": mode, "zoo_name": mode, "candidate": candidate, "feature": "m3gnet",
                "recipe": get_candidate(candidate).as_dict()}  # fmt: skip

    selection = {
        "format": FORMAT,
        "sets": {
            "Cr_FEFF": record("expert", "pca"),
            "Ti_FEFF": record("tuned", "residual"),
            "Ti_VASP": record("tuned", "residual|recentre"),
        },
    }
    path = write_selection(selection, tmp_path / "selected.json")
    catalog = load_sets(data_root, seed=0, elements=("Ti", "Cr"))
    trained = train_selected(catalog, read_selection(path), RunSettings(members=2, max_epochs=2))
    assert trained.defaults == {"Cr_FEFF": "expert", "Ti_FEFF": "tuned", "Ti_VASP": "tuned"}
    index = write_zoo(catalog, trained, tmp_path / "zoo", dtype="float32", defaults=trained.defaults,
                      selection=selection["sets"])  # fmt: skip
    assert index["sets"]["Cr_FEFF"]["default"] == "expert"
    assert index["sets"]["Ti_VASP"]["selection"]["candidate"] == "residual|recentre"
    model = load_model("Ti", "VASP", root=tmp_path / "zoo")
    assert model.head == "residual" and model.refit_offset and model.kind == "cross-fidelity"
    expert = load_model("Cr", "FEFF", root=tmp_path / "zoo")
    assert expert.head == "pca" and expert.n_members == 2
    # Recalibration refits calibration and domain only: same weights, fresh coverage figures.
    from xasflow.zoo.build import feature_variants, recalibrate_zoo, zoo_selection

    again = recalibrate_zoo(catalog, tmp_path / "zoo", tmp_path / "zoo2")
    assert set(again["sets"]) == set(index["sets"]) and "coverage_68" in again["sets"]["Cr_FEFF"]
    recalibrated = load_model("Cr", "FEFF", root=tmp_path / "zoo2")
    assert recalibrated.card_source_.weights.sha256 == expert.card_source_.weights.sha256
    # Sets whose choice reads another representation name it, so that it is loaded for them.
    richer = {"sets": {"Cu_FEFF": {"selection": {"feature": "m3gnet-env"}}, "Cr_FEFF": index["sets"]["Cr_FEFF"]}}
    assert feature_variants(zoo_selection(richer)) == {"Cu_FEFF": ("m3gnet-env",)}
