"""``xasflow learn``: active-learning campaigns (predict → choose → simulate → ingest → refit), resumable."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from xasflow.cli.common import add_data_dir, report_problem


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "learn",
        help="active learning: choose the sites to simulate next with the current ensemble, refit with transfer",
        description="Each round predicts every candidate site with the current ensemble, chooses a batch by an "
        "acquisition rule, labels it (FEFF10 on Dask, or published rows with --replay), stores the spectra and "
        "refits by fine-tuning a descriptor-coded universal model. Every step is checkpointed in --out: rerunning "
        "the same command continues.",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="candidate structure files or folders (FEFF oracle)")
    parser.add_argument("--element", required=True, help="absorbing element (K edge)")
    parser.add_argument("--out", type=Path, required=True, help="campaign folder (state, labels, models, FEFF runs)")
    add_data_dir(parser)
    parser.add_argument("--replay", action="store_true", help="oracle = the element's published rows (no FEFF)")
    parser.add_argument(
        "--rule", default="representative", help="representative (default), hybrid, uncertainty, diversity or random"
    )
    parser.add_argument("--batch", type=int, default=30, help="sites per round (default 30)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds in total (default 10); raise it to go on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--members", type=int, default=3, help="ensemble members (default 3; at least 2)")
    parser.add_argument(
        "--reserved-dir",
        type=Path,
        default=None,
        help="folder of {El}_materials.txt lists never to choose (default $XASFLOW_RESERVED_DIR "
        "or reserved/ beside the data root)",
    )
    parser.add_argument("--cards", default="fast", help="FEFF card set (default fast)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, help="local Dask worker processes (default 1)")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--timeout", type=float, default=None, help="per-site FEFF time limit in seconds")
    parser.set_defaults(handler=_learn)


def _learn(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from xasflow.active.learner import Campaign, HeldOut, LearnConfig, TransferRefit
    from xasflow.active.pool import pool_from_structures
    from xasflow.active.setup import base_model, replay_setup
    from xasflow.data.reserved import default_reserved_dir, reserved_materials
    from xasflow.errors import XasflowError, check_element
    from xasflow.training.config import transfer_recipe

    element = check_element(args.element)
    if args.data_dir is None and os.environ.get("XASFLOW_DATA_DIR"):
        args.data_dir = os.environ["XASFLOW_DATA_DIR"]
    if args.data_dir is None:
        raise XasflowError("--data-dir (or $XASFLOW_DATA_DIR) is needed: the starting model is pretrained on it")
    root = Path(args.data_dir)
    config = LearnConfig(element, rule=args.rule, batch=args.batch, rounds=args.rounds, seed=args.seed)
    reserved_dir = args.reserved_dir or default_reserved_dir(root)
    excluded = reserved_materials(reserved_dir, element)
    if reserved_dir is None:
        report_problem(f"no reserved-material lists found; nothing is excluded for {element}")
    heldout = None
    args.out.mkdir(parents=True, exist_ok=True)
    problems = 0
    if args.replay:
        if args.paths:
            raise XasflowError("--replay takes no structure paths (the pool is the element's published rows)")
        pool, oracle, (Xh, yh, baseline) = replay_setup(root, element, reserved_dir)
        heldout = HeldOut(Xh, yh, baseline)
    else:
        if not args.paths:
            raise XasflowError("give candidate structure files or folders (or --replay)")
        from xasflow.active.oracles import FeffOracle

        pool, errors, sources = pool_from_structures(args.paths, element, cache_dir=args.out / "feature_cache")
        for err in errors:
            report_problem(err)
        problems += len(errors)
        oracle = FeffOracle(sources, element, args.cards, args.out / "feff", lambda: _client(args), args.timeout)
    dropped = sum(m in excluded for m in pool.materials)
    print(
        f"{element}: {len(pool)} candidate sites, {dropped} of them on reserved materials (never chosen; "
        f"{len(excluded)} reserved {element} materials listed); rule {config.rule}, "
        f"batch {config.batch}, {config.rounds} rounds"
    )
    settings = transfer_recipe(members=args.members)
    refit = TransferRefit(
        base_model(args.out, root, element, settings, args.seed, reserved_dir), element, settings, args.seed
    )
    campaign = Campaign(args.out, config, pool, excluded)
    done = sum(r.status == "fitted" for r in campaign.rounds)
    bar = tqdm(
        total=config.rounds,
        initial=done,
        desc="rounds",
        file=sys.stderr,
        disable=os.environ.get("XASFLOW_PROGRESS") == "0",
    )

    def on_round(rep) -> None:
        bar.update(1)
        eta = f", held-out η {rep.heldout_eta:.2f}" if rep.heldout_eta is not None else ""
        std = f", mean predicted std {rep.mean_predicted_std:.4f}" if rep.mean_predicted_std is not None else ""
        tqdm.write(
            f"round {rep.round}: {rep.labelled}/{rep.chosen} labelled, {rep.failed} failed, "
            f"{rep.labels_total} sites spent in total, {rep.candidates_left} candidates left{eta}{std}",
            file=sys.stderr,
        )

    def on_message(message: str) -> None:
        tqdm.write(f"xasflow: {message}", file=sys.stderr)

    try:
        reports = campaign.run(oracle, refit, heldout, on_round=on_round, on_message=on_message)
    finally:
        bar.close()
    print(
        f"{len(reports)} rounds finished, {len(campaign.labels)} labelled sites, {len(campaign.failed)} failed; "
        f"state: {args.out / 'state.json'}"
    )
    return 1 if problems or campaign.failed else 0


def _client(args: argparse.Namespace):
    from xasflow.parallel import start_client

    return start_client(args.workers, args.scheduler)
