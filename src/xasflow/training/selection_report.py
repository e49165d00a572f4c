"""Markdown report of the cross-validated selection: per-set tables, summary against targets, representations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from xasflow.kinds import ModelKind
from xasflow.training.candidates import PUBLISHED
from xasflow.training.selection import Cell, best_cell, best_of, grid_of, leave_fold_out, paired

#: Published OmniXAS η (paper, test split, full data): expert / tuned (VASP: VASP-only / transfer).
PUBLISHED_PAPER: dict[str, tuple[float, float]] = {
    "Ti_FEFF": (6.35, 7.63),
    "V_FEFF": (7.30, 9.22),
    "Cr_FEFF": (8.54, 10.44),
    "Co_FEFF": (14.47, 19.83),
    "Ni_FEFF": (8.45, 11.21),
    "Cu_FEFF": (5.19, 4.81),
    "Ti_VASP": (4.75, 5.27),
    "Cu_VASP": (8.46, 9.21),
}


def _ms(values: np.ndarray) -> str:
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.2f} ± {sd:.2f}"


def _runs(grid: Sequence[tuple[int, int]]) -> str:
    folds = sorted({f for f, _ in grid})
    seeds = sorted({s for _, s in grid})
    return f"{len(folds)} folds × {len(seeds)} seed{'s' if len(seeds) > 1 else ''}"


EXPERT = ModelKind.EXPERT.value


def _set_table(key: str, set_cells: Sequence[Cell]) -> list[str]:
    grid = grid_of(set_cells)
    reference = next(c for c in set_cells if (c.mode, c.candidate, c.feature) == (EXPERT, PUBLISHED, "m3gnet"))
    lines = [
        f"### {key} ({_runs(grid)}; η mean ± sd over runs; Δ = paired difference to the published-recipe expert)",
        "",
        "| mode | candidate | features | η | Δ vs published expert | runs won |",
        "|---|---|---|---|---|---|",
    ]
    complete = [c for c in set_cells if c.covers(grid)]
    for cell in sorted(complete, key=lambda c: -float(c.on(grid).mean())):
        mean, sd, wins = paired(cell, reference, grid)
        lines.append(
            f"| {cell.mode} | {cell.candidate} | {cell.feature} | {_ms(cell.on(grid))} | "
            f"{mean:+.2f} ± {sd:.2f} | {wins}/{len(grid)} |"
        )
    partial = [c for c in set_cells if not c.covers(grid)]
    if partial:
        lines.append("")
        lines.append(
            "Not on the full grid (not eligible): "
            + "; ".join(f"{c.label} ({len(c.eta)} runs, η {np.mean(list(c.eta.values())):.2f})" for c in partial)
        )
    return [*lines, ""]


def _beyond(mean: float, sd: float) -> str:
    if np.isnan(mean):
        return "–"
    return "yes" if mean - sd > 0 else "no"


def _summary(by_set: Mapping[str, Sequence[Cell]]) -> list[str]:
    lines = [
        "| set | runs | published recipe (best mode) | chosen (mode, candidate, features) | chosen η | "
        "leave-fold-out η | ratio (LFO / published) | ≥ 1.2× | best tuned − best expert | beyond spread | "
        "paper expert / tuned |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, set_cells in sorted(by_set.items()):
        grid = grid_of(set_cells)
        if not grid:
            continue
        chosen = best_cell(set_cells, grid)
        honest = leave_fold_out(set_cells, grid)
        lfo = float(np.mean([v for _, v in honest.values()])) if honest else float("nan")
        published = [
            c
            for c in set_cells
            if c.candidate.partition("|")[0] == PUBLISHED and c.feature == "m3gnet" and c.covers(grid)
        ]
        pub = max(published, key=lambda c: float(c.on(grid).mean()))
        pub_eta = float(pub.on(grid).mean())
        tuned, expert = best_of(set_cells, grid, ModelKind.TUNED), best_of(set_cells, grid, ModelKind.EXPERT)
        if tuned is not None and expert is not None:
            mean, sd, wins = paired(tuned, expert, grid)
            gap, beyond = f"{mean:+.2f} ± {sd:.2f} ({wins}/{len(grid)})", _beyond(mean, sd)
        else:
            gap, beyond = "not run", "–"
        paper = PUBLISHED_PAPER.get(key)
        paper_text = f"{paper[0]:.2f} / {paper[1]:.2f}" if paper else "–"
        lines.append(
            f"| {key} | {_runs(grid)} | {pub.mode}: {_ms(pub.on(grid))} | {chosen.label} | {_ms(chosen.on(grid))} | "
            f"{lfo:.2f} | {lfo / pub_eta:.2f} | {'yes' if lfo >= 1.2 * pub_eta else 'no'} | {gap} | {beyond} | "
            f"{paper_text} |"
        )
    return lines


def _did_not_help(by_set: Mapping[str, Sequence[Cell]]) -> list[str]:
    """Each training candidate's expert η relative to the published-recipe expert, per set (paired means)."""
    names = sorted({c.candidate for cs in by_set.values() for c in cs if c.mode == ModelKind.EXPERT})
    keys = sorted(by_set)
    lines = [
        "| candidate (expert, published features) | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for name in names:
        row = []
        for key in keys:
            grid = grid_of(by_set[key])
            base = best_of(by_set[key], grid, ModelKind.EXPERT, PUBLISHED)
            cell = next(
                (c for c in by_set[key] if (c.mode, c.candidate, c.feature) == (ModelKind.EXPERT, name, "m3gnet")), None
            )
            if base is None or cell is None or not cell.covers(grid):
                row.append("–")
                continue
            mean, _, _ = paired(cell, base, grid)
            row.append(f"{mean / float(base.on(grid).mean()) * 100:+.0f} %")
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return lines


def _representations(set_cells: Sequence[Cell]) -> list[str]:
    grid = grid_of(set_cells)
    rows = [c for c in set_cells if c.mode == ModelKind.EXPERT and c.covers(grid)]
    features = sorted({c.feature for c in rows})
    if len(features) < 2:
        return ["(only the published features were cross-validated)"]
    candidates = sorted({c.candidate for c in rows})
    lines = ["| candidate | " + " | ".join(features) + " |", "|---|" + "---|" * len(features)]
    for name in candidates:
        cellmap = {c.feature: c for c in rows if c.candidate == name}
        lines.append(
            f"| {name} | " + " | ".join(_ms(cellmap[f].on(grid)) if f in cellmap else "–" for f in features) + " |"
        )
    return lines


def render(
    by_set: Mapping[str, Sequence[Cell]],
    selection: Mapping[str, Any],
    command: str = "",
    seconds: Mapping[str, float] | None = None,
) -> str:
    """The whole report (Markdown)."""
    lines = [
        "# Cross-validated selection",
        "",
        f"Generated by `{command}` from the cached runs (the CV commands are in `commands.sh` beside this file)."
        if command
        else "",
        "",
        "Material-grouped k-fold CV over all rows each set has (published val rows; Cu FEFF: the complete "
        "published train + val). A material's fold is a hash of its id, identical in every set, so the "
        "universal model of a fold never saw any set's held-out materials. Single networks (the shipped "
        "models are 5-member ensembles); each early-stops on its own grouped 10 % of the training folds; "
        "η baseline = mean spectrum of the training folds. *Leave-fold-out η*: for each fold the cell is "
        "chosen on the other folds only and scored on that fold — the honest estimate of the selection; "
        "'chosen η' (mean over the same runs the choice was made on) is optimistic.",
        "",
        "## Summary against the targets",
        "",
        *_summary(by_set),
        "",
        "Beyond spread: mean paired difference minus its sd over runs > 0.",
        "",
    ]
    if "Cu_FEFF" in by_set:
        lines += ["## Cu FEFF representations (expert)", "", *_representations(by_set["Cu_FEFF"]), ""]
    lines += [
        "## Candidates against the published recipe (expert η change, paired over the same runs, published features)",
        "",
        *_did_not_help(by_set),
        "",
        "## Per-set tables",
        "",
    ]
    for key, set_cells in sorted(by_set.items()):
        if grid_of(set_cells):
            lines += _set_table(key, set_cells)
    lines += ["## Chosen recipe per set", "", "| set | mode | candidate | features |", "|---|---|---|---|"]
    for key, rec in sorted(selection.get("sets", {}).items()):
        lines.append(f"| {key} | {rec['mode']} | {rec['candidate']} | {rec['feature']} |")
    if seconds:
        total = sum(seconds.values())
        parts = ", ".join(f"{mode} {s / 60:.0f} min" for mode, s in sorted(seconds.items()))
        lines += [
            "",
            f"Training wall-clock of all cached runs: {total / 60:.0f} min ({parts}; universal counted once per "
            "fit; one torch thread, 2-core machine shared with other jobs, so pessimistic).",
        ]
    return "\n".join(lines) + "\n"
