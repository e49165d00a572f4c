"""How the shipped Fe/Mn models do on structures from outside their campaign's pool.

The Fe and Mn campaigns simulate the shared structures, all of which contain Cu; users measure iron and
manganese minerals, oxides and salts. This script scores the shipped model of each element on the FEFF
spectra of other structures (by default the matching candidates, ``src/xasflow/examples/reference``,
simulated with ``xasflow simulate ... --cards screening-s5``), none of which the model was trained on:
per-site MSE, η against the model's stored baseline and against these sites' own mean, coverage of the
calibrated 68 % / 95 % intervals, and how many the domain score flags. Intervals are a bootstrap over
structures (a structure's sites move together).

Run (after the simulation; dev script)::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/reference_sites_check.py /work/cache/feff/oracle \
        --element Fe --element Mn --out results/new_element_models
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from xasflow.constants import energy_grid
from xasflow.data.dataset import XASDataset
from xasflow.data.feff_tree import build_feff_dataset
from xasflow.errors import XasflowError
from xasflow.features.dataset import featurize_dataset
from xasflow.features.registry import get_featurizer
from xasflow.fileio import atomic_open
from xasflow.zoo.registry import load_model

BOOTSTRAP = 2000
SEED = 0


def _eta(reference_mse: np.ndarray, model_mse: np.ndarray) -> float:
    return float(np.median(reference_mse) / np.median(model_mse))


def _interval(materials: np.ndarray, statistic, rng: np.random.Generator) -> tuple[float, float]:
    """95 % percentile bootstrap of ``statistic(rows)`` resampling whole structures."""
    names = np.unique(materials)
    groups = [np.flatnonzero(materials == name) for name in names]
    values = []
    for _ in range(BOOTSTRAP):
        rows = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        values.append(statistic(rows))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def site_rows(tree: Path, element: str) -> tuple[XASDataset, np.ndarray]:
    """Every finished ``element`` site of a ``simulate`` tree (no outlier filter) and its M3GNet features."""
    dataset, _ = build_feff_dataset(tree, element, drop_outliers=False)
    if len(dataset) == 0:
        raise XasflowError(f"{tree}: no finished {element} sites")
    features = featurize_dataset(dataset, tree / element, get_featurizer("m3gnet"), progress=False)
    if not features.complete:
        raise XasflowError(f"{tree}: features failed for {len(features.errors)} {element} sites")
    return dataset, features.matrix


def training_site_scores(campaign: Path, element: str, reserved: Path | None, X: np.ndarray) -> np.ndarray:
    """Distance of ``X`` to the campaign's training sites over the split-conformal threshold of the campaign's
    own leave-one-material-out distances (the candidate domain score of ``domain.md``; > 1: unlike them)."""
    from xasflow.models.domain import DomainReference, conformal_threshold
    from xasflow.training.new_element import campaign_rows

    dataset, train, _ = campaign_rows(campaign, element, reserved)
    materials = dataset.material_ids.astype(str)
    held_out = np.empty(len(train))
    for name in np.unique(materials):
        rows = materials == name
        held_out[rows] = DomainReference.from_training(train[~rows]).distance(train[rows])
    reference = DomainReference.from_training(train)
    return reference.distance(X) / conformal_threshold(held_out)


def check_element(
    tree: Path, element: str, zoo: Path | None, campaign: Path | None = None, reserved: Path | None = None
) -> dict:
    """Score the zoo's default ``element`` FEFF model on every finished site of ``tree``."""
    dataset, X = site_rows(tree, element)
    model = load_model(element, "FEFF", root=zoo)
    estimate = model.estimate(X, element)
    y = dataset.spectra
    baseline = np.asarray(model.provenance_.baseline_spectrum)
    residual = y - estimate.mean
    mse = np.mean(residual**2, axis=1)
    mse_base = np.mean((y - baseline) ** 2, axis=1)
    mse_own = np.mean((y - y.mean(axis=0)) ** 2, axis=1)
    materials = dataset.material_ids
    if len(np.unique(materials)) < 2:
        raise XasflowError(f"{tree}: {element} sites of one structure only; the own-mean baseline needs two")
    # Own mean left-one-structure-out, so a structure's own sites do not help predict themselves.
    loo_mean = np.empty_like(y)
    for name in np.unique(materials):
        rows = materials == name
        loo_mean[rows] = y[~rows].mean(axis=0)
    mse_own_loo = np.mean((y - loo_mean) ** 2, axis=1)
    if element not in model.calibration_:
        raise XasflowError(f"the {element} model has no calibration; its intervals cannot be checked")
    z95 = model.calibration_[element][0].z95
    rng = np.random.default_rng(SEED)
    from scipy.stats import spearmanr

    domain = {
        "shipped (published rows)": {
            "flagged": int(np.sum(~estimate.in_domain)),
            "spearman_with_mse": float(spearmanr(estimate.ood_score, mse).statistic),
        }
    }
    if campaign is not None:
        near = training_site_scores(campaign, element, reserved, X)
        domain["distance to the campaign's sites"] = {
            "flagged": int(np.sum(near > 1.0)),
            "spearman_with_mse": float(spearmanr(near, mse).statistic),
        }
    return {
        "element": element,
        "model": model.name,
        "sites": len(y),
        "structures": len(np.unique(materials)),
        "eta_vs_training_mean": _eta(mse_base, mse),
        "eta_vs_training_mean_ci95": _interval(materials, lambda r: _eta(mse_base[r], mse[r]), rng),
        "eta_vs_own_mean_leave_structure_out": _eta(mse_own_loo, mse),
        "eta_vs_own_mean_leave_structure_out_ci95": _interval(materials, lambda r: _eta(mse_own_loo[r], mse[r]), rng),
        "eta_vs_own_mean": _eta(mse_own, mse),
        "median_mse": float(np.median(mse)),
        "coverage_68": float(np.mean(np.abs(residual) <= estimate.std)),
        "coverage_95": float(np.mean(np.abs(residual) <= z95 * estimate.std)),
        "flagged_out_of_domain": int(np.sum(~estimate.in_domain)),
        "domain_scores": domain,
        "sites_worse_than_training_mean": int(np.sum(mse > mse_base)),
        "per_site": [
            {
                "site": sid,
                "mse": float(m),
                "mse_training_mean": float(b),
                "ood_score": float(s),
                "in_domain": bool(d),
            }
            for sid, m, b, s, d in zip(dataset.ids, mse, mse_base, estimate.ood_score, estimate.in_domain, strict=True)
        ],
        "_curves": (y, estimate.mean, estimate.std, z95, list(dataset.ids)),
    }


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y, mean, std, z95, ids = result.pop("_curves")
    element = result["element"]
    energy = energy_grid(element)
    n = len(ids)
    cols = 4
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), sharex=True, squeeze=False)
    for ax, i in zip(axes.flat, range(n), strict=False):
        ax.fill_between(energy, mean[i] - z95 * std[i], mean[i] + z95 * std[i], color="C0", alpha=0.2, lw=0)
        ax.plot(energy, y[i], color="k", lw=1.2, label="FEFF")
        ax.plot(energy, mean[i], color="C0", lw=1.2, label="model (95 % band)")
        site = result["per_site"][i]
        flag = "" if site["in_domain"] else ", out of domain"
        ax.set_title(f"{ids[i]}\nMSE {site['mse']:.3g}{flag}", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6, loc="lower right")
    fig.supxlabel("energy (eV)", fontsize=8)
    fig.suptitle(
        f"{element}: shipped model on {result['structures']} structures outside its training pool "
        f"(η vs its training mean {result['eta_vs_training_mean']:.2f})",
        fontsize=9,
    )
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def _markdown(results: dict, command: str) -> str:
    lines = [
        "# Shipped Fe/Mn models on structures outside their training pool",
        "",
        f"Command: `{command}`",
        "",
        "FEFF spectra (the campaign's card set) of structures in neither pool; the shipped model's predictions. "
        "η against the model's stored training mean and against these sites' own mean with each structure left "
        "out; 95 % bootstrap over structures. Coverage: share of spectrum points inside the calibrated 68 % / 95 % "
        "intervals.",
        "",
        "| element | model | sites (structures) | η vs training mean | η vs own mean (leave structure out) | "
        "median site MSE | coverage 68 / 95 % | worse than the training mean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results.values():
        lo, hi = r["eta_vs_training_mean_ci95"]
        olo, ohi = r["eta_vs_own_mean_leave_structure_out_ci95"]
        lines.append(
            f"| {r['element']} | {r['model']} | {r['sites']} ({r['structures']}) | "
            f"{r['eta_vs_training_mean']:.2f} [{lo:.2f}–{hi:.2f}] | "
            f"{r['eta_vs_own_mean_leave_structure_out']:.2f} [{olo:.2f}–{ohi:.2f}] | {r['median_mse']:.2e} | "
            f"{100 * r['coverage_68']:.0f} / {100 * r['coverage_95']:.0f} | {r['sites_worse_than_training_mean']} |"
        )
    lines += ["", "Out-of-domain scores (> 1 flags a site) and how they rank the site errors:", ""]
    lines += ["| element | score | flagged | Spearman with the site MSE |", "|---|---|---|---|"]
    for r in results.values():
        for name, d in r["domain_scores"].items():
            lines.append(f"| {r['element']} | {name} | {d['flagged']} of {r['sites']} | {d['spearman_with_mse']:.2f} |")
    lines += ["", "Per site (MSE, ×1000-unit spectra; model vs its training mean; ood score):", ""]
    for r in results.values():
        for site in r["per_site"]:
            lines.append(
                f"- {r['element']} `{site['site']}`: {site['mse']:.4f} vs {site['mse_training_mean']:.4f}; "
                f"ood {site['ood_score']:.2f}{'' if site['in_domain'] else ' (flagged)'}"
            )
    lines += ["", f"Plots: {', '.join(f'reference_sites_{e}.png' for e in results)}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path, help="`xasflow simulate` output of the structures")
    parser.add_argument("--element", action="append", required=True)
    parser.add_argument("--zoo", type=Path, default=None, help="zoo folder (default: the packaged one)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--campaign", type=Path, default=None, help="packaged campaign: adds the training-site score")
    parser.add_argument("--reserved", type=Path, default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for element in args.element:
        try:
            result = check_element(args.tree, element, args.zoo, args.campaign, args.reserved)
        except XasflowError as exc:
            print(f"error: {exc}")
            continue
        _plot(result, args.out / f"reference_sites_{element}.png")
        results[element] = result
        r = result
        print(
            f"{element}: {r['sites']} sites of {r['structures']} structures; η vs training mean "
            f"{r['eta_vs_training_mean']:.2f} [{r['eta_vs_training_mean_ci95'][0]:.2f}–"
            f"{r['eta_vs_training_mean_ci95'][1]:.2f}], vs their own mean (leave structure out) "
            f"{r['eta_vs_own_mean_leave_structure_out']:.2f} [{r['eta_vs_own_mean_leave_structure_out_ci95'][0]:.2f}–"
            f"{r['eta_vs_own_mean_leave_structure_out_ci95'][1]:.2f}]; median MSE {r['median_mse']:.2e}; "
            f"coverage {100 * r['coverage_68']:.0f} % / {100 * r['coverage_95']:.0f} %; "
            f"{r['flagged_out_of_domain']} flagged out of domain; "
            f"{r['sites_worse_than_training_mean']} worse than the training mean"
        )
        for name, d in r["domain_scores"].items():
            print(f"  domain score {name}: {d['flagged']} flagged, Spearman with site MSE {d['spearman_with_mse']:.2f}")
    with atomic_open(args.out / "reference_sites.json", "w") as handle:
        json.dump(results, handle, indent=1)
    command = "python scripts/reference_sites_check.py " + " ".join(sys.argv[1:] if argv is None else argv)
    with atomic_open(args.out / "reference_sites.md", "w") as handle:
        handle.write(_markdown(results, command))
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
