"""Reserved materials: structures whose sites of one element are kept for independent evaluation.

A reserved folder holds ``{El}_materials.txt`` (one Materials Project id per line, ``#`` comments
allowed). The El sites of those materials must never be simulated, trained on, selected or calibrated
on. Where the folder is (first found): an explicit ``--reserved`` path; ``$XASFLOW_RESERVED_DIR``; a
``reserved/`` folder in or above the input paths (packaged campaigns carry one); ``reserved/`` beside
the data root (``DATA_ROOT/../reserved``, the layout of the shared development data).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xasflow.errors import InputError, check_element

RESERVED_DIR_ENV = "XASFLOW_RESERVED_DIR"


def reserved_file(root: str | os.PathLike[str], element: str) -> Path:
    """``ROOT/{El}_materials.txt``."""
    return Path(root) / f"{check_element(element)}_materials.txt"


def read_material_list(path: str | os.PathLike[str]) -> frozenset[str]:
    """Material ids of a list file (blank lines and ``#`` comments ignored).

    Raises
    ------
    InputError
        If the file cannot be read.
    """
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the reserved-materials list ({exc})") from exc
    ids = (line.split("#")[0].strip() for line in text.splitlines())
    return frozenset(i for i in ids if i)


def reserved_materials(root: str | os.PathLike[str] | None, element: str) -> frozenset[str]:
    """Materials whose ``element`` sites are reserved, from ``ROOT/{El}_materials.txt``.

    ``root=None`` or a missing file means nothing is reserved for that element.
    """
    if root is None:
        return frozenset()
    path = reserved_file(root, element)
    return read_material_list(path) if path.is_file() else frozenset()


def default_reserved_dir(data_root: str | os.PathLike[str] | None = None) -> Path | None:
    """``$XASFLOW_RESERVED_DIR``, else ``DATA_ROOT/../reserved`` when it exists, else ``None``."""
    chosen = os.environ.get(RESERVED_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser()
    if data_root is not None:
        candidate = Path(data_root).expanduser().resolve().parent / "reserved"
        if candidate.is_dir():
            return candidate
    return None


def _is_reserved_dir(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*_materials.txt"))


def find_reserved_dir(paths: list[Path]) -> Path | None:
    """A ``reserved/`` folder (holding ``*_materials.txt``) in or above the first path that has one.

    Finds ``shared/data/reserved`` for inputs below ``shared/data/omnixas/FEFF/Cu`` and the
    ``reserved/`` folder that a packaged campaign carries.
    """
    for path in paths:
        resolved = Path(path).expanduser().resolve()
        for parent in [resolved, *resolved.parents]:
            if _is_reserved_dir(parent / "reserved"):
                return parent / "reserved"
    return None


@dataclass(frozen=True)
class ReservedSet:
    """The reserved materials of one element and where they came from (``source`` empty: none found)."""

    element: str
    materials: frozenset[str] = frozenset()
    source: str = ""

    def __contains__(self, material_id: object) -> bool:
        return material_id in self.materials

    def describe(self) -> str:
        if not self.source:
            return f"no reserved-materials list for {self.element} found: nothing excluded"
        return f"{len(self.materials)} {self.element}-reserved materials from {self.source}"


def resolve_reserved(
    element: str,
    reserved: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    paths: list[Path] | None = None,
) -> ReservedSet:
    """Reserved set for ``element``: an explicit file or folder, else the default lookup.

    Parameters
    ----------
    reserved
        A list file, or a folder holding ``{El}_materials.txt``. Must exist when given.
    data_root
        Data root whose sibling ``reserved/`` folder is searched (else ``$XASFLOW_DATA_DIR``).
    paths
        Input paths; an OmniXAS root they lie in is used when no data root is given.

    Raises
    ------
    InputError
        If ``reserved`` is given but does not exist or cannot be read.
    """
    check_element(element)
    if reserved is not None:
        path = Path(reserved).expanduser()
        if path.is_dir():
            path = reserved_file(path, element)
            if not path.is_file():
                return ReservedSet(element, frozenset(), f"{path} (absent: none reserved)")
        if not path.is_file():
            raise InputError(path, "reserved-materials list not found")
        return ReservedSet(element, read_material_list(path), str(path))
    folder = None
    if os.environ.get(RESERVED_DIR_ENV):
        folder = Path(os.environ[RESERVED_DIR_ENV]).expanduser()
    elif paths and (found := find_reserved_dir(paths)) is not None:
        folder = found
    else:
        folder = default_reserved_dir(data_root or os.environ.get("XASFLOW_DATA_DIR"))
    if folder is None:
        return ReservedSet(element)
    path = reserved_file(folder, element)
    if not path.is_file():
        return ReservedSet(element, frozenset(), f"{path} (absent: none reserved)")
    return ReservedSet(element, read_material_list(path), str(path))


def exclude_reserved(dataset, materials: frozenset[str]):
    """``dataset`` without the rows of reserved materials, and the dropped ids."""
    import numpy as np

    keep = np.array([m not in materials for m in dataset.material_ids], dtype=bool)
    return dataset.subset(keep), dataset.ids[~keep].tolist()


def drop_reserved(site_ids: list[str], materials: frozenset[str]) -> list[bool]:
    """Mask over ``site_ids`` (``mp-1_000``): True where the site's material is not reserved."""
    from xasflow.io.omnixas import parse_site_id

    return [parse_site_id(sid)[0] not in materials for sid in site_ids]
