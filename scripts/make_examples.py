"""Write the embedded example structures (src/xasflow/examples/structures/*.cif) from crystal data.

Dev script: run once when the list changes; the CIFs are committed. Lattice constants and
Wyckoff positions are the standard room-temperature values of each mineral/compound.
"""

from __future__ import annotations

from pathlib import Path

from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

OUT = Path(__file__).resolve().parents[1] / "src" / "xasflow" / "examples" / "structures"


def rocksalt(metal: str, a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [metal, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def pmmn_origin2(lattice: Lattice, f_sites: dict[str, list[tuple[float, float]]], a_sites: dict[str, list[float]]):
    """Pmmn (origin choice 2) from Wyckoff 4f (x, 1/4, z) and 2a (1/4, 1/4, z) parameters."""
    species, coords = [], []
    for element, pairs in f_sites.items():
        for x, z in pairs:
            for xyz in ((x, 0.25, z), (0.5 - x, 0.25, z), (-x, 0.75, -z), (0.5 + x, 0.75, -z)):
                species.append(element)
                coords.append(xyz)
    for element, zs in a_sites.items():
        for z in zs:
            species += [element, element]
            coords += [(0.25, 0.25, z), (0.75, 0.75, -z)]
    return Structure(lattice, species, coords)


def examples() -> dict[str, Structure]:
    cuprite = Structure(
        Lattice.cubic(4.2696),
        ["O", "O", "Cu", "Cu", "Cu", "Cu"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [0.75, 0.75, 0.25], [0.75, 0.25, 0.75], [0.25, 0.75, 0.75]],
    )
    return {
        "Cu_metal": Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.615), ["Cu"], [[0, 0, 0]]),
        "Cu2O_cuprite": cuprite,
        "CuO_tenorite": Structure.from_spacegroup(
            "C2/c",
            Lattice.monoclinic(4.6837, 3.4226, 5.1288, 99.54),
            ["Cu", "O"],
            [[0.25, 0.25, 0.0], [0.0, 0.4184, 0.25]],
        ),
        "TiO2_rutile": Structure.from_spacegroup(
            "P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"], [[0, 0, 0], [0.3049, 0.3049, 0]]
        ),
        # pymatgen's I4_1/amd uses origin choice 1: Ti 4a (0,0,0), O 8e (0,0,z).
        "TiO2_anatase": Structure.from_spacegroup(
            "I4_1/amd", Lattice.tetragonal(3.785, 9.514), ["Ti", "O"], [[0, 0, 0], [0, 0, 0.2081]]
        ),
        "NiO_bunsenite": rocksalt("Ni", 4.177),
        "CoO_rocksalt": rocksalt("Co", 4.26),
        "Cr2O3_eskolaite": Structure.from_spacegroup(
            "R-3c", Lattice.hexagonal(4.959, 13.594), ["Cr", "O"], [[0, 0, 0.3475], [0.3058, 0, 0.25]]
        ),
        "V2O5_shcherbinaite": pmmn_origin2(
            Lattice.orthorhombic(11.512, 3.564, 4.368),
            {"V": [(0.10118, 0.89216)], "O": [(0.10430, 0.53130), (0.93110, 0.00310)]},
            {"O": [0.00100]},
        ),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, structure in examples().items():
        sga = SpacegroupAnalyzer(structure, symprec=0.01)
        neighbours = structure.get_all_neighbors(3.0)
        shortest = min(n.nn_distance for site in neighbours for n in site)
        print(
            f"{name:22s} {structure.composition.reduced_formula:6s} {sga.get_space_group_symbol():10s} "
            f"{len(structure):3d} atoms, shortest bond {shortest:.3f} Å"
        )
        CifWriter(structure, symprec=0.01).write_file(OUT / f"{name}.cif")


if __name__ == "__main__":
    main()
