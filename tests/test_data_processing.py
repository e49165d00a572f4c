"""Spectrum processing, outlier filter and the rebuilt Cu FEFF set against the published rows."""

from __future__ import annotations

import numpy as np
import pytest

from xasflow.constants import E_START, energy_grid
from xasflow.data.outliers import outlier_mask
from xasflow.data.published import load_published, published_id_lists
from xasflow.data.xmu import read_xmu, spectrum_from_xmu
from xasflow.errors import InputError, XasflowError
from xasflow.io.lightshow import iter_sites
from xasflow.io.omnixas import read_matrix


def test_energy_grid_is_141_points_of_quarter_ev():
    grid = energy_grid("Cu")
    assert grid.shape == (141,)
    assert grid[0] == E_START["Cu"]
    assert np.allclose(np.diff(grid), 0.25)
    assert grid[-1] == pytest.approx(E_START["Cu"] + 35.0)


def test_rebuilt_val_rows_equal_published(cu_feff_dataset, data_root):
    dataset, _ = cu_feff_dataset
    val = dataset.split("val")
    published = read_matrix(data_root / "ml_data" / "Cu_FEFF_val_y.txt.gz")
    assert val.ids.tolist() == (data_root / "material_id_and_site" / "Cu_FEFF_val.txt").read_text().split()
    relative = np.abs(val.spectra - published).max(axis=1) / np.abs(published).max(axis=1)
    assert relative.max() < 1e-9


def test_outlier_filter_reproduces_published_counts(cu_feff_raw, data_root):
    raw, report = cu_feff_raw
    assert len(raw) == 4831
    assert len(report.unfinished) == 2
    listed = {i for ids in published_id_lists(data_root, "Cu", "FEFF").values() for i in ids}
    is_listed = np.array([i in listed for i in raw.ids])
    flagged = outlier_mask(raw.spectra)
    assert flagged.sum() == 1064
    assert (~is_listed).sum() == 1075
    assert (flagged & ~is_listed).sum() == 1061
    assert (flagged & is_listed).sum() == 3


def test_build_assigns_published_splits_in_list_order(cu_feff_dataset, data_root):
    dataset, report = cu_feff_dataset
    lists = published_id_lists(data_root, "Cu", "FEFF")
    train = dataset.split("train")
    assert train.ids.tolist() == [i for i in lists["train"] if i not in set(report.outlier_ids)]
    assert len(train) == 3340 - 3
    assert len(report.unlisted_ids) == 1075 - 1061


def _write_xmu(path, rows, header=True):
    lines = ["# comment line", "# other header"]
    if header:
        lines.append("#  xsedge+ 50, used to normalize mu           2.4327E-04")
    lines.append("#  omega    e    k    mu    mu0     chi     @#")
    lines += rows
    path.write_text("\n".join(lines) + "\n")


def _rows(start, n=200):
    omega = start - 5 + 0.25 * np.arange(n)
    return [f"{o:.3f} {o - start:.3f} 0.0 {0.05 + 0.001 * k:.6e} 0.06 -0.01" for k, o in enumerate(omega)]


def test_processing_of_a_synthetic_xmu_is_linear_interpolation(tmp_path):
    path = tmp_path / "xmu.dat"
    _write_xmu(path, _rows(E_START["Ni"]))
    xmu = read_xmu(path)
    assert xmu.xsedge50 == pytest.approx(2.4327e-4)
    spectrum = spectrum_from_xmu(path, "Ni")
    assert spectrum.shape == (141,)
    # Rows at exactly the window edges are excluded, so both ends are clamped to their neighbours;
    # inside, mu rises by 1e-3 per 0.25 eV row, scaled by 1000 * xsedge50 / a0**2.
    step = 1000 * 1e-3 * 2.4327e-4 / 0.529177210903**2
    assert spectrum[0] == spectrum[1] and spectrum[-1] == spectrum[-2]
    assert np.allclose(np.diff(spectrum[1:-1]), step, rtol=1e-6)


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (["8990.0 1.0 0.1"], True, "expected 6 columns"),
        (["8990.0 1.0 0.1 abc 0.1 0.1"], True, "non-numeric"),
        (None, False, "missing header"),
        ([], True, "no data rows"),
    ],
)
def test_bad_xmu_files_give_one_clear_error(tmp_path, rows, header, message):
    path = tmp_path / "xmu.dat"
    _write_xmu(path, _rows(E_START["Cu"]) if rows is None else rows, header=header)
    with pytest.raises(InputError, match=message) as info:
        read_xmu(path)
    assert str(path) in str(info.value)


def test_xmu_outside_window_is_rejected(tmp_path):
    path = tmp_path / "xmu.dat"
    _write_xmu(path, _rows(E_START["Ti"]))
    with pytest.raises(InputError, match="window"):
        spectrum_from_xmu(path, "Cu")


def test_load_published_reads_features_and_spectra(data_root):
    ti = load_published(data_root, "Ti", "VASP")
    assert len(ti) == 377
    assert ti.features["m3gnet"].shape == (377, 64)
    assert ti.spectra.shape == (377, 141)
    fe = load_published(data_root, "Fe", "FEFF")
    assert fe.spectra is None and len(fe) == 1205


def test_id_list_length_mismatch_names_the_file(tmp_path, data_root):
    (tmp_path / "ml_data").mkdir()
    (tmp_path / "material_id_and_site").mkdir()
    ids = (data_root / "material_id_and_site" / "Cr_FEFF_val.txt").read_text().split()
    (tmp_path / "material_id_and_site" / "Cr_FEFF_val.txt").write_text("\n".join(ids[:-1]) + "\n")
    x = read_matrix(data_root / "ml_data" / "Cr_FEFF_val_X.txt.gz")
    np.savetxt(tmp_path / "ml_data" / "Cr_FEFF_val_X.txt", x)
    with pytest.raises(InputError, match=r"Cr_FEFF_val_X.txt: has 305 rows but Cr_FEFF_val.txt lists 304 ids"):
        load_published(tmp_path, "Cr", "FEFF")


def test_not_a_3d_metal_is_refused(cu_tree):
    with pytest.raises(XasflowError, match="element 'Zn' is not supported"):
        list(iter_sites(cu_tree, "Zn"))
