"""Rankings and mixtures of ``xasflow match``, CSV and JSON: written and read back here only.

Works on the attributes of :class:`xasflow.compare.match.Ranking` and
:class:`xasflow.compare.mix.MixtureResult` (io never imports the packages above it).

JSON (:func:`ranking_record`, what a web API returns)
    ``{"element", "metric", "measured": {"source", "e0_eV", "edge_step"}, "alignment": {"offset_eV",
    "shift_bound_eV", "sigma_eV", "weighted"}, "ranking": [entry, ...], "mixture": mixture or null,
    "errors": [{"source", "message"}, ...]}``; an entry is ``{"rank", "source", "formula", "score",
    "shift_eV", "sigma_eV", "scale", "shift_at_bound", "spectrum", "similarities": {name: value}}``
    (``spectrum``: ``predicted`` or ``FEFF``; ``alignment.sigma_eV`` is null when fitted); a mixture
    is ``{"shift_eV", "shift_std_eV", "sigma_eV", "scale", "r_factor", "components": [{"source",
    "formula", "fraction", "fraction_std"}, ...]}``, largest fraction first.
CSV
    One row per candidate, best first: :data:`COLUMNS`, one column per similarity, then ``metric,
    measured, e0_eV, edge_step``. The mixture CSV (``OUT_mixture.csv``) has :data:`MIXTURE_COLUMNS`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from xasflow.errors import InputError, XasflowError
from xasflow.fileio import atomic_open

COLUMNS = ("rank", "source", "formula", "score", "shift_eV", "sigma_eV", "scale", "shift_at_bound", "spectrum")
_TAIL = ("metric", "measured", "e0_eV", "edge_step")
MIXTURE_COLUMNS = ("source", "formula", "fraction", "fraction_std", "shift_eV", "sigma_eV", "scale", "r_factor")
#: Suffixes a ranking (and a mixture) can be written as.
RANKING_SUFFIXES = (".csv", ".json")


def check_ranking_path(path: str | Path) -> Path:
    """``path`` if its suffix is one we write (:data:`RANKING_SUFFIXES`), else ``XasflowError``."""
    path = Path(path)
    if path.suffix.lower() not in RANKING_SUFFIXES:
        raise XasflowError(f"{path}: a ranking must end in {' or '.join(RANKING_SUFFIXES)}")
    return path


def mixture_path(path: str | Path) -> Path:
    """Where the mixture of a ranking CSV goes: ``OUT_mixture.csv`` beside ``OUT.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_mixture{path.suffix}")


# ---------------------------------------------------------------- records (JSON form)


def entry_record(entry) -> dict[str, Any]:
    """One ranked candidate as a JSON-ready dict."""
    return {
        "rank": int(entry.rank),
        "source": entry.candidate.source,
        "formula": entry.candidate.formula,
        "score": float(entry.score),
        "shift_eV": float(entry.alignment.shift),
        "sigma_eV": float(entry.alignment.sigma),
        "scale": float(entry.alignment.scale),
        "shift_at_bound": bool(entry.alignment.shift_at_bound),
        "spectrum": entry.candidate.origin,
        "similarities": {name: float(entry.metrics[name]) for name in sorted(entry.metrics)},
    }


def mixture_record(mixture) -> dict[str, Any]:
    """A mixture fit as a JSON-ready dict (components largest fraction first)."""
    return {
        "shift_eV": float(mixture.shift),
        "shift_std_eV": float(mixture.shift_std),
        "sigma_eV": float(mixture.sigma),
        "scale": float(mixture.scale),
        "r_factor": float(mixture.r_factor),
        "components": [
            {"source": source, "formula": formula, "fraction": fraction, "fraction_std": std}
            for source, formula, fraction, std in mixture.table()
        ],
    }


def ranking_record(ranking) -> dict[str, Any]:
    """The JSON form of a ranking (module docstring)."""
    measured, config, element = ranking.measured, ranking.config, ranking.element
    return {
        "element": element,
        "metric": ranking.metric,
        "measured": {
            "source": measured.source,
            "e0_eV": float(measured.e0),
            "edge_step": float(measured.edge_step),
        },
        "alignment": {
            "offset_eV": float(config.centre(element)),
            "shift_bound_eV": float(config.bound(element)),
            "sigma_eV": None if config.sigma is None else float(config.sigma),
            "weighted": bool(config.weighted),
        },
        "ranking": [entry_record(e) for e in ranking.entries],
        "mixture": None if ranking.mixture is None else mixture_record(ranking.mixture),
        "errors": [{"source": source, "message": message} for source, message in ranking.errors],
    }


def ranking_rows(ranking) -> list[dict[str, Any]]:
    """One flat dict per candidate with the CSV's columns (values unformatted), e.g. for a DataFrame."""
    rows = []
    for entry in ranking.entries:
        record = entry_record(entry)
        similarities = record.pop("similarities")
        rows.append(
            {
                **record,
                **similarities,
                "metric": ranking.metric,
                "measured": ranking.measured.source,
                "e0_eV": float(ranking.measured.e0),
                "edge_step": float(ranking.measured.edge_step),
            }
        )
    return rows


# ---------------------------------------------------------------- writers


def write_ranking(path: str | Path, ranking) -> None:
    """Write ``.csv`` (:func:`write_ranking_csv`) or ``.json`` (:func:`ranking_record`), atomically."""
    path = check_ranking_path(path)
    if path.suffix.lower() == ".json":
        _write_json(path, ranking_record(ranking))
    else:
        write_ranking_csv(path, ranking)


