"""Charts of the paper report: η per set and model, spectra at the deciles of the error (PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xasflow.plots import pyplot, save

if TYPE_CHECKING:
    from xasflow.evaluation.metrics import DecileSpectra
    from xasflow.reports.report import ResultRow


def plot_eta(rows: Sequence[ResultRow], path: Path) -> None:
    """Grouped bars: η per set and model, one panel per recipe."""
    plt = pyplot()

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
    save(fig, path, dpi=110, fmt="png")


def plot_deciles(deciles: DecileSpectra, energies: np.ndarray, title: str, path: Path) -> None:
    """Target vs prediction at each decile of per-spectrum MSE."""
    plt = pyplot()

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
    save(fig, path, dpi=100, fmt="png")
