"""Campaign output in the Lightshow layout, with a marker recording the FEFF card set of each site.

``ROOT/{El}/{material}/POSCAR`` and ``ROOT/{El}/{material}/FEFF-XANES/{site:03d}_{El}/`` holding
``feff.inp``, ``xmu.dat`` and ``xasflow_site.json`` (the marker). A site folder whose marker names
another FEFF card set, or that holds files without a marker, is never written to.
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


def site_status(
    folder: Path, feff_card_set: str, fingerprint: str, element: str, ladder: str | None = None
) -> SiteStatus:
    """Classify an output site folder for a run with the FEFF card set named ``feff_card_set``.

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
            f"(fingerprint {marker.get('fingerprint')}), not {feff_card_set!r}; not overwritten (choose another --out)",
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


@dataclass
class MergeReport:
    """What :func:`merge_tree` did, site by site (``{material}_{site:03d}`` ids)."""

    copied: list[str]
    present: list[str]
    conflicts: list[str]
    skipped_reserved: list[str]


def merge_tree(
    source: Path, dest: Path, element: str, reserved: set[str] | frozenset[str] = frozenset()
) -> MergeReport:
    """Copy the sites of another ``simulate`` tree into ``dest``, never overwriting.

    A site absent from ``dest`` is copied with its marker (and the material's POSCAR if ``dest`` has
    none); a site present with the same cards' fingerprint is left as it is; one present with other
    cards, or whose POSCAR differs, is a conflict: reported, not touched. Sites of ``reserved``
    materials are never copied. Unfinished sites (failed every rung) are copied too, so a campaign
    does not retry what already failed elsewhere.
    """
    report = MergeReport([], [], [], [])
    src_root = Path(source) / element
    for marker_path in sorted(src_root.glob(f"*/FEFF-XANES/*_{element}/{MARKER}")):
        folder = marker_path.parent
        marker = read_marker(folder) or {}
        material = folder.parents[1].name
        try:
            site = int(marker.get("site", folder.name.split("_")[0]))
        except ValueError:
            report.conflicts.append(f"{folder}: unreadable marker")
            continue
        sid = f"{material}_{site:03d}"
        if material in reserved:
            report.skipped_reserved.append(sid)
            continue
        target = site_dir(dest, element, material, site)
        src_poscar = folder.parents[1] / "POSCAR"
        dst_poscar = poscar_path(dest, element, material)
        if dst_poscar.is_file() and src_poscar.is_file() and dst_poscar.read_bytes() != src_poscar.read_bytes():
            report.conflicts.append(f"{sid}: POSCAR differs from {dst_poscar}")
            continue
        if target.exists() and any(target.iterdir()):
            theirs = read_marker(target) or {}
            if theirs.get("fingerprint") == marker.get("fingerprint") and theirs.get("status") == "finished":
                report.present.append(sid)
            elif theirs.get("fingerprint") == marker.get("fingerprint") and marker.get("status") == "finished":
                # ours is unfinished (interrupted or given up) with the same cards: the finished copy wins
                _copy_site(folder, target)
                report.copied.append(sid)
            else:
                report.conflicts.append(
                    f"{sid}: {target} holds card set {theirs.get('card_set')!r} "
                    f"({theirs.get('fingerprint')}, {theirs.get('status')}), the source "
                    f"{marker.get('card_set')!r} ({marker.get('fingerprint')}); not overwritten"
                )
            continue
        if src_poscar.is_file() and not dst_poscar.is_file():
            dst_poscar.parent.mkdir(parents=True, exist_ok=True)
            write_text(dst_poscar, src_poscar.read_text())
        _copy_site(folder, target)
        report.copied.append(sid)
    return report


def _copy_site(folder: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    # the marker last: a site interrupted mid-copy has no marker of its own and is never taken as finished
    for item in sorted(folder.iterdir(), key=lambda p: p.name == MARKER):
        if item.is_file():
            write_bytes_atomic(target / item.name, item.read_bytes())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
