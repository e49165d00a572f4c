"""Overlay plots of a measurement and its best-matching or mixed predictions (PNG, written atomically)."""

from __future__ import annotations

from pathlib import Path

from xasflow.compare.match import MatchResult
from xasflow.compare.mix import MixtureResult
from xasflow.fileio import atomic_path


def _axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    return plt, fig, ax


def plot_match(result: MatchResult, path: str | Path, top: int = 3) -> None:
    """The measurement (flattened μ) and the ``top`` candidates, each aligned (±1σ band if known)."""
    plt, fig, ax = _axes()
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
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def plot_mixture(result: MixtureResult, source: str, path: str | Path) -> None:
    """The measurement, the fitted mixture and its weighted components."""
    plt, fig, ax = _axes()
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
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
