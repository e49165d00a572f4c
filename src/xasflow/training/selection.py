"""Choosing the recipe of every set from cached cross-validation results, and recording the choice.

A *cell* is one (set, mode, candidate, feature) with its η on each (fold, seed) run. Cells of a set are
compared on the *grid* of (fold, seed) runs on which the published recipe has every mode that was run,
so every comparison is paired and the published recipe is always in it. The choice is the cell with the
highest mean η on the grid. Because that mean is optimistic for the winner, the report also gives a *leave-one-fold-out*
estimate: for each fold, the cell is chosen on the other folds only and scored on that fold.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xasflow.fileio import atomic_path
from xasflow.kinds import ZOO_NAMES as KIND_ZOO_NAMES
from xasflow.kinds import ModelKind
from xasflow.portable import portable_command
from xasflow.training.candidates import PUBLISHED, get_candidate

#: Features a shipped structure model may use: one pass of the packaged M3GNet (prediction time ≈ today's).
SHIPPABLE_FEATURES = ("m3gnet", "m3gnet-blocks", "m3gnet-env")
#: Name of a mode's model in the zoo (``tuned`` of a VASP set is the cross-fidelity model).
ZOO_NAMES = {name: name for name in KIND_ZOO_NAMES}
FORMAT = "xasflow-selection"

Run = tuple[int, int]  # (fold, seed)


@dataclass(frozen=True)
class Cell:
    """η of one (set, mode, candidate, feature) on each of its runs."""

    set_key: str
    mode: str
    candidate: str
    feature: str
    eta: dict[Run, float] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        feature = "" if self.feature == "m3gnet" else f" [{self.feature}]"
        return f"{self.mode} {self.candidate}{feature}"

    def on(self, grid: Iterable[Run]) -> np.ndarray:
        return np.array([self.eta[r] for r in grid])

    def covers(self, grid: Iterable[Run]) -> bool:
        return all(r in self.eta for r in grid)


def cells(results: Iterable[dict[str, Any]], n_folds: int | None = None) -> dict[str, list[Cell]]:
    """Group cached run results into cells, per set (``n_folds``: keep runs of that fold count only)."""
    grouped: dict[tuple[str, str, str, str], dict[Run, float]] = defaultdict(dict)
    for r in results:
        if n_folds is not None and r.get("n_folds") != n_folds:
            continue
        grouped[(r["set_key"], r["mode"], r["candidate"], r["feature"])][(r["fold"], r["seed"])] = float(r["eta"])
    out: dict[str, list[Cell]] = defaultdict(list)
    for (key, mode, candidate, feature), eta in sorted(grouped.items()):
        out[key].append(Cell(key, mode, candidate, feature, eta))
    return dict(out)


def grid_of(set_cells: Sequence[Cell]) -> list[Run]:
    """The comparison grid of a set: the runs on which the published recipe has every mode that was run.

    Empty when the published recipe's expert was not run (no comparison possible).
    """
    published = [c for c in set_cells if c.candidate == PUBLISHED and c.feature == "m3gnet"]
    if not any(c.mode == ModelKind.EXPERT for c in published):
        return []
    runs = set.intersection(*(set(c.eta) for c in published))
    return sorted(runs)


def _eligible(set_cells: Sequence[Cell], grid: Sequence[Run], shippable: bool) -> list[Cell]:
    return [
        c
        for c in set_cells
        if c.covers(grid) and (not shippable or c.feature in SHIPPABLE_FEATURES) and c.mode in ZOO_NAMES
    ]


def best_cell(set_cells: Sequence[Cell], grid: Sequence[Run], shippable: bool = True) -> Cell:
    """The eligible cell with the highest mean η on ``grid`` (ties: the published recipe, then by label)."""
    pool = _eligible(set_cells, grid, shippable)
    return max(pool, key=lambda c: (round(float(c.on(grid).mean()), 9), c.candidate == PUBLISHED, c.label))


def leave_fold_out(set_cells: Sequence[Cell], grid: Sequence[Run], shippable: bool = True) -> dict[int, tuple]:
    """Per fold: the cell chosen on the other folds and its mean η on this fold (an honest estimate)."""
    out: dict[int, tuple[Cell, float]] = {}
    set_cells = [c for c in set_cells if c.covers(grid)]
    folds = sorted({f for f, _ in grid})
    for fold in folds:
        inner = [r for r in grid if r[0] != fold]
        outer = [r for r in grid if r[0] == fold]
        if not inner:
            continue
        chosen = best_cell(set_cells, inner, shippable)
        out[fold] = (chosen, float(chosen.on(outer).mean()))
    return out


def paired(a: Cell, b: Cell, grid: Sequence[Run]) -> tuple[float, float, int]:
    """Mean and sd of η_a − η_b over the common runs of ``grid``, and how many runs a wins."""
    common = [r for r in grid if r in a.eta and r in b.eta]
    if not common:
        return float("nan"), float("nan"), 0
    diff = a.on(common) - b.on(common)
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else float("nan")
    return float(diff.mean()), sd, int((diff > 0).sum())


def best_of(set_cells: Sequence[Cell], grid: Sequence[Run], mode: str, candidate: str | None = None) -> Cell | None:
    """Best covering cell of one mode (optionally one training candidate) on the published features."""
    pool = [
        c
        for c in set_cells
        if c.mode == mode and c.feature == "m3gnet" and c.covers(grid)
        and (candidate is None or c.candidate.partition("|")[0] == candidate)
    ]  # fmt: skip
    return max(pool, key=lambda c: float(c.on(grid).mean())) if pool else None


def selection_record(set_cells: Sequence[Cell]) -> dict[str, Any] | None:
    """The chosen recipe of one set as data (mode, candidate, feature, full recipe, CV figures)."""
    grid = grid_of(set_cells)
    if not grid:
        return None
    chosen = best_cell(set_cells, grid)
    honest = leave_fold_out(set_cells, grid)
    published = max(
        (
            c
            for c in set_cells
            if c.candidate.partition("|")[0] == PUBLISHED and c.feature == "m3gnet" and c.covers(grid)
        ),
        key=lambda c: float(c.on(grid).mean()),
    )
    values = chosen.on(grid)
    return {
        "mode": chosen.mode,
        "zoo_name": ZOO_NAMES[chosen.mode],
        "candidate": chosen.candidate,
        "feature": chosen.feature,
        "recipe": get_candidate(chosen.candidate).as_dict(),
        "cv": {
            "runs": [list(r) for r in grid],
            "eta_mean": round(float(values.mean()), 4),
            "eta_sd": round(float(values.std(ddof=1)), 4) if len(values) > 1 else None,
            "leave_fold_out_eta_mean": round(float(np.mean([v for _, v in honest.values()])), 4) if honest else None,
            "leave_fold_out_choices": {str(f): c.label for f, (c, _) in honest.items()},
            "published_best": published.label,
            "published_eta_mean": round(float(published.on(grid).mean()), 4),
        },
    }


def write_selection(selection: dict[str, Any], path: Path) -> Path:
    """Write the per-set selection (JSON, atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(selection, indent=2, sort_keys=True) + "\n")
    return path


