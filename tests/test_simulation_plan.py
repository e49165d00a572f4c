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
from xasflow.simulation.cards import FAST, PUBLISHED
from xasflow.simulation.output import MARKER, site_dir


def test_material_ids() -> None:
    assert material_id_for(Path("a/mp-7/POSCAR")) == "mp-7" and material_id_for(Path("b/mp-8.cif")) == "mp-8"


def test_plan_orders_by_estimated_cost_and_honours_limit(cu_tree: Path, tmp_path: Path) -> None:
    paths = [cu_tree / m / "POSCAR" for m in sorted(p.name for p in cu_tree.iterdir() if p.is_dir())[:40]]
    largest = plan_campaign(paths, CampaignConfig(element="Cu", card_set=FAST, out=tmp_path))
    smallest = plan_campaign(paths, CampaignConfig(element="Cu", card_set=FAST, out=tmp_path, order="smallest"))
    costs = [t.est_seconds for t in largest.tasks]
    assert len(costs) >= 40 and costs == sorted(costs, reverse=True)
    assert [t.est_seconds for t in smallest.tasks] == sorted(costs)
    assert all(t.est_seconds == round(estimate_seconds(t.n_fms, FAST, t.n_atoms), 1) for t in largest.tasks)
    limited = plan_campaign(paths, CampaignConfig(element="Cu", card_set=FAST, out=tmp_path, limit=3))
    assert [t.site_id for t in limited.tasks] == [t.site_id for t in largest.tasks[:3]]
    # FMS 7 Å holds fewer atoms than the 9 Å cluster, so the fast set is estimated cheaper.
    published = plan_campaign(paths[:5], CampaignConfig(element="Cu", card_set=PUBLISHED, out=tmp_path))
    fast = {t.site_id: t.est_seconds for t in largest.tasks}
    assert all(t.est_seconds > fast[t.site_id] for t in published.tasks)


def test_plan_sorts_finished_and_foreign_sites_out(cu_tree: Path, tmp_path: Path) -> None:
    paths = [cu_tree / "mp-1201409" / "POSCAR"]
    config = CampaignConfig(element="Cu", card_set=FAST, out=tmp_path, sites="all")
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
    other = plan_campaign(paths, CampaignConfig(element="Cu", card_set=PUBLISHED, out=tmp_path, sites="0"))
    assert "card set 'fast'" in other.conflicts[0].reason


def test_duplicate_material_ids_are_reported(cu_tree: Path, tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub / "mp-1201409").mkdir(parents=True)
        shutil.copy(cu_tree / "mp-1201409" / "POSCAR", tmp_path / sub / "mp-1201409" / "POSCAR")
    plan = plan_campaign([tmp_path / "a", tmp_path / "b"], CampaignConfig("Cu", FAST, tmp_path / "out"))
    assert len(plan.tasks) == 1
    assert "already taken" in plan.problems[0].message
