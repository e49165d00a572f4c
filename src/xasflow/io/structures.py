"""The one structure reader: any pymatgen format, with the checks every command shares.

A structure is refused, by the name of its file, when it is a molecule (no lattice), disordered,
empty, has non-finite coordinates or lattice, a zero or near-zero cell volume, or two atoms
(periodic images included) closer than :data:`MIN_DISTANCE`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from xasflow.errors import InputError

#: Closest approach (Å) of two atoms, periodic images included, that a real crystal can have.
MIN_DISTANCE = 0.5
#: Cells with less volume per atom (Å³) are degenerate (the densest solids have ~5 Å³ per atom).
MIN_VOLUME_PER_ATOM = 0.5

#: File names/extensions that are never structures (skipped when walking folders).
_NOT_STRUCTURES = {".dat", ".inp", ".out", ".json", ".csv", ".png", ".txt", ".gz", ".npz", ".md", ".log", ".jsonl"}
_STRUCTURE_NAMES = ("POSCAR", "CONTCAR")


def read_structure(path: str | Path):  # -> pymatgen.core.Structure
    """Read one periodic, ordered, physically possible crystal structure.

    Raises
    ------
    InputError
        If the file is missing, empty, unreadable by pymatgen, a molecule, or fails
        :func:`check_structure`.
    """
    from pymatgen.core import Structure

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_file(path)
    except Exception as exc:  # pymatgen raises many types for unparsable files
        if (formula := molecule_formula(path)) is not None:
            raise InputError(path, _molecule_message(formula)) from exc
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "periodic" in message.lower() or "lattice" in message.lower():
            raise InputError(path, f"not a periodic crystal structure ({message})") from exc
        raise InputError(path, f"cannot read structure ({message})") from exc
    check_structure(structure, path)
    return structure


def _molecule_message(formula: str) -> str:
    return f"isolated molecule ({formula}) without a lattice; a periodic crystal structure is required"


def molecule_formula(path: Path) -> str | None:
    """The formula when pymatgen reads ``path`` as a molecule (xyz, mol, ...), else ``None``."""
    from pymatgen.core import Molecule

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Molecule.from_file(path).formula
    except Exception:
        return None


def check_structure(structure, source: str | Path) -> None:
    """Raise ``InputError`` naming ``source`` unless ``structure`` is a usable crystal.

    Checks, in order: a lattice (not a ``Molecule``), at least one atom, full occupancies,
    real elements, finite lattice and coordinates, cell volume of at least :data:`MIN_VOLUME_PER_ATOM` per atom,
    and no two atoms (periodic images included) closer than :data:`MIN_DISTANCE`.
    """
    import numpy as np

    if not hasattr(structure, "lattice"):
        formula = getattr(getattr(structure, "composition", None), "formula", "?")
        raise InputError(source, _molecule_message(formula))
    if len(structure) == 0:
        raise InputError(source, "structure has no atoms")
    if not structure.is_ordered:
        raise InputError(source, "disordered structure (partial occupancies) is not supported")
    from pymatgen.core.periodic_table import DummySpecies

    if unknown := sorted({str(sp) for sp in structure.composition if isinstance(sp, DummySpecies)}):
        raise InputError(source, f"unknown element {', '.join(unknown)} (not in the periodic table)")
    if not (np.all(np.isfinite(structure.lattice.matrix)) and np.all(np.isfinite(structure.frac_coords))):
        raise InputError(source, "non-finite (NaN or infinite) lattice or atomic coordinates")
    volume = abs(float(np.linalg.det(structure.lattice.matrix)))
    if volume < MIN_VOLUME_PER_ATOM * len(structure):
        raise InputError(source, f"zero or near-zero cell volume ({volume:.3g} Å³ for {len(structure)} atoms)")
    if (pair := closest_pair(structure, MIN_DISTANCE)) is not None:
        i, j, distance = pair
        what = "its own periodic image" if i == j else f"atom {j} ({structure[j].specie.symbol})"
        raise InputError(
            source,
            f"atom {i} ({structure[i].specie.symbol}) is {distance:.3f} Å from {what}: "
            f"atoms closer than {MIN_DISTANCE} Å are physically impossible",
        )


def closest_pair(structure, cutoff: float) -> tuple[int, int, float] | None:
    """The closest pair of atoms ``(i, j, distance)`` within ``cutoff`` Å, periodic images included."""
    centers, points, _, distances = structure.get_neighbor_list(cutoff)
    if len(distances) == 0:
        return None
    k = int(distances.argmin())
    return int(centers[k]), int(points[k]), float(distances[k])


def is_structure_name(path: Path) -> bool:
    """Whether a file found in a folder may be a structure (by its name)."""
    if path.name.startswith("."):
        return False
    if any(path.name.upper().startswith(n) for n in _STRUCTURE_NAMES):
        return True
    return path.suffix.lower() not in _NOT_STRUCTURES or path.suffix.lower() == ""


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files given, and structure-like files found recursively in folders given, sorted.

    A missing path is yielded unchanged so that the reader reports it.
    """
    yield from collect_inputs(paths)[0]


def collect_inputs(paths: Iterable[str | Path]) -> tuple[list[Path], list[InputError]]:
    """:func:`expand_paths` plus one ``InputError`` per folder that holds no structure file."""
    files: list[Path] = []
    problems: list[InputError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_structure_name(p))
            if not found:
                problems.append(InputError(path, "folder holds no structure files"))
            files += found
        else:
            files.append(path)
    return files, problems
