"""Campaign order by feature-space diversity within coverage rounds (no FEFF run)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from devscripts import load_script
from xasflow.active.campaign_order import diversity_priority
from xasflow.errors import XasflowError
from xasflow.simulation.campaign import CampaignConfig, coverage_order, coverage_positions, read_priority
from xasflow.simulation.feff_cards import FAST
from xasflow.simulation.runner import SiteTask

REPO = Path(__file__).resolve().parents[1]


def _task(material: str, site: int, seconds: float) -> SiteTask:
    return SiteTask(
        material_id=material,
        site=site,
        element="Fe",
        card_set="s",
        fingerprint="f",
        feff_inp="",
        poscar="",
        n_atoms=10,
        n_fms=10,
        est_seconds=seconds,
    )


def _ids(tasks: list[SiteTask]) -> list[str]:
    return [t.site_id for t in tasks]


# cheapest first, as planned: a has 3 sites, b 2, c 1
TASKS = [
    _task("a", 0, 1.0),
    _task("b", 0, 2.0),
    _task("c", 0, 3.0),
    _task("a", 1, 4.0),
    _task("b", 1, 5.0),
    _task("a", 2, 6.0),
]


def test_coverage_order_without_priority_is_unchanged() -> None:
    plain = coverage_order(TASKS, ["b"])
    assert _ids(plain) == ["a_000", "c_000", "b_000", "a_001", "b_001", "a_002"]
    assert _ids(coverage_order(TASKS, ["b"], ())) == _ids(plain)
    assert _ids(coverage_order(TASKS, ["b"], ["nowhere_000", "x_001"])) == _ids(plain)  # unknown ids ignored


def test_coverage_order_with_priority_keeps_rounds_and_orders_within_them() -> None:
    order = _ids(coverage_order(TASKS, [], ["c_000", "zz_000", "a_002", "b_001"]))
    # round 0: one site per material, listed first (c, then a's listed site a_002, then b's listed b_001)
    assert order[:3] == ["c_000", "a_002", "b_001"]
    # round 1: the rest, cheapest first (none listed); round 2: a's last
    assert order[3:] == ["a_000", "b_000", "a_001"]
    # a finished material still goes after the uncovered ones, whatever the priority
    order = _ids(coverage_order(TASKS, ["c"], ["c_000", "b_000"]))
    assert order[:2] == ["b_000", "a_000"] and order.index("c_000") >= 2


def test_coverage_positions_order_plain_rows_as_coverage_order_orders_tasks() -> None:
    ids, materials = _ids(TASKS), [t.material_id for t in TASKS]
    for finished, priority in (([], ()), (["b"], ()), ([], ["c_000", "a_002", "b_001"]), (["c"], ["c_000", "b_000"])):
        positions = coverage_positions(ids, materials, finished, priority)
        assert [ids[k] for k in positions] == _ids(coverage_order(TASKS, finished, priority))
    # a replay pool: rows of three materials, one first pick per material in priority order, then the seconds
    rows = ["m1_000", "m1_001", "m2_000", "m3_000", "m2_001"]
    order = coverage_positions(rows, ["m1", "m1", "m2", "m3", "m2"], priority=["m2_001", "m1_001", "m3_000"])
    assert order == [4, 1, 3, 0, 2]
    with pytest.raises(XasflowError, match="material ids"):
        coverage_positions(rows, ["m1"])


def test_config_priority_is_a_tuple_and_needs_coverage(tmp_path: Path) -> None:
    config = CampaignConfig("Fe", FAST, tmp_path, order="coverage", priority=["a_000", "b_001"])
    assert config.priority == ("a_000", "b_001")
    assert CampaignConfig("Fe", FAST, tmp_path).priority == ()
    with pytest.raises(XasflowError, match="coverage"):
        CampaignConfig("Fe", FAST, tmp_path, order="largest", priority=("a_000",))


def test_read_priority(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("# header\nmp-1_000\n\n  mp-2_003  # note\nmp-1_000\n")
    assert read_priority(path) == ("mp-1_000", "mp-2_003")
    with pytest.raises(XasflowError, match=r"missing\.txt"):
        read_priority(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(XasflowError, match="no site id"):
        read_priority(tmp_path / "empty.txt")


def test_campaign_script_missing_priority_file_is_one_line_error(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.txt"
    code = load_script("fe_mn_campaign").main(
        ["structures", "--out", str(tmp_path / "out"), "--priority", str(missing)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and str(missing) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing merged or planned


# --- diversity_priority on synthetic features ---


def _blobs(rng, centres, n, spread=0.05):
    return np.vstack([c + spread * rng.standard_normal((n, len(c))) for c in centres])


A, B, C = np.array([0.0, 0.0, 0.0]), np.array([10.0, 0.0, 0.0]), np.array([0.0, 10.0, 0.0])


def test_reference_clusters_come_first_largest_first() -> None:
    rng = np.random.default_rng(1)
    reference = np.vstack([_blobs(rng, [A], 60), _blobs(rng, [B], 40)])
    X = _blobs(rng, [A, B], 3)  # rows 0-2 near A, 3-5 near B
    ids = [f"s{k}" for k in range(6)]
    order = diversity_priority(ids, X, [], reference=reference, seed=0, clusters=2)
    assert sorted(order) == ids
    assert order[0] in ids[:3] and order[1] in ids[3:]  # A (the larger cluster) first, then B
    # a finished site near A: B's sites lead, the finished one is not ranked
    order = diversity_priority(ids, X, ["s0"], reference=reference, seed=0, clusters=2)
    assert order[0] in ids[3:] and "s0" not in order and sorted(order) == ids[1:]


def test_without_reference_finished_regions_go_last_and_order_is_seeded() -> None:
    rng = np.random.default_rng(2)
    X = np.vstack([_blobs(rng, [A], 4), _blobs(rng, [B], 3), _blobs(rng, [C], 3)])  # rows 0-3 A, 4-6 B, 7-9 C
    ids = [f"s{k}" for k in range(10)]
    order = diversity_priority(ids, X, ["s0"], seed=3)
    assert sorted(order) == sorted(ids[1:])
    first_two = {ids.index(s) for s in order[:2]}
    assert all(k >= 4 for k in first_two) and len({k >= 7 for k in first_two}) == 2  # one of B, one of C
    assert order == diversity_priority(ids, X, ["s0"], seed=3)
    assert diversity_priority(ids, X, ids) == []


def test_diversity_priority_checks_inputs() -> None:
    with pytest.raises(XasflowError, match="site ids"):
        diversity_priority(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(XasflowError, match="repeat"):
        diversity_priority(["a", "a"], np.zeros((2, 2)))
    with pytest.raises(XasflowError, match="width"):
        diversity_priority(["a", "b"], np.zeros((2, 2)), reference=np.zeros((5, 3)))


# --- scripts/campaign_priority.py on a tiny tree, with a stand-in featurizer ---


class _FakeFeaturizer:
    name = "fake"
    version = "1"
    dim = 64

    def featurize(self, structure, sites, source="structure"):
        out = []
        for site in sites:
            seed = sum(ord(ch) for ch in structure.composition.reduced_formula) * 1000 + int(site)
            out.append(np.random.default_rng(seed).standard_normal(self.dim))
        return np.array(out)


def test_priority_script_writes_every_planned_site(cu_tree: Path, data_root: Path, tmp_path: Path) -> None:
    tree = tmp_path / "pool"
    for material in ("mp-1035757", "mp-1037298", "mp-1105138"):
        (tree / material).mkdir(parents=True)
        shutil.copy(cu_tree / material / "POSCAR", tree / material / "POSCAR")
    out = tmp_path / "priority" / "fe.txt"
    argv = [
        str(tree),
        "--out",
        str(tmp_path / "campaign"),
        "--cards",
        "fast",
        "--elements",
        "Fe",
        "--reserved",
        str(data_root.parent / "reserved"),
        "--data-dir",
        str(data_root),
        "--priority-file",
        str(out),
    ]
    assert load_script("campaign_priority").main(argv, featurizer=_FakeFeaturizer()) == 0
    ids = read_priority(out)
    assert "published rows" in out.read_text()
    config = CampaignConfig("Fe", FAST, tmp_path / "campaign", order="coverage", priority=ids)
    from xasflow.simulation.campaign import plan_campaign

    plan = plan_campaign([tree], config)
    assert sorted(ids) == sorted(t.site_id for t in plan.tasks)
    first = [t.site_id for t in plan.tasks[:3]]
    assert len({t.material_id for t in plan.tasks[:3]}) == 3  # still one site per material first
    assert first == [i for i in ids if i in first]  # in priority order


def _fake_campaign(monkeypatch, module, seconds: float = 0.15):
    """Replace the script's planner and runner: no FEFF, no Dask; records how many sites run at once."""
    from xasflow.simulation.campaign import CampaignReport, Plan, _outcome

    state = {"running": 0, "peak": 0, "ran": []}
    lock = __import__("threading").Lock()

    def plan(paths, config, progress=None):
        return Plan(config=config, tasks=[_task(f"m{i}", 0, 1.0) for i in range(5)])

    def run(plan, client, scratch):
        with lock:
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
        __import__("time").sleep(seconds)
        with lock:
            state["running"] -= 1
            state["ran"].append(plan.tasks[0].site_id)
        return CampaignReport(config=plan.config, outcomes=[_outcome(plan.tasks[0], "finished", seconds=seconds)])

    monkeypatch.setattr(module, "plan_campaign", plan)
    monkeypatch.setattr(module, "run_campaign", run)
    monkeypatch.setattr(module, "start_client", lambda workers, scheduler: object())
    monkeypatch.setattr(module, "stop_client", lambda client: None)
    return state


