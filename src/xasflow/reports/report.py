"""Result rows of the paper experiment and their markdown / CSV / PNG renderings."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from xasflow.evaluation.metrics import DecileSpectra
from xasflow.fileio import atomic_open, atomic_path

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


def plot_eta(rows: Sequence[ResultRow], path: Path) -> None:
    """Grouped bars: η per set and model, one panel per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recipes = list(dict.fromkeys(r.recipe for r in rows))
    sets = list(dict.fromkeys(r.set for r in rows))
    modes = ["expert", "universal", "tuned"]
    fig, axes = plt.subplots(1, len(recipes), figsize=(6 * len(recipes), 4), squeeze=False, sharey=True)
    for ax, recipe in zip(axes[0], recipes, strict=True):
        for j, mode in enumerate(modes):
            values = [
                next((r.eta for r in rows if (r.recipe, r.set, r.mode) == (recipe, s, mode)), np.nan) for s in sets
            ]
            ax.bar(np.arange(len(sets)) + (j - 1) * 0.27, values, width=0.27, label=mode)
        ax.set_xticks(np.arange(len(sets)), [s.replace("_", "\n") for s in sets])
        ax.set_title(f"{recipe} recipe")
        ax.set_ylabel("η on evaluation subset (higher is better)")
        ax.legend(title="model (VASP: expert = VASP-only, tuned = transfer)", fontsize=7, title_fontsize=7)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_deciles(deciles: DecileSpectra, energies: np.ndarray, title: str, path: Path) -> None:
    """Target vs prediction at each decile of per-spectrum MSE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(deciles.rows)
    fig, axes = plt.subplots(2, (n + 1) // 2, figsize=(2.6 * ((n + 1) // 2), 4.6), sharex=True)
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        ax.plot(energies - energies[0], deciles.target[k], color="k", lw=1.2, label="target")
        ax.plot(energies - energies[0], deciles.prediction[k], color="tab:red", lw=1.0, label="model")
        ax.set_title(f"q={deciles.quantiles[k]:.2f}  MSE {deciles.mse[k]:.1e}", fontsize=7)
        ax.tick_params(labelsize=6)
    axes.flat[0].legend(fontsize=6)
    fig.suptitle(title + " (x: eV above the window start)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
