"""Paths of the public OmniXAS layout below a data root."""

from __future__ import annotations

from pathlib import Path

from xasflow.errors import check_element, check_fidelity


def id_list_path(root: Path, element: str, fidelity: str, split: str) -> Path:
    """``material_id_and_site/{El}_{FID}_{split}.txt``."""
    return root / "material_id_and_site" / f"{element}_{fidelity}_{split}.txt"


def ml_data_path(root: Path, element: str, fidelity: str, split: str, kind: str) -> Path:
    """``ml_data/{El}_{FID}_{split}_{X|y}.txt``, or its ``.gz`` twin when only that exists."""
    plain = root / "ml_data" / f"{element}_{fidelity}_{split}_{kind}.txt"
    gz = plain.with_name(plain.name + ".gz")
    return gz if gz.exists() and not plain.exists() else plain


def feff_element_dir(root: Path, element: str) -> Path:
    """Raw FEFF tree of one element: accepts the element folder itself or a parent of it."""
    check_element(element)
    for candidate in (root / "FEFF" / element, root / element):
        if candidate.is_dir():
            return candidate
    return root


def xmu_path(element_dir: Path, material_id: str, site: int, element: str) -> Path:
    """``{material}/FEFF-XANES/{site:03d}_{El}/xmu.dat`` (Lightshow layout)."""
    return element_dir / material_id / "FEFF-XANES" / f"{site:03d}_{element}" / "xmu.dat"


def canonical_set(element: str, fidelity: str) -> tuple[str, str]:
    """Validate and normalise an (element, fidelity) pair."""
    return check_element(element), check_fidelity(fidelity)
