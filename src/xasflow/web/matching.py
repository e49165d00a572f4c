"""The match endpoint's computation: an adapter over :mod:`xasflow.compare`, as ``xasflow match`` runs it.

Everything the web layer needs from a match is :func:`match_uploads`; when the library call
``xasflow.match`` lands, only its body changes. The ranking rows are the CLI's ranking CSV
(:func:`xasflow.io.ranking.write_ranking`), read back, so the numbers are the CLI's to the digit.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any

from xasflow.web.uploads import SavedUpload

#: Candidates drawn in the overlay.
OVERLAY_TOP = 3
_INTEGER = ("rank", "shift_at_bound")
_TEXT = ("source", "formula", "spectrum", "metric", "measured")


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


def _ranking_rows(result, folder: Path) -> list[dict[str, Any]]:
    """The CLI's ranking CSV rows as typed dictionaries."""
    from xasflow.io.ranking import write_ranking

    path = folder / "ranking.csv"
    write_ranking(path, result)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: (v if k in _TEXT else int(v) if k in _INTEGER else float(v)) for k, v in row.items()} for row in rows]


def _curve(values) -> list[float]:
    return [round(float(v), 6) for v in values]


def _overlay(result, top: int) -> dict[str, Any]:
    """Measured flattened μ near the window and the aligned top candidates (±1σ when known)."""
    measured = result.measured
    first = result.entries[0].alignment.measured_energies
    window = (measured.energy >= first[0] - 10) & (measured.energy <= first[-1] + 10)
    candidates = []
    for entry in result.entries[:top]:
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
    return {
        "energy": _curve(measured.energy[window]),
        "measured": _curve(measured.flat[window]),
        "candidates": candidates,
    }


def _mixture(mixture) -> dict[str, Any]:
    return {
        "components": [
            {"source": s, "formula": f, "fraction": round(float(x), 6), "fraction_std": round(float(sd), 6)}
            for s, f, x, sd in mixture.table()
        ],
        "shift_eV": round(float(mixture.shift), 4),
        "shift_std_eV": round(float(mixture.shift_std), 4),
        "sigma_eV": round(float(mixture.sigma), 4),
        "scale": round(float(mixture.scale), 5),
        "r_factor": round(float(mixture.r_factor), 6),
        "energy": _curve(mixture.energies + mixture.shift),  # on the measured scale, as the CLI's plot
        "model": _curve(mixture.model),
        "measured": _curve(mixture.measured),
    }


def match_uploads(
    measured: SavedUpload,
    candidates: list[SavedUpload],
    element: str,
    predictor,
    folder: Path,
    mix: bool = False,
    top: int = OVERLAY_TOP,
    columns: str | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """Rank ``candidates`` against ``measured`` (and fit a mixture with ``mix``), as ``xasflow match`` does.

    ``columns`` and ``group`` are ``xasflow match``'s ``--columns`` and ``--group``.

    Returns
    -------
    dict
        ``measured`` (source, e0_eV, edge_step), ``metric``, ``ranking`` (the CLI's ranking CSV rows),
        ``errors`` (candidates that failed), ``overlay`` (curves of the top candidates), ``mixture``.

    Raises
    ------
    InputError
        A measured spectrum that cannot be read or normalised.
    XasflowError
        No usable candidate.
    """
    from xasflow.compare import DEFAULT_METRIC, AlignConfig, Candidate, normalize
    from xasflow.compare import match as rank
    from xasflow.compare import mix as fit_mixture
    from xasflow.errors import InputError, XasflowError
    from xasflow.io.measured import read_measured
    from xasflow.io.structures import read_structure

    spectrum = read_measured(measured.path, columns=columns or None, group=group or None)
    spectrum = dataclasses.replace(spectrum, source=measured.name)
    normalized = normalize(spectrum, element)
    config = AlignConfig()
    entries, errors = [], []
    for upload in candidates:
        try:
            prediction = predictor.predict_structure(read_structure(upload.path), element, upload.name)
            entries.append(Candidate.from_prediction(prediction))
        except InputError as err:
            errors.append({"source": upload.name, "message": err.message})
    if not entries:
        raise XasflowError("no usable candidate structure")
    result = rank(normalized, entries, element, metric=DEFAULT_METRIC, config=config)
    return {
        "element": element,
        "metric": result.metric,
        "measured": {
            "source": measured.name,
            "e0_eV": round(float(normalized.e0), 3),
            "edge_step": float(f"{normalized.edge_step:.6g}"),
        },
        "ranking": _ranking_rows(result, folder),
        "errors": errors,
        "overlay": _overlay(result, top),
        "mixture": _mixture(fit_mixture(normalized, entries, element, config=config)) if mix else None,
    }
