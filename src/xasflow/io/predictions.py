"""Prediction outputs, JSON and CSV: write and read back, so results round-trip.

Records are the dictionaries of :func:`prediction_record` (``Prediction.to_dict``). Fields
beyond the fixed ones travel generically (uncertainties, domain scores, ...):

JSON
    ``{"predictions": [record, ...], "errors": [{"source", "message"}, ...]}``, records as they are.
CSV
    One row per site and quantity, then the ``average`` rows of each record. Columns: ``source, formula,
    element, fidelity, model, model_version, site, multiplicity, weight, quantity, ood_score, in_domain``,
    one column per other extra scalar field, ``e_start``, then the 141 values ``p0..p140``. ``quantity`` is
    ``mean`` for the spectrum itself and the field name for any other 141-value field (a site's ``std``
    gives a ``std`` row, the calibrated ±1σ; a record's ``average_std`` an ``average`` row of quantity
    ``std``). Scalars of a site fill their column on that site's rows, scalars of a record (e.g.
    ``interval_95``) on the record's ``average`` rows; there ``ood_score``/``in_domain`` are, unless the
    record has its own, the largest site score and whether every site is in domain. The average rows carry
    the total weight as multiplicity and weight (the number of absorbing sites the average stands for).
    Energies are ``e_start + 0.25·k``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xasflow.constants import E_STEP, N_POINTS
from xasflow.errors import InputError, XasflowError
from xasflow.fileio import atomic_open

OUTPUT_SUFFIXES = (".csv", ".json")

#: Columns that identify a record (the same on each of its rows).
HEAD = ("source", "formula", "element", "fidelity", "model", "model_version")
#: Record fields with a fixed place in the CSV layout.
_RECORD_FIXED = {*HEAD, "energies", "sites", "average"}
_SITE_FIXED = {"index", "multiplicity", "weight", "spectrum"}
_AVERAGE = "average"
_MEAN = "mean"
#: Scalar columns always present (the model's domain flags), before any other extra field.
FLAGS = ("ood_score", "in_domain")
#: Columns between the head and the extra scalars.
_FIXED = ("site", "multiplicity", "weight", "quantity")


UNITS = "published OmniXAS units (mu x 1000)"


def prediction_record(prediction) -> dict[str, Any]:
    """The JSON-ready record of a :class:`~xasflow.inference.predictor.Prediction` (read by attribute)."""
    sites = []
    for s in prediction.sites:
        site: dict[str, Any] = {
            "index": s.index,
            "multiplicity": s.multiplicity,
            "weight": s.weight,
            "spectrum": s.spectrum.tolist(),
        }
        if s.std is not None:
            site.update(std=s.std.tolist(), ood_score=s.ood_score, in_domain=s.in_domain)
        sites.append(site)
    record: dict[str, Any] = {
        "source": prediction.source,
        "formula": prediction.formula,
        "element": prediction.element,
        "fidelity": prediction.fidelity,
        "model": prediction.model,
        "model_version": prediction.model_version,
        "units": UNITS,
        "energies": [round(float(e), 6) for e in prediction.energies],
        "sites": sites,
        "average": prediction.average.tolist(),
    }
    if prediction.average_std is not None:
        record["average_std"] = prediction.average_std.tolist()
        record["interval_95"] = prediction.interval_95
    return {**record, **prediction.extra}


def prediction_fields(record: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Inverse of :func:`prediction_record`: a prediction's fields and its sites' fields, arrays as numpy."""

    def array(value):
        return None if value is None else np.asarray(value, dtype=np.float64)

    sites = [
        {
            "index": s["index"],
            "multiplicity": s["multiplicity"],
            "weight": s["weight"],
            "spectrum": np.asarray(s["spectrum"]),
            "std": array(s.get("std")),
            "ood_score": s.get("ood_score"),
            "in_domain": s.get("in_domain"),
        }
        for s in record["sites"]
    ]
    fields = {
        "source": record["source"],
        "element": record["element"],
        "fidelity": record["fidelity"],
        "model": record["model"],
        "model_version": record["model_version"],
        "energies": np.asarray(record["energies"]),
        "average": np.asarray(record["average"]),
        "formula": record.get("formula", ""),
        "average_std": array(record.get("average_std")),
        "interval_95": record.get("interval_95"),
    }
    return fields, sites


def write_feature_predictions(
    path: Path,
    *,
    element: str,
    fidelity: str,
    model: str,
    model_version: str,
    energies,
    interval_95: float | None,
    estimate,
) -> None:
    """The ``xasflow predict --features --out FILE.json``: mean, calibrated std and domain flags of feature rows.

    ``estimate`` has ``mean``, ``std`` (n, 141), ``ood_score`` and ``in_domain`` (n,).
    """
    out = {
        "element": element,
        "fidelity": fidelity,
        "model": model,
        "model_version": model_version,
        "units": UNITS,
        "energies": [round(float(e), 6) for e in energies],
        "interval_95": interval_95,
        "spectra": estimate.mean.tolist(),
        "std": estimate.std.tolist(),
        "ood_score": [round(float(v), 4) for v in estimate.ood_score],
        "in_domain": [bool(v) for v in estimate.in_domain],
    }
    with atomic_open(path) as handle:
        json.dump(out, handle)
        handle.write("\n")


def check_output_path(path: Path) -> None:
    """Refuse an output suffix we cannot write before any work is done."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise XasflowError(f"{path}: output must end in .csv or .json")


def write_predictions(path: Path, predictions: Sequence[dict[str, Any]], errors: Sequence[dict[str, str]]) -> None:
    """Write ``.json`` or ``.csv`` (by the suffix), atomically. CSV has no place for errors."""
    check_output_path(path)
    if path.suffix.lower() == ".json":
        write_json(path, predictions, errors)
    else:
        write_csv(path, predictions)


def read_predictions(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Records and errors from a file written by :func:`write_predictions` (CSV: no errors)."""
    check_output_path(path)
    if path.suffix.lower() == ".json":
        return read_json(path)
    return read_csv(path), []


