"""New-element transfer study: leave one element out, give the model k of its spectra, measure η.

    python scripts/new_element_study.py --data-dir ../shared/data/omnixas \
        --cache /work/cache/newelement/new_element --out results/new_element

For each of the six elements with published FEFF spectra (validation rows only, reserved materials removed):
25 % of its materials are a fixed test set; k = 0, 10, 30, 100, 300 and all of its remaining rows (nested
draws, one order per seed) are given to each method; η on the test rows uses the mean spectrum of all
non-test rows of the element as the baseline (the same for every k). The other five elements' rows are
the transfer source. Every (element, seed, k) result is cached as JSON: rerunning resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

from xasflow.data.reserved import default_reserved_dir
from xasflow.evaluation.metrics import eta
from xasflow.reports.new_element import write_report
from xasflow.training.config import transfer_recipe
from xasflow.training.transfer import expert_on_rows, head_on_rows, pretrain, tune_on_rows
from xasflow.training.transfer_study import ELEMENTS, KS, TEST_FRACTION, draw_order, load_rows, ridge_expert, test_split


def cached(path: Path, build):
    if path.exists():
        with path.open("rb") as handle:
            return pickle.load(handle)
    obj = build()
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        pickle.dump(obj, handle)
    os.replace(tmp, path)
    return obj


def _add_ridge(path: Path, r: dict, sel: np.ndarray, Xt, yt, baseline) -> None:
    """Add the ridge expert to a cached result written before it existed (cheap, deterministic)."""
    result = json.loads(path.read_text())
    if "expert_ridge" in result["eta"] or len(sel) < 3:
        return
    prediction = np.clip(ridge_expert(r["X"][sel], r["y"][sel]).predict(Xt), 0, None)
    result["eta"]["expert_ridge"] = eta(yt, prediction, baseline)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)


def run(args) -> None:
    settings = transfer_recipe(members=args.members, max_epochs=args.max_epochs, few_max_epochs=args.few_max_epochs)
    reserved_dir = default_reserved_dir(args.data_dir)
    rows = {e: load_rows(args.data_dir, e, reserved_dir) for e in ELEMENTS}
    cache = args.cache
    (cache / "models").mkdir(parents=True, exist_ok=True)
    meta = {
        "settings": settings.as_dict(),
        "test_fraction": TEST_FRACTION,
        "reserved_dir": str(reserved_dir),
        "sizes": {},
    }
    for seed in args.seeds:
        for element in args.elements:
            r = rows[element]
            test = test_split(r)
            pool_idx = np.flatnonzero(~test)
            order = pool_idx[draw_order(r["materials"][pool_idx], seed)]
            baseline = r["y"][pool_idx].mean(axis=0)
            meta["sizes"][element] = {
                "pool": len(pool_idx),
                "test": int(test.sum()),
                "test_materials": len(set(r["materials"][test])),
                "reserved_rows_dropped": r["reserved_dropped"],
            }
            others = [e for e in ELEMENTS if e != element]
            Xo = np.vstack([rows[e]["X"] for e in others])
            yo = np.vstack([rows[e]["y"] for e in others])
            eo = [e for e in others for _ in range(len(rows[e]["X"]))]
            go = np.concatenate([rows[e]["materials"] for e in others])
            stem = f"{element}_s{seed}"
            source = (Xo, yo, eo, go, settings, seed)
            uni_onehot = cached(
                cache / "models" / f"{stem}_onehot.pkl",
                partial(pretrain, *source, "onehot", extra_elements=(element,)),
            )
            uni_desc = cached(cache / "models" / f"{stem}_desc.pkl", partial(pretrain, *source, "descriptors"))
            Xt, yt = r["X"][test], r["y"][test]
            for k in KS:
                n = len(order) if k < 0 else k
                if n > len(order):
                    continue
                label = "all" if k < 0 else str(k)
                out = cache / f"{stem}_k{label}.json"
                if out.exists():
                    _add_ridge(out, r, order[:n], Xt, yt, baseline)
                    continue
                start = time.perf_counter()
                sel = order[:n]
                Xk, yk, gk = r["X"][sel], r["y"][sel], r["materials"][sel]
                preds: dict[str, np.ndarray] = {}
                extra: dict[str, float] = {}
                if n == 0:
                    preds["tuned_onehot"] = uni_onehot.predict(Xt, elements=element)
                    preds["tuned_desc"] = uni_desc.predict(Xt, elements=element)
                else:
                    preds["expert"] = expert_on_rows(Xk, yk, gk, element, settings, seed).predict(Xt)
                    preds["expert_ridge"] = np.clip(ridge_expert(Xk, yk).predict(Xt), 0, None)
                    preds["tuned_onehot"] = tune_on_rows(uni_onehot, Xk, yk, gk, element, settings, seed).predict(
                        Xt, elements=element
                    )
                    tuned = tune_on_rows(uni_desc, Xk, yk, gk, element, settings, seed)
                    preds["tuned_desc"] = tuned.predict(Xt, elements=element)
                    head = head_on_rows(uni_desc, Xk, yk, element)
                    preds["head_desc"] = head.predict(Xt, elements=element)
                    extra["head_alpha"] = head.residual_head_[element].alpha
                    preds["ensemble"] = 0.5 * (preds["tuned_desc"] + preds["head_desc"])
                    if not args.skip_retrained and k >= 0:  # not at k = all: the costliest fit, budget
                        retrained = pretrain(
                            np.vstack([Xo, Xk]),
                            np.vstack([yo, yk]),
                            [*eo, *[element] * n],
                            np.concatenate([go, gk]),
                            settings,
                            seed,
                            "onehot",
                        )
                        preds["retrained_onehot"] = retrained.predict(Xt, elements=element)
                result = {
                    "element": element,
                    "seed": seed,
                    "k": label,
                    "n_rows": int(n),
                    "eta": {m: eta(yt, p, baseline) for m, p in preds.items()},
                    "seconds": round(time.perf_counter() - start, 1),
                    **extra,
                }
                tmp = out.with_suffix(".tmp")
                tmp.write_text(json.dumps(result, indent=1))
                os.replace(tmp, out)
                print(
                    f"{stem} k={label}: "
                    + " ".join(f"{m}={v:.2f}" for m, v in result["eta"].items())
                    + f" ({result['seconds']} s)",
                    flush=True,
                )
    (cache / "meta.json").write_text(json.dumps(meta, indent=1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("XASFLOW_DATA_DIR", "")))
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/newelement/new_element"))
    parser.add_argument("--out", type=Path, default=Path("results/new_element"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--elements", nargs="+", default=list(ELEMENTS))
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=150)
    parser.add_argument("--few-max-epochs", type=int, default=400)
    parser.add_argument("--skip-retrained", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.report_only:
        run(args)
    write_report(args.cache, args.out, " ".join(["python", "scripts/new_element_study.py", *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
