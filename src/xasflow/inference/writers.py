"""Writing predictions: JSON, CSV and a PNG of the site-averaged spectra, atomically."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

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


CSV_HEAD = ["source", "formula", "element", "fidelity", "model", "model_version"]
CSV_COLUMNS = [*CSV_HEAD, "site", "multiplicity", "weight", "quantity", "ood_score", "in_domain", "e_start"]


def write_csv(path: Path, predictions: Sequence[dict[str, Any]]) -> None:
    """Per site a ``mean`` row and a ``std`` row (calibrated ±1σ), then the structure's ``average`` rows.

    Elements have different energy axes, so the value columns are the 141 point indices ``p0..p140`` and
    each row carries its own ``e_start``; the absolute axis is ``e_start + 0.25 * point``. ``weight`` is the
    site's weight in the average; the average row's ``multiplicity`` and ``weight`` are the number of absorbing
    atoms it stands for. ``ood_score``/``in_domain`` are per site (the average row: the largest score, and
    whether every site is in domain).
    """
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS + [f"p{k}" for k in range(141)])
        for record in predictions:
            head = [record[k] for k in CSV_HEAD]
            e_start = record["energies"][0]
            for site in record["sites"]:
                flags = [site.get("ood_score", ""), site.get("in_domain", "")]
                common = [*head, site["index"], site["multiplicity"], site["weight"]]
                writer.writerow([*common, "mean", *flags, e_start, *site["spectrum"]])
                if "std" in site:
                    writer.writerow([*common, "std", *flags, e_start, *site["std"]])
            total = sum(site["weight"] for site in record["sites"])
            scores = [site["ood_score"] for site in record["sites"] if site.get("ood_score") is not None]
            flags = [max(scores), all(site["in_domain"] for site in record["sites"])] if scores else ["", ""]
            common = [*head, "average", total, total]
            writer.writerow([*common, "mean", *flags, e_start, *record["average"]])
            if record.get("average_std") is not None:
                writer.writerow([*common, "std", *flags, e_start, *record["average_std"]])


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
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
