"""``xasflow featurize`` and ``xasflow data add-features`` end to end."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from xasflow.cli.main import main
from xasflow.data.dataset import XASDataset
from xasflow.data.published import load_published
from xasflow.io.structures import read_structure


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("XASFLOW_PROGRESS", "0")


def test_featurize_csv_with_a_bad_file(cu_tree, m3gnet, tmp_path, capsys):
    folder = tmp_path / "inputs"
    folder.mkdir()
    first, second = sorted(cu_tree.glob("*/POSCAR"))[:2]
    shutil.copy(first, folder / f"{first.parent.name}.vasp")
    bad = tmp_path / "broken.cif"
    bad.write_text("data_broken\n_cell_length_a 3\n")
    out = tmp_path / "features.csv"
    code = main(["featurize", str(folder), str(second), str(bad), "--element", "Cu", "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert str(bad) in err and err.count("\n") == 1  # one line for the one bad file
    with open(out) as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["source", "site", "f0"] and len(rows[0]) == 2 + 64
    by_source: dict[str, list[list[str]]] = {}
    for row in rows[1:]:
        by_source.setdefault(row[0], []).append(row)
    assert set(by_source) == {str(folder / f"{first.parent.name}.vasp"), str(second)}
    for source, source_rows in by_source.items():
        structure = read_structure(source)
        sites = [int(r[1]) for r in source_rows]
        assert sites == [i for i, s in enumerate(structure) if s.specie.symbol == "Cu"]
        values = np.array([[float(v) for v in r[2:]] for r in source_rows])
        np.testing.assert_allclose(values, m3gnet.featurize(structure, sites), rtol=1e-12)


def test_featurize_unknown_element_is_fatal(cu_tree, tmp_path, capsys):
    path = next(iter(sorted(cu_tree.glob("*/POSCAR"))))
    assert main(["featurize", str(path), "--element", "Xx", "--out", str(tmp_path / "f.csv")]) == 2
    assert "Xx" in capsys.readouterr().err


def test_add_features_stores_published_rows(data_root, cu_tree, tmp_path, capsys):
    published = load_published(data_root, "Cu", "FEFF").subset(np.arange(8))
    dataset = XASDataset("Cu", "FEFF", ids=published.ids, spectra=published.spectra, splits=published.splits)
    path = dataset.save(tmp_path / "cu.npz")
    out = tmp_path / "cu_m3gnet.npz"
    args = ["data", "add-features", str(path), "--structures", str(cu_tree), "--out", str(out)]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "from cache" in capsys.readouterr().out
    result = XASDataset.load(out)
    reference = published.features["m3gnet"]
    error = np.linalg.norm(result.features["m3gnet"] - reference, axis=1) / np.linalg.norm(reference, axis=1)
    assert error.max() < 1e-4
    assert result.metadata["features"]["m3gnet"]["featurizer"] == "m3gnet"
    np.testing.assert_array_equal(result.spectra, dataset.spectra)


def test_add_features_refuses_missing_structures(tmp_path, cu_tree, capsys):
    dataset = XASDataset("Cu", "FEFF", ids=["mp-not-there_001"])
    path = dataset.save(tmp_path / "d.npz")
    out = tmp_path / "o.npz"
    code = main(["data", "add-features", str(path), "--structures", str(cu_tree), "--out", str(out)])
    assert code == 1 and not out.exists()
    assert "mp-not-there" in capsys.readouterr().err
