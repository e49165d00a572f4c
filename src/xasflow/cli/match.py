"""``xasflow match``: rank candidate structures (or fit a mixture) against a measured spectrum."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from xasflow.cli.common import report_problem


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "match",
        help="rank candidate structures against a measured spectrum (XDI, Athena, columns)",
        description="Predict each candidate, normalise and align, score, rank; --mix fits a linear combination.",
    )
    parser.add_argument("measured", type=Path, help="measured spectrum: XDI, Athena project or energy/mu columns")
    parser.add_argument("structures", nargs="+", type=Path, help="candidate structure files or folders")
    parser.add_argument("--element", required=True, help="absorbing element (K edge)")
    parser.add_argument("--out", type=Path, help="ranking CSV (with --mix also OUT_mixture.csv)")
    parser.add_argument("--plot", type=Path, help="overlay PNG of the measurement and the top candidates")
    parser.add_argument("--top", type=int, default=3, help="candidates in the plot (default 3)")
    parser.add_argument("--mix", action="store_true", help="also fit a non-negative linear combination")
    parser.add_argument("--columns", help="column override, e.g. energy=1,mu=4 or energy=1,i0=2,itrans=3")
    parser.add_argument("--group", help="group of an Athena project holding several spectra")
    parser.add_argument(
        "--metric",
        default=None,
        help="rfactor (default) | pearson | cosine | dpearson | likelihood (σ-weighted, uses the calibrated std)",
    )
    parser.add_argument("--offset", type=float, help="centre of the shift range, eV (default: per element)")
    parser.add_argument("--shift-bound", type=float, help="half-width of the shift range, eV (default: per element)")
    parser.add_argument("--sigma", type=float, help="fixed Gaussian broadening, eV (default: fitted 0-3 eV)")
    parser.add_argument("--fidelity", default="FEFF", help="FEFF (default) or VASP")
    parser.add_argument("--model", default=None, help="tuned | expert | universal (default: the set's best)")
    parser.add_argument(
        "--simulated",
        type=Path,
        default=None,
        help="rank with the candidates' FEFF spectra from this `xasflow simulate --out` tree instead of predictions "
        "(shortlist with predictions, simulate the top few, confirm with --simulated)",
    )
    parser.set_defaults(handler=_match)


def _match(args: argparse.Namespace) -> int:
    from xasflow.compare import DEFAULT_METRIC, AlignConfig, Candidate, match, mix, normalize
    from xasflow.errors import InputError, XasflowError, check_element
    from xasflow.inference.predictor import Predictor
    from xasflow.io.measured import read_measured
    from xasflow.io.structures import expand_paths, read_structure

    element = check_element(args.element)
    if args.top < 1:
        raise XasflowError("--top must be >= 1")
    config = AlignConfig(offset=args.offset, shift_bound=args.shift_bound, sigma=args.sigma)
    if config.bound(element) < 0 or (args.sigma is not None and args.sigma < 0):
        raise XasflowError("--shift-bound and --sigma must be >= 0")
    metric = args.metric or DEFAULT_METRIC
    measured = normalize(read_measured(args.measured, columns=args.columns, group=args.group), element)

    if args.simulated is None:
        predictor = Predictor(fidelity=args.fidelity, model=args.model)
        predictor.model_for(element)  # fail fast when the set has no model

        def candidate(path: Path) -> Candidate:
            prediction = predictor.predict_structure(read_structure(path), element, str(path))
            return Candidate.from_prediction(prediction)

    elif args.simulated.is_dir():

        def candidate(path: Path) -> Candidate:
            return Candidate.from_simulation(args.simulated, path, element)

    else:
        raise XasflowError(f"--simulated {args.simulated}: not a folder")
    candidates, failures = [], 0
    for path in expand_paths(args.structures):
        try:
            candidates.append(candidate(path))
        except InputError as err:
            report_problem(err)
            failures += 1
    if not candidates:
        raise XasflowError("no usable candidate structure")
    result = match(measured, candidates, element, metric=metric, config=config)
    _print_ranking(result)
    if args.out is not None:
        from xasflow.io.ranking import write_ranking

        write_ranking(args.out, result)
    if args.plot is not None:
        from xasflow.compare.plot import plot_match

        plot_match(result, args.plot, top=args.top)
    if args.mix:
        mixture = mix(measured, candidates, element, config=config)
        _print_mixture(mixture)
        if args.out is not None:
            _write_mixture(mixture, args.out.with_name(f"{args.out.stem}_mixture.csv"))
        if args.plot is not None:
            from xasflow.compare.plot import plot_mixture

            plot_mixture(mixture, measured.source, args.plot.with_name(f"{args.plot.stem}_mixture.png"))
    return 1 if failures else 0


def _print_ranking(result) -> None:
    m = result.measured
    print(f"{Path(m.source).name}: {result.element} K edge, E0 {m.e0:.2f} eV, edge step {m.edge_step:.4g}")
    print(
        f"score: {result.metric} similarity (higher = better); R: R-factor misfit (lower = better); "
        "conf: probability that the candidate is the measured compound"
    )
    print(
        f"{'rank':>4}  {'formula':14s} {'score':>8s} {'R':>7s} {'conf':>5s} "
        f"{'shift_eV':>9s} {'sigma_eV':>9s} {'scale':>6s}  source"
    )
    for e in result.entries:
        a = e.alignment
        flag = " (shift at bound)" if a.shift_at_bound else ""
        origin = " (FEFF)" if e.candidate.origin == "FEFF" else ""
        print(
            f"{e.rank:>4}  {e.candidate.formula:14s} {e.score:8.4f} {e.r_factor:7.4f} {e.confidence:5.2f} "
            f"{a.shift:+9.2f} {a.sigma:9.2f} "
            f"{a.scale:6.3f}  {e.candidate.source}{origin}{flag}"
        )
    if result.entries and result.entries[0].near_tie:
        print("near tie: the runner-up is at least half as probable as rank 1; the ranking cannot tell them apart")


def _print_mixture(mixture) -> None:
    print(
        f"mixture: shift {mixture.shift:+.2f} ± {mixture.shift_std:.2f} eV, sigma {mixture.sigma:.2f} eV, "
        f"scale {mixture.scale:.3f}, R {mixture.r_factor:.5f}"
    )
    for source, formula, fraction, std in mixture.table():
        print(f"  {formula:14s} {fraction:7.3f} ± {std:.3f}  {source}")


def _write_mixture(mixture, path: Path) -> None:
    from xasflow.fileio import atomic_open

    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "formula", "fraction", "fraction_std", "shift_eV", "sigma_eV", "scale", "r_factor"])
        for source, formula, fraction, std in mixture.table():
            writer.writerow(
                [
                    source,
                    formula,
                    f"{fraction:.6f}",
                    f"{std:.6f}",
                    f"{mixture.shift:.4f}",
                    f"{mixture.sigma:.4f}",
                    f"{mixture.scale:.5f}",
                    f"{mixture.r_factor:.6f}",
                ]
            )
