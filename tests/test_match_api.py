"""``xasflow.match``: the CLI's numbers, bad candidates in ``errors``, JSON/CSV round trips, predictor options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import xasflow
from xasflow.cli.main import main
from xasflow.compare import NoCandidateError, Ranking
from xasflow.errors import InputError, XasflowError
from xasflow.io.ranking import read_mixture, read_ranking

REFERENCE = Path(__file__).resolve().parents[1] / "src" / "xasflow" / "examples" / "reference"
CIFS = [REFERENCE / f"{n}.cif" for n in ("CuO_tenorite", "Cu2O_cuprite", "azurite_Cu3C2H2O8")]
AZURITE = CIFS[2]  # two inequivalent Cu sites (indices 0 and 2, multiplicities 2 and 4)


@pytest.fixture(scope="module")
def measured(experiment_root) -> Path:
    return experiment_root / "Cu" / "CuO_tenorite_13K_01.xdi"


@pytest.fixture(scope="module")
def ranking(measured) -> Ranking:
    return xasflow.match(measured, [str(p) for p in CIFS], "Cu", mix=True)


def test_api_gives_the_cli_bytes(ranking, measured, tmp_path, capsys):
    out = tmp_path / "cli.csv"
    assert main(["match", str(measured), *map(str, CIFS), "--element", "Cu", "--out", str(out), "--mix"]) == 0
    printed = capsys.readouterr().out
    ranking.write(tmp_path / "api.csv")
    ranking.mixture.write(tmp_path / "api_mixture.csv")
    assert (tmp_path / "api.csv").read_bytes() == out.read_bytes()
    assert (tmp_path / "api_mixture.csv").read_bytes() == (tmp_path / "cli_mixture.csv").read_bytes()
    assert ranking.best.formula == "CuO" and f"{ranking.best.score:8.4f}" in printed
    assert [e.rank for e in ranking.entries] == [1, 2, 3] and ranking.errors == []
    scores = [e.score for e in ranking.entries]
    assert scores == sorted(scores, reverse=True)
    assert ranking.mixture.fractions.sum() == pytest.approx(1.0)


def test_bad_candidates_land_in_errors_and_the_others_are_ranked(measured, tmp_path):
    from xasflow.io.structures import read_structure

    garbage = tmp_path / "garbage.cif"
    garbage.write_text("this is not a crystal\n")
    empty_folder = tmp_path / "nothing_here"
    empty_folder.mkdir()
    structure = read_structure(CIFS[1])  # a Structure object, named by its formula
    candidates = [CIFS[0], garbage, REFERENCE / "Cr2O3_eskolaite.cif", structure, empty_folder]
    result = xasflow.match(measured, candidates, "Cu")
    assert sorted(e.source for e in result.entries) == sorted([str(CIFS[0]), "Cu2O"])
    reasons = dict(result.errors)
    assert set(reasons) == {str(garbage), str(REFERENCE / "Cr2O3_eskolaite.cif"), str(empty_folder)}
    assert "cannot read structure" in reasons[str(garbage)]
    assert "contains no Cu" in reasons[str(REFERENCE / "Cr2O3_eskolaite.cif")]
    assert result.to_dict()["errors"][0] == {"source": str(garbage), "message": reasons[str(garbage)]}
    with pytest.raises(NoCandidateError) as info:
        xasflow.match(measured, [garbage], "Cu")
    assert info.value.errors == [(str(garbage), reasons[str(garbage)])]


def test_to_dict_is_complete_json_and_round_trips(ranking, tmp_path):
    payload = ranking.to_dict()
    text = json.dumps(payload, allow_nan=False)  # strict JSON: no NaN, no numpy types
    assert set(payload) == {"element", "metric", "measured", "alignment", "ranking", "mixture", "errors"}
    first = payload["ranking"][0]
    assert {"rank", "source", "formula", "score", "shift_eV", "sigma_eV", "scale", "shift_at_bound", "spectrum"} <= set(
        first
    )
    assert set(first["similarities"]) >= {"rfactor", "pearson", "cosine", "dpearson", "likelihood"}
    assert payload["alignment"]["sigma_eV"] is None and payload["measured"]["e0_eV"] == pytest.approx(8990.32, abs=0.01)
    assert sum(c["fraction"] for c in payload["mixture"]["components"]) == pytest.approx(1.0)

    ranking.write(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(text)
    assert read_ranking(tmp_path / "r.json") == json.loads(text)

    ranking.write(tmp_path / "r.csv")
    back = read_ranking(tmp_path / "r.csv")
    assert back["metric"] == payload["metric"] and back["measured"]["source"] == payload["measured"]["source"]
    for row, entry in zip(back["ranking"], payload["ranking"], strict=True):
        assert {k: row[k] for k in ("rank", "source", "formula", "shift_at_bound", "spectrum")} == {
            k: entry[k] for k in ("rank", "source", "formula", "shift_at_bound", "spectrum")
        }
        for key in ("score", "shift_eV", "sigma_eV", "scale"):
            assert row[key] == pytest.approx(entry[key], abs=1e-4)
        assert row["similarities"] == pytest.approx(entry["similarities"], abs=1e-6)

    ranking.mixture.write(tmp_path / "m.csv")
    mixture = read_mixture(tmp_path / "m.csv")
    assert [c["source"] for c in mixture["components"]] == [c["source"] for c in payload["mixture"]["components"]]
    assert mixture["r_factor"] == pytest.approx(payload["mixture"]["r_factor"], abs=1e-6)

    frame = ranking.to_frame()
    assert list(frame["rank"]) == [1, 2, 3] and frame["score"].iloc[0] == pytest.approx(ranking.best.score)


def test_reading_a_file_that_is_not_a_ranking_names_it(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"x\.csv: not an xasflow ranking"):
        read_ranking(bad)
    (tmp_path / "y.json").write_text('{"predictions": []}')
    with pytest.raises(InputError, match=r"y\.json: not an xasflow ranking"):
        read_ranking(tmp_path / "y.json")
    with pytest.raises(XasflowError, match=r"r\.txt: a ranking must end in \.csv or \.json"):
        read_ranking(tmp_path / "r.txt")


def test_sites_zoo_dir_and_symprec_reach_the_predictor(ranking, measured, tmp_path):
    """``--sites 0`` predicts azurite from one of its two inequivalent Cu sites: another spectrum, another fit."""
    from xasflow.zoo.registry import zoo_dir

    out = tmp_path / "one_site.csv"
    args = ["match", str(measured), str(AZURITE), "--element", "Cu", "--out", str(out)]
    assert main([*args, "--sites", "0", "--zoo-dir", str(zoo_dir()), "--symprec", "0.02"]) == 0
    one_site = xasflow.match(measured, AZURITE, "Cu", sites=[0], zoo_dir=zoo_dir(), symprec=0.02)
    one_site.write(tmp_path / "api.csv")
    assert (tmp_path / "api.csv").read_bytes() == out.read_bytes()
    averaged = next(e for e in ranking.entries if e.source == str(AZURITE))
    assert not np.isclose(one_site.best.score, averaged.score, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sites", "fourth"], "fourth"),
        (["--symprec", "2"], "--symprec must be between 0 and 1"),
        (["--zoo-dir", "ZOO"], "no model zoo here"),
        (["--top", "0"], "--top must be >= 1"),
        (["--sigma", "-1"], "--sigma must be >= 0"),
        (["--metric", "chi2"], "unknown similarity 'chi2'"),
        (["--out", "r.txt"], "r.txt: output must end in .csv or .json"),
    ],
)
def test_bad_options_refused_with_exit_2(measured, tmp_path, capsys, extra, message):
    extra = [str(tmp_path) if e == "ZOO" else e for e in extra]
    code = main(["match", str(measured), str(CIFS[0]), "--element", "Cu", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
