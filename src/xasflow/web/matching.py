"""The match endpoint's computation: :func:`xasflow.match` on uploaded files, labelled by upload name.

The answer is :meth:`xasflow.compare.match.Ranking.to_dict` (what ``xasflow match --out x.json``
writes; the numbers of its ranking CSV) plus the curves of the overlay plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xasflow.web.uploads import SavedUpload, relabel

#: Candidates drawn in the overlay.
OVERLAY_TOP = 3


def reference_structures(element: str) -> list[SavedUpload]:
    """The embedded reference structures (``xasflow/examples/reference``) holding ``element``."""
    from importlib.resources import files

    from pymatgen.core import Composition

    folder = Path(str(files("xasflow") / "examples" / "reference"))
    found = []
    for path in sorted(folder.iterdir()):
        formula = _cif_formula(path)
        if formula and element in {str(e) for e in Composition(formula).elements}:
            found.append(SavedUpload(path, path.name))
    return found


def _cif_formula(path: Path) -> str | None:
    """The ``_chemical_formula_sum`` of a CIF, or its structure's formula."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("_chemical_formula_sum"):
            return line.split(None, 1)[1].strip().strip("'\"")
    from xasflow.io.structures import read_structure

    return read_structure(path).composition.formula


def _curve(values) -> list[float]:
    return [round(float(v), 6) for v in values]


def _overlay(ranking, top: int) -> dict[str, Any]:
    """Measured flattened μ near the window and the aligned top candidates (±1σ when known), as the CLI plots."""
    measured = ranking.measured
    first = ranking.entries[0].alignment.measured_energies
    window = (measured.energy >= first[0] - 10) & (measured.energy <= first[-1] + 10)
    candidates = []
    for entry in ranking.entries[:top]:
        a = entry.alignment
        candidates.append(
            {
                "rank": entry.rank,
                "source": entry.candidate.source,
                "formula": entry.candidate.formula,
                "energy": _curve(a.measured_energies),
                "spectrum": _curve(a.model),
                "std": _curve(a.model_std) if a.model_std is not None else None,
            }
        )
    overlay: dict[str, Any] = {
        "energy": _curve(measured.energy[window]),
        "measured": _curve(measured.flat[window]),
        "candidates": candidates,
        "mixture": None,
    }
    if ranking.mixture is not None:
        m = ranking.mixture
        overlay["mixture"] = {"energy": _curve(m.energies + m.shift), "spectrum": _curve(m.model)}  # measured scale
    return overlay


def _relabelled(value: Any, uploads: list[SavedUpload]) -> Any:
    """``value`` with every on-disk path of ``uploads`` replaced by its label, recursively."""
    if isinstance(value, str):
        return relabel(value, uploads)
    if isinstance(value, dict):
        return {k: _relabelled(v, uploads) for k, v in value.items()}
    if isinstance(value, list):
        return [_relabelled(v, uploads) for v in value]
    return value


def match_uploads(
    measured: SavedUpload,
    candidates: list[SavedUpload],
    element: str,
    zoo_dir: Path | None = None,
    mix: bool = False,
    columns: str | None = None,
    group: str | None = None,
    energy_unit: str = "eV",
    offset_rule: str = "element",
    top: int = OVERLAY_TOP,
) -> dict[str, Any]:
    """Rank ``candidates`` against ``measured`` (and fit a mixture with ``mix``) with :func:`xasflow.match`.

    Returns
    -------
    dict
        :meth:`Ranking.to_dict` (``element, metric, measured, alignment, ranking, mixture, errors``) plus
        ``overlay``: ``{"energy", "measured", "candidates": [{"rank", "source", "formula", "energy",
        "spectrum", "std"}], "mixture": {"energy", "spectrum"} | None}``; sources are upload names.

    Raises
    ------
    InputError
        A measured spectrum that cannot be read or normalised.
    XasflowError
        No usable candidate (``NoCandidateError``, with each candidate's reason), a bad option.
    """
    import xasflow

    ranking = xasflow.match(
        str(measured.path),
        [str(c.path) for c in candidates],
        element,
        zoo_dir=zoo_dir,
        mix=mix,
        columns=columns or None,
        group=group or None,
        energy_unit=energy_unit,
        offset_rule=offset_rule,
    )
    return _relabelled({**ranking.to_dict(), "overlay": _overlay(ranking, top)}, [measured, *candidates])
