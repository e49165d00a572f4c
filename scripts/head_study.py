"""Residual-head variants that use the element's unlabelled feature rows, or a different penalty: do they pay?

Usage::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/head_study.py --data-dir ../shared/data/omnixas \\
        --reserved ../shared/data/reserved --cache /work/cache/nem/cache \\
        --campaign ../main/data/campaigns/fe_mn --out results/new_element_models

The shipped Fe/Mn models are a frozen descriptor-coded universal ensemble plus a ridge residual head
(:func:`xasflow.models.residual_head.fit_head`), standardised by the few training rows, one GCV penalty shared
by the 141 outputs. The element's published feature rows (no spectra) are a population the head could use.
Variants, all on the same frozen base (hidden layer and mean of the cached universal), fixed before any result:

- ``a_control``: :func:`fit_head` reproduced (checked against :func:`xasflow.training.transfer.head_on_rows`);
- ``b_population_scale``: standardisation (features and design) by the element's unlabelled population;
- ``c_alpha_per_target``: ``RidgeCV(alpha_per_target=True)``, one GCV penalty per energy point;
- ``d_population_per_target``: b and c;
- ``e_pca32`` / ``e_pca64``: b, the design projected on the top 32 / 64 principal components of the
  population's standardised design (PCA on the unlabelled rows);
- ``w_wide_alphas``: a with the penalty grid widened to ``logspace(-2, 6, 17)`` (is ``1e4`` a binding edge?).

Evaluations:

1. **Analogue replay** (``--elements``, default V Cr Co Ni; published FEFF val rows, reserved materials left out):
   per seed, a held-out quarter of whole materials (``priority_study.heldout_mask``), ``k`` training sites
   (``--sizes``) drawn whole material by whole material from the rest (:func:`draw_materials`, seeded, nested in
   k), base ``universal_without_{El}_s{seed}`` (cache of ``scripts/new_element_models.py``, not retrained).
   Population = every row's features of the element (pool and held-out, no spectra).
2. **Fe and Mn** (``--campaign``): the campaign's simulated sites, material-grouped 5-fold CV as
   :func:`xasflow.training.new_element.method_curve` folds (salt ``new-element-curve-{seed}``), every training
   site of the other folds, base ``universal_all_s{seed}`` (pretrained on the other elements' published
   spectra; its conditioning is checked not to hold the element). Population = the element's published
   feature rows (reserved materials left out). Predictions pooled over folds.

η = median per-spectrum MSE of a baseline over that of the model; baselines: the training sites' mean and the
held-out sites' own mean. Both baselines are shared by every variant of a split, so a variant's η ratio to the
control (``gain``, reported in %) is the control's median MSE over the variant's, whatever the baseline.
Writes ``OUT/head_variants.{json,md}``. Deterministic given the seeds (a few minutes on one core, most of it
featurising the campaign sites).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from priority_study import heldout_mask, load_base, to_json

from xasflow.data.published import published_rows
from xasflow.errors import XasflowError
from xasflow.evaluation.metrics import eta
from xasflow.fileio import atomic_open
from xasflow.models.estimator import XASRegressor
from xasflow.models.residual_head import ALPHAS, EPS, fit_head
from xasflow.training.cv import fold_of
from xasflow.training.new_element import DEFAULT_ANALOGUES, campaign_rows, draw_materials
from xasflow.training.transfer import head_on_rows

WIDE_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 6, 17))


@dataclass(frozen=True)
class Variant:
    population: bool = False  # standardise by the unlabelled population instead of the training rows
    per_target: bool = False  # one GCV penalty per energy point
    pcs: int = 0  # project the design on the population's top principal components (0: no projection)
    alphas: tuple[float, ...] = ALPHAS


VARIANTS = {
    "a_control": Variant(),
    "b_population_scale": Variant(population=True),
    "c_alpha_per_target": Variant(per_target=True),
    "d_population_per_target": Variant(population=True, per_target=True),
    "e_pca32": Variant(population=True, pcs=32),
    "e_pca64": Variant(population=True, pcs=64),
    "w_wide_alphas": Variant(alphas=WIDE_ALPHAS),
}
CONTROL = "a_control"
BASELINES = {"eta": "training sites' mean", "eta_own_mean": "held-out sites' own mean"}


@dataclass
class Frozen:
    """The frozen base on one element's rows: features, hidden layer, members' mean; and the population's."""

    X: np.ndarray
    hidden: np.ndarray
    mean: np.ndarray
    pop_X: np.ndarray
    pop_hidden: np.ndarray


