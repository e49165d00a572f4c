"""Package the finished sites of a ``xasflow simulate`` output tree as a small, self-describing dataset.

Usage::

    python scripts/package_campaign.py CAMPAIGN_ROOT DEST --element Fe --element Mn [--reserved DIR]

For each element, copies the finished sites (POSCAR, feff.inp, xmu.dat, marker) into
``DEST/{El}/...`` (the Lightshow layout), builds ``DEST/{El}_FEFF_campaign.npz`` with
``xasflow.data.feff_tree.build_feff_dataset`` (no outlier filter, no splits), copies the campaign
report(s) and writes ``DEST/summary.json`` with per-element counts, run times and the sustained
throughput (finished sites / wall time between the first start and the last finish).

Reserved materials (``--reserved DIR`` with ``{El}_materials.txt``, default: the lookup of
:func:`xasflow.data.reserved.resolve_reserved`) are copied to ``DEST/reserved/``; their sites are left
out of the npz files (and of every later ``xasflow data build-feff DEST``) and listed in the summary.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from datetime import datetime
from pathlib import Path

from xasflow.data.feff_tree import build_feff_dataset
from xasflow.data.pools import pool_of
from xasflow.data.reserved import ReservedSet, resolve_reserved
from xasflow.simulation.feff_cards import present_name
from xasflow.simulation.output import MARKER
from xasflow.simulation.runner import feff_version


def _markers(root: Path, element: str) -> list[tuple[Path, dict]]:
    found = []
    for marker_path in sorted((root / element).glob(f"*/FEFF-XANES/*_{element}/{MARKER}")):
        found.append((marker_path.parent, json.loads(marker_path.read_text())))
    return found


def _sid(marker: dict) -> str:
    return f"{marker['material_id']}_{marker['site']:03d}"


def _finished_sites(root: Path, element: str) -> list[tuple[Path, dict]]:
    return [(f, m) for f, m in _markers(root, element) if m.get("status") == "finished" and (f / "xmu.dat").is_file()]


def _origin(marker: dict, merged: list[Path], element: str) -> str:
    """``campaign`` for sites this campaign ran, else the merged tree that holds the same site."""
    for tree in merged:
        folder = tree / element / marker["material_id"] / "FEFF-XANES" / f"{marker['site']:03d}_{element}"
        if (folder / MARKER).is_file() and json.loads((folder / MARKER).read_text()).get("started") == marker.get(
            "started"
        ):
            return f"{tree.parent.name}/{tree.name}"
    return "campaign"


def package(root: Path, dest: Path, element: str, reserved: ReservedSet, merged: list[Path] = ()) -> dict:
    sites = _finished_sites(root, element)
    origins = {_sid(m): _origin(m, list(merged), element) for _, m in sites}
    own = [(f, m) for f, m in sites if origins[_sid(m)] == "campaign"]
    unfinished = [(f, m) for f, m in _markers(root, element) if m.get("status") != "finished"]
    for report in (root / element).glob("simulate_report*.json"):
        shutil.copy(report, dest / f"{element}_{report.name}")
    failed = sorted(_sid(m) for _, m in unfinished if m.get("status") != "running")
    interrupted = sorted(_sid(m) for _, m in unfinished if m.get("status") == "running")
    if not sites:
        return {"finished": 0, "failed": failed, "interrupted": interrupted}
    out_tree = dest / element
    if out_tree.exists():
        shutil.rmtree(out_tree)
    for folder, _ in sites:
        target = out_tree / folder.relative_to(root / element)
        target.mkdir(parents=True, exist_ok=True)
        for name in ("feff.inp", "xmu.dat", MARKER):
            shutil.copy(folder / name, target / name)
        material = folder.parents[1]
        shutil.copy(material / "POSCAR", out_tree / material.name / "POSCAR")
    dataset, build = build_feff_dataset(out_tree, element, drop_outliers=False, exclude_materials=reserved.materials)
    names = sorted({present_name(m.get("fingerprint"), m["card_set"]) for _, m in sites})
    dataset.metadata.update(source="xasflow simulate campaign", card_set=" + ".join(names), feff=feff_version())
    dataset.save(dest / f"{element}_FEFF_campaign.npz")
    # throughput from the sites this campaign ran (merged sites ran elsewhere, at other times)
    starts = [datetime.fromisoformat(m["started"]) for _, m in own or sites]
    ends = [datetime.fromisoformat(m["finished"]) for _, m in own or sites]
    span_h = (max(ends) - min(starts)).total_seconds() / 3600.0
    seconds = [float(m["seconds"]) for _, m in sites]
    rungs: dict[str, int] = {}
    for _, m in sites:
        rungs[m.get("rung", "as-set")] = rungs.get(m.get("rung", "as-set"), 0) + 1
    return {
        "finished": len(sites),
        "finished_by_rung": rungs,
        "failed": failed,
        "interrupted": interrupted,
        "reserved_for_evaluation": build.reserved_ids,
        "training_sites": len(dataset),
        "card_sets": names,
        "materials": sorted({m["material_id"] for _, m in sites}),
        "sites_by_origin": {o: sum(1 for v in origins.values() if v == o) for o in sorted(set(origins.values()))},
        "sites_by_pool": {
            pool: sum(pool_of(m["material_id"]) == pool for _, m in sites)
            for pool in sorted({pool_of(m["material_id"]) for _, m in sites})
        },
        "materials_by_pool": {
            pool: len({m["material_id"] for _, m in sites if pool_of(m["material_id"]) == pool})
            for pool in sorted({pool_of(m["material_id"]) for _, m in sites})
        },
        "merged_site_ids": sorted(k for k, v in origins.items() if v != "campaign"),
        "site_ids": sorted(dataset.ids.tolist()),
        "seconds_median": round(statistics.median(seconds), 1),
        "seconds_min": round(min(seconds), 1),
        "seconds_max": round(max(seconds), 1),
        "atoms_median": statistics.median(m["n_atoms"] for _, m in sites),
        "first_start": min(starts).isoformat(),
        "last_finish": max(ends).isoformat(),
        "wall_hours": round(span_h, 3),
        "sites_per_hour_sustained": round(len(own) / span_h, 2) if span_h > 0 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--element", action="append", required=True)
    parser.add_argument("--reserved", type=Path, default=None, help="folder of {El}_materials.txt")
    parser.add_argument(
        "--merged", type=Path, action="append", default=[], help="tree merged into ROOT (its sites are labelled)"
    )
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    elements = {}
    for el in args.element:
        reserved = resolve_reserved(el, args.reserved, paths=[args.root])
        if reserved.materials:
            (args.dest / "reserved").mkdir(exist_ok=True)
            shutil.copy(reserved.source, args.dest / "reserved" / f"{el}_materials.txt")
        elements[el] = package(args.root, args.dest, el, reserved, args.merged)
    summary = {"feff": feff_version(), "elements": elements}
    # Invocations ran one after another on one worker: their wall times add up to the campaign's. One
    # invocation of scripts/fe_mn_campaign.py writes one report per element with the same start time and the
    # same (shared) wall time: count it once.
    # every invocation's report, this root's and earlier ones already packaged into DEST
    reports = [json.loads(p.read_text()) for el in args.element for p in args.dest.glob(f"{el}_simulate_report*.json")]
    walls: dict[str, float] = {}
    for r in reports:
        walls[r["started"]] = max(walls.get(r["started"], 0.0), r["wall_seconds"])
    wall_h = sum(walls.values()) / 3600.0
    finished = sum(s.get("sites_by_origin", {}).get("campaign", 0) for s in summary["elements"].values())
    summary["campaign"] = {
        "invocations": len(walls),
        "wall_hours": round(wall_h, 3),
        "finished": finished,
        "failed": sum(len(s.get("failed", [])) for s in summary["elements"].values()),
        "sites_per_hour": round(finished / wall_h, 2) if wall_h else None,
    }
    (args.dest / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    brief = {
        el: {k: v for k, v in s.items() if k not in ("site_ids", "materials")} for el, s in summary["elements"].items()
    }
    print(json.dumps({**brief, "campaign": summary["campaign"]}, indent=1))


if __name__ == "__main__":
    main()
