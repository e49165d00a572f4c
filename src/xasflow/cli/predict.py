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
    parser.add_argument("--model", default=None, help="tuned | expert | universal (default: the set's best)")
    parser.add_argument("--sites", default="inequivalent", help="inequivalent (default) | all | i,j,...")
    parser.add_argument("--out", type=Path, help="output .csv or .json (for --features: a .txt)")
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
    options = RunOptions(element=element, fidelity=fidelity, model=args.model, sites=args.sites)
    journal = Journal(args.out or args.plot, options)
    if element is not None:
        # Fail fast, before any structure is read, when the set has no model at all.
        from xasflow.zoo import load_model

        load_model(element, fidelity, args.model)
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


def _predict_features(args: argparse.Namespace) -> int:
    import numpy as np

    from xasflow.data.published import read_matrix
    from xasflow.errors import XasflowError, check_element
    from xasflow.fileio import atomic_open
    from xasflow.inference.predictor import Predictor

    if not args.element:
        raise XasflowError("--features needs --element")
    if args.out is None:
        raise XasflowError("--features needs --out FILE.txt")
    features = read_matrix(args.features)
    spectra = Predictor(args.fidelity, args.model).predict_features(features, check_element(args.element))
    with atomic_open(args.out) as handle:
        np.savetxt(handle, spectra, fmt="%.10e")
    print(f"{len(spectra)} spectra written to {args.out}")
    return 0
