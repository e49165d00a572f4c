"""Campaign planning: site selection, ordering, resume checks (no FEFF runs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from xasflow.io.lightshow import material_id_for
from xasflow.simulation.campaign import (
    CampaignConfig,
    estimate_seconds,
    plan_campaign,
)
from xasflow.simulation.feff_cards import FAST, PUBLISHED
from xasflow.simulation.output import MARKER, merge_tree, site_dir


def test_material_ids() -> None:
    assert material_id_for(Path("a/mp-7/POSCAR")) == "mp-7" and material_id_for(Path("b/mp-8.cif")) == "mp-8"


def test_plan_orders_by_estimated_cost_and_honours_limit(cu_tree: Path, tmp_path: Path) -> None:
    paths = [cu_tree / m / "POSCAR" for m in sorted(p.name for p in cu_tree.iterdir() if p.is_dir())[:40]]
    largest = plan_campaign(paths, CampaignConfig(element="Cu", feff_card_set=FAST, out=tmp_path))
    smallest = plan_campaign(paths, CampaignConfig(element="Cu", feff_card_set=FAST, out=tmp_path, order="smallest"))
    costs = [t.est_seconds for t in largest.tasks]
    assert len(costs) >= 40 and costs == sorted(costs, reverse=True)
    assert [t.est_seconds for t in smallest.tasks] == sorted(costs)
    assert all(t.est_seconds == round(estimate_seconds(t.n_fms, FAST, t.n_atoms), 1) for t in largest.tasks)
    limited = plan_campaign(paths, CampaignConfig(element="Cu", feff_card_set=FAST, out=tmp_path, limit=3))
    assert [t.site_id for t in limited.tasks] == [t.site_id for t in largest.tasks[:3]]
    # FMS 7 Å holds fewer atoms than the 9 Å cluster, so the fast set is estimated cheaper.
    published = plan_campaign(paths[:5], CampaignConfig(element="Cu", feff_card_set=PUBLISHED, out=tmp_path))
    fast = {t.site_id: t.est_seconds for t in largest.tasks}
    assert all(t.est_seconds > fast[t.site_id] for t in published.tasks)


def test_plan_sorts_finished_and_foreign_sites_out(cu_tree: Path, tmp_path: Path) -> None:
    paths = [cu_tree / "mp-1201409" / "POSCAR"]
    config = CampaignConfig(element="Cu", feff_card_set=FAST, out=tmp_path, sites="all")
    done, foreign = site_dir(tmp_path, "Cu", "mp-1201409", 0), site_dir(tmp_path, "Cu", "mp-1201409", 1)
    done.mkdir(parents=True)
    shutil.copy(cu_tree / "mp-1201409" / "FEFF-XANES" / "000_Cu" / "xmu.dat", done / "xmu.dat")
    marker = {"card_set": "fast", "fingerprint": FAST.fingerprint(), "status": "finished", "seconds": 12.0}
    (done / MARKER).write_text(json.dumps(marker))
    foreign.mkdir(parents=True)
    (foreign / "xmu.dat").write_text("not ours")
    plan = plan_campaign(paths, config)
    assert [o.site_id for o in plan.done] == ["mp-1201409_000"] and plan.done[0].seconds == 12.0
    assert [o.site_id for o in plan.conflicts] == ["mp-1201409_001"]
    assert "not written by xasflow" in plan.conflicts[0].reason
    assert plan.tasks == []
    # The same finished folder is a conflict for another card set.
    other = plan_campaign(paths, CampaignConfig(element="Cu", feff_card_set=PUBLISHED, out=tmp_path, sites="0"))
    assert "card set 'fast'" in other.conflicts[0].reason


def test_duplicate_material_ids_are_reported(cu_tree: Path, tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub / "mp-1201409").mkdir(parents=True)
        shutil.copy(cu_tree / "mp-1201409" / "POSCAR", tmp_path / sub / "mp-1201409" / "POSCAR")
    plan = plan_campaign([tmp_path / "a", tmp_path / "b"], CampaignConfig("Cu", FAST, tmp_path / "out"))
    assert len(plan.tasks) == 1
    assert "already taken" in plan.problems[0].message


def test_coverage_order_gives_every_material_a_site_before_a_second(cu_tree: Path, tmp_path: Path) -> None:
    paths = [cu_tree / m / "POSCAR" for m in sorted(p.name for p in cu_tree.iterdir() if p.is_dir())[:40]]
    config = CampaignConfig(element="Cu", feff_card_set=FAST, out=tmp_path, order="coverage")
    plan = plan_campaign(paths, config)
    materials = [t.material_id for t in plan.tasks]
    n_materials = len(set(materials))
    assert len(materials) > n_materials  # some materials have several inequivalent sites
    first_round = plan.tasks[:n_materials]
    assert len({t.material_id for t in first_round}) == n_materials
    # within the first round, cheapest first; each material's cheapest site is its first
    assert [t.est_seconds for t in first_round] == sorted(t.est_seconds for t in first_round)
    for task in first_round:
        assert task.est_seconds == min(t.est_seconds for t in plan.tasks if t.material_id == task.material_id)


def test_coverage_order_counts_finished_sites(cu_tree: Path, tmp_path: Path) -> None:
    material = "mp-1201409"
    paths = [cu_tree / material / "POSCAR", cu_tree / "mp-1005792" / "POSCAR"]
    done = site_dir(tmp_path, "Cu", material, 0)
    done.mkdir(parents=True)
    shutil.copy(cu_tree / material / "FEFF-XANES" / "000_Cu" / "xmu.dat", done / "xmu.dat")
    (done / MARKER).write_text(json.dumps({"fingerprint": FAST.fingerprint(), "status": "finished"}))
    config = CampaignConfig(element="Cu", feff_card_set=FAST, out=tmp_path, order="coverage", sites="all")
    plan = plan_campaign(paths, config)
    order = [t.material_id for t in plan.tasks]
    assert material in order and "mp-1005792" in order
    # the material without a finished site gets its first site before the covered one gets another
    assert order[0] == "mp-1005792"
    assert order.index(material) > order.index("mp-1005792")


def _write_site(root: Path, material: str, site: int, fingerprint: str, status: str = "finished") -> Path:
    folder = site_dir(root, "Fe", material, site)
    folder.mkdir(parents=True)
    (folder.parents[1] / "POSCAR").write_text(f"POSCAR of {material}\n")
    (folder / "xmu.dat").write_text(f"xmu {material} {site} {fingerprint}\n")
    marker = {"material_id": material, "site": site, "fingerprint": fingerprint, "status": status, "card_set": "s"}
    (folder / MARKER).write_text(json.dumps(marker))
    return folder


def test_merge_tree_copies_new_sites_skips_present_reports_conflicts(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    _write_site(src, "mp-1", 0, "aaa")
    _write_site(src, "mp-2", 3, "aaa")
    _write_site(src, "mp-3", 0, "bbb")
    _write_site(src, "mp-9", 0, "aaa")  # reserved
    _write_site(dest, "mp-2", 3, "aaa")
    kept = _write_site(dest, "mp-3", 0, "aaa")
    report = merge_tree(src, dest, "Fe", reserved=frozenset({"mp-9"}))
    assert report.copied == ["mp-1_000"] and report.present == ["mp-2_003"]
    assert report.skipped_reserved == ["mp-9_000"]
    assert len(report.conflicts) == 1 and report.conflicts[0].startswith("mp-3_000")
    copied = site_dir(dest, "Fe", "mp-1", 0)
    assert json.loads((copied / MARKER).read_text())["fingerprint"] == "aaa"  # the marker travels
    assert (copied / "xmu.dat").read_text() == "xmu mp-1 0 aaa\n"
    assert (copied.parents[1] / "POSCAR").is_file()
    assert (kept / "xmu.dat").read_text() == "xmu mp-3 0 aaa\n"  # the conflict is not overwritten
    assert not site_dir(dest, "Fe", "mp-9", 0).exists()
    again = merge_tree(src, dest, "Fe", reserved=frozenset({"mp-9"}))
    assert again.copied == [] and sorted(again.present) == ["mp-1_000", "mp-2_003"]
