"""FEFF card study helpers: scoring against the model, card replacement on a shared input (no FEFF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xasflow.simulation.feff_card_study import cluster_distances, egrid, mse, score_candidate, with_cards
from xasflow.simulation.inputs import parse_feff_inp


def test_score_is_candidate_mse_over_model_mse_on_the_same_sites() -> None:
    results = [
        {"site_id": "a", "status": "finished", "cpu_seconds": 10.0, "seconds": 12.0, "mse": 1.0},
        {"site_id": "b", "status": "finished", "cpu_seconds": None, "seconds": 30.0, "mse": 3.0},
        {"site_id": "c", "status": "failed", "cpu_seconds": None, "seconds": 5.0},
    ]
    score = score_candidate("x", results, {"a": 10.0, "b": 30.0, "c": 1.0})
    assert score.n_sites == 2 and score.n_failed == 1
    assert score.relative == 4.0 / 40.0 and score.relative_median_site == 0.1
    assert score.cpu_mean == 20.0  # wall seconds stand in when the CPU time is unknown
    assert mse(np.ones(3), np.zeros(3)) == 1.0


def test_with_cards_changes_only_the_cards_of_a_shared_input(cu_tree: Path) -> None:
    path = cu_tree / "mp-705439" / "FEFF-XANES" / "000_Cu" / "feff.inp"
    text = path.read_text()
    new = with_cards(text, {"SCF": "5.0 0 30 0.2 3", "EGRID": egrid(0.08)})
    a, b = parse_feff_inp(new), parse_feff_inp(text)
    assert a.cards["SCF"] == "5.0 0 30 0.2 3" and a.cards["EGRID"] == "k_grid -1 0 0.08\nk_grid 0 6 0.08"
    assert {k: v for k, v in a.cards.items() if k not in ("SCF", "EGRID")} == {
        k: v for k, v in b.cards.items() if k not in ("SCF", "EGRID")
    }
    assert a.symbols == b.symbols and np.array_equal(a.coords, b.coords) and a.potentials == b.potentials
    assert len(cluster_distances(text)) == len(b.symbols)


def test_adaptive_fms_sphere_holds_the_requested_atoms(cu_tree: Path) -> None:
    from xasflow.io.structures import read_structure
    from xasflow.simulation.feff_cards import PUBLISHED, FeffCardSet
    from xasflow.simulation.inputs import build_site_input

    d = np.array([0.0, 2.0, 2.0, 3.0, 3.01, 4.0, 5.0])
    card = FeffCardSet("t", dict(PUBLISHED.cards), fms_atoms=3)
    assert card.fms_radius_for(d) == 2.5  # midway between the 3rd atom (2.0 Å) and the next shell (3.0 Å)
    assert FeffCardSet("t", dict(PUBLISHED.cards), fms_atoms=4).fms_radius_for(d) == 3.01  # no gap: just past it
    assert FeffCardSet("t", dict(PUBLISHED.cards), fms_atoms=50).fms_radius_for(d) == 9.0  # capped at the card
    assert card.fms_card(d) == "2.5 0" and card.fingerprint() != FeffCardSet("t", dict(PUBLISHED.cards)).fingerprint()
    structure = read_structure(cu_tree / "mp-705439" / "POSCAR")
    dense = FeffCardSet("t", dict(PUBLISHED.cards), fms_atoms=40)
    inp = build_site_input(structure, 0, "Cu", dense, "mp-705439")
    radius = float(parse_feff_inp(inp.text).cards["FMS"].split()[0])
    within = (np.linalg.norm(inp.coords, axis=1) <= radius).sum()
    assert radius < 9.0 and within == inp.n_fms and 40 <= inp.n_fms < inp.n_atoms
