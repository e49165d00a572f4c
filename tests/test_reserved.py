"""Reserved materials: never simulated, and dropped from campaign datasets (no FEFF runs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from xasflow.cli.main import main
from xasflow.data.dataset import XASDataset
from xasflow.data.feff_tree import build_feff_dataset
from xasflow.data.reserved import (
    RESERVED_DIR_ENV,
    exclude_reserved,
    reserved_materials,
    resolve_reserved,
)
from xasflow.errors import InputError
from xasflow.simulation.campaign import CampaignConfig, plan_campaign
from xasflow.simulation.feff_cards import FAST

REPO = Path(__file__).resolve().parents[1]
FE_MN_FAST = REPO / "data" / "campaigns" / "fe_mn_fast"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch) -> None:
    monkeypatch.delenv(RESERVED_DIR_ENV, raising=False)
    monkeypatch.delenv("XASFLOW_DATA_DIR", raising=False)


def test_reserved_materials_reads_the_list_and_tolerates_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "Fe_materials.txt").write_text("# evaluation\nmp-1\n\nmp-2  # note\n")
    assert reserved_materials(tmp_path, "Fe") == {"mp-1", "mp-2"}
    assert reserved_materials(tmp_path, "Mn") == frozenset()
    assert reserved_materials(None, "Fe") == frozenset()


def test_lookup_order_explicit_then_env_then_tree_then_data_root(tmp_path: Path, monkeypatch) -> None:
    data_root = tmp_path / "data" / "omnixas"
    (data_root / "FEFF" / "Cu" / "mp-9").mkdir(parents=True)
    (tmp_path / "data" / "reserved").mkdir()
    (tmp_path / "data" / "reserved" / "Fe_materials.txt").write_text("mp-9\n")
    inputs = [data_root / "FEFF" / "Cu"]
    found = resolve_reserved("Fe", paths=inputs)
    assert found.materials == {"mp-9"} and "mp-9" in found
    assert resolve_reserved("Fe", data_root=data_root).materials == {"mp-9"}
    other = tmp_path / "other"
    other.mkdir()
    (other / "Fe_materials.txt").write_text("mp-7\n")
    monkeypatch.setenv(RESERVED_DIR_ENV, str(other))
    assert resolve_reserved("Fe", paths=inputs).materials == {"mp-7"}
    assert resolve_reserved("Fe", reserved=tmp_path / "data" / "reserved", paths=inputs).materials == {"mp-9"}
    with pytest.raises(InputError, match="not found"):
        resolve_reserved("Fe", reserved=tmp_path / "missing.txt")
    monkeypatch.delenv(RESERVED_DIR_ENV)
    assert resolve_reserved("Fe", paths=[other]).source == ""  # nothing found anywhere: nothing reserved


def test_plan_excludes_reserved_materials(tmp_path: Path) -> None:
    from pymatgen.core import Lattice, Structure

    for material in ("mp-keep", "mp-held"):
        (tmp_path / "in" / material).mkdir(parents=True)
        Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(
            filename=str(tmp_path / "in" / material / "POSCAR"), fmt="poscar"
        )
    (tmp_path / "reserved").mkdir()
    (tmp_path / "reserved" / "Fe_materials.txt").write_text("mp-held\n")
    reserved = resolve_reserved("Fe", reserved=tmp_path / "reserved")
    plan = plan_campaign([tmp_path / "in"], CampaignConfig("Fe", FAST, tmp_path / "out", reserved=reserved))
    assert [t.material_id for t in plan.tasks] == ["mp-keep"]
    assert [o.site_id for o in plan.reserved] == ["mp-held_000"]
    assert plan.reserved[0].status == "reserved" and "independent evaluation" in plan.reserved[0].reason


def test_simulate_plan_cli_reports_reserved_sites(tmp_path: Path, capsys) -> None:
    from pymatgen.core import Lattice, Structure

    (tmp_path / "in" / "mp-held").mkdir(parents=True)
    Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(
        filename=str(tmp_path / "in" / "mp-held" / "POSCAR"), fmt="poscar"
    )
    (tmp_path / "in" / "reserved").mkdir()
    (tmp_path / "in" / "reserved" / "Fe_materials.txt").write_text("mp-held\n")
    args = ["simulate", str(tmp_path / "in" / "mp-held"), "--element", "Fe", "--cards", "fast"]
    code = main([*args, "--out", str(tmp_path / "out"), "--plan"])
    out = capsys.readouterr().out
    assert code == 0
    assert "0 sites to run" in out and "1 reserved (excluded)" in out
    assert "mp-held_000" in out and "reserved: excluded" in out
    main([*args, "--out", str(tmp_path / "out"), "--plan", "--include-reserved"])
    assert "1 sites to run" in capsys.readouterr().out


def test_fe_mn_fast_campaign_drops_its_reserved_sites(tmp_path: Path) -> None:
    """The packaged campaign carries its reserved lists: ingest drops the three reserved sites."""
    fe = resolve_reserved("Fe", paths=[FE_MN_FAST])
    mn = resolve_reserved("Mn", paths=[FE_MN_FAST])
    assert {"mp-558202", "mp-773088"} <= fe.materials and "mp-1221712" in mn.materials
    dataset, report = build_feff_dataset(FE_MN_FAST, "Fe", drop_outliers=False, exclude_materials=fe.materials)
    assert sorted(report.reserved_ids) == ["mp-558202_000", "mp-773088_007"]
    assert list(dataset.ids) == ["mp-1204931_000"]
    assert dataset.metadata["reserved_excluded"] == report.reserved_ids
    # The CLI ingest applies the same lookup by default.
    tree = tmp_path / "campaign"
    shutil.copytree(FE_MN_FAST, tree)
    out = tmp_path / "fe.npz"
    main(["data", "build-feff", str(tree), "--element", "Fe", "--out", str(out), "--no-splits", "--keep-outliers"])
    assert list(XASDataset.load(out).ids) == ["mp-1204931_000"]
    # A dataset built before the exclusion existed is filtered the same way.
    full, _ = build_feff_dataset(FE_MN_FAST, "Fe", drop_outliers=False)
    kept, dropped = exclude_reserved(full, fe.materials)
    assert list(kept.ids) == ["mp-1204931_000"] and sorted(dropped) == ["mp-558202_000", "mp-773088_007"]
    # The shipped campaign dataset holds no reserved site (its only Mn site is reserved: no Mn dataset).
    shipped = XASDataset.load(FE_MN_FAST / "Fe_FEFF_campaign.npz")
    assert list(shipped.ids) == ["mp-1204931_000"] and not set(shipped.material_ids) & fe.materials
    assert not (FE_MN_FAST / "Mn_FEFF_campaign.npz").exists()
