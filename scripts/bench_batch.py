"""Benchmark of batch prediction: one process vs a local Dask cluster, and against the featurizer alone.

Usage::

    OMP_NUM_THREADS=1 python scripts/bench_batch.py --data-dir ../shared/data/omnixas --limit 600 --workers 2

Times ``xasflow predict`` of the first ``--limit`` shared Cu structures (``FEFF/Cu/*/POSCAR``) as a
subprocess, start-up included, once in one process and once with ``--workers N``; then, in this
process, the steady-state throughput of the one-process batch path (models already loaded) against
the featurizer's own (``xasflow bench``) on the same structures. Prints JSON (with the load average).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _predict_wall(files: list[Path], workers: int, out: Path) -> float:
    cmd = [sys.executable, "-m", "xasflow.cli.main", "predict", *map(str, files), "--element", "Cu", "--out", str(out)]
    if workers:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "XASFLOW_PROGRESS": "0", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"predict failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall


def _steady_state(files: list[Path], tmp: Path) -> float:
    """Structures per second of the one-process batch path, models loaded beforehand."""
    from xasflow.inference import batch
    from xasflow.inference.journal import Journal, RunOptions

    options = RunOptions(element="Cu", fidelity="FEFF", model=None, sites="inequivalent")
    batch.predict_one(str(files[0]), options)  # loads the models (not timed)
    start = time.perf_counter()
    batch.run_batch(files, options, Journal(tmp / "steady.json", options))
    return len(files) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/omnixas")
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import torch

    from xasflow.inference.bench import run_bench

    torch.set_num_threads(1)
    tree = args.data_dir / "FEFF" / "Cu"
    files = sorted(tree.glob("*/POSCAR"))[: args.limit]
    result: dict[str, float | int | str] = {"structures": len(files), "cpus": os.cpu_count() or 0}
    with tempfile.TemporaryDirectory(prefix="xasflow-bench-batch-") as tmp:
        tmp_path = Path(tmp)
        result["load_before"] = round(os.getloadavg()[0], 2)
        result["one_process_s"] = round(_predict_wall(files, 0, tmp_path / "one.json"), 1)
        result["load_mid"] = round(os.getloadavg()[0], 2)
        result[f"workers_{args.workers}_s"] = round(_predict_wall(files, args.workers, tmp_path / "many.json"), 1)
        result["speed_up"] = round(result["one_process_s"] / result[f"workers_{args.workers}_s"], 2)
        result["batch_structures_per_s"] = round(_steady_state(files, tmp_path), 2)
        bench = run_bench(tree, limit=len(files))
        result["featurizer_structures_per_s"] = round(bench.structures_per_s, 2)
        result["batch_vs_featurizer"] = round(result["batch_structures_per_s"] / bench.structures_per_s, 3)
        result["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
