"""Fe and Mn (or any element without published spectra) models from a simulated campaign, into the zoo.

Usage::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/new_element_models.py \\
        --campaign data/campaigns/fe_mn --elements Fe Mn --data-dir ../shared/data/omnixas \\
        --reserved ../shared/data/reserved --cache /work/cache/new_element_models \\
        --zoo src/xasflow/zoo/models --out results/new_element_models

For each element: the campaign's ``{El}_FEFF_campaign.npz`` spectra, M3GNet features of its sites from the
campaign tree (published featurizer), the model of :func:`xasflow.training.new_element.build_new_element_model`
(descriptor universal fine-tuned or given a ridge residual head, ``--method``; calibration borrowed from
analogue elements put through the same method; domain on the element's published feature rows), added to
the zoo as ``{El}_FEFF/tuned`` or ``{El}_FEFF/head`` (the set's only model and default: files of the
set's previous model are removed); figures in ``OUT/results.{json,md}``.

``--method head`` applies to every element, ``--method Mn=head`` to one (others: ``tuned``); repeatable,
e.g. ``--method Fe=tuned --method Mn=head``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from xasflow.data.pools import MINERALS, SHARED, is_mineral
from xasflow.errors import XasflowError
from xasflow.evaluation.metrics import per_spectrum_mse
from xasflow.fileio import atomic_open
from xasflow.portable import portable_path
from xasflow.training.config import transfer_recipe
from xasflow.training.new_element import (
    DEFAULT_ANALOGUES,
    METHODS,
    NewElementConfig,
    build_new_element_model,
    campaign_feff_card_set,
    campaign_rows,
    site_errors,
)
from xasflow.zoo.build import add_new_element_set
from xasflow.zoo.registry import read_index

#: What each transfer method does, for the model card's recipe and the results.
TRANSFER = {
    "tuned": "fine-tuned on the {sites} simulated {element} sites",
    "head": "networks frozen, ridge residual head (last hidden layer + standardised features, GCV penalty) "
    "fitted on the {sites} simulated {element} sites",
}


def parse_methods(values: list[str], elements: list[str]) -> dict[str, str]:
    """Per element its transfer method from ``--method`` values (``head`` for all, or ``Mn=head``).

    Raises
    ------
    XasflowError
        An unknown method or an element not being built.
    """
    methods = dict.fromkeys(elements, "tuned")
    for value in values:
        element, _, method = value.rpartition("=")
        if method not in METHODS:
            raise XasflowError(f"--method {value}: choose one of {', '.join(METHODS)} (or EL=METHOD)")
        if element and element not in methods:
            raise XasflowError(f"--method {value}: {element} is not among --elements {' '.join(elements)}")
        for name in [element] if element else elements:
            methods[name] = method
    return methods


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", type=Path, required=True)
    parser.add_argument("--elements", nargs="+", default=["Fe", "Mn"])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--reserved", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True, help="pretrained models (outside git)")
    parser.add_argument("--zoo", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--analogues", nargs="+", default=list(DEFAULT_ANALOGUES))
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the shipped model")
    parser.add_argument(
        "--method",
        action="append",
        default=[],
        metavar="[EL=]METHOD",
        help=f"few-site transfer ({', '.join(METHODS)}; default tuned): METHOD for every element or EL=METHOD "
        "for one, repeatable (e.g. --method Fe=tuned --method Mn=head); the set ships under the method's name",
    )
    parser.add_argument(
        "--extra-seeds", nargs="*", type=int, default=[], help="seeds rebuilt for the intervals only (not shipped)"
    )
    args = parser.parse_args(argv)
    methods = parse_methods(args.method, args.elements)
    read_index(args.zoo)  # a wrong --zoo fails now, not after the pretraining and the folds

    import torch

    torch.set_num_threads(1)
    settings = transfer_recipe(members=5)
    command = "python scripts/new_element_models.py " + " ".join(sys.argv[1:] if argv is None else argv)
    results = {
        "command": command,
        "settings": settings.as_dict(),
        "analogues": args.analogues,
        "methods": methods,
        "elements": {},
    }
    for element in args.elements:
        dataset, X, summary = campaign_rows(args.campaign, element, args.reserved)
        config = NewElementConfig(element, tuple(args.analogues), args.draws, settings, args.seed, methods[element])
        model, report = build_new_element_model(
            X, dataset.spectra, dataset.material_ids, args.data_dir, args.reserved, config, cache=args.cache
        )
        feff_card_set = campaign_feff_card_set(args.campaign, element, dataset.ids.tolist())
        transfer = (
            "descriptor-coded universal ensemble (Z, K-edge energy, d count; 5 members) pretrained on the published "
            "FEFF val spectra of the other elements, "
            + TRANSFER[methods[element]].format(sites=report.sites, element=element)
        )
        model.set_provenance(
            data={
                f"{element}_FEFF": {
                    "source": portable_path(str(args.campaign)),
                    "simulated_sites": report.sites,
                    "materials": report.materials,
                    "site_ids": dataset.ids.tolist(),
                    "card_set": feff_card_set,
                    "feff": dataset.metadata.get("feff"),
                    "sites_per_hour_sustained": summary.get("sites_per_hour_sustained"),
                    "sites_by_pool": summary.get("sites_by_pool"),
                }
            },
            pretraining={
                "model": "descriptor-coded universal ensemble (xasflow.training.new_element.pretrain_published)",
                "data": "published FEFF val rows of every element with spectra, reserved materials removed",
                "seed": args.seed,
            },
            baseline_spectrum=tuple(float(v) for v in dataset.spectra.mean(0)),
            recipe={
                "name": "new-element transfer",
                "transfer": transfer,
                "method": methods[element],
                "calibration": f"borrowed: {args.draws} few-site transfers of {report.sites} rows on each analogue "
                f"({', '.join(args.analogues)}), coverage leave-one-analogue-out",
                "domain": f"{element} published FEFF val feature rows (reserved materials removed)",
            },
        )
        metrics = {
            "protocol": "leave-one-material-out over the simulated sites (baseline: mean of the training sites)",
            "evaluation": {"eta": report.loo_eta},
            "baseline": "mean of the training sites of each fold",
            "coverage_68": round(report.coverage_68, 4),
            "coverage_95": round(report.coverage_95, 4),
            "ood_flagged": round(report.domain_flagged, 4),
            "uncertainty_protocol": "calibration fitted on the analogues, coverage leave-one-analogue-out",
            "sites": report.sites,
            "materials": report.materials,
            "card_set": feff_card_set,
            "transfer": transfer,
            "method": methods[element],
            "report": report.as_dict(),
        }
        add_new_element_set(args.zoo, model, metrics, provenance=command)
        results["elements"][element] = {
            **report.as_dict(),
            "leave_one_material_out_by_pool": _by_pool(report, dataset),
            "card_set": feff_card_set,
            "transfer": transfer,
            "method": methods[element],
            "zoo_name": model.name,
        }
        seeds = {args.seed: report}
        for seed in args.extra_seeds:  # the whole build again: pretraining, analogue draws, folds
            repeat = NewElementConfig(element, tuple(args.analogues), args.draws, settings, seed, methods[element])
            _, seeds[seed] = build_new_element_model(
                X, dataset.spectra, dataset.material_ids, args.data_dir, args.reserved, repeat, cache=args.cache
            )
        results["elements"][element]["seeds"] = {
            str(seed): {
                "leave_one_material_out_eta": r.loo_eta,
                "leave_one_material_out_eta_without_twins": r.loo_eta_without_twins,
                "analogue_eta_mean": float(np.mean([v for vals in r.analogue_eta.values() for v in vals])),
                "coverage_68": r.coverage_68,
                "coverage_95": r.coverage_95,
            }
            for seed, r in seeds.items()
        }
        print(json.dumps(results["elements"][element]["analogue_eta"]), report.loo_eta, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out / "results.json") as fh:
        json.dump(results, fh, indent=1)
    with atomic_open(args.out / "results.md") as fh:
        fh.write(_markdown(results))
    record_history(args.out / "history.json", results)
    return 0


def record_history(path: Path, results: dict) -> None:
    """Add this build's leave-one-material-out η per element to ``path`` (one entry per sites and method).

    The file is the build-by-build learning curve that ``new_element_curve.py`` draws as stars; a rebuild
    at the same site count and method replaces its entry.
    """
    history = json.loads(path.read_text()) if path.exists() else {}
    for element, r in results["elements"].items():
        entry = {
            "date": datetime.now(UTC).date().isoformat(),
            "sites": r["sites"],
            "materials": r["materials"],
            "method": r["method"],
            "eta": round(r["leave_one_material_out_eta"], 3),
            "eta_seeds": [round(v["leave_one_material_out_eta"], 3) for v in r.get("seeds", {}).values()],
        }
        kept = [h for h in history.get(element, []) if (h["sites"], h["method"]) != (entry["sites"], entry["method"])]
        history[element] = sorted([*kept, entry], key=lambda h: h["sites"])
    with atomic_open(path) as fh:
        json.dump(history, fh, indent=1)


def _by_pool(report, dataset) -> dict:
    """Leave-one-material-out η over each pool's sites (:mod:`xasflow.data.pools`), against the folds' training
    means and against the pool's own mean spectrum."""
    materials = dataset.material_ids.astype(str)
    model = site_errors(report.loo_folds, materials)
    baseline = site_errors(report.loo_folds, materials, "baseline_mse")
    out = {}
    mineral = is_mineral(materials)
    for pool, rows in ((SHARED, ~mineral), (MINERALS, mineral)):
        rows = rows & np.isfinite(model)
        if rows.sum() < 2:
            continue
        spectra = dataset.spectra[rows]
        own = per_spectrum_mse(spectra, np.broadcast_to(spectra.mean(0), spectra.shape))
        out[pool] = {
            "sites": int(rows.sum()),
            "eta": float(np.median(baseline[rows]) / np.median(model[rows])),
            "eta_own_mean": float(np.median(own) / np.median(model[rows])),
        }
    return out