def frozen(base: XASRegressor, X: np.ndarray, pop_X: np.ndarray, element: str) -> Frozen:
    X, pop_X = np.asarray(X, np.float64), np.asarray(pop_X, np.float64)
    return Frozen(
        X=X,
        hidden=base.hidden_features(X, element),
        mean=base.predict_members(X, element).mean(0),
        pop_X=pop_X,
        pop_hidden=base.hidden_features(pop_X, element),
    )


def fit_variant(f: Frozen, train: np.ndarray, residual: np.ndarray, v: Variant):
    """Fit one head variant on the ``train`` rows; returns (correction function of row indices, penalties)."""
    from sklearn.linear_model import RidgeCV

    X, hidden = f.X[train], f.hidden[train]
    ref_X, ref_hidden = (f.pop_X, f.pop_hidden) if v.population else (X, hidden)
    x_mean, x_scale = ref_X.mean(0), ref_X.std(0) + EPS

    def raw(h, x):
        return np.hstack([h, (x - x_mean) / x_scale])

    ref_raw = raw(ref_hidden, ref_X)
    z_mean, z_scale = ref_raw.mean(0), ref_raw.std(0) + EPS
    components = None
    if v.pcs:
        _, _, vt = np.linalg.svd((ref_raw - z_mean) / z_scale, full_matrices=False)  # population design, centred
        components = vt[: v.pcs].T

    def design(rows):
        z = (raw(f.hidden[rows], f.X[rows]) - z_mean) / z_scale
        return z if components is None else z @ components

    ridge = RidgeCV(alphas=v.alphas, alpha_per_target=v.per_target).fit(design(train), residual)
    coef = np.asarray(ridge.coef_, np.float32).astype(np.float64)  # float32 as the library stores it
    intercept = np.asarray(ridge.intercept_, np.float64)
    return (lambda rows: design(rows) @ coef.T + intercept), np.atleast_1d(ridge.alpha_)


def predict_variants(f: Frozen, train: np.ndarray, y_train: np.ndarray, test: np.ndarray) -> dict[str, dict]:
    """Per variant its held-out prediction (the head's clipped mean, as the estimator applies it) and penalties."""
    residual = y_train - f.mean[train]
    out = {}
    for name, v in VARIANTS.items():
        correction, alphas = fit_variant(f, train, residual, v)
        out[name] = {"pred": np.maximum(f.mean[test] + correction(test), 0.0), "alphas": alphas}
    return out


def sanity(base: XASRegressor, f: Frozen, train: np.ndarray, y_train: np.ndarray, test: np.ndarray, element: str):
    """Max |difference| of the reproduced control against fit_head and head_on_rows (must be ~1e-6 or less)."""
    pred = predict_variants(f, train, y_train, test)[CONTROL]["pred"]
    state = fit_head(f.hidden[train], f.X[train], y_train - f.mean[train])
    lib = np.maximum(f.mean[test] + state.correction(f.hidden[test], f.X[test]), 0.0)
    model = head_on_rows(base, f.X[train], y_train, element)
    shipped = model.predict(f.X[test], elements=element)
    return {"vs_fit_head": float(np.abs(pred - lib).max()), "vs_head_on_rows": float(np.abs(pred - shipped).max())}


def _alpha_stats(alphas: list[np.ndarray], grid: tuple[float, ...]) -> dict[str, float]:
    a = np.concatenate(alphas)
    return {"alpha_median": float(np.median(a)), "alpha_at_max": float(np.mean(a >= max(grid) * (1 - 1e-9)))}


