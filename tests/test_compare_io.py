"""Reading measured spectra: XDI (mu, i0/itrans), column text, Athena, and every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xasflow.errors import InputError, XasflowError
from xasflow.io.measured import ColumnSpec, read_measured

XDI_HEADER = """# XDI/1.0
# Column.1: energy eV
# Column.2: i0
# Column.3: itrans
# Element.symbol: Cu
# Element.edge: K
# Sample.name: synthetic
#----
# energy i0 itrans
"""


def _edge(energy: np.ndarray, e0: float = 8980.0) -> np.ndarray:
    return 0.2 + 1e-5 * (energy - e0) + 1.0 / (1.0 + np.exp(-(energy - e0) / 1.5))


def _write_xdi(path: Path, energy: np.ndarray, mu: np.ndarray) -> Path:
    i0 = np.full_like(energy, 1e5)
    itrans = i0 * np.exp(-mu)
    rows = "\n".join(f"{e:.3f} {a:.6f} {b:.6f}" for e, a, b in zip(energy, i0, itrans, strict=True))
    path.write_text(XDI_HEADER + rows + "\n")
    return path


def test_xdi_with_i0_itrans_forms_ln_ratio(tmp_path):
    energy = np.linspace(8800, 9300, 300)
    mu = _edge(energy)
    spectrum = read_measured(_write_xdi(tmp_path / "a.xdi", energy, mu))
    assert spectrum.mu_from == "ln(i0/itrans)"
    assert spectrum.element == "Cu" and spectrum.edge == "K" and spectrum.name == "synthetic"
    np.testing.assert_allclose(spectrum.mu, mu, atol=1e-5)


def test_real_xdi_with_mutrans_and_with_transmission(experiment_root):
    with_mu = read_measured(experiment_root / "Cu" / "cu_metal_rt.xdi")
    assert with_mu.mu_from == "column mutrans"
    raw = read_measured(experiment_root / "Cu" / "cu_metal_rt.xdi", columns="energy=energy,i0=i0,itrans=itrans")
    np.testing.assert_allclose(raw.mu, with_mu.mu, atol=1e-5)
    foil = read_measured(experiment_root / "Cu" / "Cu_Foil_rt_2016Foils.xdi")  # itrans before i0, '#XDI/1.1'
    assert foil.mu_from == "ln(i0/itrans)" and foil.element == "Cu"
    assert np.all(np.diff(foil.energy) > 0)


def test_column_text_and_override(tmp_path):
    energy = np.linspace(8800, 9300, 200)
    mu = _edge(energy)
    named = tmp_path / "named.txt"
    named.write_text("# energy mu\n" + "\n".join(f"{e} {m}" for e, m in zip(energy, mu, strict=True)))
    np.testing.assert_allclose(read_measured(named).mu, mu)
    unnamed = tmp_path / "unnamed.dat"
    np.savetxt(unnamed, np.column_stack([energy, 2 * mu, mu]))
    with pytest.raises(InputError, match=r"unnamed\.dat.*--columns"):
        read_measured(unnamed)
    np.testing.assert_allclose(read_measured(unnamed, columns="1,3").mu, mu)
    np.testing.assert_allclose(read_measured(unnamed, columns="energy=1,mu=2").mu, 2 * mu)


def test_column_spec_errors():
    with pytest.raises(XasflowError, match="unknown role"):
        ColumnSpec.parse("energy=1,foo=2")
    with pytest.raises(XasflowError, match="energy column is missing"):
        ColumnSpec.parse("mu=2")
    with pytest.raises(XasflowError, match="give mu"):
        ColumnSpec.parse("energy=1,i0=2")


def test_athena_round_trip(tmp_path, experiment_root):
    from larch import Group
    from larch.io import AthenaProject

    original = read_measured(experiment_root / "Cu" / "CuO_tenorite_13K_01.xdi")
    project = AthenaProject(str(tmp_path / "cuo.prj"))
    project.add_group(Group(energy=original.energy, mu=original.mu, filename="cuo", groupname="cuo"))
    project.save()
    back = read_measured(tmp_path / "cuo.prj")
    np.testing.assert_allclose(back.energy, original.energy)
    np.testing.assert_allclose(back.mu, original.mu, rtol=1e-6)
    assert back.name == "cuo"


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        (lambda e, m: (e / 1000.0, m), "keV"),
        (lambda e, m: (e[::-1], m), "energies decrease"),
        (lambda e, m: (np.r_[e[:50], e[49], e[51:]], m), "duplicated energy"),
        (lambda e, m: (e, np.where(np.arange(len(m)) == 7, np.nan, m)), "NaN"),
    ],
)
def test_bad_energies_and_values(tmp_path, transform, message):
    energy = np.linspace(8800, 9300, 200)
    energy, mu = transform(energy, _edge(np.linspace(8800, 9300, 200)))
    path = tmp_path / "bad.txt"
    path.write_text("# energy mu\n" + "\n".join(f"{e} {m}" for e, m in zip(energy, mu, strict=True)))
    with pytest.raises(InputError, match=message) as info:
        read_measured(path)
    assert info.value.source == str(path)


def test_no_energy_column(tmp_path):
    path = tmp_path / "noenergy.xdi"
    path.write_text(XDI_HEADER.replace("energy eV", "angle deg").replace("# energy i0", "# angle i0") + "1 2 3\n" * 20)
    with pytest.raises(InputError, match="no energy column"):
        read_measured(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_measured(tmp_path / "nope.xdi")
    (tmp_path / "empty.xdi").write_text("")
    with pytest.raises(InputError, match="empty file"):
        read_measured(tmp_path / "empty.xdi")


def test_energy_unit_kev(tmp_path, experiment_root):
    energy = np.linspace(8800, 9300, 200)
    mu = _edge(energy)
    kev = tmp_path / "kev.txt"
    kev.write_text("# energy mu\n" + "\n".join(f"{e / 1000:.6f} {m}" for e, m in zip(energy, mu, strict=True)))
    with pytest.raises(InputError, match="--energy-unit keV"):
        read_measured(kev)
    read = read_measured(kev, energy_unit="keV")
    np.testing.assert_allclose(read.energy, energy, atol=1e-3)
    np.testing.assert_allclose(read.mu, mu)
    with pytest.raises(InputError, match="already in eV, not keV"):
        read_measured(experiment_root / "Cu" / "CuO_tenorite_13K_01.xdi", energy_unit="keV")
    with pytest.raises(XasflowError, match="unknown energy unit"):
        read_measured(kev, energy_unit="meV")


def test_the_shared_kev_file_reads_with_its_unit(experiment_root):
    """The development set's one keV file (its README says so) reads and normalises as a Ni K edge."""
    from xasflow.compare.normalize import normalize

    spectrum = normalize(
        read_measured(experiment_root / "Ni" / "ref_LiNiO2.txt", columns="energy=1,mu=2", energy_unit="keV"), "Ni"
    )
    assert 8325 < spectrum.e0 < 8355
