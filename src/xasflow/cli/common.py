"""Helpers shared by the CLI commands: error reporting, progress bars, threads."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from xasflow.errors import InputError

T = TypeVar("T")


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