def replay(args: argparse.Namespace, checks: list[dict]) -> list[dict]:
    """Analogue replay: one record per (element, seed, k, variant)."""
    records = []
    for element in args.elements:
        rows = published_rows(args.data_dir, element, args.reserved)
        if rows is None:
            raise XasflowError(f"{args.data_dir}: {element} has no published spectra to replay")
        for seed in args.seeds:
            base = load_base(args.cache, element, seed)
            f = frozen(base, rows["X"], rows["X"], element)  # population: every row of the element, no spectra
            test = np.flatnonzero(heldout_mask(rows["materials"], seed))
            pool = np.setdiff1d(np.arange(len(rows["X"])), test)
            target = rows["y"][test]
            for k in args.sizes:
                train = pool[draw_materials(rows["materials"][pool], k, seed)]
                if not checks:
                    checks.append(
                        {
                            "where": f"{element} seed {seed} k {k}",
                            **sanity(base, f, train, rows["y"][train], test, element),
                        }
                    )
                for name, r in predict_variants(f, train, rows["y"][train], test).items():
                    records.append(
                        {
                            "eval": "replay",
                            "element": element,
                            "seed": seed,
                            "k": k,
                            "variant": name,
                            "sites": len(train),
                            "heldout": len(test),
                            "eta": eta(target, r["pred"], rows["y"][train].mean(0)),
                            "eta_own_mean": eta(target, r["pred"], target.mean(0)),
                            **_alpha_stats([r["alphas"]], VARIANTS[name].alphas),
                        }
                    )
            print(element, seed, "done", flush=True)
    return records


def campaign_cv(args: argparse.Namespace, checks: list[dict]) -> tuple[list[dict], dict]:
    """Fe/Mn: material-grouped CV over the campaign sites, pooled over folds; a record per (element, seed, variant)."""
    from xasflow.evaluation.metrics import per_spectrum_mse

    records, sizes = [], {}
    for element in args.campaign_elements:
        dataset, X, _ = campaign_rows(args.campaign, element, args.reserved)
        y, materials = np.asarray(dataset.spectra, np.float64), np.asarray(dataset.material_ids, str)
        population = published_rows(args.data_dir, element, args.reserved, spectra=False)
        if population is None:
            raise XasflowError(f"{args.data_dir}: no published {element} feature rows")
        sizes[element] = {
            "sites": len(y),
            "materials": len(np.unique(materials)),
            "population_rows": len(population["X"]),
        }
        for seed in args.seeds:
            path = args.cache / f"universal_all_s{seed}.json"
            base = XASRegressor.load(path)
            if element in base.conditioning:
                raise XasflowError(f"{path}: pretrained on {element}; the CV needs it left out")
            f = frozen(base, X, population["X"], element)
            fold = fold_of(materials, args.folds, salt=f"new-element-curve-{seed}")
            acc = {name: {"pred": [], "target": [], "base": [], "alphas": []} for name in VARIANTS}
            for k in range(args.folds):
                test, train = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
                if not len(test):
                    continue
                if len(checks) < 2:
                    checks.append(
                        {"where": f"{element} seed {seed} fold {k}", **sanity(base, f, train, y[train], test, element)}
                    )
                for name, r in predict_variants(f, train, y[train], test).items():
                    acc[name]["pred"].append(r["pred"])
                    acc[name]["target"].append(y[test])
                    acc[name]["base"].append(np.broadcast_to(y[train].mean(0), r["pred"].shape))
                    acc[name]["alphas"].append(r["alphas"])
            for name, slot in acc.items():
                target, pred = np.vstack(slot["target"]), np.vstack(slot["pred"])
                model_mse = np.median(per_spectrum_mse(target, pred))
                own = np.broadcast_to(target.mean(0), target.shape)
                records.append(
                    {
                        "eval": "campaign",
                        "element": element,
                        "seed": seed,
                        "k": "cv",
                        "variant": name,
                        "sites": len(y),
                        "heldout": len(target),
                        "eta": float(np.median(per_spectrum_mse(target, np.vstack(slot["base"]))) / model_mse),
                        "eta_own_mean": float(np.median(per_spectrum_mse(target, own)) / model_mse),
                        **_alpha_stats(slot["alphas"], VARIANTS[name].alphas),
                    }
                )
            print(element, seed, "done", flush=True)
    return records, sizes


