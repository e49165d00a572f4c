"""Does the campaign's site priority (feature-space diversity of the published rows) help? Pool replay on analogues.

Usage::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/priority_study.py --data-dir ../shared/data/omnixas \\
        --reserved ../shared/data/reserved --cache /work/cache/nem/cache --out results/new_element_models

Fe and Mn have no published spectra, so the priority of ``scripts/campaign_priority.py`` is replayed on the
analogue elements that have them (``--elements``, default V Cr Co Ni; published FEFF val rows, reserved
materials left out). For each element and seed, whole materials are split into a held-out quarter and a candidate
pool (:func:`xasflow.data.splits.grouped_split`, seeded). The pool's sites are ordered as the real campaign orders
its plan, :func:`xasflow.simulation.campaign.coverage_positions` (every material's first site before any
material's second, ``--order coverage``), with the site priority of each arm inside the rounds:

- ``random``: no priority, the given order a seeded shuffle (``--random-draws`` shuffles per seed);
- ``priority``: :func:`xasflow.active.campaign_order.diversity_priority` with the pool's *and the held-out
  materials'* feature rows as the reference, default clusters, as ``campaign_priority.py`` runs it with the
  element's published rows (the held-out rows enter without their spectra, as the published Fe/Mn rows do);
- ``priority_noref``: the same without a reference;
- ``priority_c{N}``: the reference split into ``--clusters`` clusters instead (0: arm left out);
- ``after{S}_...``: each arm again, continued after the first ``--start`` sites of one random order (counted as
  finished, as the real campaign's ~70 per element are), paired with random continuations of the same start.

The first ``k`` sites of each order (``--sizes``) train the shipped Fe/Mn method: the descriptor-coded universal
ensemble pretrained without the element (the cache of ``scripts/new_element_models.py``,
``universal_without_{El}_s{seed}``; not retrained here) with a ridge residual head
(:func:`xasflow.training.transfer.head_on_rows`). η on the held-out sites against the mean of the ``k`` training
sites and against the held-out sites' own mean (the same for every arm of a split, so the fair comparison);
each arm paired with its random control per (element, seed, k). Writes ``OUT/priority.{json,md,png}``.
Deterministic given the seeds (about 3 minutes on one core).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from xasflow.active.campaign_order import diversity_priority
from xasflow.data.published import published_rows
from xasflow.data.splits import grouped_split
from xasflow.errors import XasflowError
from xasflow.evaluation.metrics import eta
from xasflow.fileio import atomic_open
from xasflow.models.estimator import XASRegressor
from xasflow.simulation.campaign import coverage_positions
from xasflow.training.new_element import DEFAULT_ANALOGUES
from xasflow.training.transfer import head_on_rows

#: Share of each element's materials held out for η (the rest is the candidate pool).
HELDOUT = 0.25
BASELINES = {"eta": "mean of the k training sites", "eta_own_mean": "held-out sites' own mean"}


def heldout_mask(materials: np.ndarray, seed: int) -> np.ndarray:
    """Rows of the held-out materials (whole materials, about :data:`HELDOUT` of the rows)."""
    return grouped_split(materials, {"pool": 1 - HELDOUT, "heldout": HELDOUT}, seed) == "heldout"


def ordered(rows: dict, candidates: np.ndarray, finished: np.ndarray, priority: list[str] = ()) -> np.ndarray:
    """``candidates`` (row indices, in their given order) in the campaign's coverage order after ``finished`` rows."""
    positions = coverage_positions(
        rows["ids"][candidates].tolist(),
        rows["materials"][candidates].tolist(),
        rows["materials"][finished].tolist(),
        priority,
    )
    return candidates[positions]


def shuffled(candidates: np.ndarray, seed: int, draw: int) -> np.ndarray:
    """A seeded shuffle: the given order of a random arm (random materials, a random site of each first)."""
    return np.random.default_rng([seed, draw]).permutation(candidates)


