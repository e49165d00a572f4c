"""Entry point of the ``xasflow`` command."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from xasflow import __version__
from xasflow.cli.common import stop_like_ctrl_c
from xasflow.errors import XasflowError

#: Sub-command modules; each defines ``register(subparsers)``.
COMMANDS: tuple[str, ...] = (
    "data",
    "featurize",
    "simulate",
    "learn",
    "predict",
    "bench",
    "train",
    "evaluate",
    "experiment",
    "zoo",
    "match",
    "select",
    "serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xasflow", description="K-edge XANES from crystal structures with transfer-learned networks."
    )
    parser.add_argument("--version", action="version", version=f"xasflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"xasflow.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 some inputs failed, 2 usage or fatal error)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    stop_like_ctrl_c()
    try:
        return int(args.handler(args) or 0)
    except XasflowError as err:
        print(f"xasflow: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xasflow: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
