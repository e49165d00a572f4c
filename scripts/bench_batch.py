"""Benchmark of batch prediction: one process vs a local Dask cluster, and against the featurizer alone.

Usage::

    OMP_NUM_THREADS=1 python scripts/bench_batch.py --data-dir ../shared/data/omnixas --limit 600 --workers 2

Times ``xasflow predict`` of the first ``--limit`` shared Cu structures (``FEFF/Cu/*/POSCAR``) as a
subprocess, start-up included, once in one process and once with ``--workers N``; then, in this
process, the steady-state throughput of the one-process batch path (models already loaded) against
the featurizer's own (``xasflow bench``) on the same structures. Prints JSON with wall and CPU seconds
(CPU: user + system of the command and every process it started, Dask workers included) and the load
average, since on a shared machine wall times follow the other jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _predict(files: list[Path], workers: int, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``xasflow predict`` command."""
    cmd = [sys.executable, "-m", "xasflow.cli.main", "predict", *map(str, files), "--element", "Cu", "--out", str(out)]
    if workers:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "XASFLOW_PROGRESS": "0", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"predict failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, cpu


def _steady_state(files: list[Path], tmp: Path) -> tuple[float, float]:
    """Structures per wall and per CPU second of the one-process batch path, models loaded beforehand."""
    from xasflow.inference import batch
    from xasflow.inference.journal import Journal, RunOptions

    options = RunOptions(element="Cu", fidelity="FEFF", model=None, sites="inequivalent")
    batch.predict_one(str(files[0]), options)  # loads the models (not timed)
    start, cpu = time.perf_counter(), time.process_time()
    batch.run_batch(files, options, Journal(tmp / "steady.json", options))
    return len(files) / (time.perf_counter() - start), len(files) / (time.process_time() - cpu)


def _featurizer_alone(files: list[Path]) -> float:
    """Structures per CPU second of the default Cu model's featurizer alone on every Cu site (read beforehand)."""
    from xasflow.inference.predictor import Predictor
    from xasflow.io.structures import read_structure

    predictor = Predictor()
    featurizer = predictor.featurizer_for(predictor.model_for("Cu"))  # what the default Cu model reads
    structures = [read_structure(p) for p in files]
    sites = [[i for i, site in enumerate(s) if site.specie.symbol == "Cu"] for s in structures]
    featurizer.featurize(structures[0], sites[0])
    start = time.process_time()
    for structure, indices in zip(structures, sites, strict=True):
        featurizer.featurize(structure, indices)
    return len(files) / (time.process_time() - start)


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
        one_wall, one_cpu = _predict(files, 0, tmp_path / "one.json")
        result["load_mid"] = round(os.getloadavg()[0], 2)
        many_wall, many_cpu = _predict(files, args.workers, tmp_path / "many.json")
        result |= {
            "one_process_wall_s": round(one_wall, 1),
            "one_process_cpu_s": round(one_cpu, 1),
            f"workers_{args.workers}_wall_s": round(many_wall, 1),
            f"workers_{args.workers}_cpu_s": round(many_cpu, 1),
            "speed_up_wall": round(one_wall / many_wall, 2),
            # On an idle machine the N workers share the CPU work: wall ≈ CPU / N.
            "speed_up_idle_estimate": round(one_cpu / (many_cpu / args.workers), 2),
        }
        per_wall, per_cpu = _steady_state(files, tmp_path)
        bench = run_bench(tree, limit=len(files))
        alone = _featurizer_alone(files)
        result |= {
            "batch_structures_per_s": round(per_wall, 2),
            "bench_featurizer_structures_per_s": round(bench.structures_per_s, 2),
            "batch_vs_bench_wall": round(per_wall / bench.structures_per_s, 3),
            "batch_structures_per_cpu_s": round(per_cpu, 2),
            "featurizer_structures_per_cpu_s": round(alone, 2),
            "batch_vs_featurizer_cpu": round(per_cpu / alone, 3),
        }
        result["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
