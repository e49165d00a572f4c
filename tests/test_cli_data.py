"""``xasflow data`` end to end, including bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from xasflow.cli.main import main
from xasflow.data.dataset import XASDataset
from xasflow.io.omnixas import read_matrix


def test_build_then_export_reproduces_published_val(cu_tree, data_root, tmp_path, capsys):
    out = tmp_path / "Cu.npz"
    assert main(["data", "build-feff", str(cu_tree), "--element", "Cu", "--out", str(out)]) == 0
    assert "1064 outliers" in capsys.readouterr().out
    assert main(["data", "info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "Cu_FEFF" in info and "val 416" in info
    assert main(["data", "export", str(out), "--out", str(tmp_path / "export")]) == 0
    assert "14 rows have no split" in capsys.readouterr().err
    ours = np.loadtxt(tmp_path / "export" / "ml_data" / "Cu_FEFF_val_y.txt")
    published = read_matrix(data_root / "ml_data" / "Cu_FEFF_val_y.txt.gz")
    assert np.max(np.abs(ours - published) / np.abs(published).max(axis=1, keepdims=True)) < 1e-9
    ids = (tmp_path / "export" / "material_id_and_site" / "Cu_FEFF_val.txt").read_text().split()
    assert ids == (data_root / "material_id_and_site" / "Cu_FEFF_val.txt").read_text().split()


def _copy_material(cu_tree: Path, dest: Path, material: str) -> Path:
    shutil.copytree(cu_tree / material, dest / material)
    return dest / material


def test_bad_files_are_reported_and_good_ones_kept(cu_tree, tmp_path, capsys):
    tree = tmp_path / "Cu"
    materials = sorted(p.name for p in cu_tree.iterdir() if p.is_dir())[:6]
    for material in materials:
        _copy_material(cu_tree, tree, material)
    xmus = sorted(tree.rglob("xmu.dat"))
    truncated, nonnumeric, headerless = xmus[0], xmus[1], xmus[2]
    truncated.write_text("\n".join([*truncated.read_text().splitlines()[:-3], "8990.1 2.0"]))
    nonnumeric.write_text(nonnumeric.read_text().replace("E-02", "E-0x", 1))
    headerless.write_text("\n".join(line for line in headerless.read_text().splitlines() if "xsedge" not in line))
    bad_poscar_material = tree / materials[3]
    (bad_poscar_material / "POSCAR").write_text("this is not a POSCAR\n")
    n_bad_poscar_sites = len(list(bad_poscar_material.rglob("xmu.dat")))

    out = tmp_path / "out.npz"
    code = main(["data", "build-feff", str(tree), "--element", "Cu", "--out", str(out), "--keep-outliers"])
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert any(str(truncated) in line and "expected 6 columns" in line for line in err)
    assert any(str(nonnumeric) in line and "non-numeric" in line for line in err)
    assert any(str(headerless) in line and "missing header" in line for line in err)
    assert any("POSCAR" in line and "cannot read structure" in line for line in err)
    assert not any("Traceback" in line for line in err)
    dataset = XASDataset.load(out)
    assert len(dataset) == len(xmus) - 3 - n_bad_poscar_sites


def test_unsupported_element_and_missing_dataset_exit_nonzero(cu_tree, tmp_path, capsys):
    assert main(["data", "build-feff", str(cu_tree), "--element", "Zn", "--out", str(tmp_path / "x.npz")]) == 2
    assert "element 'Zn' is not supported" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()
    assert main(["data", "info", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz" in capsys.readouterr().err


def test_export_without_splits_writes_split_all(tmp_path):
    dataset = XASDataset("Ti", "VASP", ids=["mp-1_000", "mp-2_003"], spectra=np.ones((2, 141)))
    dataset.save(tmp_path / "d.npz")
    assert main(["data", "export", str(tmp_path / "d.npz"), "--out", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "material_id_and_site" / "Ti_VASP_all.txt").read_text().split() == [
        "mp-1_000",
        "mp-2_003",
    ]
    assert np.loadtxt(tmp_path / "e" / "ml_data" / "Ti_VASP_all_y.txt").shape == (2, 141)
