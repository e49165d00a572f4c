"""Reading crystal structures from any format pymatgen knows, with clear errors."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from xasflow.errors import InputError

#: File names/extensions that are never structures (skipped when walking folders).
_NOT_STRUCTURES = {".dat", ".inp", ".out", ".json", ".csv", ".png", ".txt", ".gz", ".npz", ".md", ".log"}
_STRUCTURE_NAMES = ("POSCAR", "CONTCAR")


def read_structure(path: str | Path):  # -> pymatgen.core.Structure
    """Read one periodic, ordered crystal structure.

    Raises
    ------
    InputError
        If the file is missing, unreadable by pymatgen, empty, disordered (partial
        occupancies) or not periodic (a molecule).
    """
    from pymatgen.core import Structure

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_file(path)
    except Exception as exc:  # pymatgen raises many types for unparsable files
        if _is_molecule(path):
            raise InputError(
                path, "isolated molecule without a lattice; a periodic crystal structure is required"
            ) from exc
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "periodic" in message.lower() or "lattice" in message.lower():
            raise InputError(path, f"not a periodic crystal structure ({message})") from exc
        raise InputError(path, f"cannot read structure ({message})") from exc
    if len(structure) == 0:
        raise InputError(path, "structure has no atoms")
    if not structure.is_ordered:
        raise InputError(path, "disordered structure (partial occupancies) is not supported")
    return structure


def _is_molecule(path: Path) -> bool:
    """Whether pymatgen reads the file as a molecule (xyz, mol, ...) though not as a crystal."""
    from pymatgen.core import Molecule

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Molecule.from_file(path)
    except Exception:
        return False
    return True


def check_absorber(structure, element: str, source: str | Path) -> list[int]:
    """Indices of the sites of ``element``; raises ``InputError`` if there are none."""
    indices = [i for i, site in enumerate(structure) if site.specie.symbol == element]
    if not indices:
        raise InputError(source, f"structure contains no {element}")
    return indices


def check_site(structure, site: int, element: str, source: str | Path) -> None:
    """Raise ``InputError`` unless ``site`` is an index of an ``element`` atom."""
    if not 0 <= site < len(structure):
        raise InputError(source, f"site {site} is out of range (structure has {len(structure)} sites)")
    symbol = structure[site].specie.symbol
    if symbol != element:
        raise InputError(source, f"site {site} is {symbol}, not {element}")


def _looks_like_structure(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    if any(path.name.upper().startswith(n) for n in _STRUCTURE_NAMES):
        return True
    return path.suffix.lower() not in _NOT_STRUCTURES or path.suffix.lower() == ""


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files given, and structure-like files found recursively in folders given, sorted.

    A missing path is yielded unchanged so that the reader reports it.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _looks_like_structure(p))
            yield from found
        else:
            yield path
