"""FEFF10 campaigns end to end on a local Dask cluster (the two smallest shared Cu sites), and bad inputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from xasflow.cli.main import main
from xasflow.data.dataset import XASDataset
from xasflow.data.xmu import spectrum_from_xmu
from xasflow.io.structures import read_structure
from xasflow.simulation.feff_cards import FAST, PUBLISHED
from xasflow.simulation.inputs import build_site_input
from xasflow.simulation.output import MARKER, site_dir
from xasflow.simulation.runner import SiteTask

#: CI runs the two sites in parallel; a shared development machine runs one FEFF process at a time.
WORKERS = "2" if os.environ.get("CI", "").lower() == "true" else "1"

#: The two smallest shared Cu sites with an xmu.dat (79 and 87 atoms within 9 Å; 2-7 min each on one core).
SMALL_SITES = (("mp-1201409", 0), ("mp-705439", 0))


def _r2(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 - float(((a - b) ** 2).sum() / ((b - b.mean()) ** 2).sum())


def _no_feff_left(folder: str) -> bool:
    """No live process runs in, or names, a folder below ``folder`` (FEFF's working folders)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            if folder in cmdline or cwd.startswith(folder):
                return False
    return True


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, cu_tree: Path) -> Path:
    """The two small Cu structures plus bad inputs: no Cu, disordered, molecule, vacuum cell."""
    from pymatgen.core import Lattice, Structure

    folder = tmp_path_factory.mktemp("structures")
    for material, _ in SMALL_SITES:
        (folder / material).mkdir()
        shutil.copy(cu_tree / material / "POSCAR", folder / material / "POSCAR")
    Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(folder / "no-cu.cif"))
    disordered = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    disordered.to(filename=str(folder / "disordered.cif"))
    (folder / "molecule.xyz").write_text("2\nCu dimer\nCu 0 0 0\nCu 2.2 0 0\n")
    Structure(Lattice.cubic(30.0), ["Cu", "O"], [[0, 0, 0], [0.06, 0, 0]]).to(filename=str(folder / "vacuum.cif"))
    return folder


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, inputs: Path, feff10) -> tuple[Path, int, str]:
    """``xasflow simulate`` on the inputs with the published cards, one local Dask worker."""
    out = tmp_path_factory.mktemp("campaign")
    with pytest.MonkeyPatch.context() as patch:  # module scope: the variable must not leak into later tests
        patch.setenv("XASFLOW_PROGRESS", "0")
        code = main(
            [
                *("simulate", str(inputs), "--element", "Cu", "--sites", "inequivalent", "--cards", "published"),
                *("--out", str(out), "--workers", WORKERS, "--timeout", "900"),
            ]
        )
    return out, code, (out / "Cu" / "simulate_report.json").read_text()


def test_two_site_campaign_reproduces_shared_spectra(campaign, cu_tree: Path) -> None:
    out, code, report_text = campaign
    report = json.loads(report_text)
    assert code == 1  # the bad inputs are reported, the campaign still ran
    statuses = {s["site_id"]: s["status"] for s in report["sites"]}
    assert statuses == {f"{m}_{s:03d}": "finished" for m, s in SMALL_SITES}
    assert report["card_set"]["name"] == "published" and report["feff"].startswith("feff10-rs")
    for material, site in SMALL_SITES:
        folder = site_dir(out, "Cu", material, site)
        ours = spectrum_from_xmu(folder / "xmu.dat", "Cu")
        shared = spectrum_from_xmu(cu_tree / material / "FEFF-XANES" / f"{site:03d}_Cu" / "xmu.dat", "Cu")
        assert _r2(ours, shared) >= 0.9999
        assert json.loads((folder / MARKER).read_text())["status"] == "finished"
        assert (out / "Cu" / material / "POSCAR").read_text() == (cu_tree / material / "POSCAR").read_text()
    assert not (out / ".work").exists() or not any((out / ".work").iterdir())


def test_bad_inputs_are_reported_per_file(campaign) -> None:
    _, _, report_text = campaign
    problems = {Path(p["source"]).name: p["message"] for p in json.loads(report_text)["input_problems"]}
    assert problems["no-cu.cif"] == "structure contains no Cu"
    assert "disordered" in problems["disordered.cif"]
    assert "molecule" in problems["molecule.xyz"]
    assert "only 2 atoms within 9.0 Å" in problems["vacuum.cif"]


