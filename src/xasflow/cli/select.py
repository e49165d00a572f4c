"""``xasflow select``: cross-validated recipe selection (run the CV, then report and record the choice)."""

from __future__ import annotations

import argparse
from pathlib import Path

from xasflow.cli.common import add_data_dir
from xasflow.kinds import ModelKind


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("select", help="cross-validated selection of the recipe per set")
    sub = parser.add_subparsers(dest="select_command", required=True)

    run = sub.add_parser(
        "run",
        help="run (or resume) material-grouped k-fold CV of candidates on sets",
        description="Each (set, mode, candidate, feature, fold, seed) result is cached as JSON under "
        "--cache-dir, so a rerun skips finished runs. The published recipe is always a candidate.",
    )
    add_data_dir(run)
    run.add_argument("--cache-dir", type=Path, required=True, help="folder of cached results (outside git)")
    run.add_argument(
        "--dataset",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="complete dataset (published train+val) replacing a set's val rows (Cu FEFF)",
    )
    run.add_argument("--reserved", type=Path, default=None, help="folder of {El}_materials.txt never to be used")
    run.add_argument("--sets", default=None, help="comma-separated set keys (default: every set with spectra)")
    run.add_argument("--modes", default="expert", help="comma-separated: expert, universal, tuned")
    run.add_argument("--candidates", default=None, help="comma-separated candidate names (TRAIN or TRAIN|TUNE)")
    run.add_argument("--features", default="m3gnet", help="comma-separated feature names (expert only; a+b joins)")
    run.add_argument("--folds", type=int, default=5)
    run.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    run.add_argument(
        "--only-folds", default=None, help="comma-separated subset of the folds to run (default: all; resume later)"
    )
    run.add_argument("--max-epochs", type=int, default=None, help="cap on epochs (quick runs)")
    run.add_argument("--threads", type=int, default=1)
    run.set_defaults(handler=_run)

    report = sub.add_parser("report", help="tables of the cached CV results and the per-set choice")
    report.add_argument("--cache-dir", type=Path, required=True)
    report.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    report.add_argument("--selected", type=Path, default=None, help="write the per-set selection (JSON) here")
    report.add_argument("--folds", type=int, default=5)
    report.set_defaults(handler=_report)


def _run(args: argparse.Namespace) -> int:
    from xasflow.config import resolve_data_dir
    from xasflow.data.dataset import XASDataset
    from xasflow.errors import XasflowError
    from xasflow.training.candidates import candidate_names
    from xasflow.training.cv import CV_MODES, CVRunner, CVSettings, load_cv_sets
    from xasflow.training.full_data import check_full_dataset

    expert = ModelKind.EXPERT.value

    root = resolve_data_dir(args.data_dir)
    full = {}
    for path in args.dataset:
        dataset = check_full_dataset(XASDataset.load(path), path)
        full[dataset.name] = dataset
    sets = load_cv_sets(root, full, reserved_dir=args.reserved)
    keys = _csv(args.sets) if args.sets else list(sets)
    unknown = [k for k in keys if k not in sets]
    if unknown:
        raise XasflowError(f"no data for {', '.join(unknown)} (have {', '.join(sets)})")
    modes = _csv(args.modes)
    if bad := [m for m in modes if m not in CV_MODES]:
        raise XasflowError(f"unknown mode(s) {', '.join(bad)}; choose from {', '.join(CV_MODES)}")
    settings = CVSettings(
        n_folds=args.folds,
        seeds=tuple(int(s) for s in _csv(args.seeds)),
        max_epochs=args.max_epochs,
        threads=args.threads,
    )
    runner = CVRunner(sets, args.cache_dir, settings, log=lambda line: print(line, flush=True))
    candidates = candidate_names(args.candidates)
    folds = [int(f) for f in _csv(args.only_folds)] if args.only_folds else list(range(settings.n_folds))
    if bad := [f for f in folds if not 0 <= f < settings.n_folds]:
        raise XasflowError(f"folds {bad} out of range 0..{settings.n_folds - 1}")
    for seed in settings.seeds:
        for fold in folds:
            for mode in modes:
                for candidate in candidates:
                    for key in keys:
                        if mode == ModelKind.UNIVERSAL and sets[key].fidelity != "FEFF":
                            continue
                        features = _csv(args.features) if mode == expert else ["m3gnet"]
                        for feature in features:
                            if mode == expert and not all(p in sets[key].features for p in feature.split("+")):
                                continue
                            runner.run(key, mode, candidate, fold, seed, feature)
    return 0


def _report(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from xasflow.training.selection import write_report

    command = "xasflow " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "xasflow select report"
    text = write_report(args.cache_dir, out=args.out, selected=args.selected, n_folds=args.folds, command=command)
    if args.out is None:
        print(text)
    return 0
