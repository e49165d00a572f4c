"""Tables, target check and plot of the new-element study from its per-run JSON cache."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from xasflow.training.transfer_study import ELEMENTS, METHODS

K_LABELS = ("0", "10", "30", "100", "300", "all")


def _collect(cache: Path) -> dict:
    """``{(element, k, method): [η per seed]}``."""
    out: dict = defaultdict(list)
    for path in sorted(cache.glob("*_k*.json")):
        result = json.loads(path.read_text())
        for method, value in result["eta"].items():
            out[(result["element"], result["k"], method)].append((result["seed"], value))
    return {key: [v for _, v in sorted(vals)] for key, vals in out.items()}


def _cell(values: list[float]) -> str:
    if not values:
        return "–"
    mean = float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.2f}"
    return f"{mean:.2f} [{min(values):.2f}–{max(values):.2f}]"


def _mean(data, element, k, method) -> float | None:
    values = data.get((element, k, method))
    return float(np.mean(values)) if values else None


EXPERTS = ("expert", "expert_ridge")


def _expert(data, element, k) -> float | None:
    """The stronger from-scratch expert (MLP or ridge) at this k, by its seed mean."""
    values = [v for m in EXPERTS if (v := _mean(data, element, k, m)) is not None]
    return max(values) if values else None


def _selected(data, element: str, k: str, methods: list[str]) -> str | None:
    """Transfer method with the best mean log(η / expert η) over the *other* elements at this k."""
    scores = {}
    for method in [m for m in methods if m not in EXPERTS]:
        logs = []
        for other in ELEMENTS:
            if other == element:
                continue
            value = _mean(data, other, k, method)
            ref = _expert(data, other, k) if k != "0" else 1.0
            if value is None or ref is None:
                continue
            logs.append(np.log(value / ref))
        if logs:
            scores[method] = float(np.mean(logs))
    return max(scores, key=scores.get) if scores else None


def write_report(cache: Path, out: Path, command: str) -> None:
    data = _collect(cache)
    meta = json.loads((cache / "meta.json").read_text()) if (cache / "meta.json").exists() else {}
    out.mkdir(parents=True, exist_ok=True)
    methods = [m for m in METHODS if any(key[2] == m for key in data)]
    lines = ["# New-element transfer study", "", f"Command: `{command}`", ""]
    lines += [
        "η of the left-out element on its fixed test materials (25 % of its materials, published val rows, "
        "reserved materials removed) vs k of its spectra; baseline = mean spectrum of all its non-test rows "
        "(the same for every k). Cells: mean over seeds [min–max]; seeds vary the k-row draw, the "
        "initialisation and the pretraining. `all` = every non-test row of the element.",
        "",
        "Methods: " + "; ".join(f"`{m}` {d}" for m, d in METHODS.items() if m in methods) + ".",
        "",
        f"Settings: {json.dumps(meta.get('settings', {}))}",
        "",
    ]
    summary = [
        "| element | k | MLP expert | best expert (MLP or ridge) | transfer method (chosen on the other elements) "
        "| its η | gain over MLP expert | gain over best expert | η(all rows) | share of η(all) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    checks, strict = [], []
    for element in ELEMENTS:
        sizes = meta.get("sizes", {}).get(element, {})
        lines += [
            f"## {element}  (pool {sizes.get('pool', '?')} rows, test {sizes.get('test', '?')} rows / "
            f"{sizes.get('test_materials', '?')} materials)",
            "",
        ]
        lines += ["| method | " + " | ".join(f"k={k}" for k in K_LABELS) + " |", "|---|" + "---|" * len(K_LABELS)]
        for method in methods:
            lines.append(
                f"| {method} | " + " | ".join(_cell(data.get((element, k, method), [])) for k in K_LABELS) + " |"
            )
        lines.append("")
        eta_all = max((v for m in methods if (v := _mean(data, element, "all", m)) is not None), default=None)
        for k in ("10", "30", "100", "300"):
            chosen = _selected(data, element, k, methods)
            expert = _expert(data, element, k)
            value = _mean(data, element, k, chosen) if chosen else None
            if value is None or expert is None:
                continue
            gain = (value / expert - 1) * 100
            mlp = _mean(data, element, k, "expert")
            gain_mlp = (value / mlp - 1) * 100
            share = value / eta_all * 100 if eta_all else float("nan")
            summary.append(
                f"| {element} | {k} | {mlp:.2f} | {expert:.2f} | {chosen} | {value:.2f} | {gain_mlp:+.0f} % | "
                f"{gain:+.0f} % | " + (f"{eta_all:.2f} | {share:.0f} % |" if eta_all else "– | – |")
            )
            if k in ("30", "100", "300"):
                checks.append((element, k, "gain ≥ 30 % over the MLP expert", gain_mlp >= 30))
                strict.append((element, k, "gain ≥ 30 % over the best expert", gain >= 30))
            if k == "100":
                checks.append((element, k, "≥ 50 % of η(all)", share >= 50))
    lines += [
        "## Summary and targets",
        "",
        "The transfer method is chosen for each element without looking at it: the one with the highest mean "
        "log(η / expert η) over the other five elements at that k. Two experts: the MLP from scratch (the "
        "project's `expert` mode, the target's reference) and the stronger of MLP and ridge on this element at "
        "this k, judged on the test rows (a stricter reference that favours the expert). η(all rows) = the "
        "highest η any method reaches with all non-test rows of the element.",
        "",
        *summary,
        "",
    ]
    for title, group in (
        ("Targets (gain over the MLP expert at k ≥ 30, and ≥ 50 % of η(all) at k = 100)", checks),
        ("Stricter reference (best of MLP and ridge)", strict),
    ):
        met = sum(ok for *_, ok in group)
        lines += [f"{title}: {met} of {len(group)} checks met.", ""]
        failed = [f"{e} k={k} ({what})" for e, k, what, ok in group if not ok]
        if failed:
            lines += ["Not met: " + ", ".join(failed) + ".", ""]
    lines += ["![η vs k](eta_vs_k.png)", ""]
    (out / "results.md").write_text("\n".join(lines))
    (out / "results.json").write_text(
        json.dumps(
            {"command": command, "meta": meta, "eta": {f"{e}|{k}|{m}": v for (e, k, m), v in sorted(data.items())}},
            indent=1,
        )
    )
    _plot(data, methods, out / "eta_vs_k.png")


def _plot(data, methods, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True)
    xpos = {"0": 3, "10": 10, "30": 30, "100": 100, "300": 300, "all": 1000}
    for ax, element in zip(axes.flat, ELEMENTS, strict=True):
        for method in methods:
            ks = [k for k in K_LABELS if data.get((element, k, method))]
            if not ks:
                continue
            vals = [data[(element, k, method)] for k in ks]
            mean = np.array([np.mean(v) for v in vals])
            lo = mean - np.array([min(v) for v in vals])
            hi = np.array([max(v) for v in vals]) - mean
            ax.errorbar([xpos[k] for k in ks], mean, yerr=[lo, hi], marker="o", ms=3, capsize=2, label=method)
        ax.set_xscale("log")
        ax.set_xticks(list(xpos.values()), list(xpos))
        ax.set_title(f"{element} left out")
        ax.set_ylabel("η (test materials)")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    for ax in axes[1]:
        ax.set_xlabel("k spectra of the new element")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
