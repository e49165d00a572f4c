"""Uncertainty report of a model zoo: coverage of calibrated intervals, reliability diagrams, domain flags.

Usage (writes results/uncertainty/):

    python scripts/uncertainty_report.py --data-dir ../shared/data/omnixas --dataset Cu_FEFF_m3gnet.npz \
        [--reserved ../shared/data/reserved] [--zoo-dir DIR] [--out results/uncertainty]

For every set and shipped model: the evaluation rows (never seen by any member) are split by material into
two halves; the calibration is fitted on one half and scored on the other, and vice versa (as the zoo build
did). The reliability diagram pools both scored halves: observed coverage of ``± Φ⁻¹((1+p)/2) · std``
against the nominal level p, and the two calibrated intervals (68 % at 1 std, 95 % at ``z95`` std).
The out-of-domain part scores constructed foreign environments with the Cu model.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from xasflow.data.dataset import XASDataset
from xasflow.data.splits import grouped_split
from xasflow.io.omnixas import material_ids
from xasflow.models.calibration import coverage, fit_calibration, reliability_curve
from xasflow.training.data import load_sets
from xasflow.training.full_data import check_full_dataset
from xasflow.zoo.registry import load_model as load_zoo_model
from xasflow.zoo.registry import read_index, zoo_dir


def cross_fitted(model, data, seed: int = 0):
    """Pooled residuals and calibrated stds of the eval rows, each half calibrated on the other half."""
    X, y = data.eval.X, data.eval.y
    elements = data.element if model.conditioning else None
    members = model.predict_members(X, elements)
    mean, spread = members.mean(0), members.std(0, ddof=1)
    residual = y - mean
    groups = material_ids(data.eval.ids)
    halves = grouped_split(groups, {"a": 0.5, "b": 0.5}, seed)
    std = np.empty_like(residual)
    z95 = np.empty(len(residual))
    for fit_half, test_half in (("a", "b"), ("b", "a")):
        cal = fit_calibration(residual[halves == fit_half], spread[halves == fit_half])
        std[halves == test_half] = cal.std(spread[halves == test_half])
        z95[halves == test_half] = cal.z95
    raw = coverage(residual, spread, 2.0)
    return residual, std, z95, raw


def foreign_environments():
    from pymatgen.core import Lattice, Structure

    def box(species, coords, a=12.0):
        return Structure(Lattice.cubic(a), species, coords, coords_are_cartesian=True)

    return {
        "Cu-O dimer in a 12 Å box": box(["Cu", "O"], [[0, 0, 0], [1.85, 0, 0]]),
        "lone Cu atom in a 12 Å box": box(["Cu"], [[0, 0, 0]]),
        "Cu-H dimer in a 12 Å box": box(["Cu", "H"], [[0, 0, 0], [1.5, 0, 0]]),
        "Cu in solid xenon (fcc, a = 6.2 Å)": Structure(
            Lattice.cubic(6.2), ["Cu", "Xe", "Xe", "Xe"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
        ),
        "Cu metal compressed to 70 % of its lattice": Structure(
            Lattice.cubic(3.615 * 0.7), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, action="append", default=[], help="complete set (Cu FEFF)")
    parser.add_argument("--zoo-dir", type=Path, default=None)
    parser.add_argument("--reserved", type=Path, default=None, help="the zoo build's --reserved (same carving)")
    parser.add_argument("--out", type=Path, default=Path("results/uncertainty"))
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import xasflow

    index = read_index(args.zoo_dir)
    full = {}
    for path in args.dataset:
        dataset = check_full_dataset(XASDataset.load(path), path)
        full[dataset.name] = dataset
    reserved = None
    if args.reserved is not None:
        from xasflow.constants import ELEMENTS
        from xasflow.data.reserved import reserved_materials

        reserved = {e: reserved_materials(args.reserved, e) for e in ELEMENTS}
    from xasflow.zoo.build import feature_variants, zoo_selection

    variants = feature_variants(zoo_selection(index))
    catalog = load_sets(args.data_dir, seed=0, full=full, reserved=reserved, variants=variants)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    keys = sorted(index["sets"])
    fig, axes = plt.subplots(2, (len(keys) + 1) // 2, figsize=(3.2 * ((len(keys) + 1) // 2), 6.4), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        entry = index["sets"][key]
        element, fidelity = key.split("_")
        for name in entry["models"]:
            model = load_zoo_model(element, fidelity, name, root=args.zoo_dir)
            data = catalog.for_feature(key, model.featurizer_spec.name)
            residual, std, z95, raw = cross_fitted(model, data)
            levels, observed = reliability_curve(residual, std)
            c68 = coverage(residual, std)
            c95 = float(np.mean(np.abs(residual) <= z95[:, None] * std))
            card = model.card_source_
            rows.append(
                {
                    "set": key,
                    "model": name,
                    "default": name == entry["default"],
                    "eval_rows": len(residual),
                    "raw_2std_coverage": round(raw, 4),
                    "coverage_68": round(c68, 4),
                    "coverage_95": round(c95, 4),
                    "z95": round(card.calibration[element].z95, 3),
                    "ood_flagged_heldout": card.domain[element].heldout_flagged,
                }
            )
            ax.plot(levels, observed, label=f"{name} ({c68:.0%}/{c95:.0%})")
            if name == entry["default"]:
                ax.plot([0.6827, 0.9545], [c68, c95], "ko", ms=4)
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_title(key.replace("_", " "), fontsize=9)
        ax.set_xlabel("nominal coverage", fontsize=8)
        ax.set_ylabel("observed (held out)", fontsize=8)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_visible(False)
    fig.suptitle("Reliability of Gaussian intervals with the calibrated std (dots: the calibrated 68 % / 95 %)")
    fig.tight_layout()
    fig.savefig(args.out / "reliability.png", dpi=110)
    plt.close(fig)

    from xasflow.inference.predictor import Predictor
    from xasflow.io.structures import read_structure

    predictor = Predictor(zoo_dir=args.zoo_dir)  # the report's zoo, not the packaged one
    foreign = []
    for label, structure in foreign_environments().items():
        result = predictor.predict_structure(structure, "Cu")
        foreign.append(
            {"structure": label, "ood_score": max(s.ood_score for s in result.sites), "in_domain": result.in_domain}
        )
    for cif in ("Cu_metal.cif", "Cu2O_cuprite.cif", "CuO_tenorite.cif"):
        path = Path(xasflow.__file__).parent / "examples" / "structures" / cif
        if path.exists():
            result = predictor.predict_structure(read_structure(path), "Cu")
            foreign.append(
                {
                    "structure": f"{cif} (ordinary crystal)",
                    "ood_score": max(s.ood_score for s in result.sites),
                    "in_domain": result.in_domain,
                }
            )

    command = "python scripts/uncertainty_report.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    (args.out / "uncertainty.json").write_text(
        json.dumps({"command": command, "sets": rows, "domain": foreign}, indent=2) + "\n"
    )
    lines = [
        "# Uncertainty of the shipped models",
        "",
        f"Generated by `{command}` (zoo: `{zoo_dir(args.zoo_dir)}`).",
        "",
        "Coverage of the calibrated intervals on held-out evaluation rows (material-grouped halves: calibrated on one,"
        " scored on the other). Target: 63–73 % (68 %) and 92–97 % (95 %). `raw ±2 std` is the uncalibrated member"
        " spread for comparison.",
        "",
        "| set | model | eval rows | raw ±2 std | 68 % interval | 95 % interval | z95 | in-domain rows flagged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = " (default)" if r["default"] else ""
        lines.append(
            f"| {r['set'].replace('_', ' ')} | {r['model']}{mark} | {r['eval_rows']} | {r['raw_2std_coverage']:.1%} | "
            f"{r['coverage_68']:.1%} | {r['coverage_95']:.1%} | {r['z95']:.2f} | {r['ood_flagged_heldout']:.1%} |"
        )
    lines += ["", "![reliability](reliability.png)", "", "## Out-of-domain flag (Cu default model)", ""]
    lines += ["| structure | ood_score | in_domain |", "|---|---|---|"]
    lines += [f"| {f['structure']} | {f['ood_score']:.2f} | {f['in_domain']} |" for f in foreign]
    (args.out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
