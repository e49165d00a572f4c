"""Pool-replay study of active learning: the published rows of one element answer as the oracle (no FEFF).

    python scripts/pool_replay.py --data-dir ../shared/data/omnixas --element Co --rules hybrid random \
        --seeds 0 1 2 --cache /work/cache/newelement/pool_replay --out results/active_learning

The element's published val rows (reserved materials removed) are split by material: 25 % fixed held-out
materials (η after every round, baseline = mean spectrum of the pool rows), 75 % the candidate pool. A
descriptor-coded universal ensemble pretrained on the other five elements is the starting model and every
refit fine-tunes it on all labels so far (``xasflow.active``, the same code as ``xasflow learn``). Each
(rule, seed) campaign is a resumable ``xasflow.active`` folder under the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np

from xasflow.active.learner import Campaign, HeldOut, LearnConfig, TransferRefit
from xasflow.active.oracles import ReplayOracle
from xasflow.active.pool import Pool
from xasflow.data.reserved import default_reserved_dir, reserved_materials
from xasflow.training.config import transfer_recipe
from xasflow.training.transfer import pretrain
from xasflow.training.transfer_study import ELEMENTS, load_rows, test_split


def run(args) -> dict:
    settings = transfer_recipe(members=args.members)
    reserved_dir = default_reserved_dir(args.data_dir)
    rows = {e: load_rows(args.data_dir, e, reserved_dir) for e in ELEMENTS}
    r = rows[args.element]
    test = test_split(r)
    pool = Pool(r["ids"][~test], r["X"][~test], np.array(["published val"] * int((~test).sum())))
    heldout = HeldOut(r["X"][test], r["y"][test], baseline=r["y"][~test].mean(0))
    oracle = ReplayOracle(r["ids"][~test], r["y"][~test])
    others = [e for e in ELEMENTS if e != args.element]
    results: dict = {}
    for seed in args.seeds:
        base_path = args.cache / f"base_{args.element}_s{seed}.pkl"
        if base_path.exists():
            base = pickle.loads(base_path.read_bytes())
        else:
            base = pretrain(
                np.vstack([rows[e]["X"] for e in others]),
                np.vstack([rows[e]["y"] for e in others]),
                [e for e in others for _ in range(len(rows[e]["X"]))],
                np.concatenate([rows[e]["materials"] for e in others]),
                settings,
                seed,
                "descriptors",
            )
            args.cache.mkdir(parents=True, exist_ok=True)
            tmp = base_path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(base))
            os.replace(tmp, base_path)
        refit = TransferRefit(base, args.element, settings, seed)
        for rule in args.rules:
            config = LearnConfig(args.element, rule=rule, batch=args.batch, rounds=args.rounds, seed=seed)
            campaign = Campaign(
                args.cache / f"{args.element}_{rule}_s{seed}",
                config,
                pool,
                excluded=reserved_materials(reserved_dir, args.element),
            )
            reports = campaign.run(
                oracle,
                refit,
                heldout,
                on_round=lambda rep, rule=rule, seed=seed: print(
                    f"{rule} s{seed} round {rep.round}: labels {rep.labels_total} η {rep.heldout_eta:.2f} "
                    f"std {rep.mean_predicted_std:.4f}",
                    flush=True,
                ),
            )
            results[f"{rule}|{seed}"] = [vars(x) for x in reports]
    return {
        "element": args.element,
        "pool": len(pool),
        "heldout": len(heldout.y),
        "heldout_materials": len(set(r["materials"][test])),
        "settings": settings.as_dict(),
        "batch": args.batch,
        "rounds": args.rounds,
        "runs": results,
    }


def report(data: dict, out: Path, command: str, note: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    rules = sorted({k.split("|")[0] for k in data["runs"]}, key=lambda r: (r == "random", r))
    curves = {}
    for rule in rules:
        runs = [v for k, v in data["runs"].items() if k.split("|")[0] == rule]
        labels = [x["labels_total"] for x in runs[0]]
        etas = np.array([[x["heldout_eta"] for x in run] for run in runs if len(run) == len(labels)])
        curves[rule] = (np.array(labels), etas)
    lines = [
        "# Active learning: pool replay",
        "",
        f"Command: `{command}`",
        "",
        f"Element {data['element']} (published FEFF val rows, reserved materials removed): pool "
        f"{data['pool']} candidate sites, {data['heldout']} held-out sites ({data['heldout_materials']} "
        f"materials, never chosen). Published spectra answer as the oracle. Batch {data['batch']}, "
        f"{data['rounds']} rounds; starting model: descriptor universal ensemble pretrained on the other "
        f"five elements; every round fine-tunes it on all labels. Settings: {json.dumps(data['settings'])}.",
        "",
        "η on the held-out sites vs labels: mean over seeds [min–max].",
        "",
        "| labels | " + " | ".join(rules) + " |",
        "|---|" + "---|" * len(rules),
    ]
    labels = curves[rules[0]][0]
    for j, n in enumerate(labels):
        cells = []
        for rule in rules:
            etas = curves[rule][1][:, j]
            cells.append(f"{etas.mean():.2f} [{etas.min():.2f}–{etas.max():.2f}] ({len(etas)} seeds)")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    if "random" in curves:
        lab, rnd = curves["random"]
        target = rnd[:, -1].mean()
        lines += ["", f"Random at {lab[-1]} labels: η {target:.2f} (mean of seeds).", ""]
        for rule in rules:
            if rule == "random":
                continue
            lab_r, etas = curves[rule]
            mean = etas.mean(0)
            reach = next((int(n) for n, v in zip(lab_r, mean, strict=True) if v >= target), None)
            per_seed = []
            for s in range(len(etas)):
                hit = next(
                    (int(n) for n, v in zip(lab_r, etas[s], strict=True) if v >= rnd[min(s, len(rnd) - 1), -1]), None
                )
                per_seed.append(hit)
            verdict = "target met" if reach is not None and reach <= 150 else "target NOT met"
            where = f"at **{reach} labels**" if reach is not None else f"**not within {lab_r[-1]} labels**"
            at_150 = mean[list(lab_r).index(150)] if 150 in lab_r else float("nan")
            lines.append(
                f"- `{rule}` reaches it (seed mean) {where} ({verdict}: ≤ 150 asked; its η at 150 labels: "
                f"{at_150:.2f}); "
                f"per seed, labels to reach that seed's random η at {lab[-1]}: "
                f"{', '.join('never' if p is None else str(p) for p in per_seed)}."
            )
    if note:
        lines += ["", note]
    lines += ["", "![η vs labels](eta_vs_labels.png)", ""]
    (out / "results.md").write_text("\n".join(lines))
    (out / "results.json").write_text(json.dumps({"command": command, **data}, indent=1))
    fig, ax = plt.subplots(figsize=(6, 4))
    for rule, (lab, etas) in curves.items():
        ax.plot(lab, etas.mean(0), marker="o", label=rule)
        ax.fill_between(lab, etas.min(0), etas.max(0), alpha=0.2)
    ax.set_xlabel("labelled sites")
    ax.set_ylabel(f"η on held-out {data['element']} sites")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "eta_vs_labels.png", dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("XASFLOW_DATA_DIR", "")))
    parser.add_argument("--element", default="Co")
    parser.add_argument("--rules", nargs="+", default=["hybrid", "random"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/newelement/pool_replay"))
    parser.add_argument("--out", type=Path, default=None, help="write the report here (default: none)")
    parser.add_argument("--note", default="", help="a paragraph appended to the report")
    args = parser.parse_args(argv)
    data = run(args)
    if args.out:
        command = [a for a in (argv or sys.argv[1:])]
        if "--note" in command:  # the note is not part of the command of record
            i = command.index("--note")
            del command[i : i + 2]
        report(data, args.out, " ".join(["python", "scripts/pool_replay.py", *command]), args.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