def test_campaign_script_runs_workers_sites_side_by_side(tmp_path: Path, monkeypatch, capsys) -> None:
    module = load_script("fe_mn_campaign")
    state = _fake_campaign(monkeypatch, module)
    (tmp_path / "reserved").mkdir()
    (tmp_path / "reserved" / "Mn_materials.txt").write_text("mp-0\n")
    args = ["s", "--out", str(tmp_path / "out"), "--elements", "Mn", "--workers", "2"]
    assert module.main([*args, "--reserved", str(tmp_path / "reserved")]) == 0
    assert state["peak"] == 2  # two lanes at once, never more
    assert sorted(state["ran"]) == [f"m{i}_000" for i in range(5)]  # every site once
    log = capsys.readouterr().out
    assert sum("_000" in line and " finished " in line for line in log.splitlines()) == 5
    import json

    (report,) = (tmp_path / "out" / "Mn").glob("simulate_report_*.json")
    saved = json.loads(report.read_text())
    assert saved["counts"] == {"finished": 5} and saved["workers"] == 2


def test_campaign_script_hours_budget_stops_new_sites(tmp_path: Path, monkeypatch, capsys) -> None:
    module = load_script("fe_mn_campaign")
    state = _fake_campaign(monkeypatch, module, seconds=0.3)
    (tmp_path / "reserved").mkdir()
    (tmp_path / "reserved" / "Mn_materials.txt").write_text("mp-0\n")
    args = ["s", "--out", str(tmp_path / "out"), "--elements", "Mn", "--workers", "2", "--hours", str(0.2 / 3600)]
    assert module.main([*args, "--reserved", str(tmp_path / "reserved")]) == 0
    assert len(state["ran"]) == 2  # each lane finished the site it had started, then stopped
    assert capsys.readouterr().out.count("time budget") == 1


