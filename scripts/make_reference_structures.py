"""Write the candidate structures of the measured references (src/xasflow/examples/reference/*.cif).

Dev script: run once when the list changes; the CIFs are committed. Every structure comes from a
published single-crystal or powder refinement as stored in the American Mineralogist Crystal
Structure Database (AMCSD, shipped with xraylarch's ``larixite`` package as ``amcsd_cif1.db``),
looked up by its AMCSD id; each structure is checked against its space group and the range of
its metal-ligand bond lengths before it is written (the script fails otherwise).

Three compounds have no ordered published structure in that database and are substitutes:

* Cu2S: low chalcocite (P2_1/c, 144 atoms) is absent; the high-chalcocite refinement (Will et al.
  2002, P6_3/mmc, S hcp, partially occupied Cu) is ordered into its majority sites: Cu1 (2b,
  trigonal CuS3, occupancy 0.52) fully, Cu2 (4f, occupancy 0.285) half. Like low chalcocite, the
  result has Cu(I) in trigonal S coordination at Cu-S 2.3 Å.
* K2Cr2O7: triclinic lopezite is absent; the monoclinic beta polymorph (Krivovichev et al. 2000)
  has the same corner-sharing Cr2O7 dichromate unit.
* Fe3P: only Ni-bearing schreibersite is in the database; the most Fe-rich refinement (Skala &
  Cisarova 2005, Acuna, (Fe2.26Ni0.74)P, I-4) is taken with every metal site set to Fe. Fe3P has the
  same structure type (its cell, a 9.10 c 4.46 Å, is 0.4 % wider in a).

A second source, ``PUBLISHED``, holds compounds the database lacks: small structures written out
here from literature values (space group, cell, asymmetric unit, with a citation) and built with
``Structure.from_spacegroup``; they go through the same space-group and bond-range check. Their
numbers are the commonly quoted ones and were not checked against the original papers (no copy was
reachable offline); each is fixed by symmetry and one to three parameters (EuTiO3: a; LiNiO2: a, c,
O z; FeN: a), and the bond-range check bounds what an error there could do.

Run: ``python scripts/make_reference_structures.py [NAME ...]`` (needs ``pip install -e '.[experiment]'``;
names restrict the run to those candidates).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.cif import CifParser, CifWriter
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

OUT = Path(__file__).resolve().parents[1] / "src" / "xasflow" / "examples" / "reference"


@dataclass(frozen=True)
class Reference:
    """One candidate: AMCSD id, expected space group number, metal-ligand bond range (Å)."""

    name: str
    amcsd_id: int
    spacegroup: int
    metal: str
    ligand: str
    bond_range: tuple[float, float]
    note: str = ""

    @property
    def source(self) -> str:
        return f"AMCSD {self.amcsd_id}"


REFERENCES: tuple[Reference, ...] = (
    Reference("Cu_metal", 11145, 225, "Cu", "Cu", (2.54, 2.57)),
    Reference("Cu2O_cuprite", 7351, 224, "Cu", "O", (1.83, 1.87)),
    Reference("CuO_tenorite", 18812, 15, "Cu", "O", (1.94, 1.97)),
    Reference("CuS_covellite", 534, 194, "Cu", "S", (2.18, 2.34)),
    Reference("Cu2S_chalcocite", 6938, 186, "Cu", "S", (2.20, 2.60), "ordered high-chalcocite approximant"),
    Reference("azurite_Cu3C2H2O8", 8598, 14, "Cu", "O", (1.90, 2.40), "Cu2 has a long apical bond"),
    Reference("Cr_metal", 11209, 229, "Cr", "Cr", (2.48, 2.51)),
    Reference("Cr2O3_eskolaite", 10596, 167, "Cr", "O", (1.95, 2.03)),
    Reference("CrO2", 9413, 136, "Cr", "O", (1.87, 1.93)),
    Reference("K2Cr2O7", 10323, 15, "Cr", "O", (1.58, 1.80), "beta (monoclinic) polymorph"),
    Reference("K2CrO4_tarapacaite", 9457, 62, "Cr", "O", (1.60, 1.68)),
    Reference("Na2CrO4", 16962, 63, "Cr", "O", (1.55, 1.66)),
    Reference("Cr2S3", 9200, 148, "Cr", "S", (2.35, 2.45)),
)

#: The wider development set (issue 22): one published refinement per measured compound, from the same
#: database, looked up by mineral name (``AMCSD().find_cifs(mineral_name=...)``), the first stoichiometric,
#: fully ordered entry. Space groups are the minerals' published ones (standard setting numbers).
WIDER: tuple[Reference, ...] = (
    Reference("chalcopyrite_CuFeS2", 9476, 122, "Cu", "S", (2.25, 2.35)),
    Reference("chalcocyanite_CuSO4", 14619, 62, "Cu", "O", (1.85, 2.45), "anhydrous; the HERFD sample may be hydrated"),
    Reference("eriochalcite_CuCl2_2H2O", 10986, 53, "Cu", "O", (1.90, 2.00), "dihydrate; the sample label says 5 H2O"),
    Reference("aegirine_NaFeSi2O6", 4448, 15, "Fe", "O", (1.88, 2.15)),
    Reference("almandine_Fe3Al2Si3O12", 7689, 230, "Fe", "O", (2.15, 2.40)),
    Reference("andradite_Ca3Fe2Si3O12", 6469, 230, "Fe", "O", (1.95, 2.10)),
    Reference("cubanite_CuFe2S3", 10720, 62, "Fe", "S", (2.15, 2.35)),
    Reference("hercynite_FeAl2O4", 958, 227, "Fe", "O", (1.90, 2.05)),
    Reference("fayalite_Fe2SiO4", 480, 62, "Fe", "O", (2.00, 2.35)),
    Reference("troilite_FeS", 9769, 190, "Fe", "S", (2.30, 2.75)),
    Reference("cohenite_Fe3C", 10504, 62, "Fe", "C", (1.80, 2.10)),
    Reference("lepidocrocite_FeOOH", 11833, 63, "Fe", "O", (1.90, 2.15), "H not located in the refinement"),
    Reference("siderite_FeCO3", 17561, 167, "Fe", "O", (2.10, 2.20)),
    Reference("vivianite_Fe3P2O8_8H2O", 9138, 12, "Fe", "O", (1.95, 2.35), "H not located in the refinement"),
    Reference("hedenbergite_CaFeSi2O6", 4193, 15, "Fe", "O", (2.05, 2.25)),
    Reference("ilmenite_FeTiO3", 9082, 148, "Fe", "O", (2.05, 2.25)),
    Reference("scacchite_MnCl2", 11809, 166, "Mn", "Cl", (2.50, 2.62)),
    Reference("ramsdellite_MnO2", 3565, 62, "Mn", "O", (1.85, 1.97)),
    Reference("rhodochrosite_MnCO3", 9892, 167, "Mn", "O", (2.15, 2.22)),
    Reference("manganite_MnOOH", 13942, 14, "Mn", "O", (1.85, 2.40)),
    Reference("alabandite_MnS", 7512, 225, "Mn", "S", (2.58, 2.66)),
    Reference("millerite_NiS", 5097, 160, "Ni", "S", (2.20, 2.40)),
    Reference("macedonite_PbTiO3", 9630, 99, "Ti", "O", (1.75, 2.45)),
    # Strobel & Lambert-Andron (1988), J. Solid State Chem. 75, 90 (COD 1008373); no mineral name.
    Reference("Li2MnO3", 16283, 12, "Mn", "O", (1.88, 1.96)),
    Reference("schreibersite_Fe3P", 8924, 82, "Fe", "P", (2.20, 2.50), "Ni-bearing refinement, Ni set to Fe"),
    # Candidates without a measured spectrum (like Cu2O and Cr metal): Ni and Ti would otherwise have
    # one and two candidates, which makes their rankings trivial.
    Reference("bunsenite_NiO", 17026, 225, "Ni", "O", (2.05, 2.12), "candidate only (not measured)"),
    Reference("heazlewoodite_Ni3S2", 18112, 155, "Ni", "S", (2.22, 2.30), "candidate only (not measured)"),
    Reference("rutile_TiO2", 9161, 136, "Ti", "O", (1.92, 2.00), "candidate only (not measured)"),
    Reference("anatase_TiO2", 10735, 141, "Ti", "O", (1.92, 2.00), "candidate only (not measured)"),
)


@dataclass(frozen=True)
class Published:
    """A candidate the database lacks, written out from a published refinement.

    ``sites`` is the asymmetric unit (species, fractional coordinates) in the standard setting of
    ``symbol``; ``cell`` is (a, b, c, alpha, beta, gamma) in Å and degrees.
    """

    name: str
    citation: str
    symbol: str
    spacegroup: int
    cell: tuple[float, float, float, float, float, float]
    sites: tuple[tuple[str, tuple[float, float, float]], ...]
    metal: str
    ligand: str
    bond_range: tuple[float, float]
    note: str = ""

    @property
    def source(self) -> str:
        return self.citation


PUBLISHED: tuple[Published, ...] = (
    Published(
        "EuTiO3",
        "Brous, Fankuchen & Banks (1953), Acta Cryst. 6, 67",
        "Pm-3m",
        221,
        (3.905, 3.905, 3.905, 90.0, 90.0, 90.0),
        (("Eu", (0.5, 0.5, 0.5)), ("Ti", (0.0, 0.0, 0.0)), ("O", (0.5, 0.0, 0.0))),
        "Ti",
        "O",
        (1.94, 1.96),
        "cubic room-temperature phase (octahedral tilts below ~280 K not modelled)",
    ),
    Published(
        "LiNiO2",
        "layered R-3m refinements of near-stoichiometric LiNiO2 (e.g. Rougier, Gravereau & Delmas 1996, "
        "J. Electrochem. Soc. 143, 1168)",
        "R-3m",
        166,
        (2.878, 2.878, 14.19, 90.0, 90.0, 120.0),
        (("Li", (0.0, 0.0, 0.5)), ("Ni", (0.0, 0.0, 0.0)), ("O", (0.0, 0.0, 0.2585))),
        "Ni",
        "O",
        (1.95, 2.00),
        "ideal layers: the ~2 % Ni on the Li site of real samples is left out",
    ),
    Published(
        "FeN",
        "gamma''-FeN, zinc-blende (Suzuki et al. 1993, J. Alloys Compd. 201, 11)",
        "F-43m",
        216,
        (4.30, 4.30, 4.30, 90.0, 90.0, 90.0),
        (("Fe", (0.0, 0.0, 0.0)), ("N", (0.25, 0.25, 0.25))),
        "Fe",
        "N",
        (1.84, 1.88),
        "the FeN form most reported (tetrahedral FeN4), not the rock-salt form",
    ),
)

#: Measured compounds of the wider set without a usable published structure (left out).
MISSING = {
    "Fe/FeLibNov2021__Maghemite.nor": "maghemite: vacancy-disordered Fe2.67O4 entries only",
    "Mn/Mn_all__KMnO4.dat": "KMnO4: not in the database; no refinement's atomic coordinates at hand "
    "(Palenik 1967, Inorg. Chem. 6, 503 gives Pnma a 9.105 b 5.720 c 7.425 Å)",
}


def amcsd_cif(amcsd_id: int) -> str:
    """CIF text of one AMCSD entry from the database shipped with larixite (no download)."""
    from larixite.amcsd import AMCSD

    return AMCSD().get_cif(amcsd_id).ciftext


def parse(text: str) -> Structure:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CifParser.from_str(text, occupancy_tolerance=100).parse_structures(primitive=False)[0]


def order_chalcocite(text: str) -> Structure:
    """High chalcocite ordered into its majority Cu sites (see the module docstring)."""
    from pymatgen.core import Lattice

    a, c, z = 4.033, 6.739, 0.585  # Will et al. (2002), AMCSD 6938: a, c and the z of Cu2 (4f)
    assert f"_cell_length_a {a}" in text and f"_cell_length_c {c}" in text and f"{z}" in text
    third = 1.0 / 3.0
    species = ["S", "S", "Cu", "Cu", "Cu", "Cu"]
    coords = [
        [third, 2 * third, 0.25],  # S 2c
        [2 * third, third, 0.75],
        [0.0, 0.0, 0.25],  # Cu1 2b, trigonal in the S layer
        [0.0, 0.0, 0.75],
        [third, 2 * third, z],  # two of the four Cu2 4f sites, related by the 6_3 screw
        [2 * third, third, z + 0.5],
    ]
    return Structure(Lattice.hexagonal(a, c), species, coords)


def iron_end_member(text: str) -> Structure:
    """Schreibersite (Fe,Ni)3P with every metal site set to Fe (see the module docstring)."""
    structure = parse(text)
    species = ["P" if "P" in site.species else "Fe" for site in structure]
    return Structure(structure.lattice, species, structure.frac_coords)


def build(ref: Reference) -> Structure:
    text = amcsd_cif(ref.amcsd_id)
    if ref.name.startswith("Cu2S"):
        structure = order_chalcocite(text)
    elif ref.name.startswith("schreibersite"):
        structure = iron_end_member(text)
    else:
        structure = parse(text)
    structure.remove_oxidation_states()
    return structure.get_sorted_structure()


def build_published(ref: Published) -> Structure:
    """The full cell of a published asymmetric unit."""
    from pymatgen.core import Lattice

    species = [s for s, _ in ref.sites]
    coords = [c for _, c in ref.sites]
    structure = Structure.from_spacegroup(ref.symbol, Lattice.from_parameters(*ref.cell), species, coords)
    return structure.get_sorted_structure()


def metal_ligand_bonds(structure: Structure, metal: str, ligand: str, cutoff: float) -> np.ndarray:
    """Distances from each metal site to its nearest ligand shell (within ``cutoff`` Å)."""
    lengths = []
    for i, site in enumerate(structure):
        if site.specie.symbol != metal:
            continue
        neighbours = [n.nn_distance for n in structure.get_neighbors(site, cutoff) if n.specie.symbol == ligand]
        assert neighbours, f"site {i} has no {ligand} within {cutoff} Å"
        lengths.extend(neighbours)
    return np.array(lengths)


def check(ref: Reference | Published, structure: Structure) -> str:
    """Assert the space group and the bond-length range; return a one-line summary."""
    assert structure.is_ordered, f"{ref.name}: disordered"
    sga = SpacegroupAnalyzer(structure, symprec=0.01)
    number = sga.get_space_group_number()
    if ref.spacegroup:
        assert number == ref.spacegroup, f"{ref.name}: space group {number}, expected {ref.spacegroup}"
    cutoff = max(2.6 if ref.ligand != ref.metal else 2.7, ref.bond_range[1] + 0.05)
    bonds = metal_ligand_bonds(structure, ref.metal, ref.ligand, cutoff)
    low, high = ref.bond_range
    assert low <= bonds.min() and bonds.max() <= high, f"{ref.name}: bonds {bonds.min():.3f}-{bonds.max():.3f} Å"
    shortest = min(n.nn_distance for site in structure.get_all_neighbors(3.0) for n in site)
    assert shortest > 0.75, f"{ref.name}: atoms {shortest:.2f} Å apart"
    return (
        f"{ref.name:24s} {structure.composition.reduced_formula:12s} {sga.get_space_group_symbol():10s} "
        f"{len(structure):3d} atoms  {ref.metal}-{ref.ligand} {bonds.min():.3f}-{bonds.max():.3f} Å  "
        f"{ref.source} {ref.note}"
    )


def main(names: list[str] | None = None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for ref in REFERENCES + WIDER + PUBLISHED:
        if names and ref.name not in names:
            continue
        structure = build(ref) if isinstance(ref, Reference) else build_published(ref)
        print(check(ref, structure))
        CifWriter(structure).write_file(OUT / f"{ref.name}.cif")


if __name__ == "__main__":
    main(sys.argv[1:])
