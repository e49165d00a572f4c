"""The Lightshow FEFF tree: the one place that knows ``{material}/FEFF-XANES/{site:03d}_{El}``.

An element folder (``FEFF/Cu`` of the OmniXAS data, or ``ROOT/Cu`` of a campaign) holds
``{material}/POSCAR`` and ``{material}/FEFF-XANES/{site:03d}_{El}/{feff.inp,xmu.dat}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from xasflow.errors import XasflowError, check_element
from xasflow.io.omnixas import make_site_id

XANES_DIR = "FEFF-XANES"
POSCAR = "POSCAR"
XMU = "xmu.dat"
FEFF_INP = "feff.inp"

_SITE_DIR = re.compile(r"^(?P<site>\d+)_(?P<element>[A-Z][a-z]?)$")


@dataclass(frozen=True)
class FeffSite:
    """One absorbing site of a Lightshow tree."""

    material_id: str
    site: int
    poscar: Path
    xmu: Path

    @property
    def site_id(self) -> str:
        return make_site_id(self.material_id, self.site)

    @property
    def feff_inp(self) -> Path:
        return self.xmu.parent / FEFF_INP


def material_id_for(path: Path) -> str:
    """The tree's material folder for a structure file: ``mp-123/POSCAR`` or ``mp-123.cif`` -> ``mp-123``."""
    path = Path(path)
    if path.name.upper().startswith(("POSCAR", "CONTCAR")) and path.parent.name:
        return path.parent.name
    return path.stem


def element_dir(root: Path, element: str) -> Path:
    """The tree of one element: accepts the element folder itself, its parent, or an OmniXAS root."""
    check_element(element)
    root = Path(root)
    for candidate in (root / "FEFF" / element, root / element):
        if candidate.is_dir():
            return candidate
    return root


def poscar_path(tree: Path, material_id: str) -> Path:
    """``TREE/{material}/POSCAR``."""
    return Path(tree) / material_id / POSCAR


def site_dir(tree: Path, material_id: str, site: int, element: str) -> Path:
    """``TREE/{material}/FEFF-XANES/{site:03d}_{El}``."""
    return Path(tree) / material_id / XANES_DIR / f"{site:03d}_{element}"


def iter_sites(root: Path, element: str) -> Iterator[FeffSite]:
    """Sites of ``element`` below a tree (see :func:`element_dir`), sorted by material and site.

    Raises
    ------
    XasflowError
        If ``root`` is not a folder.
    """
    element = check_element(element)
    base = element_dir(Path(root), element)
    if not base.is_dir():
        raise XasflowError(f"{root}: not a folder")
    for material in sorted(p for p in base.iterdir() if p.is_dir()):
        xanes = material / XANES_DIR
        if not xanes.is_dir():
            continue
        for folder in sorted(xanes.iterdir()):
            match = _SITE_DIR.match(folder.name)
            if match is None or match["element"] != element:
                continue
            yield FeffSite(material.name, int(match["site"]), poscar_path(base, material.name), folder / XMU)
