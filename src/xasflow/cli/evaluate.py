"""``xasflow evaluate``: score a model on given features and spectra (η, MSE)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model on features + spectra",
        description="Predict spectra for the feature rows and score them against the given spectra. "
        "η uses the model's stored baseline (mean training spectrum of its set).",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="zoo model name (expert|universal|tuned|head; default: the set's default) or a model card path (.json)",
    )
    parser.add_argument("--element", required=True)
    parser.add_argument("--fidelity", default="FEFF")
    parser.add_argument("--features", type=Path, required=True, help="feature rows (.txt/.txt.gz/.npy), (n, 64)")
    parser.add_argument("--spectra", type=Path, required=True, help="target spectra (.txt/.txt.gz/.npy), (n, 141)")
    parser.add_argument("--zoo-dir", type=Path, default=None, help="zoo folder (default: $XASFLOW_ZOO_DIR or packaged)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from xasflow.constants import N_POINTS
    from xasflow.errors import XasflowError, check_element, check_fidelity
    from xasflow.evaluation.metrics import score
    from xasflow.io.omnixas import read_matrix
    from xasflow.models.estimator import XASRegressor
    from xasflow.zoo.registry import load_model

    element, fidelity = check_element(args.element), check_fidelity(args.fidelity)
    if args.model and (args.model.endswith(".json") or Path(args.model).is_file()):
        model = XASRegressor.load(Path(args.model))
    else:
        model = load_model(element, fidelity, args.model, root=args.zoo_dir)
    X = read_matrix(args.features, model.n_features)
    y = read_matrix(args.spectra, N_POINTS)
    if len(X) != len(y):
        raise XasflowError(f"{args.features} has {len(X)} rows but {args.spectra} has {len(y)}")
    prediction = model.predict(X, elements=element if model.conditioning else None)
    baseline = model.provenance_.baseline_spectrum
    note = "baseline: the model's mean training spectrum"
    if baseline is None:
        baseline, note = y.mean(axis=0), "baseline: mean of the given spectra (the model card has none)"
    scores = score(y, prediction, np.asarray(baseline))
    out = {
        "model": model.name,
        "element": element,
        "fidelity": fidelity,
        **scores.as_dict(),
        "note": note,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{element} {fidelity} {out['model']}: η {scores.eta:.3f}, MSE {scores.mse:.3e}, "
            f"median per-spectrum MSE {scores.median_mse:.3e} on {scores.n} spectra ({note})"
        )
    return 0
