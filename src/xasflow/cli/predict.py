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
        help="tuned | expert | universal | head (default: the set's best), or a model card (.json) of `xasflow train`",
    )
    parser.add_argument("--zoo-dir", type=Path, default=None, help="model zoo folder (default: the packaged zoo)")
    parser.add_argument("--sites", default="inequivalent", help="inequivalent (default) | all | i,j,...")
    parser.add_argument("--symprec", type=float, default=0.01, help="symmetry tolerance in Å (default 0.01)")
    parser.add_argument(
        "--out",
        type=Path,
        help="output .csv or .json (for --features: .json with std and flags, or .txt/.npy means only)",
    )
    parser.add_argument("--plot", type=Path, help="figure of the site-averaged spectra (.png, .pdf or .svg)")
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
    from xasflow.data.sites import check_symprec, parse_selection
    from xasflow.errors import check_element, check_fidelity
    from xasflow.fileio import check_output_file
    from xasflow.inference.batch import run_batch
    from xasflow.inference.journal import Journal, RunOptions
    from xasflow.inference.predictor import check_model_name
    from xasflow.io.predictions import OUTPUT_SUFFIXES, write_predictions
    from xasflow.io.structures import collect_inputs
    from xasflow.plots import FIGURE_SUFFIXES

    # Everything that can be refused is refused before any structure is read.
    fidelity = check_fidelity(args.fidelity)
    element = check_element(args.element) if args.element else None
    parse_selection(args.sites)
    symprec = check_symprec(args.symprec)
    if args.out is not None:
        check_output_file(args.out, OUTPUT_SUFFIXES)
    if args.plot is not None:
        check_output_file(args.plot, FIGURE_SUFFIXES)
    model = _model_argument(args)
    zoo_dir = _zoo_dir(args)
    if not (args.workers or args.scheduler):
        check_model_name(model, element, fidelity, zoo_dir)  # on Dask, each worker checks as it loads the model
    paths, folder_problems = collect_inputs(args.paths)
    options = RunOptions(
        element=element, fidelity=fidelity, model=model, sites=args.sites, zoo_dir=zoo_dir, symprec=symprec
    )
    journal = Journal(args.out or args.plot, options)
    result = run_batch(
        paths,
        options,
        journal,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=lambda it, n: progress(it, n, desc="structures"),
    )
    errors = [{"source": p.source, "message": p.message} for p in folder_problems] + result.errors
    for note in result.notes:
        print(f"xasflow: note: {note}", file=sys.stderr)
    for note in _quality_notes(result.predictions, zoo_dir):
        print(f"xasflow: note: {note}", file=sys.stderr)
    for error in errors:
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
        write_predictions(args.out, result.predictions, errors)
    if args.plot is not None and result.predictions:
        from xasflow.plots.predictions import plot_predictions

        plot_predictions(args.plot, result.predictions)
    journal.remove()
    sources = {p["source"] for p in result.predictions}
    resumed = f" ({result.resumed} from an interrupted run)" if result.resumed else ""
    print(
        f"{len(result.predictions)} spectra sets from {len(sources)} of {len(paths)} inputs{resumed}; "
        f"{len(errors)} failed" + "".join(f"; wrote {p}" for p in (args.out, args.plot) if p)
    )
    return 1 if errors or not paths else 0


def _quality_notes(predictions: list[dict], zoo_dir) -> list[str]:
    """Once per run and model of a new-element set (Fe, Mn): what it was trained on, how well it does."""
    from xasflow.inference.predictor import is_model_file
    from xasflow.zoo.registry import quality_note

    seen, notes = set(), []
    for record in predictions:
        key = (record["element"], record["fidelity"], record.get("model"))
        if key in seen or is_model_file(key[2]):
            continue
        seen.add(key)
        if note := quality_note(*key, root=zoo_dir):
            notes.append(note)
    return notes


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
    import numpy as np

    from xasflow.constants import energy_grid
    from xasflow.errors import XasflowError, check_element
    from xasflow.fileio import check_output_file
    from xasflow.inference.predictor import Predictor, model_version
    from xasflow.io.omnixas import MATRIX_SUFFIXES, read_matrix, write_matrix
    from xasflow.io.predictions import write_feature_predictions

    if not args.element:
        raise XasflowError("--features needs --element")
    if args.out is None:
        raise XasflowError("--features needs --out FILE.json (mean, std, flags) or FILE.txt/.npy (mean only)")
    check_output_file(args.out, (".json", *MATRIX_SUFFIXES))
    suffix = args.out.suffix.lower()
    element = check_element(args.element)
    predictor = Predictor(args.fidelity, _model_argument(args), zoo_dir=_zoo_dir(args))
    model = predictor.model_for_rows(element)  # feature rows are in the published convention
    features = read_matrix(args.features)
    if suffix in MATRIX_SUFFIXES:
        spectra = predictor.predict_features(features, element)
        write_matrix(args.out, spectra, fmt="%.10e")
        print(f"{len(spectra)} spectra written to {args.out}")
        return 0
    estimate = predictor.estimate_features(features, element)
    calibration = model.calibration_.get(element)
    write_feature_predictions(
        args.out,
        element=element,
        fidelity=predictor.fidelity,
        model=model.name,
        model_version=model_version(model),
        energies=energy_grid(element),
        interval_95=round(calibration[0].z95, 4) if calibration else None,
        estimate=estimate,
    )
    flagged = int(np.sum(~estimate.in_domain))
    if flagged:
        message = f"{flagged} of {len(features)} rows out of the model's training domain (see in_domain)"
        print(f"xasflow: warning: {args.features}: {message}", file=sys.stderr)
    print(f"{len(features)} spectra (mean, std, domain flags) written to {args.out}")
    return 0