def priority(
    rows: dict, pool: np.ndarray, finished: np.ndarray, reference: np.ndarray | None, seed: int, clusters: int | None
) -> list[str]:
    """:func:`diversity_priority` of the pool rows not in ``finished`` (those counted as covered)."""
    ids = rows["ids"][pool].tolist()
    return diversity_priority(ids, rows["X"][pool], rows["ids"][finished].tolist(), reference, seed, clusters)


def arm_orders(
    rows: dict, pool: np.ndarray, seed: int, draws: int, clusters: int, start: int
) -> dict[str, tuple[str, list[np.ndarray]]]:
    """Per arm its control arm and its pool orders (row indices, first to simulate first; random arms: ``draws``).

    With ``start``, the same arms again continuing after the first ``start`` sites of the first random order
    (named ``after{start}_...``): the real campaign already has sites, simulated cheapest first.
    """
    idx = np.flatnonzero(pool)
    # The population to cover: every row's features, held-out ones without their spectra (as published Fe/Mn rows).
    variants = {"priority": (rows["X"], None), "priority_noref": (None, None)}
    if clusters:
        variants[f"priority_c{clusters}"] = (rows["X"], clusters)
    none = np.zeros(0, dtype=int)
    orders = {"random": ("random", [ordered(rows, shuffled(idx, seed, d), none) for d in range(draws)])}
    for name, (reference, k) in variants.items():
        orders[name] = ("random", [ordered(rows, idx, none, priority(rows, idx, none, reference, seed, k))])
    if start:
        done = orders["random"][1][0][:start]
        rest = np.setdiff1d(idx, done)
        control = f"after{start}_random"
        orders[control] = (
            control,
            [np.concatenate([done, ordered(rows, shuffled(rest, seed, 1000 + d), done)]) for d in range(draws)],
        )
        for name, (reference, k) in variants.items():
            order = ordered(rows, rest, done, priority(rows, idx, done, reference, seed, k))
            orders[f"after{start}_{name}"] = (control, [np.concatenate([done, order])])
    return orders


def score(base: XASRegressor, rows: dict, train: np.ndarray, test: np.ndarray, element: str) -> dict[str, float]:
    """η of the head fitted on ``train`` rows, on the ``test`` rows, against both baselines."""
    model = head_on_rows(base, rows["X"][train], rows["y"][train], element)
    target = rows["y"][test]
    prediction = model.predict(rows["X"][test], elements=element)
    return {
        "eta": eta(target, prediction, rows["y"][train].mean(0)),
        "eta_own_mean": eta(target, prediction, target.mean(0)),
    }


def load_base(cache: Path, element: str, seed: int) -> XASRegressor:
    """The cached universal pretrained without ``element`` (never retrained here: the study measures orders)."""
    path = cache / f"universal_without_{element}_s{seed}.json"
    if not path.exists():
        raise XasflowError(f"{path}: no cached universal without {element}; run scripts/new_element_models.py first")
    base = XASRegressor.load(path)
    if element in base.conditioning:
        raise XasflowError(f"{path}: the universal was pretrained on {element}; the replay needs it left out")
    return base


def spread(Z: np.ndarray) -> float:
    """Mean pairwise distance of standardised feature rows: how far apart the chosen sites lie."""
    d = np.sqrt(((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(Z), 1)].mean())


def run_element(rows: dict, element: str, args: argparse.Namespace) -> list[dict]:
    """One record per (seed, arm, draw, k)."""
    records = []
    for seed in args.seeds:
        base = load_base(args.cache, element, seed)
        test = heldout_mask(rows["materials"], seed)
        pool = ~test
        Z = (rows["X"] - rows["X"].mean(0)) / (rows["X"].std(0) + 1e-9)  # standardised by the whole population
        arms = arm_orders(rows, pool, seed, args.random_draws, args.clusters, args.start)
        for arm, (control, orders) in arms.items():
            continued = arm.startswith("after")
            for draw, order in enumerate(orders):
                for k in args.sizes:
                    if continued and k <= args.start:  # the shared start: nothing to compare
                        continue
                    train = order[: min(k, len(order))]
                    records.append(
                        {
                            "element": element,
                            "seed": seed,
                            "arm": arm,
                            "control": control,
                            "draw": draw,
                            "k": k,
                            "sites": len(train),
                            "materials": len(np.unique(rows["materials"][train])),
                            "pool": int(pool.sum()),
                            "heldout": int(test.sum()),
                            "spread": spread(Z[train]),
                            **score(base, rows, train, test, element),
                        }
                    )
        print(element, seed, "done", flush=True)
    return records