def summarise(records: list[dict]) -> dict:
    """Per evaluation: η mean/min/max over seeds per (variant, element, k); paired gains against the control."""
    out = {}
    for ev in dict.fromkeys(r["eval"] for r in records):
        recs = [r for r in records if r["eval"] == ev]
        cells = list(dict.fromkeys((r["element"], r["k"]) for r in recs))
        by = {(r["variant"], r["element"], r["k"], r["seed"]): r for r in recs}
        seeds = sorted({r["seed"] for r in recs})
        table = {}
        for key in BASELINES:
            table[key] = {
                name: {f"{e}/{k}": [round(by[(name, e, k, s)][key], 4) for s in seeds] for e, k in cells}
                for name in VARIANTS
            }
        control_sd = [
            float(
                np.std([by[(CONTROL, e, k, s)]["eta_own_mean"] for s in seeds], ddof=1)
                / np.mean([by[(CONTROL, e, k, s)]["eta_own_mean"] for s in seeds])
            )
            for e, k in cells
        ]
        pairs = {}
        for name in VARIANTS:
            if name == CONTROL:
                continue
            gains = [
                by[(name, e, k, s)]["eta_own_mean"] / by[(CONTROL, e, k, s)]["eta_own_mean"] - 1
                for e, k in cells
                for s in seeds
            ]
            diffs = {
                key: [by[(name, e, k, s)][key] - by[(CONTROL, e, k, s)][key] for e, k in cells for s in seeds]
                for key in BASELINES
            }
            per_element = {}
            for e in dict.fromkeys(c[0] for c in cells):
                g = [
                    by[(name, e, k, s)]["eta_own_mean"] / by[(CONTROL, e, k, s)]["eta_own_mean"] - 1
                    for ee, k in cells
                    if ee == e
                    for s in seeds
                ]
                per_element[e] = {"gain_mean": float(np.mean(g)), "favour": int(sum(x > 0 for x in g)), "pairs": len(g)}
            pairs[name] = {
                "gain_mean": float(np.mean(gains)),
                "gain_min": float(np.min(gains)),
                "gain_max": float(np.max(gains)),
                "favour": int(sum(x > 0 for x in gains)),
                "ties": int(sum(x == 0 for x in gains)),
                "pairs": len(gains),
                **{f"{key}_difference_mean": float(np.mean(d)) for key, d in diffs.items()},
                "per_element": per_element,
            }
        alphas = {
            name: {
                "alpha_median": float(np.median([r["alpha_median"] for r in recs if r["variant"] == name])),
                "alpha_at_max": float(np.mean([r["alpha_at_max"] for r in recs if r["variant"] == name])),
            }
            for name in VARIANTS
        }
        out[ev] = {
            "cells": [f"{e}/{k}" for e, k in cells],
            "seeds": seeds,
            "table": table,
            "pairs": pairs,
            "control_seed_cv_median": float(np.median(control_sd)),
            "alphas": alphas,
        }
    return out


