"""Active learning: acquisition rules, checkpoint/resume, reserved materials, bad input (replay oracle, tiny nets)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xasflow.active.acquisition import select_batch
from xasflow.active.learner import Campaign, HeldOut, LearnConfig, TransferRefit
from xasflow.active.oracles import ReplayOracle
from xasflow.active.pool import Pool
from xasflow.data.reserved import reserved_materials
from xasflow.errors import XasflowError
from xasflow.training.config import transfer_recipe
from xasflow.training.transfer import pretrain

SETTINGS = transfer_recipe(hidden=(16,), max_epochs=3, few_max_epochs=3, patience=2, few_patience=2, members=2)


def _rows(n: int, shift: float, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 64)) * 100 + shift
    W = np.random.default_rng(99).normal(size=(64, 141)) / 800
    y = np.log1p(np.exp(X @ W)) + 0.5
    return X, y


@pytest.fixture(scope="module")
def base():
    X1, y1 = _rows(40, 0.0, 1)
    X2, y2 = _rows(40, 20.0, 2)
    X = np.vstack([X1, X2])
    groups = [f"mp-{i // 2}" for i in range(80)]
    return pretrain(X, np.vstack([y1, y2]), ["Co"] * 40 + ["Ni"] * 40, groups, SETTINGS, 0, "descriptors")


@pytest.fixture()
def pool_data():
    X, y = _rows(40, 10.0, 3)
    ids = np.array([f"mp-{i // 2}_{i % 2:03d}" for i in range(40)])
    return Pool(ids, X, np.array(["rows"] * 40)), y


def test_uncertainty_picks_largest_std():
    X = np.random.default_rng(0).normal(size=(10, 4))
    std = np.arange(10.0)
    assert select_batch("uncertainty", X, std, np.zeros((0, 4)), 3).tolist() == [9, 8, 7]


def test_diversity_and_hybrid_avoid_near_duplicates():
    # Two tight clusters far apart, and one labelled point sitting in cluster A.
    rng = np.random.default_rng(0)
    a = rng.normal(scale=0.01, size=(5, 2))
    b = rng.normal(scale=0.01, size=(5, 2)) + 10.0
    X = np.vstack([a, b])
    labelled = np.array([[0.0, 0.0]])
    first = select_batch("diversity", X, None, labelled, 1)
    assert first[0] >= 5  # the far cluster first
    # Hybrid: cluster A is the most uncertain, but two picks must not both come from one cluster.
    std = np.array([5.0] * 5 + [1.0] * 5)
    picks = select_batch("hybrid", X, std, np.zeros((0, 2)), 2)
    assert {int(p) < 5 for p in picks} == {True, False}
    assert int(picks[0]) < 5  # the first pick is the most uncertain


def test_random_is_seeded_and_batch_checked():
    X = np.zeros((6, 2))
    assert (
        select_batch("random", X, None, X[:0], 3, seed=1).tolist()
        == select_batch("random", X, None, X[:0], 3, seed=1).tolist()
    )
    with pytest.raises(XasflowError, match="fewer than the batch"):
        select_batch("random", X, None, X[:0], 7)
    with pytest.raises(XasflowError, match="unknown acquisition rule"):
        select_batch("greedy", X, None, X[:0], 1)


class Interrupting(ReplayOracle):
    """Replay oracle that raises on its n-th call (a killed campaign)."""

    def __init__(self, ids, spectra, stop_on: int) -> None:
        super().__init__(ids, spectra)
        self.stop_on = stop_on

    def label(self, site_ids):
        if len(self.calls) + 1 == self.stop_on:
            self.calls.append(list(site_ids))
            raise KeyboardInterrupt
        return super().label(site_ids)


def test_round_checkpoints_and_resumes(tmp_path, base, pool_data):
    pool, y = pool_data
    refit = TransferRefit(base, "Fe", SETTINGS)
    config = LearnConfig("Fe", rule="hybrid", batch=6, rounds=3)
    heldout = HeldOut(pool.X[:5], y[:5])
    oracle = Interrupting(pool.ids, y, stop_on=2)
    with pytest.raises(KeyboardInterrupt):
        Campaign(tmp_path, config, pool).run(oracle, refit, heldout)
    state = json.loads((tmp_path / "state.json").read_text())
    assert [r["status"] for r in state["rounds"]] == ["fitted", "selected"]
    chosen_round1 = state["rounds"][1]["batch"]
    first_labels = set(state["rounds"][0]["batch"])
    # Rerun: round 1 is labelled with the batch chosen before the interruption; round 0 is not redone.
    again = ReplayOracle(pool.ids, y)
    reports = Campaign(tmp_path, config, pool).run(again, refit, heldout)
    assert again.calls[0] == chosen_round1
    assert not first_labels & {s for call in again.calls for s in call}
    assert [r.labels_total for r in reports] == [6, 12, 18]
    assert all(r.heldout_eta is not None and r.mean_predicted_std > 0 for r in reports)
    # A third run has nothing left to do and asks nothing.
    idle = ReplayOracle(pool.ids, y)
    Campaign(tmp_path, config, pool).run(idle, refit, heldout)
    assert idle.calls == []
    with np.load(tmp_path / "labels.npz") as archive:
        assert len(archive["ids"]) == 18
    # Other settings in the same folder: refused, nothing overwritten.
    with pytest.raises(XasflowError, match="other settings"):
        Campaign(tmp_path, LearnConfig("Fe", rule="random", batch=6, rounds=3), pool)


def test_reserved_never_chosen_and_failures_recorded(tmp_path, base, pool_data):
    pool, y = pool_data
    reserved_file = tmp_path / "Fe_materials.txt"
    reserved_file.write_text("mp-0\nmp-1\nmp-2\n")
    excluded = reserved_materials(tmp_path, "Fe")
    assert excluded == {"mp-0", "mp-1", "mp-2"}
    oracle = ReplayOracle(pool.ids, y, fail=["mp-5_000"])
    campaign = Campaign(tmp_path / "run", LearnConfig("Fe", rule="diversity", batch=10, rounds=4), pool, excluded)
    messages: list[str] = []
    campaign.run(oracle, TransferRefit(base, "Fe", SETTINGS), on_message=messages.append)
    chosen = {s for call in oracle.calls for s in call}
    assert not {s for s in chosen if s.rsplit("_", 1)[0] in excluded}
    assert len(chosen) == 34  # 40 - 6 reserved sites; the last round takes the 4 left
    assert campaign.failed == {"mp-5_000": "replay: marked as failing"}
    assert any("mp-5_000" in m for m in messages)
    assert any("only 4 candidates left" in m for m in messages)


def test_too_small_pool_gives_clear_messages(tmp_path, base, pool_data):
    pool, y = pool_data
    small = Pool(pool.ids[:3], pool.X[:3], pool.sources[:3])
    messages: list[str] = []
    reports = Campaign(tmp_path, LearnConfig("Fe", rule="random", batch=5, rounds=3), small).run(
        ReplayOracle(small.ids, y[:3]), TransferRefit(base, "Fe", SETTINGS), on_message=messages.append
    )
    assert "only 3 candidates left, fewer than the batch of 5" in messages[0]
    assert any("needs 5" in m for m in messages)  # too few labels to refit: base model kept
    assert any("pool is exhausted" in m for m in messages)
    assert len(reports) == 1


def _write_root(root, elements=("Co", "Ni", "Cu"), n=30):
    (root / "ml_data").mkdir(parents=True)
    (root / "material_id_and_site").mkdir()
    for k, element in enumerate(elements):
        X, y = _rows(n, 10.0 * k, 10 + k)
        np.savetxt(root / "ml_data" / f"{element}_FEFF_val_X.txt", X)
        np.savetxt(root / "ml_data" / f"{element}_FEFF_val_y.txt", y)
        ids = [f"mp-{100 * k + i // 2}_{i % 2:03d}" for i in range(n)]
        (root / "material_id_and_site" / f"{element}_FEFF_val.txt").write_text("\n".join(ids) + "\n")


def test_cli_learn_replay_resumes(tmp_path, capsys, monkeypatch):
    from xasflow.cli.main import main

    monkeypatch.setenv("XASFLOW_PROGRESS", "0")
    _write_root(tmp_path / "data")
    reserved = tmp_path / "reserved"
    reserved.mkdir()
    (reserved / "Co_materials.txt").write_text("mp-1\n")
    argv = [
        "learn",
        "--replay",
        "--element",
        "Co",
        "--data-dir",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "run"),
        "--batch",
        "4",
        "--rounds",
        "2",
        "--members",
        "2",
        "--reserved-dir",
        str(reserved),
    ]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "22 candidate sites" in out.out  # 30 rows - mp-1 (reserved) - the held-out materials
    assert "round 1:" in out.err and "held-out η" in out.err
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert len(state["rounds"]) == 2
    assert not any(s.startswith("mp-1_") for r in state["rounds"] for s in r["batch"])
    assert main(argv) == 0  # identical rerun: nothing to do
    assert "round" not in capsys.readouterr().err
    more = list(argv)
    more[argv.index("--rounds") + 1] = "3"
    assert main(more) == 0
    err = capsys.readouterr().err
    assert "round 2:" in err and "round 1:" not in err
    assert main([*argv, "--rule", "random"]) == 2  # another rule in the same folder: refused
    assert "other settings" in capsys.readouterr().err


def test_feff_oracle_plans_requested_sites_and_reports_unknown_ones(data_root, tmp_path):
    from xasflow.active.oracles import FeffOracle

    poscar = data_root / "FEFF" / "Cu" / "mp-705439" / "POSCAR"
    oracle = FeffOracle({"mp-705439": poscar}, "Cu", "fast", tmp_path, client_factory=lambda: None)
    plan, failures = oracle._plan(["mp-705439_000", "mp-1_000"])
    assert [t.site_id for t in plan.tasks] == ["mp-705439_000"]
    assert "no structure file" in failures["mp-1_000"]
    # Nothing to run (unknown material only): no client is started, the failure comes back per site.
    labels = oracle.label(["mp-1_000"])
    assert labels.spectra == {} and "no structure file" in labels.failures["mp-1_000"]


def test_representative_covers_clusters_in_proportion():
    # Three clusters of 30, 10 and 2 points: a batch of 3 does not come from one cluster, and once the big
    # cluster is labelled the picks come from the others.
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.vstack([rng.normal(scale=0.3, size=(n, 2)) + c for n, c in zip((30, 10, 2), centres, strict=True)])
    picks = select_batch("representative", X, None, np.zeros((0, 2)), 3, seed=0)
    assert len(set(picks.tolist())) == 3
    assert {int(p) < 30 for p in picks} == {True, False}  # not all from one cluster
    small = select_batch("representative", X, None, X[:30], 2, seed=0)  # big cluster already labelled
    assert all(p >= 30 for p in small)