def test_campaign_script_ctrl_c_keeps_running_sites_resumable(tmp_path: Path, monkeypatch, capsys) -> None:
    """Ctrl-C: exit 130 with one line, no traceback; the sites cancelled by the shutdown are logged as
    interrupted and kept out of the report (their markers still say running, so the next run resumes them)."""
    import _thread
    import json
    import threading

    from xasflow.simulation.campaign import CampaignReport, _outcome

    module = load_script("fe_mn_campaign")
    _fake_campaign(monkeypatch, module)
    cancelled = threading.Event()
    calls = []

    def run(plan, client, scratch):
        calls.append(plan.tasks[0].site_id)
        if len(calls) == 1:
            _thread.interrupt_main()  # the user's Ctrl-C while this site runs
            cancelled.wait(10)  # the shutdown cancels it: run_campaign records nothing and says interrupted
            return CampaignReport(config=plan.config, outcomes=[], interrupted=True)
        return CampaignReport(config=plan.config, outcomes=[_outcome(plan.tasks[0], "finished", seconds=0.1)])

    monkeypatch.setattr(module, "run_campaign", run)
    monkeypatch.setattr(module, "stop_client", lambda client: cancelled.set())
    (tmp_path / "reserved").mkdir()
    (tmp_path / "reserved" / "Mn_materials.txt").write_text("mp-0\n")
    args = ["s", "--out", str(tmp_path / "out"), "--elements", "Mn", "--workers", "1"]
    assert module.main([*args, "--reserved", str(tmp_path / "reserved")]) == 130
    captured = capsys.readouterr()
    assert "interrupted" in captured.err and "Traceback" not in captured.err + captured.out
    assert any(" interrupted " in line and "m0_000" in line for line in captured.out.splitlines())
    assert " failed " not in captured.out
    (report,) = (tmp_path / "out" / "Mn").glob("simulate_report_*.json")
    saved = json.loads(report.read_text())
    assert saved["interrupted"] is True and saved["counts"].get("failed", 0) == 0
    assert calls == ["m0_000"]  # no new site after the interrupt


