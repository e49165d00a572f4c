"""Benchmark site featurization: structures/s and peak memory, single- and multi-process, and the cache.

Each configuration runs in a fresh subprocess so that its peak memory (``getrusage``) is its own.

Usage::

    nice -n 10 .venv/bin/python scripts/bench_featurize.py --tree ../shared/data/omnixas/FEFF/Cu \
        --element Cu --workers 1,2 --limit 300 [--featurizer m3gnet] [--cached]
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


def _one(args: argparse.Namespace) -> dict:
    """Featurize once in this process and return the measurements."""
    os.environ.setdefault("XASFLOW_PROGRESS", "0")
    from xasflow.features import featurize_structures, get_featurizer

    files = sorted(Path(args.tree).glob("*/POSCAR"))[: args.limit or None]
    species = None
    if args.featurizer in ("acsf", "soap"):
        species = sorted({s for f in files for s in f.read_text().splitlines()[5].split()})
    start = time.perf_counter()
    featurizer = get_featurizer(args.featurizer, args.models_dir, species=species, num_threads=args.threads)
    load = time.perf_counter() - start
    timings = []
    for _ in range(2 if args.cache_dir else 1):  # with a cache: fill it, then a re-run served from it
        start = time.perf_counter()
        result = featurize_structures(
            files, args.element, featurizer, cache_dir=args.cache_dir, workers=args.workers, progress=False
        )
        timings.append(time.perf_counter() - start)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "featurizer": args.featurizer,
        "workers": args.workers,
        "structures": len(files),
        "sites": len(result.features),
        "errors": len(result.errors),
        "model_load_s": round(load, 2),
        "seconds": round(timings[0], 2),
        "structures_per_s": round(len(files) / timings[0], 1),
        "cached_rerun_s": round(timings[1], 2) if len(timings) > 1 else None,
        "peak_rss_mb": round(own, 0),
        "peak_rss_worker_mb": round(children, 0) if args.workers > 1 else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, required=True, help="folder with {material}/POSCAR")
    parser.add_argument("--element", default="Cu")
    parser.add_argument("--featurizer", default="m3gnet")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=0, help="first N structures (0 = all)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to compare")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--cached", action="store_true", help="also time a cached re-run (fresh temporary cache)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        args.workers = int(args.workers)
        print(json.dumps(_one(args)))
        return 0
    rows = []
    for workers in [int(w) for w in args.workers.split(",")]:
        with tempfile.TemporaryDirectory() as cache:
            command = [sys.executable, __file__, "--one", "--tree", str(args.tree), "--element", args.element]
            command += ["--featurizer", args.featurizer, "--limit", str(args.limit), "--workers", str(workers)]
            command += ["--threads", str(args.threads)]
            if args.models_dir:
                command += ["--models-dir", str(args.models_dir)]
            if args.cached:
                command += ["--cache-dir", cache]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
