"""Edge offset by oxidation state (``match --offset-rule oxidation``): states, the line, each candidate's range."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from xasflow.cli.main import main
from xasflow.compare import AlignConfig, Candidate, rank
from xasflow.compare.align import DEFAULT_OFFSET, DEFAULT_SHIFT_BOUND
from xasflow.compare.correction import EDGE_SHIFT_MODELS, EdgeShiftModel, formal_oxidation_state
from xasflow.compare.match import candidate_config
from xasflow.compare.normalize import NormalizedSpectrum
from xasflow.constants import energy_grid
from xasflow.errors import XasflowError
from xasflow.io.structures import read_structure

REFERENCE = Path(__file__).resolve().parents[1] / "src" / "xasflow" / "examples" / "reference"


@pytest.mark.parametrize(
    ("name", "element", "expected"),
    [
        ("siderite_FeCO3", "Fe", 2.0),  # the composition alone would say Fe(III) with C(III); bond lengths say Fe(II)
        ("aegirine_NaFeSi2O6", "Fe", 3.0),
        ("ramsdellite_MnO2", "Mn", 4.0),
        ("Cu_metal", "Cu", 0.0),
        ("vivianite_Fe3P2O8_8H2O", "Fe", None),  # a hydrate without its H atoms: no charge balance
    ],
)
def test_formal_oxidation_state_of_reference_structures(name, element, expected):
    assert formal_oxidation_state(read_structure(REFERENCE / f"{name}.cif"), element) == expected


def test_formal_oxidation_state_of_a_composition_and_a_missing_element():
    assert formal_oxidation_state("Fe2O3", "Fe") == pytest.approx(3.0)
    with pytest.raises(ValueError, match="contains no Mn"):
        formal_oxidation_state("Fe2O3", "Mn")


def test_edge_shift_model_fit_recovers_a_line_and_falls_back_to_the_median():
    model = EdgeShiftModel.fit([2, 2, 3, 4], [-1.3, -1.1, 0.6, 2.2], bound=1.0)
    assert model.slope == pytest.approx(1.7, abs=0.05)
    assert model.offset(3) == pytest.approx(0.5, abs=0.1)
    flat = EdgeShiftModel.fit([2, 2, 2], [-1.0, 0.0, 5.0], bound=1.5)
    assert (flat.slope, flat.intercept, flat.bound) == (0.0, 0.0, 1.5)
    with pytest.raises(ValueError):
        EdgeShiftModel.fit([], [], bound=1.0)


def _candidate(source: str, oxidation: float | None, spectrum: np.ndarray) -> Candidate:
    return Candidate(source, "FeO", energy_grid("Fe"), spectrum, oxidation_state=oxidation)


def test_candidate_config_centres_the_range_on_the_oxidation_state():
    spectrum = np.linspace(0, 1, len(energy_grid("Fe")))
    fe3 = _candidate("a", 3.0, spectrum)
    rule = AlignConfig(offset_rule="oxidation")
    own = candidate_config(rule, "Fe", fe3)
    model = EDGE_SHIFT_MODELS["Fe"]
    assert own.centre("Fe") == pytest.approx(model.intercept + 3 * model.slope)
    assert own.bound("Fe") == model.bound
    # the default rule, an explicit offset, an unknown oxidation state or an element without a model: unchanged
    assert candidate_config(AlignConfig(), "Fe", fe3).centre("Fe") == DEFAULT_OFFSET["Fe"]
    assert candidate_config(replace(rule, offset=1.0), "Fe", fe3).centre("Fe") == 1.0
    assert candidate_config(rule, "Fe", _candidate("b", None, spectrum)).centre("Fe") == DEFAULT_OFFSET["Fe"]
    cu = Candidate("c", "CuO", energy_grid("Cu"), spectrum, oxidation_state=2.0)
    assert candidate_config(rule, "Cu", cu).bound("Cu") == DEFAULT_SHIFT_BOUND["Cu"]
    # a given half-width is kept
    assert candidate_config(replace(rule, shift_bound=0.5), "Fe", fe3).bound("Fe") == 0.5


def test_given_edge_models_replace_the_shipped_lines():
    """A study passes lines fitted without the measured compound; an empty mapping keeps the default."""
    spectrum = np.linspace(0, 1, len(energy_grid("Fe")))
    fe3 = _candidate("a", 3.0, spectrum)
    rule = AlignConfig(offset_rule="oxidation")
    line = EdgeShiftModel(intercept=-2.0, slope=0.5, bound=0.7)
    own = candidate_config(rule, "Fe", fe3, {"Fe": line})
    assert own.centre("Fe") == pytest.approx(-0.5)
    assert own.bound("Fe") == 0.7
    assert candidate_config(rule, "Fe", fe3, {}).centre("Fe") == DEFAULT_OFFSET["Fe"]


def test_unknown_offset_rule_is_refused():
    with pytest.raises(XasflowError, match="unknown offset rule"):
        AlignConfig(offset_rule="valence")


def test_oxidation_rule_tells_apart_two_candidates_only_their_oxidation_state_separates():
    """Two candidates with the same spectrum: the measurement sits where the Fe(II) edge belongs,
    out of the Fe(III) candidate's range, so only the oxidation rule ranks Fe(II) first."""
    energies = energy_grid("Fe")
    spectrum = 1 / (1 + np.exp(-(energies - energies[0] - 8) / 0.6)) + 0.8 * np.exp(
        -0.5 * ((energies - energies[0] - 12) / 1.5) ** 2
    )
    fe2, fe3 = _candidate("Fe(II)", 2.0, spectrum), _candidate("Fe(III)", 3.0, spectrum)
    shift = EDGE_SHIFT_MODELS["Fe"].offset(2.0) - 1.0  # inside Fe(II)'s ±1.5 eV, 2.6 eV below Fe(III)'s centre
    grid = np.arange(energies[0] - 60, energies[-1] + 100, 0.3)
    flat = np.interp(grid, energies + shift, spectrum)
    measured = NormalizedSpectrum("synthetic", grid, flat, flat, flat, float(energies[0] + shift), 1.0, 0.0, 0.0, "Fe")
    by_oxidation = rank(measured, [fe3, fe2], "Fe", config=AlignConfig(offset_rule="oxidation"))
    assert by_oxidation.best.candidate.source == "Fe(II)"
    assert by_oxidation.entries[1].r_factor > 10 * by_oxidation.entries[0].r_factor
    by_element = rank(measured, [fe3, fe2], "Fe")
    assert by_element.entries[0].r_factor == pytest.approx(by_element.entries[1].r_factor, abs=1e-6)


def test_cli_offset_rule_choice(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["match", str(tmp_path / "x.xdi"), str(REFERENCE / "siderite_FeCO3.cif"), "--offset-rule", "valence"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'valence'" in capsys.readouterr().err
