"""Learning curve of the Fe/Mn models: η vs simulated sites per transfer method, material-grouped CV.

Usage::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/new_element_curve.py --campaign data/campaigns/fe_mn \\
        --data-dir ../shared/data/omnixas --reserved ../shared/data/reserved --cache /work/cache/nem/cache \\
        --out results/new_element_models --seeds 0 1 2

For each seed, the descriptor-coded universal pretrained on the published spectra (the cache of
``scripts/new_element_models.py``), then :func:`xasflow.training.new_element.method_curve` per element:
``tuned_desc``, ``head_desc`` and ``ensemble`` trained on ``n`` sites of the other folds, η on the held-out
materials against the training mean and against their own mean. Writes ``OUT/curve.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from xasflow.constants import ELEMENTS
from xasflow.data.published import published_rows
from xasflow.errors import XasflowError
from xasflow.fileio import atomic_open
from xasflow.training.config import transfer_recipe
from xasflow.training.new_element import CURVE_METHODS, campaign_rows, method_curve, pretrain_published


def _cell(values: list[float]) -> str:
    return f"{np.mean(values):.2f} [{min(values):.2f}–{max(values):.2f}]" if values else "—"


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharey=True)
    colors = {"tuned_desc": "C0", "head_desc": "C1", "ensemble": "C2"}
    for ax, (element, rows) in zip(axes, results["elements"].items(), strict=False):
        for method in CURVE_METHODS:
            for key, style, label in (("eta", "-o", "vs training mean"), ("eta_own_mean", "--s", "vs own mean")):
                pts = sorted(
                    (r["sites_used"], r[key]) for r in rows if r["method"] == method
                )  # one point per (seed, size)
                sizes = sorted({r["sites"] for r in rows if r["method"] == method})
                xs, mid, lo, hi = [], [], [], []
                for n in sizes:
                    vals = [r[key] for r in rows if r["method"] == method and r["sites"] == n]
                    used = [r["sites_used"] for r in rows if r["method"] == method and r["sites"] == n]
                    xs.append(np.mean(used))
                    mid.append(np.mean(vals))
                    lo.append(np.mean(vals) - min(vals))
                    hi.append(max(vals) - np.mean(vals))
                if pts:
                    ax.errorbar(
                        xs,
                        mid,
                        yerr=[lo, hi],
                        fmt=style,
                        color=colors[method],
                        capsize=3,
                        label=f"{method} {label}",
                        alpha=1.0 if key == "eta" else 0.6,
                    )
        history = results.get("history", {}).get(element, [])
        if history:  # each build's leave-one-material-out η at its total site count (history.json)
            ax.plot(
                [h["sites"] for h in history],
                [h["eta"] for h in history],
                "k*:",
                markersize=10,
                lw=0.8,
                label="each build: leave one material out, all sites",
            )
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.axhline(2.0, color="grey", lw=0.8, ls=":")
        ax.set_title(f"{element} K edge ({results['folds']}-fold, material-grouped)")
        ax.set_xlabel("simulated training sites")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("η (higher is better)")
    fig.legend(*axes[1].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8)
    stars = "; ★ each build's leave-one-material-out η" if results.get("history") else ""
    fig.suptitle(f"Fe/Mn transfer: η vs simulated sites (seeds: mean, bars min–max{stars})")
    fig.tight_layout(rect=(0, 0.12, 1, 1))  # room for the legend below the panels
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", type=Path, required=True)
    parser.add_argument("--elements", nargs="+", default=["Fe", "Mn"])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--reserved", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True, help="pretrained models (outside git)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[6, 12, 18, 24, 1000])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    settings = transfer_recipe(members=5)
    command = "python scripts/new_element_curve.py " + " ".join(sys.argv[1:] if argv is None else argv)
    published = {e: r for e in ELEMENTS if (r := published_rows(args.data_dir, e, args.reserved)) is not None}
    rows = {el: campaign_rows(args.campaign, el, args.reserved) for el in args.elements}
    results: dict = {"command": command, "folds": args.folds, "seeds": args.seeds, "elements": {}}
    for seed in args.seeds:
        base = pretrain_published(published, (), settings, seed, args.cache / f"universal_all_s{seed}")
        for element, (dataset, X, _) in rows.items():
            curve = method_curve(
                base, X, dataset.spectra, dataset.material_ids, element, settings, seed, tuple(args.sizes), args.folds
            )
            for r in curve:
                r["seed"] = seed
            results["elements"].setdefault(element, []).extend(curve)
            print(element, seed, json.dumps(curve), flush=True)
    history_file = args.out / "history.json"
    if history_file.exists():
        results["history"] = json.loads(history_file.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out / "curve.json") as fh:
        json.dump(results, fh, indent=1)
    _plot(results, args.out / "curve.png")
    lines = [
        "# Fe/Mn learning curve",
        "",
        f"Command: `{command}`",
        "",
        f"{args.folds}-fold material-grouped CV over the packaged campaign; each fold's test materials predicted by "
        "models trained on `n` sites of the other folds (drawn whole material by whole material). Cells: "
        "mean over seeds [min–max]; η against the training sites' mean / against the held-out sites' own mean.",
        "",
        "| element | method | sites | η vs training mean | η vs own mean |",
        "|---|---|---|---|---|",
    ]
    for element, curve in results["elements"].items():
        for method in CURVE_METHODS:
            for n in sorted({r["sites"] for r in curve}):
                sel = [r for r in curve if r["method"] == method and r["sites"] == n]
                used = np.mean([r["sites_used"] for r in sel])
                lines.append(
                    f"| {element} | {method} | {used:.0f} | {_cell([r['eta'] for r in sel])} | "
                    f"{_cell([r['eta_own_mean'] for r in sel])} |"
                )
    with atomic_open(args.out / "curve.md") as fh:
        fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except XasflowError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