def per_seed(records: list[dict], element: str, arm: str, k: int, key: str) -> dict[int, float]:
    """η by seed (an arm of several draws, ``random``, averaged over its draws)."""
    out: dict[int, list[float]] = {}
    for r in records:
        if (r["element"], r["arm"], r["k"]) == (element, arm, k):
            out.setdefault(r["seed"], []).append(r[key])
    return {s: float(np.mean(v)) for s, v in sorted(out.items())}


def _by_group(records: list[dict], key: str) -> dict[tuple, list[float]]:
    """``key`` values by (arm, element, seed, k): one per draw."""
    out: dict[tuple, list[float]] = {}
    for r in records:
        out.setdefault((r["arm"], r["element"], r["seed"], r["k"]), []).append(r[key])
    return out


def paired(records: list[dict], arm: str, key: str) -> list[dict]:
    """Per (element, seed, k): ``arm`` η minus its control's mean over draws, and the share of draws it beats."""
    groups = _by_group(records, key)
    out = []
    for r in records:
        if r["arm"] != arm:
            continue
        draws = groups[(r["control"], r["element"], r["seed"], r["k"])]
        out.append(
            {
                "element": r["element"],
                "seed": r["seed"],
                "k": r["k"],
                "control": r["control"],
                "difference": r[key] - float(np.mean(draws)),
                "beats_control_draws": float(np.mean([r[key] > d for d in draws])),
            }
        )
    return out


def summarise(records: list[dict], elements: list[str], sizes: list[int]) -> dict:
    """Mean [min–max] over seeds per (baseline, arm, element, k), and the paired differences against the controls."""
    arms = list(dict.fromkeys(r["arm"] for r in records))
    controls = {r["control"] for r in records}
    table = {
        key: {arm: {e: {str(k): per_seed(records, e, arm, k, key) for k in sizes} for e in elements} for arm in arms}
        for key in BASELINES
    }
    # Draw-to-draw spread of one random order at a fixed split and model: the luck a single campaign order carries.
    draw_sd = {
        key: float(np.median([np.std(v, ddof=1) for g, v in _by_group(records, key).items() if g[0] == "random"]))
        for key in BASELINES
    }
    pairs = {key: {arm: paired(records, arm, key) for arm in arms if arm not in controls} for key in BASELINES}
    spreads = {
        arm: {e: {str(k): per_seed(records, e, arm, k, "spread") for k in sizes} for e in elements} for arm in arms
    }
    return {"table": table, "pairs": pairs, "random_draw_sd_median": draw_sd, "spread": spreads}


def _cell(values: list[float], signed: bool = False) -> str:
    if not values:
        return "—"
    fmt = "{:+.2f}" if signed else "{:.2f}"
    return f"{fmt.format(np.mean(values))} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def _pair_line(pairs: list[dict]) -> str:
    d = [p["difference"] for p in pairs]
    wins = sum(x > 0 for x in d)
    beats = np.mean([p["beats_control_draws"] for p in pairs])
    return f"{_cell(d, True)}; {wins} of {len(d)} pairs favour it; beats {beats:.0%} of the random draws on average"


