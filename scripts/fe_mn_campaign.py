"""Resumable Fe/Mn campaign: inequivalent sites of the shared structures, material coverage first, alternating elements.

Usage::

    python scripts/fe_mn_campaign.py STRUCTURES --out /work/cache/feff/fe_mn --cards screening-s5 \
        --timeout 1800 --hours 1.5 [--merge ../shared/data/simulated/fe_mn] [--priority FILE] \
        [--workers 1 | --scheduler tcp://HOST:8786]

First copies the sites of every ``--merge`` tree (another ``simulate`` output, e.g. the shared extra
batch) into ``--out`` (``xasflow.simulation.output.merge_tree``: present sites skipped, conflicting
ones reported and left alone, reserved materials never copied). Then plans each element once
(``xasflow.simulation.campaign.plan_campaign``: reserved materials excluded, finished and given-up
sites skipped, inputs built) and runs the sites Fe, Mn, Fe, ... in ``--order coverage``
(every material of the pool gets one site, its cheapest, before any gets a second) on one Dask
client, ``--workers`` sites at a time (one lane per worker takes the next planned site when its own
finishes), until the sites or ``--hours`` run out. ``--priority FILE`` (site ids, one per line, best first;
``scripts/campaign_priority.py`` writes one by feature-space diversity) orders the sites within each
coverage round: listed sites first, in the file's order, then the rest cheapest first (a material's first
site is then its first listed one); ids of other elements or finished sites are ignored. Each element's
report is ``OUT/{El}/simulate_report_{start}.json``, rewritten after every site. Rerunning the same
command resumes: finished sites are skipped, sites that failed every rung of
the retry ladder are not tried again (``--retry-failed`` does), an interrupted site is rerun.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from xasflow.cli.common import stop_like_ctrl_c
from xasflow.data.reserved import resolve_reserved
from xasflow.errors import XasflowError
from xasflow.parallel import start_client, stop_client
from xasflow.simulation.campaign import (
    ORDERS,
    CampaignConfig,
    CampaignReport,
    Plan,
    plan_campaign,
    read_priority,
    run_campaign,
)
from xasflow.simulation.feff_cards import get_feff_card_set
from xasflow.simulation.ladder import get_ladder
from xasflow.simulation.output import merge_tree

ELEMENTS = ("Fe", "Mn")


def _interleave(plans: dict[str, Plan]) -> list[tuple[str, object]]:
    lanes = [[(el, t) for t in plan.tasks] for el, plan in plans.items()]
    return [pair for group in itertools.zip_longest(*lanes) for pair in group if pair is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("structures", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--cards", default="screening-s5", help="FEFF card set (default: the one the campaign started with)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="per FEFF run (s)")
    parser.add_argument("--hours", type=float, default=None, help="start no new site after this many hours")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--ladder", default="default")
    parser.add_argument("--retry-failed", action="store_true")
    parser.add_argument("--reserved", type=Path, default=None, help="folder of {El}_materials.txt")
    parser.add_argument("--elements", default=",".join(ELEMENTS))
    parser.add_argument("--order", choices=ORDERS, default="coverage")
    parser.add_argument("--merge", type=Path, action="append", default=[], help="another simulate tree to merge in")
    parser.add_argument(
        "--priority",
        type=Path,
        action="append",
        default=[],
        help="file of site ids, best first, leading each coverage round (scripts/campaign_priority.py); repeatable",
    )
    parser.add_argument("--plan", action="store_true", help="print the interleaved order and estimates; run nothing")
    args = parser.parse_args(argv)
    try:
        priority = tuple(dict.fromkeys(i for path in args.priority for i in read_priority(path)))
        if priority and args.order != "coverage":
            raise XasflowError(f"--priority orders the rounds of --order coverage, not --order {args.order}")
    except XasflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out.resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M")
    plans: dict[str, Plan] = {}
    for element in args.elements.split(","):
        reserved = resolve_reserved(element, args.reserved, paths=list(args.structures))
        for tree in args.merge:
            merged = merge_tree(tree, out, element, reserved.materials)
            print(
                f"{element}: merged {tree}: {len(merged.copied)} copied, {len(merged.present)} present, "
                f"{len(merged.skipped_reserved)} reserved left out, {len(merged.conflicts)} conflicts",
                flush=True,
            )
            for conflict in merged.conflicts:
                print(f"  conflict: {conflict}", flush=True)
        config = CampaignConfig(
            element=element,
            feff_card_set=get_feff_card_set(args.cards),
            out=out,
            order=args.order,
            timeout=args.timeout,
            retries=0,
            ladder=get_ladder(args.ladder),
            reserved=reserved,
            retry_failed=args.retry_failed,
            priority=priority,
        )
        plans[element] = plan_campaign(args.structures, config)
        p = plans[element]
        print(
            f"{element}: {len(p.tasks)} to run, {len(p.done)} finished earlier, {len(p.given_up)} given up, "
            f"{len(p.reserved)} reserved ({config.reserved.describe()}), {len(p.conflicts)} conflicts",
            flush=True,
        )
    if args.plan:
        total = 0.0
        for element, task in _interleave(plans):
            total += task.est_seconds
            sizes = f"atoms {task.n_atoms:>4} fms {task.n_fms:>4}"
            print(f"{element} {task.site_id:<16} {sizes} est {task.est_seconds:>6.0f} s")
        for name in plans[next(iter(plans))].estimates_by_set:
            hours = sum(p.estimates_by_set[name] for p in plans.values()) / 3600
            print(f"estimated CPU hours of all remaining sites with card set {name}: {hours:.1f}")
        return 0
    reports = {
        el: CampaignReport(
            config=p.config,
            outcomes=[*p.done, *p.conflicts, *p.given_up, *p.reserved],
            problems=list(p.problems),
            started=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        for el, p in plans.items()
    }
    paths = {el: out / el / f"simulate_report_{stamp}.json" for el in plans}
    for el, report in reports.items():
        report.save(paths[el])
    client = start_client(args.workers, args.scheduler)
    lanes = max(1, len(client.scheduler_info().get("workers", {}))) if args.scheduler else args.workers
    start = time.monotonic()
    queue = iter(_interleave(plans))
    lock = threading.Lock()  # guards the queue, the reports and the log lines
    stop = threading.Event()

    def lane(number: int) -> None:
        # One site at a time per lane, so ``--hours`` is checked before every new site and each finished
        # site is recorded at once; the lanes share the client, whose workers run their sites side by side.
        scratch = out / ".work" / f"round_report_{stamp}_{'-'.join(plans)}_{number}.json"
        try:
            while not stop.is_set():
                with lock:
                    if args.hours is not None and time.monotonic() - start > 3600 * args.hours:
                        if not stop.is_set():
                            print(f"time budget of {args.hours} h reached; rerun the command to continue", flush=True)
                        stop.set()
                        return
                    item = next(queue, None)
                if item is None:
                    return
                element, task = item
                done = run_campaign(Plan(config=plans[element].config, tasks=[task]), client, scratch)
                with lock:
                    report = reports[element]
                    report.outcomes.extend(done.outcomes)
                    report.wall_seconds = time.monotonic() - start  # campaign wall time so far (all lanes)
                    report.workers = lanes
                    report.save(paths[element])
                    if done.interrupted:  # cancelled under us (Ctrl-C): run_campaign recorded nothing
                        stop.set()
                        print(
                            f"{datetime.now(UTC):%H:%M:%S} {element} {task.site_id:<16} atoms {task.n_atoms:>4} "
                            f"{'interrupted':<8} rung {'-':<12} {0.0:>7.1f} s  resumes on the next run",
                            flush=True,
                        )
                        return
                    o = done.outcomes[-1]
                    print(
                        f"{datetime.now(UTC):%H:%M:%S} {element} {o.site_id:<16} atoms {o.n_atoms:>4} "
                        f"{o.status:<8} rung {o.rung or '-':<12} {o.seconds:>7.1f} s  {o.reason[:160]}",
                        flush=True,
                    )
        finally:
            scratch.unlink(missing_ok=True)
            ended[number].set()

    # The main thread waits on these, not on Thread.join: a join cut short by Ctrl-C can leave the thread
    # marked finished while it runs (seen on CPython 3.11), and the lanes' last log lines were lost that way.
    ended = [threading.Event() for _ in range(lanes)]
    threads = [threading.Thread(target=lane, args=(i,), daemon=True) for i in range(lanes)]
    code = 0
    stop_like_ctrl_c()  # under nohup SIGINT starts ignored; kill -INT / kill then stop it as Ctrl-C does
    try:
        for thread in threads:
            thread.start()
        for event in ended:
            while not event.wait(timeout=1.0):  # a timed wait lets Ctrl-C reach the main thread
                pass
    except KeyboardInterrupt:
        stop.set()
        with lock:
            for report in reports.values():
                report.interrupted = True
        code = 130
    finally:
        stop_client(client)
        for event in ended:  # let the lanes log their cancelled sites as interrupted
            event.wait(timeout=30.0)
        with lock:
            for el, report in reports.items():
                report.save(paths[el])
    if code:
        print(
            "interrupted: finished sites are kept; the running ones resume when the same command is rerun",
            file=sys.stderr,
            flush=True,
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