def write_json(path: Path, predictions: Sequence[dict[str, Any]], errors: Sequence[dict[str, str]]) -> None:
    """``{"predictions": [...], "errors": [{"source", "message"}]}``."""
    with atomic_open(path) as handle:
        json.dump({"predictions": list(predictions), "errors": list(errors)}, handle)
        handle.write("\n")


def read_json(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Inverse of :func:`write_json`; ``InputError`` for a file that is not a predictions file."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"cannot read predictions ({exc})") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("predictions"), list):
        raise InputError(path, "not an xasflow predictions file (no 'predictions' list)")
    return payload["predictions"], list(payload.get("errors", []))


def _is_curve(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == N_POINTS


def _scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _scalar_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _extra_columns(predictions: Sequence[dict[str, Any]]) -> list[str]:
    """Names of the extra scalar fields of sites and records, in order of first appearance."""
    names: dict[str, None] = {}
    for record in predictions:
        for site in record["sites"]:
            names.update((k, None) for k, v in site.items() if k not in _SITE_FIXED and not _is_curve(v))
        names.update((k, None) for k, v in record.items() if k not in _RECORD_FIXED and not _is_curve(v))
    return [*FLAGS, *(n for n in names if n not in {*FLAGS, *_FIXED, "e_start"})]


def _flags(record: dict[str, Any]) -> dict[str, Any]:
    """Domain flags of the average rows: the record's own, else aggregated over its sites."""
    scores = [s["ood_score"] for s in record["sites"] if s.get("ood_score") is not None]
    flags = {"ood_score": max(scores), "in_domain": all(s.get("in_domain") for s in record["sites"])} if scores else {}
    return {**flags, **{k: record[k] for k in FLAGS if k in record}}


def write_csv(path: Path, predictions: Sequence[dict[str, Any]]) -> None:
    """The CSV layout of the module docstring."""
    extras = _extra_columns(predictions)
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*HEAD, *_FIXED, *extras, "e_start", *(f"p{k}" for k in range(N_POINTS))])
        for record in predictions:
            head = [record.get(k, "") for k in HEAD]
            e_start = record["energies"][0]
            for site in record["sites"]:
                scalars = [_scalar_text(site.get(name)) for name in extras]
                fixed = [site["index"], site["multiplicity"], site["weight"]]
                writer.writerow([*head, *fixed, _MEAN, *scalars, e_start, *site["spectrum"]])
                for quantity, value in site.items():
                    if quantity not in _SITE_FIXED and _is_curve(value):
                        writer.writerow([*head, *fixed, quantity, *scalars, e_start, *value])
            total = sum(site["weight"] for site in record["sites"])
            total = int(total) if float(total).is_integer() else total
            values = {**record, **_flags(record)}
            scalars = [_scalar_text(values.get(name)) for name in extras]
            curves = {_MEAN: record["average"]}
            curves.update(
                (k.removeprefix("average_"), v) for k, v in record.items() if k.startswith("average_") and _is_curve(v)
            )
            for quantity, curve in curves.items():
                writer.writerow([*head, _AVERAGE, total, total, quantity, *scalars, e_start, *curve])


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Records from a CSV written by :func:`write_csv` (errors are not in the CSV)."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read predictions ({exc})") from exc
    n_fixed = len(HEAD) + len(_FIXED)
    if not rows or rows[0][:n_fixed] != [*HEAD, *_FIXED] or "e_start" not in rows[0] or "p0" not in rows[0]:
        raise InputError(path, "not an xasflow predictions CSV (unexpected header)")
    header = rows[0]
    first_value = header.index("p0")
    extras = header[n_fixed : first_value - 1]
    records: list[dict[str, Any]] = []
    record: dict[str, Any] = {}
    in_average = False
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(path, f"line {number}: {len(row)} columns, expected {len(header)}")
        head = dict(zip(HEAD, row[: len(HEAD)], strict=True))
        site, multiplicity, weight, kind = row[len(HEAD) : n_fixed]
        e_start = row[first_value - 1]
        try:
            values = [float(v) for v in row[first_value:]]
        except ValueError as exc:
            raise InputError(path, f"line {number}: non-numeric spectrum value") from exc
        scalars = {n: _scalar_value(v) for n, v in zip(extras, row[n_fixed : first_value - 1], strict=True) if v}
        # A record ends with its average rows: a site row after them, or another head, starts the next.
        if not records or any(record[k] != v for k, v in head.items()) or (in_average and site != _AVERAGE):
            start = float(e_start)
            record = {**head, "energies": [round(start + E_STEP * k, 6) for k in range(N_POINTS)], "sites": []}
            records.append(record)
            in_average = False
        if site == _AVERAGE:
            record["average" if kind == _MEAN else f"average_{kind}"] = values
            record.update(scalars)
            in_average = True
        elif kind == _MEAN:
            entry = {"index": int(site), "multiplicity": int(multiplicity), "weight": float(weight), "spectrum": values}
            record["sites"].append({**entry, **scalars})
        elif record["sites"]:
            record["sites"][-1][kind] = values
        else:
            raise InputError(path, f"line {number}: a {kind!r} row before its site's mean row")
    for record in records:  # aggregated domain flags of the average rows are not the record's own
        if all(record.get(k) == v for k, v in _flags({"sites": record["sites"]}).items()):
            for name in FLAGS:
                record.pop(name, None)
    return records