def _cell(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(np.mean(values))} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def markdown(results: dict) -> str:
    s = results["summary"]
    lines = [
        "# Residual-head variants: population standardisation, per-target penalty, population PCA",
        "",
        f"Command: `{results['command']}`",
        "",
        "Frozen base, ridge residual head on the training sites; variants fixed before any result (see the script's "
        "docstring). `gain` = variant η ÷ control η − 1 per (element, seed, k): the control's median per-spectrum "
        "MSE over the variant's, the same for both baselines. Seeds "
        + ", ".join(map(str, results["seeds"]))
        + "; cells are mean [min–max] over seeds.",
        "",
        "Sanity: the reproduced control against `fit_head` and `head_on_rows`, max |Δ prediction|: "
        + "; ".join(f"{c['where']}: {c['vs_fit_head']:.1e} / {c['vs_head_on_rows']:.1e}" for c in results["sanity"]),
        "",
    ]
    titles = {
        "replay": "Analogue replay (held-out quarter of the materials, k training sites from the rest)",
        "campaign": "Fe and Mn: 5-fold material-grouped CV over the campaign sites, pooled over folds",
    }
    for ev, sv in s.items():
        lines += [f"## {titles[ev]}", ""]
        if ev == "campaign":
            lines += [
                "Sites: "
                + "; ".join(
                    f"{e} {v['sites']} sites of {v['materials']} materials, population {v['population_rows']} "
                    "published rows"
                    for e, v in results["campaign_sizes"].items()
                ),
                "",
            ]
        lines += [
            "Paired gains against the control, η vs the held-out sites' own mean (all elements, seeds, k):",
            "",
            "| variant | gain mean [min–max] | pairs favouring | Δη (training mean) | Δη (own mean) "
            "| per element: gain (favouring/pairs) |",
            "|---|---|---|---|---|---|",
        ]
        for name, p in sv["pairs"].items():
            per = ", ".join(
                f"{e} {q['gain_mean']:+.1%} ({q['favour']}/{q['pairs']})" for e, q in p["per_element"].items()
            )
            lines.append(
                f"| {name} | {p['gain_mean']:+.1%} [{p['gain_min']:+.1%}–{p['gain_max']:+.1%}] | "
                f"{p['favour']} of {p['pairs']}"
                + (f" ({p['ties']} ties)" if p["ties"] else "")
                + f" | {p['eta_difference_mean']:+.3f} | "
                f"{p['eta_own_mean_difference_mean']:+.3f} | {per} |"
            )
        lines += [
            "",
            f"Seed noise: the control's η (own mean) varies across seeds by a median coefficient of variation of "
            f"{sv['control_seed_cv_median']:.1%} per (element, k).",
            "",
            "Penalties chosen (median α; share of fits, or of per-target α, at the grid's top): "
            + "; ".join(f"{n} {a['alpha_median']:.3g} ({a['alpha_at_max']:.0%})" for n, a in sv["alphas"].items()),
            "",
        ]
        for key, label in BASELINES.items():
            cells = sv["cells"]
            lines += [
                f"η against the {label}, mean [min–max] over seeds:",
                "",
                "| variant | " + " | ".join(cells) + " |",
                "|---|" + "---|" * len(cells),
            ]
            for name, row in sv["table"][key].items():
                lines.append(f"| {name} | " + " | ".join(_cell(row[c]) for c in cells) + " |")
            lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--reserved", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True, help="folder of the cached universal_*_s{seed}.json")
    parser.add_argument("--campaign", type=Path, help="packaged Fe/Mn campaign (omit: analogue replay only)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--elements", nargs="+", default=list(DEFAULT_ANALOGUES))
    parser.add_argument("--campaign-elements", nargs="+", default=["Fe", "Mn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--sizes", nargs="+", type=int, default=[25, 50, 75, 100])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    start = time.time()
    command = "python scripts/head_study.py " + " ".join(sys.argv[1:] if argv is None else argv)
    checks: list[dict] = []
    records = replay(args, checks)
    sizes = {}
    if args.campaign:
        campaign_records, sizes = campaign_cv(args, checks)
        records += campaign_records
    worst = max(max(c["vs_fit_head"], c["vs_head_on_rows"]) for c in checks)
    if worst > 1e-5:
        raise XasflowError(f"the reproduced control differs from the library's head by {worst:.2e}")
    results = {
        "command": command,
        "seeds": args.seeds,
        "sizes": args.sizes,
        "elements": args.elements,
        "campaign_elements": args.campaign_elements if args.campaign else [],
        "variants": {
            n: {**v.__dict__, "alphas": [min(v.alphas), max(v.alphas), len(v.alphas)]} for n, v in VARIANTS.items()
        },
        "sanity": checks,
        "campaign_sizes": sizes,
        "summary": summarise(records),
        "records": records,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out / "head_variants.json") as fh:
        fh.write(to_json(results))
    with atomic_open(args.out / "head_variants.md") as fh:
        fh.write(markdown(results))
    print(f"wrote {args.out / 'head_variants.md'} in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except XasflowError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
