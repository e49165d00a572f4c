"""Absorbing-site selection: one rule and one symprec for predict, featurize and simulate."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pymatgen.core import Structure

import xasflow
from xasflow.cli.main import main
from xasflow.data.sites import absorbing_sites, equivalence_classes, parse_selection
from xasflow.errors import InputError, XasflowError
from xasflow.io.structures import read_structure

EXAMPLES = Path(xasflow.__file__).parent / "examples" / "structures"


def test_inequivalent_sites_cover_the_published_tree(cu_tree: Path) -> None:
    materials = sorted(p for p in cu_tree.iterdir() if (p / "FEFF-XANES").is_dir())[::20]
    equal = 0
    for material in materials:
        shared = sorted(int(d.name[:3]) for d in (material / "FEFF-XANES").iterdir())
        ours = [s.index for s in absorbing_sites(read_structure(material / "POSCAR"), "Cu", "inequivalent", material)]
        # The published tree lacks a few sites (runs that never finished), never has extra ones.
        assert set(shared) <= set(ours), material.name
        equal += shared == ours
    assert equal >= 0.9 * len(materials)


def test_selections(cu_tree: Path) -> None:
    structure = read_structure(cu_tree / "mp-1201409" / "POSCAR")  # Cu at sites 0 and 1
    assert [s.index for s in absorbing_sites(structure, "Cu", "all", "x")] == [0, 1]
    assert [s.index for s in absorbing_sites(structure, "Cu", "1", "x")] == [1]
    assert [s.index for s in absorbing_sites(structure, "Cu", [1, 0], "x")] == [0, 1]
    with pytest.raises(InputError, match="site 2 is P, not Cu"):
        absorbing_sites(structure, "Cu", "0,2", "x")
    with pytest.raises(InputError, match="contains no Fe"):
        absorbing_sites(structure, "Fe", "all", "x")
    assert parse_selection("3, 5") == [3, 5]
    for bad, message in (("first", "comma-separated"), ("0,0", "more than once"), ("-1", "non-negative"), (",", "no")):
        with pytest.raises(XasflowError, match=message):
            parse_selection(bad)


def test_symmetry_failure_refuses_the_input_by_name(monkeypatch) -> None:
    from pymatgen.symmetry import analyzer

    def broken(*args, **kwargs):
        raise ValueError("spglib gave up")

    monkeypatch.setattr(analyzer.SpacegroupAnalyzer, "__init__", broken)
    structure = Structure.from_file(EXAMPLES / "Cu2O_cuprite.cif")
    for selection in ("inequivalent", "all", "0"):
        with pytest.raises(InputError, match=r"cu2o.cif: symmetry analysis failed .*spglib gave up"):
            absorbing_sites(structure, "Cu", selection, "cu2o.cif")


def _distorted_cuprite(tmp_path: Path) -> Path:
    """Cuprite with one Cu moved by 0.03 Å: two classes at symprec 0.01, one at 0.2."""
    structure = Structure.from_file(EXAMPLES / "Cu2O_cuprite.cif")
    first = next(i for i, s in enumerate(structure) if s.specie.symbol == "Cu")
    structure.translate_sites([first], [0.03, 0, 0], frac_coords=False)
    path = tmp_path / "distorted.cif"
    structure.to(filename=str(path))
    assert len(equivalence_classes(structure, 0.01)) > len(equivalence_classes(structure, 0.2))
    return path


def test_one_symprec_reaches_predict_featurize_and_simulate(tmp_path, capsys) -> None:
    path = _distorted_cuprite(tmp_path)
    strict = xasflow.predict(path, element="Cu", symprec=0.01)
    loose = xasflow.predict(path, element="Cu", symprec=0.2)
    assert len(loose.sites) == 1 < len(strict.sites)
    assert [s.multiplicity for s in loose.sites] == [4]

    out = tmp_path / "f.csv"
    args = ["featurize", str(path), "--element", "Cu", "--sites", "inequivalent", "--out", str(out)]
    assert main([*args, "--symprec", "0.2"]) == 0
    assert len(list(csv.reader(out.open()))) == 1 + 1
    assert main(args) == 0
    assert len(list(csv.reader(out.open()))) == 1 + len(strict.sites)

    capsys.readouterr()
    plan = ["simulate", str(path), "--element", "Cu", "--out", str(tmp_path / "sim"), "--plan"]
    assert main([*plan, "--symprec", "0.2"]) == 0
    assert ", 1 sites to run" in capsys.readouterr().out
    assert main(plan) == 0
    assert f", {len(strict.sites)} sites to run" in capsys.readouterr().out
    assert main([*plan, "--symprec", "5"]) == 2
    assert "--symprec" in capsys.readouterr().err