def read_selection(path: Path) -> dict[str, Any]:
    """A selection written by :func:`write_selection` (checks the format)."""
    from xasflow.errors import XasflowError

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise XasflowError(f"{path}: cannot read selection ({exc})") from exc
    if data.get("format") != FORMAT or not isinstance(data.get("sets"), dict):
        raise XasflowError(f"{path}: not an xasflow selection file")
    return data


def write_report(
    cache_dir: Path,
    out: Path | None = None,
    selected: Path | None = None,
    n_folds: int = 5,
    command: str = "",
) -> str:
    """Markdown tables of the cached CV results; optionally write them and the selection file."""
    from xasflow.training.cv import read_results
    from xasflow.training.selection_report import render

    results = read_results(cache_dir)
    by_set = cells(results, n_folds)
    selection = {
        "format": FORMAT,
        "n_folds": n_folds,
        "command": portable_command(command),
        "sets": {k: rec for k, c in sorted(by_set.items()) if (rec := selection_record(c)) is not None},
    }
    seconds: dict[str, float] = defaultdict(float)
    fits: set[tuple] = set()
    for r in results:
        fit = (r["mode"], r["candidate"], r["fold"], r["seed"]) if r["mode"] == ModelKind.UNIVERSAL else id(r)
        if fit not in fits:  # one universal fit is recorded once per FEFF set
            fits.add(fit)
            seconds[r["mode"]] += float(r.get("seconds", 0.0))
    text = render(by_set, selection, command=command, seconds=dict(seconds))
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(Path(out), suffix=".md") as tmp:
            Path(tmp).write_text(text)
    if selected is not None:
        write_selection(selection, selected)
    return text
