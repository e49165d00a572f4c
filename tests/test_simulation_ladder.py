"""SCF retry ladder: rung cards, per-site climbing, records and resume (FEFF replaced by a stub)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xasflow.constants import energy_grid
from xasflow.simulation import runner
from xasflow.simulation.feff_cards import FAST
from xasflow.simulation.inputs import parse_feff_inp, replace_cards
from xasflow.simulation.ladder import DEFAULT_LADDER, NO_LADDER, Rung
from xasflow.simulation.output import MARKER, SiteState, site_dir, site_status
from xasflow.simulation.runner import FeffFailure, SiteTask, simulate_site

FEFF_INP = """TITLE test
CONTROL 1 1 1 1 1 1
SCF 5.0 0 30 0.2 3
FMS 7.0 0
EGRID
k_grid -1 0 0.08
k_grid 0 6 0.08

POTENTIALS
      0   29  Cu          -1       -1                  0.0001         0
      1   29  Cu          -1       -1                       1         0

ATOMS
    0.000000     0.000000     0.000000      0  Cu       0.000000        0
    2.550000     0.000000     0.000000      1  Cu       2.550000        1
END
"""


def _fake_xmu(path: Path) -> None:
    grid = energy_grid("Cu")
    omega = np.linspace(grid[0] - 5, grid[-1] + 5, 200)
    mu = 0.5 + 0.4 * np.tanh(omega - grid[20])
    rows = "\n".join(f"{w:.4f} 0 0 {m:.6f} 0 0" for w, m in zip(omega, mu, strict=True))
    path.write_text(f"# xsedge+ 50, used to normalize mu      1.0\n#  omega e k mu mu0 chi\n{rows}\n")


def _task(ladder=DEFAULT_LADDER) -> SiteTask:
    return SiteTask(
        material_id="mp-test",
        site=0,
        element="Cu",
        card_set=FAST.name,
        fingerprint=FAST.fingerprint(),
        feff_inp=FEFF_INP,
        poscar="poscar text\n",
        n_atoms=2,
        n_fms=2,
        est_seconds=1.0,
        rungs=ladder.plan({"SCF": "5.0 0 30 0.2 3"}),
        ladder=ladder.name,
    )


@pytest.fixture
def feff_stub(monkeypatch):
    """Replace FEFF: a run fails while its SCF card is in ``fail_scf`` (or times out), else writes xmu.dat."""
    calls: list[str] = []
    behaviour = {"fail_scf": set(), "timeout": False}

    def fake_run(feff_inp: Path, workdir: Path, timeout):
        scf = parse_feff_inp(feff_inp.read_text()).cards["SCF"]
        calls.append(scf)
        if behaviour["timeout"]:
            raise FeffFailure("timeout", f"FEFF exceeded the time limit of {timeout:g} s and was stopped")
        if scf in behaviour["fail_scf"] or "*" in behaviour["fail_scf"]:
            raise FeffFailure("failed", "FEFF failed: [log1.dat: Bad counts found repeatedly - pot will exit now.]")
        _fake_xmu(workdir / "xmu.dat")
        return 3.0, 2.5

    monkeypatch.setattr(runner, "run_feff", fake_run)
    return calls, behaviour


def test_rung_cards() -> None:
    assert Rung("same", "").scf_card("5.0 0 30 0.2 3") == "5.0 0 30 0.2 3"
    assert Rung("mix", "", iterations_factor=1.5, nmix=10).scf_card("5.0 0 30 0.2 3") == "5.0 0 45 0.2 10"
    assert Rung("r", "", radius_delta=-1.0, ca=0.1).scf_card("3.5 0 30 0.2 3") == "3.0 0 30 0.1 3"  # floor 3 Å
    assert Rung("d", "").scf_card("4.0") == "4.0 0 30 0.2 1"  # FEFF defaults fill a short card
    plan = DEFAULT_LADDER.plan(FAST.cards)
    assert [name for name, _ in plan] == [r.name for r in DEFAULT_LADDER.rungs]
    assert plan[0] == ("as-set", {}) and plan[-1][1] == {"SCF": "4.0 0 30 0.1 10"}
    # Rungs that would repeat earlier cards are dropped: at the 3 Å floor, shrinking changes nothing new.
    floor = DEFAULT_LADDER.plan({"SCF": "3.0 0 45 0.1 10"})
    assert len({json.dumps(o, sort_keys=True) for _, o in floor}) == len(floor)
    assert NO_LADDER.plan(FAST.cards) == (("as-set", {}),)


def test_replace_cards_keeps_the_cluster() -> None:
    text = replace_cards(FEFF_INP, {"SCF": "4.0 0 30 0.1 10", "EGRID": "\nk_grid -1 0 0.1\nk_grid 0 6 0.1"})
    parsed, original = parse_feff_inp(text), parse_feff_inp(FEFF_INP)
    assert parsed.cards["SCF"] == "4.0 0 30 0.1 10" and parsed.cards["EGRID"] == "k_grid -1 0 0.1\nk_grid 0 6 0.1"
    assert parsed.cards["FMS"] == original.cards["FMS"] and parsed.symbols == original.symbols
    with pytest.raises(Exception, match="not found"):
        replace_cards(FEFF_INP, {"RPATH": "-1"})


def test_site_climbs_the_ladder_and_records_the_rung(tmp_path: Path, feff_stub) -> None:
    calls, behaviour = feff_stub
    behaviour["fail_scf"] = {"5.0 0 30 0.2 3", "5.0 0 45 0.2 10"}  # as-set and mixing fail
    outcome = simulate_site(_task(), tmp_path)
    assert outcome.status == "finished" and outcome.rung == "accelerator"
    assert calls == ["5.0 0 30 0.2 3", "5.0 0 45 0.2 10", "5.0 0 30 0.05 10"]
    assert [t["status"] for t in outcome.rungs_tried] == ["failed", "failed", "finished"]
    assert "Bad counts" in outcome.rungs_tried[0]["reason"]
    folder = site_dir(tmp_path, "Cu", "mp-test", 0)
    marker = json.loads((folder / MARKER).read_text())
    assert marker["status"] == "finished" and marker["rung"] == "accelerator" and marker["rung_index"] == 2
    assert marker["cards_changed"] == {"SCF": "5.0 0 30 0.05 10"} and len(marker["rungs_tried"]) == 3
    # The site's feff.inp is the one that produced its xmu.dat.
    assert parse_feff_inp((folder / "feff.inp").read_text()).cards["SCF"] == "5.0 0 30 0.05 10"
    assert (folder / "xmu.dat").is_file()
    assert site_status(folder, FAST.name, FAST.fingerprint(), "Cu").state is SiteState.DONE
    # Same cards under another name (a renamed set) are the same output; other cards are a conflict.
    assert site_status(folder, "renamed", FAST.fingerprint(), "Cu").state is SiteState.DONE
    conflict = site_status(folder, FAST.name, "0123456789abcdef", "Cu")
    assert conflict.state is SiteState.CONFLICT and "not overwritten" in conflict.reason


def test_site_failing_every_rung_is_given_up_and_not_rerun(tmp_path: Path, feff_stub) -> None:
    calls, behaviour = feff_stub
    behaviour["fail_scf"] = {"*"}
    outcome = simulate_site(_task(), tmp_path)
    assert outcome.status == "failed" and outcome.gave_up and len(calls) == len(DEFAULT_LADDER.rungs)
    assert "every rung of retry ladder 'scf-v1' failed" in outcome.reason and "rung radius-1.0" in outcome.reason
    folder = site_dir(tmp_path, "Cu", "mp-test", 0)
    assert not (folder / "xmu.dat").exists()
    marker = json.loads((folder / MARKER).read_text())
    assert marker["gave_up"] and marker["status"] == "failed" and "rung" not in marker
    assert (tmp_path / ".work" / "failed" / "Cu_mp-test_000" / "feff.inp").is_file()
    # A rerun with the same ladder skips it; --retry-failed (ladder=None) runs it again.
    assert simulate_site(_task(), tmp_path).status == "given-up" and len(calls) == len(DEFAULT_LADDER.rungs)
    assert site_status(folder, FAST.name, FAST.fingerprint(), "Cu", ladder=None).state is SiteState.EMPTY
    behaviour["fail_scf"] = set()
    from dataclasses import replace

    again = simulate_site(replace(_task(), retry_failed=True), tmp_path)
    assert again.status == "finished" and again.rung == "as-set"


def test_timeout_ends_the_ladder(tmp_path: Path, feff_stub) -> None:
    calls, behaviour = feff_stub
    behaviour["timeout"] = True
    outcome = simulate_site(_task(), tmp_path, timeout=5)
    assert outcome.status == "timeout" and len(calls) == 1 and not outcome.gave_up


def test_campaign_does_not_resubmit_a_site_that_failed_every_rung(tmp_path: Path, feff_stub) -> None:
    from dask.distributed import Client

    from xasflow.simulation.campaign import CampaignConfig, Plan, run_campaign

    calls, behaviour = feff_stub
    behaviour["fail_scf"] = {"*"}
    config = CampaignConfig(element="Cu", feff_card_set=FAST, out=tmp_path, retries=1)
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        report = run_campaign(Plan(config=config, tasks=[_task()]), client, tmp_path / "report.json")
    (outcome,) = report.outcomes
    assert outcome.status == "failed" and outcome.attempts == 1 and len(calls) == len(DEFAULT_LADDER.rungs)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["retry_ladder"]["name"] == "scf-v1" and saved["sites"][0]["gave_up"]


def test_campaign_records_a_cancelled_site_as_interrupted_not_failed(tmp_path: Path, feff_stub) -> None:
    """A future cancelled under the campaign (its client shut down on Ctrl-C) is neither a failure nor retried."""
    from dask.distributed import Client

    from xasflow.simulation.campaign import CampaignConfig, Plan, run_campaign

    class CancellingClient:  # the real client, but every submitted site is cancelled at once
        def __init__(self, client):
            self.client = client
            self.submitted = 0

        def scheduler_info(self):
            return self.client.scheduler_info()

        def submit(self, *args, **kwargs):
            self.submitted += 1
            future = self.client.submit(*args, **kwargs)
            future.cancel()
            return future

    config = CampaignConfig(element="Cu", feff_card_set=FAST, out=tmp_path, retries=1)
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        proxy = CancellingClient(client)
        report = run_campaign(Plan(config=config, tasks=[_task()]), proxy, tmp_path / "report.json")
    assert report.interrupted and report.outcomes == [] and proxy.submitted == 1
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["interrupted"] is True and saved["counts"] == {}


def test_cost_fit_recovers_a_power_law() -> None:
    from xasflow.simulation.feff_card_study import fit_cost, spread_order

    n = np.array([20, 40, 60, 80, 120, 160])
    a, b, p = fit_cost(n, 10.0 + 0.01 * n**2.5)
    assert abs(p - 2.5) < 0.06 and abs(a - 10.0) < 2.0 and abs(b - 0.01) < 0.003
    # Study order: smallest and largest first, every prefix spans the sizes.
    order = spread_order([50, 10, 40, 30, 20], 5, 0.0, 1.0)
    assert order[:2] == [1, 0] and sorted(order) == [0, 1, 2, 3, 4]


def test_feff_child_carries_its_nice_value_into_its_scheduler_group():
    """A niced campaign's FEFF runs in its own session; without this its nice would not count against
    other sessions (Linux autogroups) and it would take a full core from the user's work."""
    import subprocess
    import sys

    script = (
        "import os; os.nice(7); from xasflow.simulation._feff_child import keep_niceness; keep_niceness(); "
        "print(open('/proc/self/autogroup').read() if os.path.exists('/proc/self/autogroup') else 'none')"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, start_new_session=True
    ).stdout
    if Path("/proc/self/autogroup").exists():
        assert out.split()[-1] == "7", out
    else:  # kernels without autogroups: the call is a no-op and must not fail
        assert out.strip() == "none"
