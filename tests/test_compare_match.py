"""Normalise, align, match and mix: synthetic recoveries, bad inputs, and the CLI on a real file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xasflow.cli.main import main
from xasflow.compare import AlignConfig, Candidate, align, mix, normalize, rank
from xasflow.compare.align import DEFAULT_OFFSET, broaden
from xasflow.compare.normalize import NormalizedSpectrum
from xasflow.errors import InputError
from xasflow.io.measured import read_measured

REFERENCE = Path(__file__).resolve().parents[1] / "src" / "xasflow" / "examples" / "reference"


@pytest.fixture(scope="module")
def cu_candidates() -> dict[str, Candidate]:
    from xasflow.inference.predictor import Predictor
    from xasflow.io.structures import read_structure

    predictor = Predictor()
    names = ("Cu_metal", "Cu2O_cuprite", "CuO_tenorite")
    return {
        n: Candidate.from_prediction(predictor.predict_structure(read_structure(REFERENCE / f"{n}.cif"), "Cu", n))
        for n in names
    }


def _synthetic(energies: np.ndarray, curve: np.ndarray, shift: float, noise: float = 0.0, seed: int = 0):
    """A 'measurement' whose flattened μ is ``curve`` (already broadened/scaled) shifted by ``shift``."""
    grid = np.arange(energies[0] - 60, energies[-1] + 100, 0.3)
    flat = np.interp(grid, energies + shift, curve)
    flat = flat + np.random.default_rng(seed).normal(0, noise, grid.shape) if noise else flat
    return NormalizedSpectrum("synthetic", grid, flat, flat, flat, float(energies[0] + shift), 1.0, 0.0, 0.0, "Cu")


def test_alignment_recovers_shift_broadening_and_scale(cu_candidates):
    candidate = cu_candidates["Cu2O_cuprite"]
    true_shift, true_sigma, true_scale = DEFAULT_OFFSET["Cu"] + 1.3, 1.2, 1.1
    curve = true_scale * broaden(candidate.spectrum, true_sigma)
    measured = _synthetic(candidate.energies, curve, true_shift)
    fitted = align(measured, candidate.energies, candidate.spectrum, "Cu")
    assert fitted.shift == pytest.approx(true_shift, abs=0.05)
    assert fitted.sigma == pytest.approx(true_sigma, abs=0.1)
    assert fitted.scale == pytest.approx(true_scale, rel=0.01)
    assert not fitted.shift_at_bound
    given = align(measured, candidate.energies, candidate.spectrum, "Cu", AlignConfig(sigma=true_sigma))
    assert given.sigma == true_sigma and given.shift == pytest.approx(true_shift, abs=0.05)


def test_match_ranks_the_generating_candidate_first(cu_candidates):
    candidate = cu_candidates["CuO_tenorite"]
    measured = _synthetic(candidate.energies, broaden(candidate.spectrum, 1.0), DEFAULT_OFFSET["Cu"], noise=0.005)
    result = rank(measured, list(cu_candidates.values()), "Cu")
    assert result.best.candidate.source == "CuO_tenorite"
    assert [e.rank for e in result.entries] == [1, 2, 3]
    assert result.entries[0].score >= result.entries[1].score >= result.entries[2].score


def test_mixture_of_two_predictions_recovered_within_five_percent(cu_candidates):
    a, b = cu_candidates["Cu2O_cuprite"], cu_candidates["CuO_tenorite"]
    for fraction in (0.3, 0.65):
        curve = 1.05 * broaden(fraction * a.spectrum + (1 - fraction) * b.spectrum, 0.8)
        measured = _synthetic(a.energies, curve, DEFAULT_OFFSET["Cu"] - 1.0, noise=0.01, seed=int(fraction * 100))
        result = mix(measured, [a, b, cu_candidates["Cu_metal"]], "Cu")
        assert result.fractions.sum() == pytest.approx(1.0)
        assert np.all(result.fractions >= 0)
        assert result.fractions[0] == pytest.approx(fraction, abs=0.05)
        assert result.fractions[1] == pytest.approx(1 - fraction, abs=0.05)
        assert np.all(result.fraction_std > 0) and np.all(result.fraction_std < 0.05)
        assert result.shift == pytest.approx(DEFAULT_OFFSET["Cu"] - 1.0, abs=0.2)


def test_scan_not_covering_the_window(experiment_root, cu_candidates, tmp_path):
    spectrum = read_measured(experiment_root / "Cu" / "CuO_tenorite_13K_01.xdi")
    keep = spectrum.energy < 9000
    path = tmp_path / "short.txt"
    np.savetxt(path, np.column_stack([spectrum.energy[keep], spectrum.mu[keep]]), header="energy mu")
    measured = normalize(read_measured(path), "Cu")
    with pytest.raises(InputError, match=r"short\.txt: scan covers .* comparison window needs"):
        rank(measured, list(cu_candidates.values()), "Cu")


def test_another_elements_edge(tmp_path, experiment_root):
    energy = np.linspace(8150, 8700, 400)
    mu = 0.1 + 1.0 / (1.0 + np.exp(-(energy - 8333.0) / 1.5))
    path = tmp_path / "nickel.txt"
    np.savetxt(path, np.column_stack([energy, mu]), header="energy mu")
    with pytest.raises(InputError, match=r"nickel\.txt: absorption edge at 8333 eV is not the Cu K edge"):
        normalize(read_measured(path), "Cu")
    with pytest.raises(InputError, match="Cr spectrum"):
        normalize(read_measured(experiment_root / "Cr" / "cr2o3_rt_001.xdi"), "Cu")


def test_cli_match_end_to_end(experiment_root, tmp_path, capsys):
    out, plot = tmp_path / "ranking.csv", tmp_path / "overlay.png"
    cifs = [str(REFERENCE / f"{n}.cif") for n in ("Cu_metal", "Cu2O_cuprite", "CuO_tenorite", "CuS_covellite")]
    code = main(["match", str(experiment_root / "Cu" / "cu_metal_rt.xdi"), *cifs, "--element", "Cu",
                 "--out", str(out), "--plot", str(plot), "--mix"])  # fmt: skip
    assert code == 0
    import csv

    rows = list(csv.DictReader(out.open()))
    assert {"rank", "source", "formula", "score", "shift_eV", "sigma_eV", "scale"} <= rows[0].keys()
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4]
    assert rows[0]["formula"] == "Cu"
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert plot.stat().st_size > 10_000 and (tmp_path / "overlay_mixture.png").is_file()
    mixture = list(csv.DictReader((tmp_path / "ranking_mixture.csv").open()))
    assert sum(float(r["fraction"]) for r in mixture) == pytest.approx(1.0, abs=1e-4)
    assert "rank" in capsys.readouterr().out


@pytest.mark.parametrize("problem", ["other_element", "kev"])
def test_cli_bad_measured_file_is_one_line(experiment_root, tmp_path, capsys, problem):
    if problem == "other_element":
        measured = experiment_root / "Cr" / "cr2o3_rt_001.xdi"
    else:
        measured = tmp_path / "kev.txt"
        energy = np.linspace(8.8, 9.3, 100)
        np.savetxt(measured, np.column_stack([energy, energy]), header="energy mu")
    code = main(["match", str(measured), str(REFERENCE / "Cu_metal.cif"), "--element", "Cu"])
    err = capsys.readouterr().err
    assert code != 0
    assert str(measured) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_bad_candidate_reported_others_ranked(experiment_root, tmp_path, capsys):
    out = tmp_path / "r.csv"
    code = main(["match", str(experiment_root / "Cu" / "CuO_tenorite_13K_01.xdi"), str(REFERENCE / "CuO_tenorite.cif"),
                 str(REFERENCE / "Cr2O3_eskolaite.cif"), "--element", "Cu", "--out", str(out)])  # fmt: skip
    assert code == 1
    assert "Cr2O3_eskolaite.cif" in capsys.readouterr().err
    assert out.read_text().count("\n") == 2  # header + the one usable candidate


def test_site_averaged_spectrum_weights_and_refuses_partial(cu_tree, tmp_path):
    from xasflow.data.feff_tree import site_averaged_spectrum
    from xasflow.data.sites import absorbing_sites
    from xasflow.data.xmu import spectrum_from_xmu
    from xasflow.io.structures import read_structure

    material = "mp-1022728"  # two inequivalent Cu sites (multiplicities 2 and 1) in the published tree
    sites = absorbing_sites(read_structure(cu_tree / material / "POSCAR"), "Cu")
    folder = cu_tree / material / "FEFF-XANES"
    spectra = [spectrum_from_xmu(folder / f"{s.index:03d}_Cu" / "xmu.dat", "Cu") for s in sites]
    expected = np.average(spectra, axis=0, weights=[s.weight for s in sites])
    assert len(sites) == 2 and len({s.weight for s in sites}) > 1  # a real weighted average, not a plain mean
    np.testing.assert_allclose(site_averaged_spectrum(cu_tree, material, "Cu"), expected)

    import shutil

    copy = tmp_path / "Cu" / material
    shutil.copytree(cu_tree / material, copy)
    (copy / "FEFF-XANES" / f"{sites[1].index:03d}_Cu" / "xmu.dat").unlink()
    with pytest.raises(InputError, match=f"site {sites[1].index} of {material} has no xmu.dat"):
        site_averaged_spectrum(tmp_path, material, "Cu")
    with pytest.raises(InputError, match="no simulated Cu spectra of 'mp-0'"):
        site_averaged_spectrum(tmp_path, "mp-0", "Cu")


def test_cli_match_with_simulated_spectra(experiment_root, cu_tree, tmp_path, capsys):
    """--simulated ranks FEFF spectra from a simulate tree; a candidate missing there is named, the rest ranked."""
    import csv

    from xasflow.data.feff_tree import site_averaged_spectrum

    materials = ("mp-1021507", "mp-1022728", "mp-1023130")
    out = tmp_path / "r.csv"
    posc = [str(cu_tree / m / "POSCAR") for m in materials]
    measured_file = experiment_root / "Cu" / "CuO_tenorite_13K_01.xdi"
    code = main(["match", str(measured_file), *posc, str(REFERENCE / "Cu_metal.cif"),
                 "--element", "Cu", "--simulated", str(cu_tree), "--out", str(out)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1 and "Cu_metal" in captured.err and "Traceback" not in captured.err
    rows = list(csv.DictReader(out.open()))
    assert sorted(Path(r["source"]).parent.name for r in rows) == sorted(materials)
    assert {r["spectrum"] for r in rows} == {"FEFF"} and "(FEFF)" in captured.out
    # the ranking is of the simulated spectra: the CSV's best candidate equals a direct match on them
    measured = normalize(read_measured(measured_file), "Cu")
    direct = [Candidate.from_simulation(cu_tree, cu_tree / m / "POSCAR", "Cu") for m in materials]
    np.testing.assert_allclose(direct[2].spectrum, site_averaged_spectrum(cu_tree, materials[2], "Cu"))
    assert rank(measured, direct, "Cu").best.candidate.source == rows[0]["source"]


def test_simulated_candidate_must_be_the_simulated_structure(cu_tree, tmp_path):
    """A candidate file named like a tree material but holding another structure is refused, not ranked."""
    from xasflow.io.structures import read_structure

    same = Candidate.from_simulation(cu_tree, cu_tree / "mp-1022728" / "POSCAR", "Cu")
    assert same.formula == "Cu3O2"
    renamed = tmp_path / "mp-1022728.cif"  # the tree's mp-1022728 is Cu3O2; this file is YBa2Cu3O6
    read_structure(cu_tree / "mp-1021507" / "POSCAR").to(filename=str(renamed))
    with pytest.raises(InputError, match=r"composition Ba2Y\(CuO2\)3 differs from the simulated structure .*\(Cu3O2\)"):
        Candidate.from_simulation(cu_tree, renamed, "Cu")
