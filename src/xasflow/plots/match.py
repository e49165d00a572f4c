"""Overlays of a measurement and its best-matching or mixed candidates (PNG, PDF or SVG, written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xasflow.errors import XasflowError
from xasflow.plots import figure_format, pyplot, save

if TYPE_CHECKING:
    from xasflow.compare.match import Ranking
    from xasflow.compare.mix import MixtureResult


def check_top(top: int) -> int:
    """``top`` if it is a usable number of overlaid candidates (>= 1), else ``XasflowError``."""
    if top < 1:
        raise XasflowError("--top must be >= 1")
    return top


def mixture_figure_path(path: str | Path) -> Path:
    """Where the mixture overlay of ``PLOT.png`` goes: ``PLOT_mixture.png``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_mixture{path.suffix}")


def _axes():
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    return fig, ax


def plot_match(result: Ranking, path: str | Path, top: int = 3) -> None:
    """The measurement (flattened μ) and the ``top`` candidates, each aligned (±1σ band if known)."""
    check_top(top)
    fmt = figure_format(path)
    fig, ax = _axes()
    measured = result.measured
    first = result.entries[0].alignment.measured_energies
    window = (measured.energy >= first[0] - 10) & (measured.energy <= first[-1] + 10)
    ax.plot(measured.energy[window], measured.flat[window], "k-", lw=2, label=f"measured: {Path(measured.source).name}")
    for entry in result.entries[:top]:
        a = entry.alignment
        label = (
            f"{entry.rank}. {entry.candidate.formula} ({result.metric} {entry.score:.3f}, "
            f"shift {a.shift:+.2f} eV, σ {a.sigma:.2f} eV)"
        )
        (line,) = ax.plot(a.measured_energies, a.model, lw=1.4, label=label)
        if a.model_std is not None:
            ax.fill_between(
                a.measured_energies, a.model - a.model_std, a.model + a.model_std, color=line.get_color(), alpha=0.2
            )
    ax.set_xlabel("energy (eV, measured scale)")
    ax.set_ylabel("normalised μ")
    ax.set_title(f"{result.element} K edge: best {top} of {len(result.entries)} candidates")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path, dpi=120, fmt=fmt)


def plot_mixture(result: MixtureResult, source: str, path: str | Path) -> None:
    """The measurement, the fitted mixture and its weighted components."""
    fmt = figure_format(path)
    fig, ax = _axes()
    energies = result.energies + result.shift
    ax.plot(energies, result.measured, "k-", lw=2, label=f"measured: {Path(source).name}")
    ax.plot(energies, result.model, "r--", lw=1.5, label=f"mixture (R = {result.r_factor:.4f})")
    from xasflow.compare.align import broaden

    for candidate, fraction, std in zip(result.candidates, result.fractions, result.fraction_std, strict=True):
        component = result.scale * fraction * broaden(candidate.spectrum, result.sigma)
        ax.plot(energies, component, lw=1, label=f"{candidate.formula}: {fraction:.3f} ± {std:.3f}")
    ax.set_xlabel("energy (eV, measured scale)")
    ax.set_ylabel("normalised μ")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path, dpi=120, fmt=fmt)