def write_ranking_csv(path: str | Path, ranking) -> None:
    """The ranking table: the fitted parameters and every similarity, one row per candidate."""
    names = sorted(ranking.entries[0].metrics)
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS, *names, *_TAIL])
        for e in ranking.entries:
            a = e.alignment
            writer.writerow(
                [
                    e.rank,
                    e.candidate.source,
                    e.candidate.formula,
                    f"{e.score:.6f}",
                    f"{a.shift:.4f}",
                    f"{a.sigma:.4f}",
                    f"{a.scale:.5f}",
                    int(a.shift_at_bound),
                    e.candidate.origin,
                    *(f"{e.metrics[n]:.6f}" for n in names),
                    ranking.metric,
                    ranking.measured.source,
                    f"{ranking.measured.e0:.3f}",
                    f"{ranking.measured.edge_step:.6g}",
                ]
            )


def write_mixture(path: str | Path, mixture) -> None:
    """Write ``.csv`` (one row per component, largest first) or ``.json`` (:func:`mixture_record`)."""
    path = check_ranking_path(path)
    if path.suffix.lower() == ".json":
        _write_json(path, mixture_record(mixture))
        return
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(MIXTURE_COLUMNS)
        for source, formula, fraction, std in mixture.table():
            writer.writerow(
                [
                    source,
                    formula,
                    f"{fraction:.6f}",
                    f"{std:.6f}",
                    f"{mixture.shift:.4f}",
                    f"{mixture.sigma:.4f}",
                    f"{mixture.scale:.5f}",
                    f"{mixture.r_factor:.6f}",
                ]
            )


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    with atomic_open(path) as handle:
        json.dump(payload, handle, indent=1)
        handle.write("\n")


# ---------------------------------------------------------------- readers


def read_ranking(path: str | Path) -> dict[str, Any]:
    """A ranking file back in the JSON form of :func:`ranking_record`.

    A CSV holds no element, alignment settings, mixture or errors: those come back ``None``
    (``errors`` empty); its mixture is read with :func:`read_mixture`.

    Raises
    ------
    InputError
        For a file that is not a ranking written here.
    """
    path = check_ranking_path(path)
    if path.suffix.lower() == ".json":
        payload = _read_json(path)
        if not isinstance(payload.get("ranking"), list):
            raise InputError(path, "not an xasflow ranking (no 'ranking' list)")
        return payload
    header, rows = _read_csv(path, COLUMNS)
    names = header[len(COLUMNS) : len(header) - len(_TAIL)]
    if tuple(header[len(header) - len(_TAIL) :]) != _TAIL:
        raise InputError(path, "not an xasflow ranking CSV (unexpected header)")
    entries, measured, metric = [], None, None
    for number, row in rows:
        values = dict(zip(header, row, strict=True))
        try:
            entries.append(
                {
                    "rank": int(values["rank"]),
                    "source": values["source"],
                    "formula": values["formula"],
                    **{k: float(values[k]) for k in ("score", "shift_eV", "sigma_eV", "scale")},
                    "shift_at_bound": bool(int(values["shift_at_bound"])),
                    "spectrum": values["spectrum"],
                    "similarities": {n: float(values[n]) for n in names},
                }
            )
            measured = {
                "source": values["measured"],
                "e0_eV": float(values["e0_eV"]),
                "edge_step": float(values["edge_step"]),
            }
        except ValueError as exc:
            raise InputError(path, f"line {number}: {exc}") from exc
        metric = values["metric"]
    return {
        "element": None,
        "metric": metric,
        "measured": measured,
        "alignment": None,
        "ranking": entries,
        "mixture": None,
        "errors": [],
    }


def read_mixture(path: str | Path) -> dict[str, Any]:
    """A mixture file back in the form of :func:`mixture_record`; ``InputError`` if it is not one."""
    path = check_ranking_path(path)
    if path.suffix.lower() == ".json":
        payload = _read_json(path)
        if not isinstance(payload.get("components"), list):
            raise InputError(path, "not an xasflow mixture (no 'components' list)")
        return payload
    header, rows = _read_csv(path, MIXTURE_COLUMNS)
    if tuple(header) != MIXTURE_COLUMNS or not rows:
        raise InputError(path, "not an xasflow mixture CSV (unexpected header or no rows)")
    try:
        table = [(n, dict(zip(header, row, strict=True))) for n, row in rows]
        first = table[0][1]
        return {
            "shift_eV": float(first["shift_eV"]),
            "shift_std_eV": None,  # the CSV does not carry it
            "sigma_eV": float(first["sigma_eV"]),
            "scale": float(first["scale"]),
            "r_factor": float(first["r_factor"]),
            "components": [
                {
                    "source": v["source"],
                    "formula": v["formula"],
                    "fraction": float(v["fraction"]),
                    "fraction_std": float(v["fraction_std"]),
                }
                for _, v in table
            ],
        }
    except ValueError as exc:
        raise InputError(path, f"unreadable mixture value ({exc})") from exc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"cannot read ({exc})") from exc
    if not isinstance(payload, dict):
        raise InputError(path, "not an xasflow ranking or mixture (not a JSON object)")
    return payload


def _read_csv(path: Path, first: tuple[str, ...]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read ({exc})") from exc
    if not rows or tuple(rows[0][: len(first)]) != first:
        raise InputError(path, "not an xasflow ranking or mixture CSV (unexpected header)")
    header = rows[0]
    body = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(path, f"line {number}: {len(row)} columns, expected {len(header)}")
        body.append((number, row))
    return header, body
