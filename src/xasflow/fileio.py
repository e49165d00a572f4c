"""Atomic file writing: a reader never sees a half-written output."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from xasflow.errors import XasflowError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; outputs get the permissions an ordinary open() would give them.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO]:
    """Open a file for writing that appears at ``path`` only once fully written."""
    with atomic_path(path) as tmp, open(tmp, mode) as handle:
        yield handle


def check_output_file(path: str | os.PathLike[str], suffixes: tuple[str, ...] | None = None) -> Path:
    """Check before any work that ``path`` can be written as a file; returns it.

    The one rule of every command: a missing parent folder is created when the output is written;
    a path that is a folder, lies below a file, sits in a folder we cannot write, or has another
    suffix than ``suffixes`` is refused.

    Raises
    ------
    XasflowError
        Naming the path and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise XasflowError(f"{path}: is a folder; give a file name")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise XasflowError(f"{path}: output must end in {' or '.join(suffixes)}")
    _check_parent_writable(path)
    return path


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """Check before any work that ``path`` can be (or already is) a folder to write into; returns it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise XasflowError(f"{path}: exists and is not a folder")
    _check_parent_writable(path / "x")
    return path


def _check_parent_writable(path: Path) -> None:
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise XasflowError(f"{path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise XasflowError(f"{path}: folder {parent} is not writable")
