"""Uploaded files on the server's disk: server-chosen names, a fresh folder per request, always removed.

An upload's own name is never a path: only its sanitised suffix (so pymatgen and larch can tell the
format) and a few format names pymatgen reads by file name (POSCAR, CONTCAR, vasprun) survive into the
name on disk. The original name is kept as the label (``source``) of what the file gives.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: File names pymatgen recognises by their stem rather than their suffix.
_NAMED_FORMATS = ("POSCAR", "CONTCAR", "vasprun")
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")
_CHUNK = 1 << 20


class UploadTooLarge(Exception):
    """The request's uploads exceed the server's limit."""


@dataclass(frozen=True)
class SavedUpload:
    """An upload on disk (``path``) and the name its sender gave it (``name``, a label only)."""

    path: Path
    name: str


def label(filename: str | None, index: int) -> str:
    """The original name as a label: its last path component, printable, at most 200 characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[:200] or f"upload-{index + 1}"


def disk_name(filename: str | None, index: int) -> str:
    """The server-chosen name of upload ``index``: ``upload-N`` plus a sanitised suffix (up to two)."""
    name = label(filename, index)
    stem = next((f for f in _NAMED_FORMATS if f.lower() in name.lower()), f"upload-{index + 1}")
    suffixes = [s for s in Path(name).suffixes[-2:] if _SUFFIX.match(s)]
    if stem in _NAMED_FORMATS and stem != "vasprun":
        suffixes = []  # POSCAR.vasp etc. are read by name
    return stem + "".join(s.lower() for s in suffixes)


def save(stream: BinaryIO, filename: str | None, index: int, folder: Path, budget: list[int]) -> SavedUpload:
    """Copy one upload into its own sub-folder of ``folder``, counting bytes against ``budget[0]``.

    Raises
    ------
    UploadTooLarge
        When the bytes read so far exceed what is left of the budget.
    """
    target = folder / f"{index + 1}"
    target.mkdir()
    path = target / disk_name(filename, index)
    with open(path, "wb") as out:
        while chunk := stream.read(_CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise UploadTooLarge
            out.write(chunk)
    return SavedUpload(path, label(filename, index))


@contextmanager
def request_folder(parent: Path | None = None) -> Iterator[Path]:
    """A fresh temporary folder for one request, removed whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="xasflow-web-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def relabel(text: str, uploads: list[SavedUpload]) -> str:
    """``text`` with the on-disk paths of ``uploads`` replaced by their labels (error messages)."""
    for upload in uploads:
        text = text.replace(str(upload.path), upload.name)
    return text