_BACKGROUND_DRIVER = """
import importlib.util, sys, threading
from pathlib import Path
from xasflow.simulation.campaign import CampaignReport, Plan
from xasflow.simulation.runner import SiteTask

spec = importlib.util.spec_from_file_location("fe_mn_campaign", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
stopped = threading.Event()

def task(i):
    return SiteTask(material_id=f"m{i}", site=0, element="Mn", card_set="s", fingerprint="f", feff_inp="",
                    poscar="", n_atoms=10, n_fms=10, est_seconds=1.0)

def run(plan, client, scratch):
    print("running", plan.tasks[0].site_id, flush=True)
    stopped.wait(60)  # a FEFF site until the shutdown cancels it
    return CampaignReport(config=plan.config, outcomes=[], interrupted=True)

module.plan_campaign = lambda paths, config, progress=None: Plan(config=config, tasks=[task(i) for i in range(3)])
module.run_campaign = run
module.start_client = lambda workers, scheduler: object()
module.stop_client = lambda client: stopped.set()
sys.exit(module.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_campaign_script_started_in_the_background_stops_cleanly_on_a_signal(tmp_path: Path, signame: str) -> None:
    """``nohup ... &`` starts the script with SIGINT ignored: ``kill -INT`` did nothing and ``kill`` ended it
    without its clean-up. Both now stop it as Ctrl-C does: exit 130, one line, the running site interrupted."""
    import signal
    import subprocess

    (tmp_path / "reserved").mkdir()
    (tmp_path / "reserved" / "Mn_materials.txt").write_text("mp-0\n")
    args = ["s", "--out", str(tmp_path / "out"), "--elements", "Mn", "--reserved", str(tmp_path / "reserved")]
    proc = subprocess.Popen(
        [sys.executable, "-c", _BACKGROUND_DRIVER, str(REPO / "scripts" / "fe_mn_campaign.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # what a background job inherits
    )
    try:
        for line in proc.stdout:  # wait until a site runs
            if line.startswith("running"):
                break
        proc.send_signal(getattr(signal, signame))
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err + out
    assert " interrupted " in out and "m0_000" in out, (out, err)
