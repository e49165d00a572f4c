"""Benchmark of the shipped ensembles: network-only inference time on 10,000 rows, and zoo weight size.

Usage:  python scripts/bench_models.py [--zoo-dir DIR] [--rows 10000] [--threads 1] [--repeat 5]

Prints, per set's default model, the best of ``--repeat`` timings of ``predict(X, return_std=True)``
(members' forward passes + calibration; features already computed) and of ``domain_score``, and the total
bytes of the zoo's weight files. Budgets (issue 9): ≤ 1 s per 10,000 rows, ≤ 100 MB of weights.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from xasflow.zoo.registry import load_model, read_index, zoo_dir


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zoo-dir", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    index = read_index(args.zoo_dir)
    rng = np.random.default_rng(0)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rows} rows; torch threads {args.threads}")
    for key, entry in sorted(index["sets"].items()):
        element, fidelity = key.split("_")
        model = load_model(element, fidelity, entry["default"], root=args.zoo_dir)
        model.set_params(threads=args.threads)
        X = rng.normal(0, 300, (args.rows, model.n_features))
        elements = element if model.conditioning else None
        network = best_of(lambda m=model, e=elements, x=X: m.predict(x, return_std=True, elements=e), args.repeat)
        domain = best_of(lambda m=model, e=elements, x=X: m.domain_score(x, elements=e), args.repeat)
        members = len(model.networks_)
        print(f"{key:<8} {entry['default']:<9} {members} members  predict+std {network:.3f} s  domain {domain:.3f} s")
    root = zoo_dir(args.zoo_dir)
    weights = sum(p.stat().st_size for p in root.rglob("*.npz"))
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"zoo {root}: weights {weights / 1e6:.1f} MB, all files {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