def _free(r: dict) -> str:
    free = r.get("leave_one_material_out_eta_without_twins")
    return "—" if free is None else f"{free:.2f} ({r.get('sites_without_twins')} of {r['sites']} sites)"


def _markdown(results: dict) -> str:
    lines = [
        "# Fe and Mn models from the simulated campaign",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Settings: {json.dumps(results['settings'])}. Analogues: {', '.join(results['analogues'])}.",
        "",
        "Transfer method (shipped model, analogue draws and folds alike): "
        + ", ".join(f"{e} {m}" for e, m in results.get("methods", {}).items())
        + ".",
        "",
        "| element | simulated sites (materials) | card set | η, leave one material out | the same on sites without "
        "a near-twin in another material | analogue η at the same site count: mean [min–max] | coverage 68 % / 95 %, "
        "leave one analogue out | flagged out of domain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for element, r in results["elements"].items():
        analogue = "; ".join(
            f"{a} {np.mean(v):.2f} [{min(v):.2f}–{max(v):.2f}]" for a, v in r["analogue_eta"].items() if v
        )
        per = "; ".join(f"{a} {c68:.1%} / {c95:.1%}" for a, (c68, c95) in r["analogue_coverage"].items())
        loo = r["leave_one_material_out_eta"]
        predicted = sum(1 for f in r["leave_one_material_out_folds"] if "mse" in f)
        lines.append(
            f"| {element} | {r['sites']} ({r['materials']}) | `{r['card_set']['name']}` | "
            f"{'—' if loo is None else f'{loo:.2f}'} ({predicted} of {r['materials']} materials predicted) | "
            f"{_free(r)} | {analogue} | {r['coverage_68']:.1%} / {r['coverage_95']:.1%} ({per}) | "
            f"{r['domain_flagged']:.1%} of {r['domain_rows']} published {element} rows |"
        )
    pools = [
        (e, pool, v)
        for e, r in results["elements"].items()
        for pool, v in r.get("leave_one_material_out_by_pool", {}).items()
    ]
    if pools:
        lines += [
            "",
            "Leave one material out by pool (seed 0): η against the folds' training means / against the pool's "
            "own mean spectrum.",
            "",
            "| element | pool | sites | η | η vs own mean |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {e} | {pool} | {v['sites']} | {v['eta']:.2f} | {v['eta_own_mean']:.2f} |" for e, pool, v in pools]
    shipped = next(iter(next(iter(results["elements"].values()))["seeds"]))
    lines += [
        "",
        "Over seeds (each repeats the pretraining, the analogue draws and the folds; the zoo ships seed "
        f"{shipped}): mean [min–max].",
        "",
    ]
    lines.append(
        "| element | seeds | η, leave one material out | the same without near-twins | analogue η (mean over draws) "
        "| coverage 68 % | coverage 95 % |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for element, r in results["elements"].items():
        runs = r["seeds"].values()

        def cell(key: str, pct: bool = False, runs=runs) -> str:
            v = [x[key] for x in runs if x.get(key) is not None]
            f = (lambda a: f"{a:.1%}") if pct else (lambda a: f"{a:.2f}")
            return f"{f(np.mean(v))} [{f(min(v))}–{f(max(v))}]" if v else "—"

        lines.append(
            f"| {element} | {', '.join(r['seeds'])} | {cell('leave_one_material_out_eta')} | "
            f"{cell('leave_one_material_out_eta_without_twins')} | {cell('analogue_eta_mean')} | "
            f"{cell('coverage_68', True)} | {cell('coverage_95', True)} |"
        )
    lines += ["", "Per material (leave one material out; MSE ×1000-unit spectra, model vs the mean of the others):", ""]
    for element, r in results["elements"].items():
        for f in r["leave_one_material_out_folds"]:
            if "mse" in f:
                text = ", ".join(f"{m:.4f} vs {b:.4f}" for m, b in zip(f["mse"], f["baseline_mse"], strict=True))
            else:
                text = f["skipped"]
            lines.append(f"- {element} `{f['material']}` ({f['sites']} site{'s' if f['sites'] > 1 else ''}): {text}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except XasflowError as err:  # one line naming the file and the problem, no traceback
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
