"""``xasflow predict`` and the Python API: structures and feature rows to spectra."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import xasflow
from xasflow.cli.main import main
from xasflow.constants import energy_grid
from xasflow.data.sites import absorbing_sites
from xasflow.io.omnixas import read_matrix
from xasflow.io.predictions import read_predictions
from xasflow.zoo import load_model

EXAMPLES = Path(xasflow.__file__).parent / "examples" / "structures"


def test_api_predicts_cuprite_with_multiplicities():
    result = xasflow.predict(EXAMPLES / "Cu2O_cuprite.cif", element="Cu")
    assert result.element == "Cu" and result.fidelity == "FEFF"
    assert np.array_equal(result.energies, energy_grid("Cu"))
    # Cuprite: four Cu, all symmetry-equivalent: one representative of multiplicity 4.
    assert [s.multiplicity for s in result.sites] == [4]
    assert result.formula == "Cu2O"
    assert result.average.shape == (141,)
    assert np.allclose(result.average, result.sites[0].spectrum)
    # A K-edge: the spectrum above the edge is well above the pre-edge.
    assert result.average[-40:].mean() > 2 * result.average[:10].mean()


def test_all_sites_average_equals_multiplicity_weighted_average():
    from pymatgen.core import Structure

    structure = Structure.from_file(EXAMPLES / "Cr2O3_eskolaite.cif")
    structure.replace(0, "Ti")  # breaks symmetry: several inequivalent Cr classes
    inequivalent = xasflow.predict(structure, element="Cr")
    every = xasflow.predict(structure, element="Cr", sites="all")
    assert len(every.sites) == sum(s.multiplicity for s in inequivalent.sites)
    assert len(inequivalent.sites) > 1
    assert np.allclose(every.average, inequivalent.average, rtol=1e-5)


def test_structure_prediction_matches_published_feature_rows(data_root, cu_tree):
    ids = (data_root / "material_id_and_site" / "Cu_FEFF_val.txt").read_text().split()
    features = read_matrix(data_root / "ml_data" / "Cu_FEFF_val_X.txt.gz")
    # The model on published features (the default Cu model reads a richer representation).
    model = load_model("Cu", "FEFF", "universal")
    assert model.featurizer_spec.name == "m3gnet"
    for row in range(0, 40, 4):
        material, site = ids[row].rsplit("_", 1)
        result = xasflow.predict(cu_tree / material / "POSCAR", element="Cu", model="universal", sites=str(int(site)))
        from_row = model.predict(features[row : row + 1], elements="Cu")[0]
        ours = result.sites[0].spectrum
        assert np.linalg.norm(ours - from_row) / np.linalg.norm(from_row) < 1e-5


def test_site_selection_errors(tmp_path):
    from pymatgen.core import Structure

    from xasflow.errors import InputError

    structure = Structure.from_file(EXAMPLES / "CuO_tenorite.cif")
    oxygen = next(i for i, s in enumerate(structure) if s.specie.symbol == "O")
    with pytest.raises(InputError, match=f"site {oxygen} is O, not Cu"):
        absorbing_sites(structure, "Cu", [oxygen], "CuO")
    with pytest.raises(InputError, match="out of range"):
        absorbing_sites(structure, "Cu", [99], "CuO")
    with pytest.raises(InputError, match="contains no Ni"):
        absorbing_sites(structure, "Ni", "all", "CuO")


def test_cli_predicts_examples_to_json_csv_and_plot(tmp_path, capsys):
    out = tmp_path / "pred.json"
    code = main(["predict", str(EXAMPLES), "--out", str(out), "--plot", str(tmp_path / "p.png")])
    assert code == 0, capsys.readouterr().err
    payload = json.loads(out.read_text())
    assert payload["errors"] == []
    got = {(Path(p["source"]).stem, p["element"]) for p in payload["predictions"]}
    assert ("Cu2O_cuprite", "Cu") in got and ("TiO2_rutile", "Ti") in got and ("V2O5_shcherbinaite", "V") in got
    for record in payload["predictions"]:
        assert len(record["energies"]) == 141 and record["energies"][0] == pytest.approx(
            energy_grid(record["element"])[0]
        )
        assert record["model"] and "model_version" in record
        assert all(len(s["spectrum"]) == 141 and s["multiplicity"] >= 1 for s in record["sites"])
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob("*.partial.jsonl"))

    csv_out = tmp_path / "pred.csv"
    assert main(["predict", str(EXAMPLES / "CuO_tenorite.cif"), "--element", "Cu", "--out", str(csv_out)]) == 0
    lines = csv_out.read_text().splitlines()
    header = "source,formula,element,fidelity,model,model_version,site,multiplicity,weight,quantity,ood_score,"
    assert lines[0].startswith(header + "in_domain,") and ",e_start,p0," in lines[0]
    assert [row.split(",")[6:10:3] for row in lines[-2:]] == [["average", "mean"], ["average", "std"]]
    # Both outputs read back to the same records.
    from_json = [p for p in read_predictions(out)[0] if Path(p["source"]).name == "CuO_tenorite.cif"]
    assert read_predictions(csv_out)[0] == from_json


def test_cli_bad_inputs_are_reported_and_good_ones_kept(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(EXAMPLES / "CuO_tenorite.cif", folder / "good.cif")
    (folder / "empty.cif").write_text("")
    (folder / "garbage.cif").write_text("data_x\n_cell_length_a oops\n")
    shutil.copy(EXAMPLES / "NiO_bunsenite.cif", folder / "no_cu.cif")
    disordered = (EXAMPLES / "CuO_tenorite.cif").read_text().replace("0.00000000  1\n", "0.00000000  0.5\n", 1)
    assert "0.5\n" in disordered
    (folder / "disordered.cif").write_text(disordered)
    (folder / "molecule.xyz").write_text("2\nCO\nC 0 0 0\nO 0 0 1.13\n")
    out = tmp_path / "out.json"
    code = main(["predict", str(folder), "--element", "Cu", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    payload = json.loads(out.read_text())
    assert [Path(p["source"]).name for p in payload["predictions"]] == ["good.cif"]
    messages = {Path(e["source"]).name: e["message"] for e in payload["errors"]}
    assert "empty" in messages["empty.cif"]
    assert "contains no Cu" in messages["no_cu.cif"]
    assert "disordered" in messages["disordered.cif"]
    assert "periodic" in messages["molecule.xyz"] or "lattice" in messages["molecule.xyz"]
    assert "garbage.cif" in messages
    for name in messages:
        assert name in err


@pytest.mark.parametrize(("element", "fidelity"), [("Fe", "VASP"), ("Mn", "VASP"), ("V", "VASP")])
def test_sets_without_a_model_exit_nonzero_with_a_clear_message(element, fidelity, tmp_path, capsys):
    code = main(
        [
            "predict",
            str(EXAMPLES / "CuO_tenorite.cif"),
            "--element",
            element,
            "--fidelity",
            fidelity,
            "--out",
            str(tmp_path / "o.json"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert element in err and "Traceback" not in err
    assert not (tmp_path / "o.json").exists()


def test_feature_rows_mode(data_root, tmp_path):
    rows = read_matrix(data_root / "ml_data" / "Ti_FEFF_val_X.txt.gz")[:5]
    np.savetxt(tmp_path / "X.txt", rows)
    out = tmp_path / "y.txt"
    assert (
        main(
            [
                "predict",
                "--features",
                str(tmp_path / "X.txt"),
                "--element",
                "Ti",
                "--fidelity",
                "FEFF",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    written = np.loadtxt(out)
    assert written.shape == (5, 141)
    assert np.allclose(written, load_model("Ti", "FEFF").predict(rows), rtol=1e-8)


def test_interrupted_run_resumes_without_redoing_finished_inputs(tmp_path, monkeypatch):
    from xasflow.inference import batch
    from xasflow.inference.journal import Journal, RunOptions

    paths = [EXAMPLES / "CuO_tenorite.cif", EXAMPLES / "Cu2O_cuprite.cif", EXAMPLES / "Cu_metal.cif"]
    options = RunOptions(element="Cu", fidelity="FEFF", model=None, sites="inequivalent")
    out = tmp_path / "o.json"
    journal = Journal(out, options)
    journal.append(batch.predict_one(str(paths[0]), options))  # "interrupted" after the first input
    calls = []
    real = batch.predict_one
    monkeypatch.setattr(batch, "predict_one", lambda p, o: calls.append(p) or real(p, o))
    result = batch.run_batch(paths, options, Journal(out, options))
    assert calls == [str(paths[1]), str(paths[2])]
    assert result.resumed == 1
    assert [Path(p["source"]).name for p in result.predictions] == [p.name for p in paths]
    other = RunOptions(element="Cu", fidelity="FEFF", model="expert", sites="inequivalent")
    with pytest.raises(xasflow.errors.XasflowError, match="other options"):
        Journal(out, other)


def test_dask_workers_give_the_same_spectra(tmp_path):
    from xasflow.inference.batch import run_batch
    from xasflow.inference.journal import Journal, RunOptions

    paths = sorted(EXAMPLES.glob("Cu*.cif"))
    options = RunOptions(element="Cu", fidelity="FEFF", model=None, sites="inequivalent")
    local = run_batch(paths, options, Journal(tmp_path / "a.json", options))
    distributed = run_batch(paths, options, Journal(tmp_path / "b.json", options), workers=2)
    assert [p["source"] for p in local.predictions] == [p["source"] for p in distributed.predictions]
    for a, b in zip(local.predictions, distributed.predictions, strict=True):
        assert np.allclose(a["average"], b["average"], rtol=1e-6)


def test_bench_counts_structures_and_sites(cu_tree):
    from xasflow.inference.bench import run_bench

    result = run_bench(cu_tree, limit=3)
    materials = sorted(p.name for p in cu_tree.iterdir() if (p / "FEFF-XANES").is_dir())[:3]
    expected_sites = sum(len(list((cu_tree / m / "FEFF-XANES").iterdir())) for m in materials)
    assert result.structures == 3 and result.sites == expected_sites
    assert result.featurize_seconds > 0 and result.network_seconds > 0 and result.peak_rss_mb > 0
    assert any("spectra/s" in line for line in result.lines())
    with pytest.raises(xasflow.errors.XasflowError, match="no site mp-0_000"):
        run_bench(cu_tree, limit=1, feff=True, feff_site="mp-0_000")


def test_predict_covers_all_eight_elements(tmp_path):
    """Every K edge of the framework has a shipped FEFF model (Fe and Mn: from the simulated campaign)."""
    campaign = Path(__file__).resolve().parents[1] / "data" / "campaigns" / "fe_mn"
    inputs = {
        "Ti": EXAMPLES / "TiO2_anatase.cif",
        "V": EXAMPLES / "V2O5_shcherbinaite.cif",
        "Cr": EXAMPLES / "Cr2O3_eskolaite.cif",
        "Mn": campaign / "Mn" / "mp-1222244" / "POSCAR",
        "Fe": campaign / "Fe" / "mvc-839" / "POSCAR",
        "Co": EXAMPLES / "CoO_rocksalt.cif",
        "Ni": EXAMPLES / "NiO_bunsenite.cif",
        "Cu": EXAMPLES / "CuO_tenorite.cif",
    }
    for element, path in inputs.items():
        out = tmp_path / f"{element}.json"
        assert main(["predict", str(path), "--element", element, "--out", str(out)]) == 0, element
        (prediction,) = json.loads(out.read_text())["predictions"]
        assert prediction["element"] == element and prediction["fidelity"] == "FEFF", element
        assert len(prediction["average"]) == len(prediction["average_std"]) == 141, element
        assert np.all(np.isfinite(prediction["average"])) and min(prediction["average_std"]) > 0, element
