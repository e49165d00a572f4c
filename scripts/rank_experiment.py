"""Development-set evaluation of ``xasflow match``: rank every measured reference spectrum.

Dev script (reads ../shared): for each measured spectrum in ``shared/data/experiment/{Cu,Cr}``,
rank the candidate structures of its element in ``src/xasflow/examples/reference`` with the
default settings, and write to ``results/experiment/``: one ranking CSV and overlay PNG per
spectrum, ``summary.md`` (top-1 count, the rank of the own compound under each similarity, the
own-compound shift measured with a wide ±20 eV range from which the default offsets come).

Run: ``python scripts/rank_experiment.py [--shared ../shared] [--out results/experiment]``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "src" / "xasflow" / "examples" / "reference"

#: Measured file -> the reference CIF of its compound (from shared/data/experiment/README.md).
TRUTH = {
    "Cu/cu_metal_rt.xdi": "Cu_metal",
    "Cu/Cu_Foil_rt_2016Foils.xdi": "Cu_metal",
    "Cu/CuO_tenorite_13K_01.xdi": "CuO_tenorite",
    "Cu/CuS_covellite_13K_01.xdi": "CuS_covellite",
    "Cu/Cu2S_13K_01.xdi": "Cu2S_chalcocite",
    "Cu/Cu_azurite_13K_01.xdi": "azurite_Cu3C2H2O8",
    "Cr/cr2o3_rt_001.xdi": "Cr2O3_eskolaite",
    "Cr/cro2_rt_001.xdi": "CrO2",
    "Cr/k2cr2o7_rt_001.xdi": "K2Cr2O7",
    "Cr/k2cro4_rt_001.xdi": "K2CrO4_tarapacaite",
    "Cr/na2cro4_rt_001.xdi": "Na2CrO4",
    "Cr/cr2s3_rt_001.xdi": "Cr2S3",
}


def main(argv: list[str] | None = None) -> int:
    from xasflow.experiment import METRICS, AlignConfig, Candidate, match, normalize
    from xasflow.experiment.align import DEFAULT_OFFSET, DEFAULT_SHIFT_BOUND
    from xasflow.experiment.plot import plot_match
    from xasflow.fileio import atomic_open
    from xasflow.inference.predictor import Predictor
    from xasflow.io.measured import read_measured
    from xasflow.io.structures import read_structure

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "experiment")
    args = parser.parse_args(argv)
    data = args.shared / "data" / "experiment"
    predictor = Predictor()
    candidates: dict[str, list[Candidate]] = {}
    for element in ("Cu", "Cr"):
        candidates[element] = []
        for cif in sorted(REFERENCE.glob("*.cif")):
            structure = read_structure(cif)
            if element in structure.composition:
                prediction = predictor.predict_structure(structure, element, cif.stem)
                candidates[element].append(Candidate.from_prediction(prediction))

    rows, wide_shifts = [], {"Cu": [], "Cr": []}
    for relative, truth in TRUTH.items():
        element = relative.split("/")[0]
        measured = normalize(read_measured(data / relative), element)
        result = match(measured, candidates[element], element)
        stem = Path(relative).stem
        _write_csv(result, args.out / f"{stem}.csv", atomic_open)
        plot_match(result, args.out / f"{stem}.png", top=3)
        names = [e.candidate.source for e in result.entries]
        ranks = {}
        for metric in METRICS:
            other = match(measured, candidates[element], element, metric=metric)
            ranks[metric] = [e.candidate.source for e in other.entries].index(truth) + 1
        wide = match(
            measured,
            [c for c in candidates[element] if c.source == truth],
            element,
            config=AlignConfig(shift_bound=20.0, offset=0.0),
        )
        wide_shifts[element].append(wide.best.alignment.shift)
        own = result.entries[names.index(truth)]
        rows.append(
            (relative, truth, names[0], ranks, own.alignment.shift, own.alignment.sigma, wide.best.alignment.shift)
        )
        print(f"{relative:32s} own={truth:20s} top={names[0]:20s} rank={ranks['rfactor']}", file=sys.stderr)

    top1 = sum(r[3]["rfactor"] == 1 for r in rows)
    lines = [
        "# xasflow match on the development set",
        "",
        "Command: `python scripts/rank_experiment.py` (the same as `xasflow match FILE "
        "src/xasflow/examples/reference/ --element El` per file, default settings).",
        "",
        f"**Own compound ranked first: {top1} of {len(rows)}** (default similarity `rfactor`, "
        f"Cu offset {DEFAULT_OFFSET['Cu']} eV ± {DEFAULT_SHIFT_BOUND['Cu']}, Cr offset {DEFAULT_OFFSET['Cr']} eV ± "
        f"{DEFAULT_SHIFT_BOUND['Cr']}).",
        "",
        "| measured | own compound | ranked first | "
        + " | ".join(f"rank ({m})" for m in METRICS)
        + " | own shift eV | own σ eV | own shift, ±20 eV range |",
        "|---|---|---|" + "---|" * len(METRICS) + "---|---|---|",
    ]
    for relative, truth, first, ranks, shift, sigma, wide in rows:
        lines.append(
            f"| [{relative}]({Path(relative).stem}.png) | {truth} | {first} | "
            + " | ".join(str(ranks[m]) for m in METRICS)
            + f" | {shift:+.2f} | {sigma:.2f} | {wide:+.2f} |"
        )
    lines += ["", "Top-1 count per similarity: " + ", ".join(f"{m} {sum(r[3][m] == 1 for r in rows)}" for m in METRICS)]
    lines += [
        "",
        "Median own-compound shift with a ±20 eV range (the measured default offsets): "
        + ", ".join(
            f"{el} {statistics.median(v):+.2f} eV (spread {min(v):+.2f} to {max(v):+.2f})"
            for el, v in wide_shifts.items()
        ),
        "",
    ]
    with atomic_open(args.out / "summary.md", "w") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))
    return 0


def _write_csv(result, path: Path, atomic_open) -> None:
    names = sorted(result.entries[0].metrics)
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "source", "formula", "score", "shift_eV", "sigma_eV", "scale", *names])
        for e in result.entries:
            a = e.alignment
            writer.writerow(
                [
                    e.rank,
                    e.candidate.source,
                    e.candidate.formula,
                    f"{e.score:.6f}",
                    f"{a.shift:.4f}",
                    f"{a.sigma:.4f}",
                    f"{a.scale:.5f}",
                ]
                + [f"{e.metrics[n]:.6f}" for n in names]
            )


if __name__ == "__main__":
    sys.exit(main())
