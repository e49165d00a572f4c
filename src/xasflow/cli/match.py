"""``xasflow match``: rank candidate structures (or fit a mixture) against a measured spectrum."""

from __future__ import annotations

import argparse
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
    parser.add_argument(
        "--out", type=Path, help="ranking .csv (with --mix also OUT_mixture.csv) or .json (ranking, mixture and errors)"
    )
    parser.add_argument(
        "--plot", type=Path, help="overlay figure (.png, .pdf or .svg) of the measurement and the top candidates"
    )
    parser.add_argument("--top", type=int, default=3, help="candidates in the plot (default 3)")
    parser.add_argument("--mix", action="store_true", help="also fit a non-negative linear combination")
    parser.add_argument("--columns", help="column override, e.g. energy=1,mu=4 or energy=1,i0=2,itrans=3")
    parser.add_argument(
        "--energy-unit", choices=("eV", "keV"), default="eV", help="unit of the measured file's energies (default eV)"
    )
    parser.add_argument("--group", help="group of an Athena project holding several spectra")
    parser.add_argument(
        "--metric",
        default=None,
        help="rfactor (default) | pearson | cosine | dpearson | likelihood (σ-weighted, uses the calibrated std)",
    )
    parser.add_argument("--offset", type=float, help="centre of the shift range, eV (default: per element)")
    parser.add_argument(
        "--offset-rule",
        choices=("oxidation", "element"),  # compare.align.OFFSET_RULES; literal to keep the parser import-light
        default="element",
        help="without --offset, centre the shift range by the element alone (default) or, for Fe and Mn, by each "
        "candidate's oxidation state",
    )
    parser.add_argument("--shift-bound", type=float, help="half-width of the shift range, eV (default: per element)")
    parser.add_argument("--sigma", type=float, help="fixed Gaussian broadening, eV (default: fitted 0-3 eV)")
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
        "--simulated",
        type=Path,
        default=None,
        help="rank with the candidates' FEFF spectra from this `xasflow simulate --out` tree instead of predictions "
        "(shortlist with predictions, simulate the top few, confirm with --simulated)",
    )
    parser.set_defaults(handler=_match)


def _match(args: argparse.Namespace) -> int:
    from xasflow.compare.matching import NoCandidateError, match
    from xasflow.fileio import check_output_file
    from xasflow.io.ranking import RANKING_SUFFIXES, mixture_path
    from xasflow.plots import FIGURE_SUFFIXES
    from xasflow.plots.match import check_top, mixture_figure_path, plot_match, plot_mixture

    check_top(args.top)
    if args.out is not None:
        check_output_file(args.out, RANKING_SUFFIXES)
    if args.plot is not None:
        check_output_file(args.plot, FIGURE_SUFFIXES)
    try:
        ranking = match(
            args.measured,
            args.structures,
            args.element,
            fidelity=args.fidelity,
            model=args.model,
            zoo_dir=args.zoo_dir,
            sites=args.sites,
            symprec=args.symprec,
            metric=args.metric,
            offset=args.offset,
            shift_bound=args.shift_bound,
            sigma=args.sigma,
            offset_rule=args.offset_rule,
            columns=args.columns,
            energy_unit=args.energy_unit,
            group=args.group,
            simulated=args.simulated,
            mix=args.mix,
        )
    except NoCandidateError as err:
        _report(err.errors)
        raise
    _report(ranking.errors)
    _print_ranking(ranking)
    if args.out is not None:
        ranking.write(args.out)
    if args.plot is not None:
        plot_match(ranking, args.plot, top=args.top)
    if ranking.mixture is not None:
        _print_mixture(ranking.mixture)
        if args.out is not None and args.out.suffix.lower() == ".csv":  # a JSON ranking holds its mixture
            ranking.mixture.write(mixture_path(args.out))
        if args.plot is not None:
            plot_mixture(ranking.mixture, ranking.measured.source, mixture_figure_path(args.plot))
    return 1 if ranking.errors else 0


def _report(errors: list[tuple[str, str]]) -> None:
    for source, message in errors:
        report_problem(f"{source}: {message}")


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
