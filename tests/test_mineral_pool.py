"""The mineral pool of the Fe/Mn campaign (scripts/mineral_pool.py): what is kept, left out and in which order."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from devscripts import load_script


@pytest.fixture(scope="module")
def pool():
    return load_script("mineral_pool")


def _rock_salt(a: float, cation: str = "Fe", anion: str = "O") -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _row(material: str, structure: Structure, **extra) -> dict:
    return {
        "material_id": material,
        "amcsd_id": int(material.split("-")[1]),
        "mineral": material,
        "formula": structure.composition.reduced_formula,
        "atoms": len(structure),
        "volume_per_atom": round(structure.volume / len(structure), 3),
        "class": "oxide",
        "structure": structure,
        **extra,
    }


def test_ligand_classes(pool) -> None:
    assert pool.ligand_class(_rock_salt(4.3)) == "oxide"
    assert pool.ligand_class(_rock_salt(5.2, anion="S")) == "sulfide"
    assert pool.ligand_class(_rock_salt(5.5, anion="Cl")) == "halide"
    assert pool.ligand_class(_rock_salt(4.2, anion="N")) == "carbide/nitride"
    assert pool.ligand_class(_rock_salt(3.6, anion="Ni")) == "metal"


def test_one_refinement_per_structure_type_median_volume_and_exclusions(pool) -> None:
    # A pressure series of one FeO structure type: the median volume per atom is kept, once.
    series = [_row(f"amcsd-{i:05d}", _rock_salt(a)) for i, a in ((1, 4.20), (2, 4.33), (3, 4.28))]
    # A polymorph of the same formula (CsCl type) is a structure type of its own and stays.
    cscl = Structure(Lattice.cubic(2.7), ["Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    polymorph = _row("amcsd-00004", cscl)
    # The matching candidates of Fe include FeS (troilite): every FeS refinement is left out.
    troilite = _row("amcsd-00005", _rock_salt(5.2, anion="S"), **{"class": "sulfide"})
    # A structure that matches a reserved material is left out and said.
    reserved = _rock_salt(5.4, cation="Fe", anion="Se")
    fese = _row("amcsd-00006", _rock_salt(5.45, anion="Se"), **{"class": "sulfide"})
    chosen, notes = pool.select([*series, polymorph, troilite, fese], "Fe", [reserved])
    ids = sorted(r["material_id"] for r in chosen)
    assert ids == ["amcsd-00003", "amcsd-00004"]  # a = 4.28 is the median of 4.20, 4.28, 4.33
    assert len(notes) == 1 and "amcsd-00006" in notes[0] and "reserved" in notes[0]


def test_priority_is_round_robin_over_ligand_classes_smallest_first(pool) -> None:
    rows = [
        {"material_id": "amcsd-00001", "amcsd_id": 1, "atoms": 40, "class": "oxide"},
        {"material_id": "amcsd-00002", "amcsd_id": 2, "atoms": 8, "class": "oxide"},
        {"material_id": "amcsd-00003", "amcsd_id": 3, "atoms": 12, "class": "sulfide"},
        {"material_id": "amcsd-00004", "amcsd_id": 4, "atoms": 2, "class": "metal"},
    ]
    assert pool.priority(rows) == ["amcsd-00002", "amcsd-00003", "amcsd-00004", "amcsd-00001"]


def test_pools_by_material_id() -> None:
    from xasflow.data.pools import MINERALS, SHARED, is_mineral, pool_of

    assert pool_of("amcsd-00018") == MINERALS and pool_of("mp-1234") == SHARED and pool_of("mvc-10511") == SHARED
    assert is_mineral(["mp-1", "amcsd-00002", "mvc-3"]).tolist() == [False, True, False]
