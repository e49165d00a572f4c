"""Do simulated minerals help the Fe/Mn models? Paired comparison of the `head` model with and without them.

The campaign's sites come from two pools: the shared structures (Cu-bearing oxides; material ids ``mp-…``)
and AMCSD minerals (``amcsd-…``, ``scripts/mineral_pool.py``). Model A fits the residual head on the shared
pool's sites only (what shipped before minerals), model B on both; the frozen base is the same (pretrained on
the other elements' published spectra, ``universal_all`` of the pretraining cache, one per seed). Three tests,
each on sites the compared models never saw:

1. **shared pool**, leave one material out: does adding minerals cost the sites the independent check
   draws from? Baseline: the fold's shared-pool training mean (the same for A and B).
2. **minerals**, leave one mineral out: A (no minerals at all) against B (the other minerals); baseline:
   the mean of the other minerals' spectra.
3. **reference structures** (optional ``--reference-tree``, the matching candidates simulated with the same
   FEFF cards; none is in either pool): A and B fitted on everything; baseline: the leave-one-structure-out
   mean of these sites.

η = median baseline MSE / median model MSE; the paired figure is the median over sites of MSE_B / MSE_A
with a bootstrap interval over materials, and the share of sites B predicts better.

Run::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/mineral_study.py --campaign data/campaigns/fe_mn \
        --element Fe --data-dir ../shared/data/omnixas --reserved ../shared/data/reserved \
        --cache /work/cache/nem/cache --reference-tree /work/cache/feff/oracle --seeds 0 1 2 \
        --out results/new_element_models
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from xasflow.constants import ELEMENTS
from xasflow.data.pools import is_mineral
from xasflow.data.published import published_rows
from xasflow.evaluation.metrics import per_spectrum_mse
from xasflow.fileio import atomic_open
from xasflow.training.new_element import NewElementConfig, campaign_rows, pretrain_published, transfer_to

BOOTSTRAP = 2000


def _fit(base, X, y, materials, element, config, rows):
    return transfer_to(base, X[rows], y[rows], materials[rows], element, config.settings, config.seed, "head")


def _paired(mse_a: np.ndarray, mse_b: np.ndarray, groups: np.ndarray, rng) -> dict:
    """Median site ratio MSE_B / MSE_A with a bootstrap over groups, and the share of sites B wins."""
    ratio = mse_b / mse_a
    names = np.unique(groups)
    rows = [np.flatnonzero(groups == n) for n in names]
    boots = [
        np.median(ratio[np.concatenate([rows[i] for i in rng.integers(0, len(rows), len(rows))])])
        for _ in range(BOOTSTRAP)
    ]
    low, high = np.percentile(boots, [2.5, 97.5])
    return {
        "median_ratio_b_over_a": float(np.median(ratio)),
        "ratio_ci95": [float(low), float(high)],
        "b_better_share": float(np.mean(mse_b < mse_a)),
        "sites": len(ratio),
    }


def _eta(baseline: np.ndarray, mse: np.ndarray) -> float:
    return float(np.median(baseline) / np.median(mse))


def study_seed(element, X, y, materials, reference, published, args, seed) -> dict:
    config = NewElementConfig(element=element, method="head", seed=seed)
    base = pretrain_published(published, (), config.settings, seed, args.cache / f"universal_all_s{seed}")
    mineral = is_mineral(materials)
    rng = np.random.default_rng(seed)
    out: dict = {"seed": seed}

    def leave_one_out(held: np.ndarray) -> dict:
        """Each material of ``held`` predicted by A (shared pool) and B (everything) fitted without it;
        baseline: the mean of the other ``held`` materials' sites."""
        a, b, base_mse, groups = [], [], [], []
        for material in np.unique(materials[held]):
            test = materials == material
            pred_a = _fit(base, X, y, materials, element, config, ~mineral & ~test).predict(X[test], elements=element)
            pred_b = _fit(base, X, y, materials, element, config, ~test).predict(X[test], elements=element)
            a.append(per_spectrum_mse(y[test], pred_a))
            b.append(per_spectrum_mse(y[test], pred_b))
            base_mse.append(per_spectrum_mse(y[test], np.broadcast_to(y[held & ~test].mean(0), y[test].shape)))
            groups += [material] * int(test.sum())
        a, b, base_mse = np.concatenate(a), np.concatenate(b), np.concatenate(base_mse)
        return {"eta_a": _eta(base_mse, a), "eta_b": _eta(base_mse, b), **_paired(a, b, np.array(groups), rng)}

    out["shared_pool"] = leave_one_out(~mineral)  # 1. does adding minerals cost the shared pool?
    if mineral.sum() >= 3:
        out["minerals"] = leave_one_out(mineral)  # 2. A never saw a mineral; B the other minerals

    # 3. the reference structures (in neither pool)
    if reference is not None:
        ref_ds, ref_X = reference
        y_ref, ref_groups = ref_ds.spectra, ref_ds.material_ids
        model_a = _fit(base, X, y, materials, element, config, ~mineral)
        model_b = _fit(base, X, y, materials, element, config, np.ones(len(X), bool))
        a = per_spectrum_mse(y_ref, model_a.predict(ref_X, elements=element))
        b = per_spectrum_mse(y_ref, model_b.predict(ref_X, elements=element))
        loo = np.empty_like(y_ref)
        for name in np.unique(ref_groups):
            rows = ref_groups == name
            loo[rows] = y_ref[~rows].mean(0)
        base_mse = per_spectrum_mse(y_ref, loo)
        out["reference_structures"] = {
            "eta_a": _eta(base_mse, a),
            "eta_b": _eta(base_mse, b),
            "structures": len(np.unique(ref_groups)),
            **_paired(a, b, ref_groups, rng),
            "per_site": {sid: [float(x), float(z)] for sid, x, z in zip(ref_ds.ids, a, b, strict=True)},
        }
    return out


