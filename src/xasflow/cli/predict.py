"""``xasflow predict``: spectra from structure files or from feature rows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xasflow.cli.common import progress, report_problem


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict K-edge XANES from structure files (or feature rows)",
        description="Structures in any format pymatgen reads, or folders of them (searched recursively).",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="structure files or folders")
    parser.add_argument("--element", help="absorbing element (default: every supported 3d metal present)")
    parser.add_argument("--fidelity", default="FEFF", help="FEFF (default) or VASP")
    parser.add_argument(
        "--model",
        default=None,
        help="tuned | expert | universal (default: the set's best), or a model card (.json) from `xasflow train`",
    )
    parser.add_argument("--zoo-dir", type=Path, default=None, help="model zoo folder (default: the packaged zoo)")
    parser.add_argument("--sites", default="inequivalent", help="inequivalent (default) | all | i,j,...")
    parser.add_argument(
        "--out", type=Path, help="output .csv or .json (for --features: .json with std and flags, or .txt means only)"
    )
    parser.add_argument("--plot", type=Path, help="PNG of the site-averaged spectra")
    parser.add_argument("--features", type=Path, help="predict from a feature-row file (published X convention)")
    parser.add_argument("--workers", type=int, default=0, help="run on a local Dask cluster of N processes")
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler (e.g. tcp://host:8786)")
    parser.set_defaults(handler=_predict)


def _predict(args: argparse.Namespace) -> int:
    from xasflow.errors import XasflowError

    if args.features is not None:
        if args.paths:
            raise XasflowError("give either structure paths or --features, not both")
        return _predict_features(args)
    if not args.paths:
        raise XasflowError("no input: give structure files/folders, or --features FILE")
    if args.out is None and args.plot is None:
        raise XasflowError("nothing to write: give --out FILE.csv|.json and/or --plot FILE.png")
    if args.workers < 0:
        raise XasflowError("--workers must be >= 0")
    return _predict_structures(args)


def _predict_structures(args: argparse.Namespace) -> int:
    from xasflow.data.structures import expand_paths
    from xasflow.errors import check_element, check_fidelity
    from xasflow.inference.batch import run_batch
    from xasflow.inference.journal import Journal, RunOptions
    from xasflow.inference.sites import parse_selection
    from xasflow.inference.writers import check_output_path, plot_predictions, write_predictions

    fidelity = check_fidelity(args.fidelity)
    element = check_element(args.element) if args.element else None
    parse_selection(args.sites)
    if args.out is not None:
        check_output_path(args.out)
    paths = list(expand_paths(args.paths))
    model = _model_argument(args)
    options = RunOptions(element=element, fidelity=fidelity, model=model, sites=args.sites, zoo_dir=_zoo_dir(args))
    journal = Journal(args.out or args.plot, options)
    # Fail fast, before any structure is read, on a bad --model/--zoo-dir or a set without a model.
    from xasflow.inference.predictor import Predictor

    checker = Predictor(fidelity, model, zoo_dir=options.zoo_dir)
    if element is not None:
        checker.model_for(element)
    result = run_batch(
        paths,
        options,
        journal,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=lambda it, n: progress(it, n, desc="structures"),
    )
    for note in result.notes:
        print(f"xasflow: note: {note}", file=sys.stderr)
    for error in result.errors:
        report_problem(f"{error['source']}: {error['message']}")
    for record in result.predictions:
        outside = [s for s in record["sites"] if s.get("in_domain") is False]
        if outside:
            listing = ", ".join(f"{s['index']} (score {s['ood_score']:.2f})" for s in outside)
            print(
                f"xasflow: warning: {record['source']}: {record['element']} site(s) {listing} out of the model's "
                "training domain: treat these spectra with caution",
                file=sys.stderr,
            )
    if args.out is not None:
        write_predictions(args.out, result.predictions, result.errors)
    if args.plot is not None and result.predictions:
        plot_predictions(args.plot, result.predictions)
    journal.remove()
    sources = {p["source"] for p in result.predictions}
    resumed = f" ({result.resumed} from an interrupted run)" if result.resumed else ""
    print(
        f"{len(result.predictions)} spectra sets from {len(sources)} of {len(paths)} inputs{resumed}; "
        f"{len(result.errors)} failed" + "".join(f"; wrote {p}" for p in (args.out, args.plot) if p)
    )
    return 1 if result.errors or not paths else 0


def _model_argument(args: argparse.Namespace) -> str | None:
    """``--model`` as given: a zoo name, or a model file resolved to an absolute path (workers may differ in cwd)."""
    from xasflow.errors import XasflowError
    from xasflow.inference.predictor import is_model_file

    if not is_model_file(args.model):
        return args.model
    path = Path(args.model).resolve()
    if not path.is_file():
        raise XasflowError(f"{args.model}: no such model file")
    return str(path)


def _zoo_dir(args: argparse.Namespace) -> str | None:
    from xasflow.errors import XasflowError

    if args.zoo_dir is None:
        return None
    if not (args.zoo_dir / "index.json").is_file():
        raise XasflowError(f"{args.zoo_dir}: not a model zoo (no index.json)")
    return str(args.zoo_dir.resolve())


def _predict_features(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from xasflow.constants import energy_grid
    from xasflow.data.published import read_matrix
    from xasflow.errors import XasflowError, check_element
    from xasflow.fileio import atomic_open
    from xasflow.inference.predictor import Predictor, model_version

    if not args.element:
        raise XasflowError("--features needs --element")
    if args.out is None:
        raise XasflowError("--features needs --out FILE.json (mean, std, flags) or FILE.txt (mean only)")
    suffix = args.out.suffix.lower()
    if suffix not in (".json", ".txt"):
        raise XasflowError(f"{args.out}: --features writes .json (with std and flags) or .txt (mean spectra)")
    element = check_element(args.element)
    predictor = Predictor(args.fidelity, _model_argument(args), zoo_dir=_zoo_dir(args))
    model = predictor.model_for(element)
    features = read_matrix(args.features)
    if suffix == ".txt":
        spectra = predictor.predict_features(features, element)
        with atomic_open(args.out) as handle:
            np.savetxt(handle, spectra, fmt="%.10e")
        print(f"{len(spectra)} spectra written to {args.out}")
        return 0
    estimate = predictor.estimate_features(features, element)
    calibration = model.calibration_.get(element)
    out = {
        "element": element,
        "fidelity": predictor.fidelity,
        "model": model.name,
        "model_version": model_version(model),
        "units": "published OmniXAS units (mu x 1000)",
        "energies": [round(float(e), 6) for e in energy_grid(element)],
        "interval_95": round(calibration[0].z95, 4) if calibration else None,
        "spectra": estimate.mean.tolist(),
        "std": estimate.std.tolist(),
        "ood_score": [round(float(v), 4) for v in estimate.ood_score],
        "in_domain": [bool(v) for v in estimate.in_domain],
    }
    with atomic_open(args.out) as handle:
        json.dump(out, handle)
        handle.write("\n")
    flagged = int(np.sum(~estimate.in_domain))
    if flagged:
        message = f"{flagged} of {len(features)} rows out of the model's training domain (see in_domain)"
        print(f"xasflow: warning: {args.features}: {message}", file=sys.stderr)
    print(f"{len(features)} spectra (mean, std, domain flags) written to {args.out}")
    return 0
