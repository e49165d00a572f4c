"""``xasflow bench``: prediction throughput and the speed-up over FEFF10."""

from __future__ import annotations

import argparse
import json

from xasflow.cli.common import add_data_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="throughput of featurization, network and FEFF10 on shared Cu data")
    add_data_dir(parser)
    parser.add_argument("--limit", type=int, default=200, help="number of Cu structures (default 200)")
    parser.add_argument("--feff", action="store_true", help="also time FEFF10 on one site (needs xasflow[feff])")
    parser.add_argument("--feff-site", help="site to time with FEFF10, MATERIAL_SITE (default: smallest cluster)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from xasflow.config import resolve_data_dir
    from xasflow.errors import XasflowError
    from xasflow.inference.bench import run_bench
    from xasflow.io.lightshow import element_dir

    if args.feff:
        try:
            import feff10  # noqa: F401
        except ImportError as exc:
            raise XasflowError("--feff needs FEFF10: pip install 'xasflow[feff]'") from exc
    tree = element_dir(resolve_data_dir(args.data_dir), "Cu")
    result = run_bench(tree, limit=args.limit, feff=args.feff, feff_site=args.feff_site)
    print(json.dumps(result.to_dict(), indent=2) if args.json else "\n".join(result.lines()))
    return 0
