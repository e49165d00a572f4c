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
    build.add_argument(
        "--selected",
        type=Path,
        default=None,
        metavar="JSON",
        help="train each set's cross-validated choice (mode, recipe, features) from this selection file "
        "(e.g. src/xasflow/training/selected.json) and make it the set's default",
    )
    build.add_argument("--reserved", type=Path, default=None, help="folder of {El}_materials.txt never to train on")
    add_training_options(build)
    build.set_defaults(handler=_build)

    recal = sub.add_parser(
        "recalibrate",
        help="refit std calibration and domain thresholds of a zoo on the evaluation rows (no retraining)",
    )
    recal.add_argument("--zoo-dir", type=Path, default=None, help="zoo to recalibrate (default: the packaged zoo)")
    recal.add_argument("--out", type=Path, default=None, help="where to write (default: in place)")
    add_training_options(recal)
    recal.set_defaults(handler=_recalibrate)


def _list(args: argparse.Namespace) -> int:
    from xasflow.zoo.registry import read_index

    index = read_index(args.zoo_dir)
    if args.json:
        print(json.dumps(index["sets"], indent=2, sort_keys=True))
        return 0
    print("set       model      η      68% cov  95% cov   (* = default; coverage of calibrated intervals, held out)")
    for key, entry in sorted(index["sets"].items()):
        for n in entry["models"]:
            c68 = entry.get("coverage_68", {}).get(n)
            c95 = entry.get("coverage_95", {}).get(n)
            cov = f"{c68:7.1%}  {c95:7.1%}" if c68 is not None and c95 is not None else "      –        –"
            mark = "*" if n == entry["default"] else " "
            print(f"{key:<9} {n + mark:<10} {entry['eta'][n]:5.2f}  {cov}")
    if index.get("features_only"):
        print(f"no model (features but no spectra): {', '.join(index['features_only'])}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    """Load every model (card and weights checksums), predict a dummy row; list every failure."""
    import numpy as np

    from xasflow.errors import XasflowError
    from xasflow.zoo.registry import available_models, load_model

    failures = 0
    models = available_models(args.zoo_dir)
    for element, fidelity, name in models:
        try:
            model = load_model(element, fidelity, name, root=args.zoo_dir)
            mean, std = model.predict(np.zeros((1, model.n_features)), return_std=True)
            ok = mean.shape == (1, 141) and np.all(np.isfinite(mean)) and np.all(np.isfinite(std) & (std > 0))
            message = "ok" if ok else "BAD OUTPUT (non-finite spectrum or std)"
        except XasflowError as err:
            ok, message = False, f"FAILED: {err}"
        failures += not ok
        print(f"{element} {fidelity} {name}: {message}")
    print(f"{len(models) - failures} of {len(models)} models verified")
    return 1 if failures else 0


def _build(args: argparse.Namespace) -> int:
    from xasflow.training.pipeline import train_all
    from xasflow.zoo.build import write_zoo, zoo_size
    from xasflow.zoo.registry import packaged_zoo_dir

    out = args.out or packaged_zoo_dir()
    command = "xasflow " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "xasflow zoo build"
    if args.selected is not None:
        from xasflow.training.pipeline import RunSettings, train_selected
        from xasflow.training.selection import read_selection

        selection = read_selection(args.selected)
        from xasflow.zoo.build import feature_variants

        catalog = catalog_from_args(args, variants=feature_variants(selection["sets"]))
        settings = RunSettings(args.seed, args.threads, args.members or 5, args.max_epochs)
        trained = train_selected(catalog, selection, settings, progress)
        index = write_zoo(
            catalog,
            trained,
            out,
            dtype=args.dtype,
            provenance=command,
            defaults=trained.defaults,
            selection=selection["sets"],
        )
    else:
        catalog = catalog_from_args(args)
        trained = train_all(catalog, recipe_from_args(args), progress)
        index = write_zoo(catalog, trained, out, dtype=args.dtype, provenance=command)
    print(f"trained {len(trained.seconds)} jobs in {trained.total_seconds / 60:.1f} min")
    for key, entry in sorted(index["sets"].items()):
        print(f"{key:<8} default {entry['default']:<9} " + "  ".join(f"{n} η={v:.2f}" for n, v in entry["eta"].items()))
    print(f"wrote {out} ({zoo_size(out) / 1e6:.1f} MB)")
    return 0


def _recalibrate(args: argparse.Namespace) -> int:
    from xasflow.zoo.build import recalibrate_zoo
    from xasflow.zoo.registry import zoo_dir

    source = zoo_dir(args.zoo_dir)
    out = args.out or source
    command = "xasflow " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "xasflow zoo recalibrate"
    from xasflow.zoo.build import feature_variants, zoo_selection
    from xasflow.zoo.registry import read_index

    catalog = catalog_from_args(args, variants=feature_variants(zoo_selection(read_index(source))))
    index = recalibrate_zoo(catalog, source, out, provenance=command)
    for key, entry in sorted(index["sets"].items()):
        cov = "  ".join(f"{n} {entry['coverage_68'][n]:.1%}/{entry['coverage_95'][n]:.1%}" for n in entry["models"])
        print(f"{key:<8} {cov}")
    print(f"wrote {out}")
    return 0
