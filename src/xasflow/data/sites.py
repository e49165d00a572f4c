"""Absorbing sites: which to use, their symmetry classes, and their weight in the site average.

The one home of site selection for ``predict``, ``featurize`` and ``simulate``: one rule on
symmetry failure (the input is refused by name) and one ``symprec``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from xasflow.errors import InputError, XasflowError

#: Tolerance (Å) of pymatgen's ``SpacegroupAnalyzer`` for symmetry-equivalent sites (``--symprec``).
DEFAULT_SYMPREC = 0.01

#: Selections other than explicit indices.
SELECTIONS = ("inequivalent", "all")


@dataclass(frozen=True)
class AbsorbingSite:
    """An absorbing site: its index in the file, the size of its symmetry class, its weight in the average."""

    index: int
    multiplicity: int
    weight: float


def parse_selection(text: str) -> str | list[int]:
    """``"inequivalent"``, ``"all"``, or sorted unique site indices from ``"0,3,5"``.

    Raises
    ------
    XasflowError
        For anything else, an empty list, negative or repeated indices.
    """
    text = text.strip().lower()
    if text in SELECTIONS:
        return text
    try:
        indices = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise XasflowError(f"--sites must be 'inequivalent', 'all' or comma-separated indices, not {text!r}") from exc
    if not indices:
        raise XasflowError("--sites lists no site index")
    if min(indices) < 0:
        raise XasflowError(f"--sites {text!r}: site indices must be non-negative")
    if len(set(indices)) != len(indices):
        repeated = sorted({i for i in indices if indices.count(i) > 1})
        raise XasflowError(f"--sites {text!r} lists site {', '.join(map(str, repeated))} more than once")
    return sorted(indices)


def check_symprec(symprec: float) -> float:
    """Return ``symprec`` if it is a usable tolerance (0 < symprec < 1 Å)."""
    if not 0 < symprec < 1:
        raise XasflowError(f"--symprec must be between 0 and 1 Å, not {symprec:g}")
    return float(symprec)


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


def equivalence_classes(
    structure, symprec: float = DEFAULT_SYMPREC, source: str | Path = "structure"
) -> list[list[int]]:
    """Groups of symmetry-equivalent site indices (each sorted, groups ordered by first index).

    Raises
    ------
    InputError
        If the symmetry search fails (the one rule for every command).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The dataset's equivalent atoms are what get_symmetrized_structure groups, at half the cost.
            representative = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetry_dataset().equivalent_atoms
        groups: dict[int, list[int]] = {}
        for index, rep in enumerate(representative):
            groups.setdefault(int(rep), []).append(index)
        classes = list(groups.values())
    except Exception as exc:  # spglib failures come as several types
        raise InputError(
            source, f"symmetry analysis failed ({type(exc).__name__}: {exc}); try another --symprec"
        ) from exc
    return sorted(classes, key=lambda group: group[0])


def absorbing_sites(
    structure,
    element: str,
    selection: str | list[int] = "inequivalent",
    source: str | Path = "structure",
    symprec: float = DEFAULT_SYMPREC,
) -> list[AbsorbingSite]:
    """Sites of ``element`` to use, with multiplicities and average weights.

    ``inequivalent``: one representative (lowest index) per symmetry class, weighted by
    its multiplicity (the convention of the published Lightshow trees); ``all``: every site,
    weight 1 each (the same average); explicit indices: those sites, weight 1 each.

    Raises
    ------
    InputError
        If the structure has no ``element``, an explicit index is out of range or not
        ``element``, or the symmetry search fails.
    """
    selection = (
        parse_selection(selection) if isinstance(selection, str) else parse_selection(",".join(map(str, selection)))
    )
    absorbers = check_absorber(structure, element, source)
    if isinstance(selection, list):
        for index in selection:
            check_site(structure, index, element, source)
    class_of = {}
    for group in equivalence_classes(structure, symprec, source):
        for index in group:
            class_of[index] = group
    if selection == "inequivalent":
        reps = sorted({class_of[i][0] for i in absorbers})
        return [AbsorbingSite(i, len(class_of[i]), float(len(class_of[i]))) for i in reps]
    chosen = absorbers if selection == "all" else selection
    return [AbsorbingSite(i, len(class_of[i]), 1.0) for i in chosen]
