"""Result rows of the paper experiment and their markdown / CSV / PNG renderings."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from xasflow.fileio import atomic_open

#: Published η on the published *test* splits (arXiv:2409.19552): expert / universal / tuned (VASP: expert / tuned).
PUBLISHED_ETA: dict[tuple[str, str], float] = {
    **{
        (f"{el}_FEFF", mode): value
        for el, values in {
            "Ti": (6.35, 4.19, 7.63),
            "V": (7.30, 5.19, 9.22),
            "Cr": (8.54, 7.13, 10.44),
            "Mn": (17.66, 13.15, 29.81),
            "Fe": (7.51, 6.04, 8.98),
            "Co": (14.47, 9.58, 19.83),
            "Ni": (8.45, 6.43, 11.21),
            "Cu": (5.19, 2.75, 4.81),
        }.items()
        for mode, value in zip(("expert", "universal", "tuned"), values, strict=True)
    },
    ("Ti_VASP", "expert"): 4.75,
    ("Ti_VASP", "tuned"): 5.27,
    ("Cu_VASP", "expert"): 8.46,
    ("Cu_VASP", "tuned"): 9.21,
}


@dataclass(frozen=True)
class ResultRow:
    """One model of one set under one recipe, scored on the set's evaluation subset."""

    recipe: str
    set: str
    mode: str
    eta: float
    mse: float
    median_mse: float
    n_eval: int
    eta_stop: float
    improvement_vs_expert_pct: float
    win_spectra_vs_expert: float
    win_points_vs_expert: float
    eta_diff_vs_expert_lo: float
    eta_diff_vs_expert_hi: float
    train_seconds: float
    published_test_eta: float | None


@dataclass(frozen=True)
class FeaturizerRow:
    """One featurizer on Cu FEFF with the expert MLP recipe."""

    recipe: str
    featurizer: str
    input_dim: int
    model_dim: int
    eta: float
    mse: float
    n_eval: int
    train_seconds: float


def mode_label(set_key: str, mode: str) -> str:
    """Human label: for VASP sets ``expert`` is VASP-only and ``tuned`` the cross-fidelity transfer."""
    if set_key.endswith("_VASP"):
        return {"expert": "VASP-only", "tuned": "transfer (FEFF→VASP)"}.get(mode, mode)
    return mode


def write_csv(rows: Sequence[object], path: Path) -> None:
    """Dataclass rows → CSV (atomically)."""
    if not rows:
        return
    names = [f.name for f in fields(rows[0])]
    with atomic_open(path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in asdict(row).items()})


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def markdown_table(rows: Sequence[ResultRow], recipe: str) -> str:
    """η table of one recipe: one line per set and mode."""
    lines = [
        "| set | model | η (eval) | η (early-stop subset) | MSE | Δη vs expert | 95 % interval of η − η_expert "
        "| wins vs expert (spectra / points) | n eval | train s | published η (test) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.recipe != recipe:
            continue
        delta = "–" if r.mode == "expert" else f"{r.improvement_vs_expert_pct:+.1f} %"
        wins = "–" if r.mode == "expert" else f"{r.win_spectra_vs_expert:.2f} / {r.win_points_vs_expert:.2f}"
        interval = "–" if r.mode == "expert" else f"[{r.eta_diff_vs_expert_lo:+.2f}, {r.eta_diff_vs_expert_hi:+.2f}]"
        lines.append(
            f"| {r.set.replace('_', ' ')} | {mode_label(r.set, r.mode)} | {_fmt(r.eta)} | {_fmt(r.eta_stop)} "
            f"| {r.mse:.2e} | {delta} | {interval} | {wins} | {r.n_eval} | {r.train_seconds:.0f} "
            f"| {_fmt(r.published_test_eta)} |"
        )
    return "\n".join(lines)