def test_campaign_output_is_ingested_by_build_feff(campaign, cu_tree: Path, tmp_path: Path) -> None:
    out, _, _ = campaign
    npz = tmp_path / "campaign.npz"
    assert main(["data", "build-feff", str(out), "--element", "Cu", "--out", str(npz), "--no-splits"]) == 0
    dataset = XASDataset.load(npz)
    assert sorted(dataset.ids.tolist()) == sorted(f"{m}_{s:03d}" for m, s in SMALL_SITES)
    for row, site_id in enumerate(dataset.ids):
        material, site = site_id.rsplit("_", 1)
        shared = spectrum_from_xmu(cu_tree / material / "FEFF-XANES" / f"{site}_Cu" / "xmu.dat", "Cu")
        assert _r2(dataset.spectra[row], shared) >= 0.9999


def test_rerun_skips_finished_and_other_card_set_is_refused(campaign, inputs: Path, capsys) -> None:
    out, _, _ = campaign
    xmu = [site_dir(out, "Cu", m, s) / "xmu.dat" for m, s in SMALL_SITES]
    before = [(p.stat().st_mtime_ns, p.read_bytes()) for p in xmu]
    paths = [str(inputs / m / "POSCAR") for m, _ in SMALL_SITES]
    assert main(["simulate", *paths, "--element", "Cu", "--out", str(out), "--plan"]) == 0
    assert "0 sites to run, 2 finished earlier" in capsys.readouterr().out
    assert main(["simulate", *paths, "--element", "Cu", "--cards", "fast", "--out", str(out), "--workers", "1"]) == 1
    captured = capsys.readouterr()
    assert "card set 'published'" in captured.err and "not overwritten" in captured.err
    assert [(p.stat().st_mtime_ns, p.read_bytes()) for p in xmu] == before


def test_plan_lists_sites_with_estimates_and_runs_nothing(cu_tree: Path, tmp_path: Path, capsys) -> None:
    paths = [str(cu_tree / m / "POSCAR") for m, _ in SMALL_SITES]
    code = main(["simulate", *paths, "--element", "Cu", "--sites", "all", "--out", str(tmp_path), "--plan"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(k for k, line in enumerate(lines) if line.split()[:2] == ["site", "atoms"])
    assert any(line.startswith("estimated CPU time of these sites by card set") for line in lines[:header])
    rows = [line.split() for line in lines[header + 1 :]]
    assert len(rows) == 3  # mp-1201409 has 2 Cu atoms, mp-705439 one
    estimates = [float(r[3]) for r in rows]
    assert estimates == sorted(estimates, reverse=True)  # largest first
    assert not (tmp_path / "Cu").exists()


@pytest.fixture(scope="module")
def client(feff10):
    from xasflow.parallel import dask_client

    with dask_client(1) as client:
        yield client


def _task(structure_path: Path, material: str, site: int, cards=PUBLISHED, text: str | None = None) -> SiteTask:
    structure = read_structure(structure_path)
    inp = build_site_input(structure, site, "Cu", cards, material)
    return SiteTask(
        material_id=material,
        site=site,
        element="Cu",
        card_set=cards.name,
        fingerprint=cards.fingerprint(),
        feff_inp=text if text is not None else inp.text,
        poscar=structure_path.read_text(),
        n_atoms=inp.n_atoms,
        n_fms=inp.n_fms,
        est_seconds=1.0,
    )


def test_feff_failure_and_timeout_are_retried_once_and_reported(client, cu_tree: Path, tmp_path: Path) -> None:
    from xasflow.simulation.campaign import CampaignConfig, Plan, run_campaign

    material, site = SMALL_SITES[0]
    poscar = cu_tree / material / "POSCAR"
    good = _task(poscar, material, site, FAST)
    # POTENTIALS without the ipot that ATOMS uses for the other Cu atoms: what FEFF10 refuses (pymatgen #3695).
    broken_text = "\n".join(line for line in good.feff_inp.splitlines() if line.split()[:3] != ["1", "29", "Cu"])
    broken = _task(poscar, "mp-broken", site, FAST, text=broken_text)
    config = CampaignConfig(element="Cu", feff_card_set=FAST, out=tmp_path, timeout=3.0, retries=1)
    report_path = tmp_path / "report.json"
    report = run_campaign(Plan(config=config, tasks=[good, broken]), client, report_path)
    outcomes = {o.site_id: o for o in report.outcomes}
    assert outcomes[good.site_id].status == "timeout" and outcomes[good.site_id].attempts == 2
    assert "time limit of 3 s" in outcomes[good.site_id].reason
    assert outcomes[broken.site_id].status == "failed" and outcomes[broken.site_id].attempts == 2
    assert "FEFF failed" in outcomes[broken.site_id].reason
    saved = json.loads(report_path.read_text())
    assert saved["counts"] == {"timeout": 1, "failed": 1}
    for task in (good, broken):
        folder = site_dir(tmp_path, "Cu", task.material_id, task.site)
        assert not (folder / "xmu.dat").exists()
        assert json.loads((folder / MARKER).read_text())["status"] in ("timeout", "failed")
    assert _no_feff_left(str(tmp_path))
