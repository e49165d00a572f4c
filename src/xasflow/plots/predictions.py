"""A figure of predictions: the site-averaged spectra on their absolute energy axes (PNG, PDF or SVG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xasflow.errors import XasflowError
from xasflow.plots import figure_format, pyplot, save


def plot_predictions(path: Path, predictions: Sequence[dict[str, Any]], max_lines: int = 12) -> None:
    """Site-averaged spectra on their absolute energy axes, one panel per element.

    The format follows the suffix of ``path`` (one of :data:`xasflow.plots.FIGURE_SUFFIXES`).
    """
    fmt = figure_format(path)
    plt = pyplot()

    by_element: dict[str, list[dict[str, Any]]] = {}
    for record in predictions:
        by_element.setdefault(record["element"], []).append(record)
    if not by_element:
        raise XasflowError(f"{path}: nothing to plot (no successful prediction)")
    n = len(by_element)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax, (element, records) in zip(axes.flat, by_element.items(), strict=False):
        for record in records[:max_lines]:
            outside = any(site.get("in_domain") is False for site in record["sites"])
            label = f"{Path(record['source']).stem} ({record['model']})" + (" out of domain" if outside else "")
            # Out-of-domain structures are drawn dashed: their spectra deserve less trust than the band says.
            (line,) = ax.plot(record["energies"], record["average"], "--" if outside else "-", label=label)
            if record.get("average_std") is not None:
                mean, std = np.asarray(record["average"]), np.asarray(record["average_std"])
                ax.fill_between(record["energies"], mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
        if len(records) > max_lines:
            ax.text(0.02, 0.02, f"+{len(records) - max_lines} more", transform=ax.transAxes, fontsize=8)
        ax.set_title(f"{element} K-edge ({records[0]['fidelity']}), shaded: calibrated ±1σ")
        ax.set_xlabel("Energy (eV)")
        ax.set_ylabel("μ (arb. units ×1000)")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    save(fig, path, dpi=120, fmt=fmt)