def _headline(pairs: dict[str, list[dict]]) -> list[str]:
    lines = ["| arm | against | η difference, mean [min–max] | pairs favouring the arm | random draws beaten |"]
    lines.append("|---|---|---|---|---|")
    for arm, rows in pairs.items():
        d = [p["difference"] for p in rows]
        beats = np.mean([p["beats_control_draws"] for p in rows])
        lines.append(
            f"| {arm} | {rows[0]['control']} | {_cell(d, True)} | {sum(x > 0 for x in d)} of {len(d)} | {beats:.0%} |"
        )
    return lines


def markdown(results: dict) -> str:
    s, sizes, elements = results["summary"], results["sizes"], results["elements"]
    arms = list(s["table"]["eta"])
    lines = [
        "# Site priority from published feature rows: pool replay on the analogues",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Elements {', '.join(elements)}; seeds {', '.join(map(str, results['seeds']))} (each: its own held-out "
        "quarter of the materials and its own cached universal without the element); ridge head on the first k "
        "sites of each order (coverage rounds: one site per material first). `random` is the mean over "
        f"{results['random_draws']} seeded shuffles per seed. The priority's reference is the pool's and the "
        "held-out materials' feature rows (no spectra), as the real campaign's is the element's published rows."
        + (
            f" `after{results['start']}_*` arms continue from the first {results['start']} sites of one random order "
            "(finished sites, as the real campaign's), compared with random continuations of the same start."
            if results["start"]
            else ""
        ),
        "",
        "The held-out sites' own mean is the same baseline for every arm of a split, so its η compares the "
        "arms' model errors directly; the training-mean η also moves with the baseline (a spread-out choice has a "
        "mean spectrum further from the typical held-out site, which raises η without a better model).",
        "",
        "## Headline: paired differences over every (element, seed, k), η against the held-out sites' own mean",
        "",
        *_headline(s["pairs"]["eta_own_mean"]),
        "",
        "## How far apart the chosen sites lie: mean pairwise distance of their standardised feature rows, "
        "mean over seeds (random: over draws too)",
        "",
        "| element | arm | " + " | ".join(f"k={k}" for k in sizes) + " |",
        "|---|---|" + "---|" * len(sizes),
        *[
            f"| {e} | {arm} | "
            + " | ".join(
                f"{np.mean(v):.1f}" if (v := list(s["spread"][arm][e][str(k)].values())) else "—" for k in sizes
            )
            + " |"
            for e in elements
            for arm in arms
            if not arm.startswith("after")
        ],
        "",
    ]
    for key, label in BASELINES.items():
        lines += [
            f"## η against the {label}: mean over seeds [min–max]",
            "",
            "| element | arm | " + " | ".join(f"k={k}" for k in sizes) + " |",
            "|---|---|" + "---|" * len(sizes),
        ]
        for e in elements:
            for arm in arms:
                cells = [_cell(list(s["table"][key][arm][e][str(k)].values())) for k in sizes]
                lines.append(f"| {e} | {arm} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Paired difference against the arm's random control (arm η − mean η of the control's draws, per "
            "element, seed and k; mean [min–max]); one random order's η varies by a median SD of "
            f"{s['random_draw_sd_median'][key]:.2f} between draws at a fixed split:",
            "",
        ]
        for arm, pairs in s["pairs"][key].items():
            lines.append(f"- **{arm}** (against {pairs[0]['control']}), all: {_pair_line(pairs)}")
            for e in elements:
                lines.append(f"  - {e}: {_pair_line([p for p in pairs if p['element'] == e])}")
            by_k = "; ".join(
                f"k={k} {_cell([p['difference'] for p in pairs if p['k'] == k], True)}"
                for k in sizes
                if any(p["k"] == k for p in pairs)
            )
            lines.append(f"  - by k: {by_k}")
        lines.append("")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table, elements, sizes = results["summary"]["table"], results["elements"], results["sizes"]
    variants = [arm for arm in table["eta"] if not arm.startswith("after")]
    fig, axes = plt.subplots(2, len(elements), figsize=(4.2 * len(elements), 8), squeeze=False)
    for row, (key, label) in enumerate(BASELINES.items()):
        for col, e in enumerate(elements):
            ax = axes[row, col]
            for arm, by_element in table[key].items():
                continued = arm.startswith("after")
                j = variants.index(arm.split("_", 1)[1] if continued else arm)
                ks = [k for k in sizes if by_element[e][str(k)]]
                values = [list(by_element[e][str(k)].values()) for k in ks]
                mid = np.array([np.mean(v) for v in values])
                lo, hi = mid - [min(v) for v in values], [max(v) for v in values] - mid
                shift = np.array(ks) * (1 + 0.012 * (j - 1.5) + (0.006 if continued else 0.0))  # bars apart
                ax.errorbar(
                    shift,
                    mid,
                    yerr=[lo, hi],
                    fmt="--s" if continued else "-o",
                    ms=4,
                    capsize=2,
                    color=f"C{j}",
                    alpha=0.7 if continued else 1.0,
                    label=arm,
                )
            ax.set_title(f"{e} K edge" if row == 0 else "")
            ax.set_xlabel("simulated sites k" if row == 1 else "")
            ax.grid(alpha=0.3)
        axes[row, 0].set_ylabel(f"η vs {label}")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names) // 2 + len(names) % 2, fontsize=9)
    fig.suptitle(
        "Campaign site order, pool replay: η on held-out materials (mean over seeds, bars min–max; "
        f"dashed: continued after {results['start']} random sites)"
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def to_json(results: dict) -> str:
    """The results as JSON, the records as a table of one line per record (thousands of them)."""
    head = {k: v for k, v in results.items() if k != "records"}
    fields = list(results["records"][0])
    rows = [[round(v, 4) if isinstance(v, float) else v for v in r.values()] for r in results["records"]]
    table = ",\n".join("  " + json.dumps(row) for row in rows)
    text = json.dumps({**head, "records": {"fields": fields, "rows": []}}, indent=1)
    return text.replace('"rows": []', '"rows": [\n' + table + "\n ]") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--reserved", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True, help="folder of universal_without_{El}_s{seed}.json")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--elements", nargs="+", default=list(DEFAULT_ANALOGUES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--sizes", nargs="+", type=int, default=[25, 50, 75, 100, 150])
    parser.add_argument("--random-draws", type=int, default=40, help="random shuffles per seed")
    parser.add_argument("--clusters", type=int, default=50, help="reference clusters of the extra arm (0: none)")
    parser.add_argument(
        "--start",
        type=int,
        default=70,
        help="arms continued after this many random sites, as the real campaign (0: none)",
    )
    args = parser.parse_args(argv)
    if args.random_draws < 2:
        raise XasflowError("--random-draws must be at least 2 (the spread of single draws is reported)")

    import torch

    torch.set_num_threads(1)
    command = "python scripts/priority_study.py " + " ".join(sys.argv[1:] if argv is None else argv)
    records = []
    for element in args.elements:
        rows = published_rows(args.data_dir, element, args.reserved)
        if rows is None:
            raise XasflowError(f"{args.data_dir}: {element} has no published spectra to replay")
        records += run_element(rows, element, args)
    results = {
        "command": command,
        "elements": args.elements,
        "seeds": args.seeds,
        "sizes": args.sizes,
        "random_draws": args.random_draws,
        "start": args.start,
        "clusters": args.clusters,
        "heldout_fraction": HELDOUT,
        "model": "universal_without_{El}_s{seed} (descriptor code, frozen) + ridge residual head (head_on_rows)",
        "reference": "feature rows of the pool and the held-out materials (no spectra)",
        "summary": summarise(records, args.elements, args.sizes),
        "records": records,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out / "priority.json") as fh:
        fh.write(to_json(results))
    with atomic_open(args.out / "priority.md") as fh:
        fh.write(markdown(results))
    plot(results, args.out / "priority.png")
    print(f"wrote {args.out / 'priority.md'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except XasflowError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
