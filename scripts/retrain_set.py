"""Retrain one set's shipped model in a zoo (fine-tuned from the zoo's universal model, or an expert), in place.

Usage:
    python scripts/retrain_set.py --data-dir DIR --dataset Cu_FEFF_m3gnet.npz --reserved RESERVED_DIR \
        --set Ti_VASP [--zoo-dir DIR]

Used when one set's training data changed (e.g. a reserved material found in it) and a whole rebuild is not
needed. The set's default name is kept; the index entry gets the new η/coverage and a provenance line.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from xasflow.data.dataset import XASDataset
from xasflow.kinds import ModelKind, tuned_kind
from xasflow.models.estimator import XASRegressor
from xasflow.training.config import IMPROVED
from xasflow.training.data import load_sets
from xasflow.training.full_data import check_full_dataset
from xasflow.training.train import train
from xasflow.zoo.build import UNIVERSAL_FILE, replace_set_model, set_metrics
from xasflow.zoo.registry import read_index, zoo_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, action="append", default=[])
    parser.add_argument("--reserved", type=Path, required=True, help="folder of {El}_materials.txt")
    parser.add_argument("--set", required=True, help="e.g. Ti_VASP")
    parser.add_argument("--zoo-dir", type=Path, default=None)
    args = parser.parse_args()
    root = zoo_dir(args.zoo_dir)
    index = read_index(root)
    entry = index["sets"][args.set]
    name = entry["default"]
    reserved = {p.name.split("_")[0]: set(p.read_text().split()) for p in args.reserved.glob("*_materials.txt")}
    full = {}
    for path in args.dataset:
        dataset = check_full_dataset(XASDataset.load(path), path)
        full[dataset.name] = dataset
    catalog = load_sets(args.data_dir, seed=0, full=full, reserved=reserved)
    data = catalog.sets[args.set]
    if name == ModelKind.EXPERT.zoo_name:
        model = train(ModelKind.EXPERT, data, IMPROVED)
    else:
        universal = XASRegressor.load(root / UNIVERSAL_FILE.replace(".npz", ".json"))
        model = train(tuned_kind(data.fidelity), data, IMPROVED, base=universal)
    metrics = set_metrics(model, catalog, args.set)
    command = "python scripts/retrain_set.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    replace_set_model(root, args.set, model, metrics, command)
    print(
        f"{args.set} {name}: η {metrics['evaluation']['eta']:.2f}, coverage {metrics['coverage_68']:.1%} / "
        f"{metrics['coverage_95']:.1%}, ood flagged {metrics['ood_flagged']:.1%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
