"""Writing predictions: JSON, CSV and a PNG of the site-averaged spectra, atomically."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xasflow.errors import XasflowError
from xasflow.fileio import atomic_open, atomic_path

OUTPUT_SUFFIXES = (".csv", ".json")


def check_output_path(path: Path) -> None:
    """Refuse an output suffix we cannot write before any work is done."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise XasflowError(f"{path}: output must end in .csv or .json")


def write_json(path: Path, predictions: Sequence[dict[str, Any]], errors: Sequence[dict[str, str]]) -> None:
    """``{"predictions": [...], "errors": [{"source", "message"}]}``."""
    with atomic_open(path) as handle:
        json.dump({"predictions": list(predictions), "errors": list(errors)}, handle)
        handle.write("\n")


def write_csv(path: Path, predictions: Sequence[dict[str, Any]]) -> None:
    """One row per site and one ``average`` row per prediction; energies (eV) as value columns.

    Elements have different energy axes, so the columns are the 141 point indices and each
    row carries its own ``e_start``; the absolute axis is ``e_start + 0.25 * point``.
    """
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["source", "formula", "element", "fidelity", "model", "model_version", "site", "multiplicity", "e_start"]
            + [f"p{k}" for k in range(141)]
        )
        for record in predictions:
            head = [record[k] for k in ("source", "formula", "element", "fidelity", "model", "model_version")]
            e_start = record["energies"][0]
            for site in record["sites"]:
                writer.writerow([*head, site["index"], site["multiplicity"], e_start, *site["spectrum"]])
            total = sum(site["multiplicity"] for site in record["sites"])
            writer.writerow([*head, "average", total, e_start, *record["average"]])


def write_predictions(path: Path, predictions: Sequence[dict[str, Any]], errors: Sequence[dict[str, str]]) -> None:
    """Dispatch on the suffix (``.json`` or ``.csv``)."""
    check_output_path(path)
    if path.suffix.lower() == ".json":
        write_json(path, predictions, errors)
    else:
        write_csv(path, predictions)


def plot_predictions(path: Path, predictions: Sequence[dict[str, Any]], max_lines: int = 12) -> None:
    """Site-averaged spectra on their absolute energy axes, one panel per element."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
            label = f"{Path(record['source']).stem} ({record['model']})"
            ax.plot(record["energies"], record["average"], label=label)
        if len(records) > max_lines:
            ax.text(0.02, 0.02, f"+{len(records) - max_lines} more", transform=ax.transAxes, fontsize=8)
        ax.set_title(f"{element} K-edge ({records[0]['fidelity']})")
        ax.set_xlabel("Energy (eV)")
        ax.set_ylabel("μ (arb. units ×1000)")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
