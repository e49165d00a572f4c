"""Campaign output in the Lightshow layout, with a marker recording the card set of each site.

``ROOT/{El}/{material}/POSCAR`` and ``ROOT/{El}/{material}/FEFF-XANES/{site:03d}_{El}/`` holding
``feff.inp``, ``xmu.dat`` and ``xasflow_site.json`` (the marker). A site folder whose marker names
another card set, or that holds files without a marker, is never written to.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from xasflow.data.xmu import spectrum_from_xmu
from xasflow.errors import InputError
from xasflow.fileio import atomic_path
from xasflow.io import lightshow

MARKER = "xasflow_site.json"


def site_dir(root: Path, element: str, material_id: str, site: int) -> Path:
    """``ROOT/{El}/{material}/FEFF-XANES/{site:03d}_{El}``."""
    return lightshow.site_dir(Path(root) / element, material_id, site, element)


def poscar_path(root: Path, element: str, material_id: str) -> Path:
    return lightshow.poscar_path(Path(root) / element, material_id)


class SiteState(StrEnum):
    """What a site folder holds before a run."""

    EMPTY = "empty"  # nothing, or an unfinished run of the same card set: run it
    DONE = "done"  # finished with the same card set and a valid xmu.dat: skip
    CONFLICT = "conflict"  # another card set, or not made by xasflow: never touch
    GAVE_UP = "gave-up"  # every rung of the same retry ladder failed earlier: skip unless asked


@dataclass(frozen=True)
class SiteStatus:
    state: SiteState
    reason: str = ""
    seconds: float | None = None


def read_marker(folder: Path) -> dict | None:
    path = folder / MARKER
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def site_status(folder: Path, card_set: str, fingerprint: str, element: str, ladder: str | None = None) -> SiteStatus:
    """Classify an output site folder for a run with ``card_set``.

    The cards' ``fingerprint`` decides whether earlier output belongs to this run; the set's name
    is only reported, so output written under a set's former name (same cards) stays valid when a
    set is renamed. With ``ladder``, a site whose earlier run failed on every rung of that same
    ladder is ``GAVE_UP`` (a rerun would repeat the same failures); ``ladder=None`` retries it.
    """
    if not folder.exists() or not any(p for p in folder.iterdir() if not p.name.startswith(".")):
        return SiteStatus(SiteState.EMPTY)
    marker = read_marker(folder)
    if marker is None:
        return SiteStatus(SiteState.CONFLICT, f"{folder} holds files not written by xasflow simulate; not overwritten")
    if marker.get("fingerprint") != fingerprint:
        return SiteStatus(
            SiteState.CONFLICT,
            f"{folder} holds output of card set {marker.get('card_set')!r} "
            f"(fingerprint {marker.get('fingerprint')}), not {card_set!r}; not overwritten (choose another --out)",
        )
    if marker.get("status") == "finished" and (folder / "xmu.dat").is_file():
        try:
            spectrum_from_xmu(folder / "xmu.dat", element)
        except InputError:
            return SiteStatus(SiteState.EMPTY, "previous xmu.dat is unreadable; rerunning")
        return SiteStatus(SiteState.DONE, seconds=marker.get("seconds"))
    if ladder is not None and marker.get("gave_up") and marker.get("ladder") == ladder:
        return SiteStatus(
            SiteState.GAVE_UP,
            f"every rung of retry ladder {ladder!r} failed in an earlier run ({folder / MARKER}); "
            "--retry-failed tries again",
        )
    return SiteStatus(SiteState.EMPTY)


def write_marker(folder: Path, payload: dict) -> None:
    write_text(folder / MARKER, json.dumps(payload, indent=1, sort_keys=True) + "\n")


def write_text(path: Path, text: str) -> None:
    """Atomic write, readable by all (campaign trees are shared; temporary files start as 0600)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
