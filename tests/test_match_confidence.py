"""Calibrated confidence of a ranking: probabilities, temperature fit, near ties, entries of ``match``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xasflow.compare import Candidate, normalize, rank
from xasflow.compare.align import DEFAULT_OFFSET, broaden
from xasflow.compare.confidence import (
    fit_temperature,
    near_tie,
    negative_log_likelihood,
    probabilities,
    reliability_table,
    top_k_accuracy,
    wilson_interval,
)
from xasflow.compare.normalize import NormalizedSpectrum
from xasflow.errors import InputError
from xasflow.io.measured import read_measured


def test_probabilities_sum_to_one_and_follow_the_misfit():
    p = probabilities([0.004, 0.002, 0.01, 0.02], temperature=0.7)
    assert p.sum() == pytest.approx(1.0)
    assert np.argmax(p) == 1 and list(np.argsort(-p)) == [1, 0, 2, 3]
    # only misfit ratios count: a noisier scan (all R ten times larger) is not more or less confident
    np.testing.assert_allclose(probabilities(np.array([0.004, 0.002, 0.01, 0.02]) * 10, 0.7), p)
    assert probabilities([0.01], 0.7).tolist() == [1.0]
    with pytest.raises(ValueError):
        probabilities([0.01, np.nan])
    with pytest.raises(ValueError):
        probabilities([0.01, 0.02], temperature=0.0)


def test_temperature_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(3)
    true_t, rankings = 0.5, []
    for _ in range(1500):
        misfits = np.exp(rng.normal(np.log(0.01), 0.6, size=rng.integers(2, 8)))
        truth = rng.choice(misfits.size, p=probabilities(misfits, true_t))
        rankings.append((misfits, int(truth)))
    fitted = fit_temperature(rankings)
    assert fitted == pytest.approx(true_t, rel=0.1)
    assert negative_log_likelihood(rankings, fitted) <= negative_log_likelihood(rankings, 2 * true_t)
    with pytest.raises(ValueError, match="two or more"):
        fit_temperature([([0.01], 0)])


def test_near_tie_flag():
    assert near_tie([0.4, 0.35, 0.25])  # runner-up 0.875 of the first
    assert near_tie([0.5, 0.25, 0.25])  # exactly half: a tie
    assert not near_tie([0.6, 0.2, 0.2])
    assert not near_tie([1.0])  # nothing to confuse it with
    assert near_tie([0.3, 0.4, 0.3])  # order of the input does not matter


def test_reliability_and_top_k():
    rows = reliability_table([0.2, 0.3, 0.6, 0.65, 0.95], [False, True, True, False, True])
    assert [r.count for r in rows] == [0, 1, 1, 2, 0, 1]
    assert rows[3].share_right == 0.5 and rows[3].mean_confidence == pytest.approx(0.625)
    assert not rows[3].over_confident  # fewer than five rankings
    many = reliability_table([0.8] * 5, [True, False, False, True, True])
    assert many[4].count == 5 and many[4].over_confident  # 0.6 right < 0.8 - 0.1
    low, high = wilson_interval(7, 16)
    assert low < 7 / 16 < high and low > 0.2 and high < 0.7
    assert top_k_accuracy([1, 2, 3, 1], 1) == 0.5 and top_k_accuracy([1, 2, 3, 1], 2) == 0.75


def _curve(energies, centre, width=4.0, height=1.3):
    step = 1.0 / (1.0 + np.exp(-(energies - centre) / 1.0))
    return step + (height - 1.0) * np.exp(-0.5 * ((energies - centre - 3.0) / width) ** 2)


def test_match_entries_carry_r_factor_confidence_and_near_tie(tmp_path):
    from xasflow.constants import energy_grid
    from xasflow.io.ranking import read_ranking

    energies = energy_grid("Cu")
    start = energies[0]
    shapes = {"a": _curve(energies, start + 10), "b": _curve(energies, start + 10.3), "c": _curve(energies, start + 20)}
    candidates = [Candidate(n, n, energies, s) for n, s in shapes.items()]
    grid = np.arange(energies[0] - 60, energies[-1] + 100, 0.3)
    flat = np.interp(grid, energies + DEFAULT_OFFSET["Cu"], broaden(shapes["a"], 1.0))
    measured = NormalizedSpectrum("synthetic", grid, flat, flat, flat, float(start), 1.0, 0.0, 0.0, "Cu")
    result = rank(measured, candidates, "Cu")
    confidences = [e.confidence for e in result.entries]
    assert sum(confidences) == pytest.approx(1.0)
    assert confidences == sorted(confidences, reverse=True)
    assert all(e.r_factor == pytest.approx(1 - e.metrics["rfactor"]) for e in result.entries)
    assert {e.near_tie for e in result.entries} == {result.entries[1].confidence >= 0.5 * confidences[0]}
    assert result.entries[-1].candidate.source == "c"
    result.write(tmp_path / "r.csv")
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert header[4:7] == ["r_factor", "confidence", "near_tie"] and "similarity_rfactor" in header
    back = read_ranking(tmp_path / "r.csv")["ranking"]
    assert [row["confidence"] for row in back] == pytest.approx(confidences, abs=1e-4)
    assert back[0]["near_tie"] == result.entries[0].near_tie
    assert back[0]["similarities"]["rfactor"] == pytest.approx(1 - back[0]["r_factor"], abs=1e-5)


@pytest.mark.parametrize(("values", "message"), [(0.0, "all zero"), (1.5, "constant")])
def test_flat_measured_data_is_one_clear_message(tmp_path, values, message):
    energy = np.linspace(8800, 9300, 200)
    path = tmp_path / "flat.txt"
    np.savetxt(path, np.column_stack([energy, np.full_like(energy, values)]), header="energy mu")
    with pytest.raises(InputError, match=message) as info:
        normalize(read_measured(path), "Cu")
    assert info.value.source == str(Path(path))


def test_energy_dependent_broadening_grows_with_energy():
    from xasflow.compare.correction import energy_dependent_broadening

    e = np.arange(0.0, 35.25, 0.25)
    spikes = np.zeros_like(e)
    spikes[[8, 120]] = 1.0
    np.testing.assert_array_equal(energy_dependent_broadening(e, spikes, 0.0), spikes)
    out = energy_dependent_broadening(e, spikes, 0.05)
    assert out[8] > out[120] > 0  # the late spike is spread more than the early one
    np.testing.assert_allclose(energy_dependent_broadening(e, np.ones_like(e), 0.1), 1.0)
    with pytest.raises(ValueError):
        energy_dependent_broadening(e, spikes, -0.1)


def test_loco_select_never_uses_the_held_out_compound():
    from xasflow.compare.study import DevRanking, loco_select

    def ranking(compound: str, p_own: float) -> DevRanking:
        return DevRanking(
            f"Cu/{compound}", "Cu", compound, [compound, "x"], [0.01, 0.02], [0, 0], [0, 0], probs=[p_own, 1 - p_own]
        )

    # parameter 1 is better on compound b only: a and c are judged on b (and each other), b on a and c
    variants = {
        0.0: [ranking("a", 0.5), ranking("b", 0.5), ranking("c", 0.5)],
        1.0: [ranking("a", 0.4), ranking("b", 0.99), ranking("c", 0.4)],
    }
    _, chosen = loco_select(variants)
    assert chosen == {"Cu/a": 1.0, "Cu/b": 0.0, "Cu/c": 1.0}


def test_study_prediction_cache_is_redone_for_another_model(tmp_path) -> None:
    """A cached candidate made by an earlier build of the model is predicted again, not reused."""
    from types import SimpleNamespace

    from pymatgen.core import Lattice, Structure

    from xasflow.compare.study import predicted_candidates
    from xasflow.inference.predictor import Prediction, SiteSpectrum

    Structure(Lattice.cubic(3.0), ["Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(tmp_path / "FeO.cif"))

    class Fake:
        def __init__(self, sha: str) -> None:
            self.model = SimpleNamespace(
                card_source_=SimpleNamespace(xasflow_version="1", weights=SimpleNamespace(sha256=sha))
            )
            self.calls = 0

        def model_for(self, element):
            return self.model

        def predict_structure(self, structure, element, source):
            self.calls += 1
            spectrum = np.full(3, float(self.calls))
            return Prediction(
                source,
                element,
                "FEFF",
                "head",
                f"1+{self.model.card_source_.weights.sha256[:12]}",
                np.arange(3.0),
                [SiteSpectrum(0, 1, 1.0, spectrum)],
                spectrum,
                "FeO",
            )

    cache = tmp_path / "cache"
    old = Fake("a" * 64)
    (first,) = predicted_candidates(tmp_path, "Fe", cache, old)
    (again,) = predicted_candidates(tmp_path, "Fe", cache, old)
    assert old.calls == 1 and np.allclose(again.spectrum, first.spectrum)  # same model: from the cache
    new = Fake("b" * 64)
    new.calls = 10
    (rebuilt,) = predicted_candidates(tmp_path, "Fe", cache, new)
    assert new.calls == 11 and np.allclose(rebuilt.spectrum, 11.0)  # other weights: predicted again
    assert json.loads((cache / "FeO__Fe.json").read_text())["model_version"].endswith("b" * 12)
