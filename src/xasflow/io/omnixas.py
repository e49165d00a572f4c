"""The published OmniXAS text layout: feature/spectrum matrices, id lists and their paths.

``ROOT/ml_data/{El}_{FID}_{split}_{X|y}.txt[.gz]`` (whitespace-separated floats) and
``ROOT/material_id_and_site/{El}_{FID}_{split}.txt`` (one ``MATERIAL_SITE`` id per line, e.g.
``mp-1234_005`` = material id + absorbing-site index). Matrices may also be ``.npy``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from xasflow.errors import InputError
from xasflow.fileio import atomic_open

#: Published splits, in order.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Suffixes a matrix can be written with.
MATRIX_SUFFIXES = (".txt", ".npy")

_ID = re.compile(r"^(?P<material>\S+)_(?P<site>\d+)$")


def make_site_id(material_id: str, site: int) -> str:
    """Row id in the published convention (three-digit, zero-padded site index)."""
    return f"{material_id}_{site:03d}"


def parse_site_id(site_id: str) -> tuple[str, int]:
    """Split ``mp-1234_005`` into ``("mp-1234", 5)``.

    Raises
    ------
    ValueError
        If the id does not end in ``_<digits>``.
    """
    match = _ID.match(site_id)
    if match is None:
        raise ValueError(f"malformed site id {site_id!r} (expected MATERIAL_SITE, e.g. mp-1234_005)")
    return match["material"], int(match["site"])


def material_ids(site_ids) -> np.ndarray:
    """Material id of every site id (``mp-1234_005`` → ``mp-1234``), as a string array."""
    return np.array([parse_site_id(str(i))[0] for i in np.asarray(site_ids).tolist()], dtype=str)


def id_list_path(root: Path, element: str, fidelity: str, split: str) -> Path:
    """``material_id_and_site/{El}_{FID}_{split}.txt``."""
    return Path(root) / "material_id_and_site" / f"{element}_{fidelity}_{split}.txt"


def ml_data_path(root: Path, element: str, fidelity: str, split: str, kind: str) -> Path:
    """``ml_data/{El}_{FID}_{split}_{X|y}.txt``, or its ``.gz`` twin when only that exists."""
    plain = Path(root) / "ml_data" / f"{element}_{fidelity}_{split}_{kind}.txt"
    gz = plain.with_name(plain.name + ".gz")
    return gz if gz.exists() and not plain.exists() else plain


def read_id_list(path: str | Path) -> list[str]:
    """Read one id per line; blank lines are ignored.

    Raises
    ------
    InputError
        If the file is missing or holds a malformed id.
    """
    path = Path(path)
    try:
        lines = path.read_text().split()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read id list ({getattr(exc, 'strerror', None) or exc})") from exc
    for number, site_id in enumerate(lines, start=1):
        try:
            parse_site_id(site_id)
        except ValueError as exc:
            raise InputError(path, f"line {number}: {exc}") from exc
    return lines


def write_id_list(path: Path, ids) -> Path:
    """One id per line, atomically."""
    with atomic_open(path) as handle:
        handle.write("".join(f"{i}\n" for i in ids))
    return path


def read_matrix(path: str | Path, width: int | None = None) -> np.ndarray:
    """A float matrix from text (``.txt``, optionally gzipped) or ``.npy``.

    Raises
    ------
    InputError
        If missing, unreadable, ragged, non-numeric, non-finite, or of the wrong width.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        if path.suffix.lower() == ".npy":
            matrix = np.atleast_2d(np.asarray(np.load(path, allow_pickle=False), dtype=np.float64))
        else:
            matrix = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read matrix ({exc})") from exc
    if matrix.ndim != 2 or matrix.size == 0:
        raise InputError(path, f"expected a non-empty 2-d matrix, found shape {matrix.shape}")
    if width is not None and matrix.shape[1] != width:
        raise InputError(path, f"has {matrix.shape[1]} columns, expected {width}")
    if not np.all(np.isfinite(matrix)):
        raise InputError(path, "contains NaN or infinite values")
    return matrix


def write_matrix(path: Path, matrix: np.ndarray, fmt: str = "%.18e") -> Path:
    """Write a matrix as text (``.txt``, the published layout) or ``.npy``, atomically."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        with atomic_open(path, "wb") as handle:
            np.save(handle, np.asarray(matrix, dtype=np.float64))
    else:
        with atomic_open(path) as handle:
            np.savetxt(handle, matrix, fmt=fmt)
    return path


def available_splits(root: Path, element: str, fidelity: str) -> list[str]:
    """Published splits of a set whose feature rows exist under ``root``."""
    return [s for s in SPLITS if ml_data_path(root, element, fidelity, s, "X").exists()]


def write_split(
    out: Path, set_name: str, split: str, ids, X: np.ndarray | None = None, y: np.ndarray | None = None
) -> list[Path]:
    """Write one split of a set (``Cu_FEFF``) below ``out``; returns the files written."""
    written = [write_id_list(Path(out) / "material_id_and_site" / f"{set_name}_{split}.txt", ids)]
    for kind, matrix in (("y", y), ("X", X)):
        if matrix is not None:
            written.append(write_matrix(Path(out) / "ml_data" / f"{set_name}_{split}_{kind}.txt", matrix))
    return written
