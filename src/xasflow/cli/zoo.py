"""``xasflow zoo``: list, verify and rebuild the shipped models."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from xasflow.cli.common import progress
from xasflow.cli.train import add_training_options, catalog_from_args, recipe_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("zoo", help="list, verify or rebuild the model zoo")
    sub = parser.add_subparsers(dest="zoo_command", required=True)

    listing = sub.add_parser("list", help="models per set with their validation η (default marked *)")
    listing.add_argument("--zoo-dir", type=Path, default=None)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    verify = sub.add_parser("verify", help="load every model (checksums) and predict on a dummy row")
    verify.add_argument("--zoo-dir", type=Path, default=None)
    verify.set_defaults(handler=_verify)

    build = sub.add_parser(
        "build",
        help="retrain every model from a data root and write the zoo",
        description="Trains experts, the universal FEFF model and its fine-tuned copies (FEFF tuned, VASP "
        "cross-fidelity) and writes them with model cards. Default output: the packaged zoo folder.",
    )
    build.add_argument("--out", type=Path, default=None, help="zoo folder to write (default: the packaged zoo)")
    build.add_argument("--dtype", default="float16", choices=("float32", "float16"), help="weight storage")
    add_training_options(build)
    build.set_defaults(handler=_build)


def _list(args: argparse.Namespace) -> int:
    from xasflow.zoo.registry import read_index

    index = read_index(args.zoo_dir)
    if args.json:
        print(json.dumps(index["sets"], indent=2, sort_keys=True))
        return 0
    for key, entry in sorted(index["sets"].items()):
        parts = [f"{n}{'*' if n == entry['default'] else ''} η={entry['eta'][n]:.2f}" for n in entry["models"]]
        print(f"{key:<8} " + "  ".join(parts))
    if index.get("features_only"):
        print(f"no model (features but no spectra): {', '.join(index['features_only'])}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    import numpy as np

    from xasflow.zoo.registry import available_models, load_model

    for element, fidelity, name in available_models(args.zoo_dir):
        model = load_model(element, fidelity, name, root=args.zoo_dir)
        out = model.predict(np.zeros((1, model.config.n_features)))
        ok = out.shape == (1, 141) and np.all(np.isfinite(out)) and np.all(out >= 0)
        print(f"{element} {fidelity} {name}: {'ok' if ok else 'BAD OUTPUT'}")
        if not ok:
            return 1
    return 0


def _build(args: argparse.Namespace) -> int:
    from xasflow.training.pipeline import train_all
    from xasflow.zoo.build import write_zoo, zoo_size
    from xasflow.zoo.registry import packaged_zoo_dir

    out = args.out or packaged_zoo_dir()
    recipe = recipe_from_args(args)
    catalog = catalog_from_args(args)
    trained = train_all(catalog, recipe, progress)
    command = "xasflow " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "xasflow zoo build"
    index = write_zoo(catalog, trained, out, dtype=args.dtype, provenance=command)
    print(f"trained {len(trained.seconds)} jobs in {trained.total_seconds / 60:.1f} min")
    for key, entry in sorted(index["sets"].items()):
        print(f"{key:<8} default {entry['default']:<9} " + "  ".join(f"{n} η={v:.2f}" for n, v in entry["eta"].items()))
    print(f"wrote {out} ({zoo_size(out) / 1e6:.1f} MB)")
    return 0
