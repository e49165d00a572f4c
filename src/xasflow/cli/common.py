"""Helpers shared by the CLI commands: error reporting, progress bars, threads."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from xasflow.errors import InputError

if TYPE_CHECKING:
    from xasflow.data.reserved import ReservedSet

T = TypeVar("T")


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def stop_like_ctrl_c() -> None:
    """Make SIGINT and SIGTERM stop the run as Ctrl-C does (finished work kept, exit 130).

    A job started in the background (``nohup ... &`` from a script) inherits SIGINT *ignored*, so
    ``kill -INT`` did nothing and ``kill`` (SIGTERM) ended it without its clean-up; both now raise
    ``KeyboardInterrupt`` in the main thread. A no-op outside the main thread (signal handlers
    can only be set there).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)


def report_problem(err: InputError | str) -> None:
    """One line on stderr per problem, naming the file."""
    print(f"xasflow: {err}", file=sys.stderr)


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    """A tqdm bar on stderr (hidden when stderr is not a terminal and XASFLOW_PROGRESS=0)."""
    from tqdm.auto import tqdm

    disable = os.environ.get("XASFLOW_PROGRESS") == "0"
    return iter(tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr, mininterval=1.0))


def add_data_dir(parser) -> None:
    """The shared ``--data-dir`` option."""
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data root in the OmniXAS layout (default: $XASFLOW_DATA_DIR)",
    )


def add_reserved_options(parser, left_out: str, inputs: str, include_help: str) -> None:
    """The ``--reserved`` / ``--include-reserved`` pair of every command that could touch reserved sites.

    ``left_out`` says what happens to reserved sites ("left out", "never simulated"), ``inputs``
    where a ``reserved/`` folder is searched, ``include_help`` what ``--include-reserved`` is for.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--reserved",
        type=Path,
        default=None,
        help=f"reserved-materials list (or a folder of {{El}}_materials.txt) whose sites are {left_out}; default: "
        f"$XASFLOW_RESERVED_DIR, a reserved/ folder in or above {inputs}, or DATA_DIR/../reserved",
    )
    group.add_argument("--include-reserved", action="store_true", help=include_help)


def reserved_from_args(args, element: str, inputs: list) -> ReservedSet:
    """The reserved set the options name (empty with ``--include-reserved``), announced on stdout."""
    from xasflow.data.reserved import ReservedSet, resolve_reserved

    if args.include_reserved:
        print("reserved: --include-reserved")
        return ReservedSet(element)
    reserved = resolve_reserved(element, args.reserved, args.data_dir, inputs)
    print(f"reserved: {reserved.describe()}")
    return reserved
