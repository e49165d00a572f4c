"""Which absorbing sites to predict, and how much each weighs in the site average."""

from __future__ import annotations

from dataclasses import dataclass

from xasflow.data.structures import check_absorber, check_site
from xasflow.errors import XasflowError


@dataclass(frozen=True)
class AbsorbingSite:
    """An absorbing site: its index in the file, the size of its symmetry class, its weight in the average."""

    index: int
    multiplicity: int
    weight: float


def parse_selection(text: str) -> str | list[int]:
    """``"inequivalent"``, ``"all"``, or a list of site indices from ``"0,3,5"``."""
    text = text.strip().lower()
    if text in ("inequivalent", "all"):
        return text
    try:
        indices = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise XasflowError(f"--sites must be 'inequivalent', 'all' or comma-separated indices, not {text!r}") from exc
    if not indices:
        raise XasflowError("--sites lists no site index")
    return indices


def equivalence_classes(structure, symprec: float = 0.01) -> list[list[int]]:
    """Groups of symmetry-equivalent site indices (each group sorted, groups by first index)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        symmetrized = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetrized_structure()
        classes = [sorted(group) for group in symmetrized.equivalent_indices]
    except Exception:  # symmetry search can fail on odd cells; every site is then its own class
        classes = [[i] for i in range(len(structure))]
    return sorted(classes, key=lambda group: group[0])


def absorbing_sites(structure, element: str, selection: str | list[int], source: str) -> list[AbsorbingSite]:
    """Sites of ``element`` to predict, with multiplicities and average weights.

    ``inequivalent``: one representative (lowest index) per symmetry class, weighted by
    its multiplicity; ``all``: every site, weight 1 each (the same average); explicit
    indices: those sites, weight 1 each.

    Raises
    ------
    InputError
        If the structure has no ``element`` or an explicit index is out of range or not ``element``.
    """
    absorbers = check_absorber(structure, element, source)
    class_of = {}
    for group in equivalence_classes(structure):
        for index in group:
            class_of[index] = group
    if selection == "inequivalent":
        reps = sorted({class_of[i][0] for i in absorbers})
        return [AbsorbingSite(i, len(class_of[i]), float(len(class_of[i]))) for i in reps]
    if selection == "all":
        return [AbsorbingSite(i, len(class_of[i]), 1.0) for i in absorbers]
    chosen = []
    for index in selection:
        check_site(structure, index, element, source)
        chosen.append(AbsorbingSite(index, len(class_of[index]), 1.0))
    return chosen