def _markdown(element: str, results: list[dict], counts: dict, command: str) -> str:
    lines = [
        f"# Minerals in the {element} head model: paired study",
        "",
        f"Command: `{command}`",
        "",
        f"Sites: shared pool {counts['shared']} of {counts['shared_materials']} materials, minerals "
        f"{counts['minerals']} of {counts['mineral_materials']}; A = head on the shared pool only, B = head on "
        "both (same frozen base per seed). Ratio = median over sites of MSE_B / MSE_A (95 % bootstrap over "
        "materials); < 1 favours B.",
        "",
        "| test | seed | η A | η B | ratio B/A [95 %] | B better on | sites |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for key, label in (
            ("shared_pool", "shared pool, leave one material out"),
            ("minerals", "minerals, leave one mineral out"),
            ("reference_structures", "reference structures (matching candidates)"),
        ):
            if key in r:
                t = r[key]
                lines.append(
                    f"| {label} | {r['seed']} | {t['eta_a']:.2f} | {t['eta_b']:.2f} | {t['median_ratio_b_over_a']:.2f} "
                    f"[{t['ratio_ci95'][0]:.2f}–{t['ratio_ci95'][1]:.2f}] | {100 * t['b_better_share']:.0f} % | "
                    f"{t['sites']} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", type=Path, required=True)
    parser.add_argument("--element", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--reserved", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True, help="pretrained models (outside git)")
    parser.add_argument("--reference-tree", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    element = args.element
    dataset, X, _ = campaign_rows(args.campaign, element, args.reserved)
    y, materials = dataset.spectra, dataset.material_ids.astype(str)
    mineral = is_mineral(materials)
    counts = {
        "shared": int((~mineral).sum()),
        "shared_materials": len(np.unique(materials[~mineral])),
        "minerals": int(mineral.sum()),
        "mineral_materials": len(np.unique(materials[mineral])),
    }
    print(f"{element}: {counts}", flush=True)
    reference = None
    if args.reference_tree is not None:
        from reference_sites_check import site_rows  # the sibling script (scripts/ is on sys.path)

        reference = site_rows(args.reference_tree, element)
    published = {e: r for e in ELEMENTS if (r := published_rows(args.data_dir, e, args.reserved)) is not None}
    results = []
    for seed in args.seeds:
        results.append(study_seed(element, X, y, materials, reference, published, args, seed))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "reference_structures"}), flush=True)
    command = "python scripts/mineral_study.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out / f"mineral_study_{element}.json", "w") as handle:
        json.dump({"element": element, "counts": counts, "command": command, "seeds": results}, handle, indent=1)
    with atomic_open(args.out / f"mineral_study_{element}.md", "w") as handle:
        handle.write(_markdown(element, results, counts, command))
    print(_markdown(element, results, counts, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
