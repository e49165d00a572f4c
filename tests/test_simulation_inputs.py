"""feff.inp generation against the published (shared) Cu inputs; parse-and-compare only, no FEFF runs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from xasflow.errors import InputError, XasflowError
from xasflow.io.structures import read_structure
from xasflow.simulation.feff_cards import FAST, PUBLISHED, get_feff_card_set
from xasflow.simulation.inputs import build_site_input, compare_inputs, parse_feff_inp, undefined_ipots


def _shared_sites(cu_tree: Path) -> list[tuple[str, int, Path]]:
    return [(f.parents[2].name, int(f.parent.name[:3]), f) for f in sorted(cu_tree.glob("*/FEFF-XANES/*_Cu/feff.inp"))]


def _pymatgen_writer_drops_potential(structure, site: int) -> bool:
    """Whether pymatgen's own POTENTIALS + ATOMS for this site reference an undefined ipot (issue #3695)."""
    from pymatgen.io.feff.inputs import Atoms, Potential

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = f"{Potential(structure, site)}\n\n{Atoms(structure, site, PUBLISHED.radius)}"
    return bool(undefined_ipots(parse_feff_inp(text)))


@pytest.fixture(scope="module")
def tested_sites(cu_tree: Path) -> tuple[list[tuple[str, int, Path]], set[tuple[str, int]]]:
    """Every 20th shared site plus the first sites of cells with at most two Cu atoms, where pymatgen's writer
    is known to drop a potential; returns the sites and those the pymatgen bug hits."""
    sites = _shared_sites(cu_tree)
    chosen = {(m, s): f for m, s, f in sites[::20]}
    structures = {}
    few_cu = []
    for material, site, path in sites:
        if len(few_cu) >= 40:
            break
        poscar_head = (cu_tree / material / "POSCAR").read_text().splitlines()[5:7]
        counts = dict(zip(poscar_head[0].split(), map(int, poscar_head[1].split()), strict=False))
        if counts.get("Cu", 0) <= 2:
            few_cu.append((material, site, path))
    hit = set()
    for material, site, path in few_cu:
        structures[material] = read_structure(cu_tree / material / "POSCAR")
        if _pymatgen_writer_drops_potential(structures[material], site):
            hit.add((material, site))
            chosen[(material, site)] = path
    return [(m, s, f) for (m, s), f in sorted(chosen.items())], hit


def test_published_inputs_match_shared_feff_inp(cu_tree: Path, tested_sites) -> None:
    sites, hit = tested_sites
    assert len(sites) >= 200
    assert len(hit) >= 20, "the subset must include cells where pymatgen's writer drops a potential"
    failures = []
    for material, site, path in sites:
        structure = read_structure(cu_tree / material / "POSCAR")
        generated = build_site_input(structure, site, "Cu", PUBLISHED, material)
        ours = parse_feff_inp(generated.text)
        assert undefined_ipots(ours) == [], f"{material} {site}: ATOMS uses undefined ipots"
        assert ours.symbols[0] == "Cu" and np.allclose(ours.coords[0], 0.0)
        problems = compare_inputs(ours, parse_feff_inp(path.read_text(), path), tol=1e-4)
        if problems:
            failures.append(f"{material}_{site:03d}: {problems[:2]}")
    assert not failures, "\n".join(failures[:10])


def test_compare_inputs_detects_differences(cu_tree: Path) -> None:
    material, site, path = _shared_sites(cu_tree)[0]
    structure = read_structure(cu_tree / material / "POSCAR")
    shared = parse_feff_inp(path.read_text())
    fast = parse_feff_inp(build_site_input(structure, site, "Cu", FAST, material).text)
    problems = compare_inputs(fast, shared)
    assert any(p.startswith("card SCF") for p in problems) and any(p.startswith("card FMS") for p in problems)
    moved = structure.copy()
    moved.perturb(0.01)
    assert compare_inputs(parse_feff_inp(build_site_input(moved, site, "Cu", PUBLISHED, material).text), shared)


def test_fast_cards_are_the_cheaper_settings() -> None:
    assert FAST.cards["SCF"] == "5.0 0 30 0.2 3"
    assert FAST.cards["FMS"] == "7.0 0"
    assert "0.08" in FAST.cards["EGRID"] and "0.04" not in FAST.cards["EGRID"]
    assert FAST.fingerprint() != PUBLISHED.fingerprint()
    assert get_feff_card_set("fast") is FAST
    with pytest.raises(XasflowError, match="unknown FEFF card set"):
        get_feff_card_set("slow")


def test_campaign_sites_keep_a_card_set_after_renames() -> None:
    """Every site the Fe/Mn campaign ran names cards that a present set has (a rename keeps the fingerprint)."""
    import json

    from xasflow.simulation.feff_cards import SCREENING, SCREENING_S5, present_name

    markers = sorted(
        (Path(__file__).resolve().parents[1] / "data" / "campaigns" / "fe_mn").glob(
            "*/*/FEFF-XANES/*/xasflow_site.json"
        )
    )
    assert len(markers) >= 14
    recorded = [json.loads(m.read_text()) for m in markers]
    assert {present_name(m["fingerprint"], m["card_set"]) for m in recorded} == {"screening-s5"}
    assert present_name("0123456789abcdef", "old-name") == "old-name"
    assert SCREENING.cards["SCF"].startswith("7.0") and SCREENING_S5.cards["SCF"].startswith("5.0")
    assert (
        SCREENING.fms_atoms == SCREENING_S5.fms_atoms == 120 and SCREENING.fingerprint() != SCREENING_S5.fingerprint()
    )


def test_bad_sites_give_clear_errors(cu_tree: Path) -> None:
    from pymatgen.core import Lattice, Structure

    material, _, _ = _shared_sites(cu_tree)[0]
    structure = read_structure(cu_tree / material / "POSCAR")
    other = next(i for i, s in enumerate(structure) if s.specie.symbol != "Cu")
    with pytest.raises(InputError, match=f"site {other} is not a Cu atom"):
        build_site_input(structure, other, "Cu", PUBLISHED, material)
    isolated = Structure(Lattice.cubic(30.0), ["Cu", "O"], [[0, 0, 0], [0.06, 0, 0]])
    with pytest.raises(InputError, match=r"only 2 atoms within 9\.0 Å"):
        build_site_input(isolated, 0, "Cu", PUBLISHED, "vacuum")
    dense = Structure(Lattice.cubic(1.4), ["Cu"], [[0, 0, 0]])
    with pytest.raises(InputError, match="exceed"):
        build_site_input(dense, 0, "Cu", PUBLISHED, "dense")
