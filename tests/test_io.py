"""io/: prediction outputs round-trip (with optional uncertainty fields), matrices, the Dask client factory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import xasflow
from xasflow.errors import InputError, XasflowError
from xasflow.io.omnixas import read_matrix, write_matrix
from xasflow.io.predictions import read_predictions, write_predictions

EXAMPLES = Path(xasflow.__file__).parent / "examples" / "structures"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    """Real predictions (``--sites all`` on tenorite: 4 Cu of one class), two with extra fields."""
    tenorite = xasflow.predict(EXAMPLES / "CuO_tenorite.cif", element="Cu", sites="all").to_dict()
    metal = xasflow.predict(EXAMPLES / "Cu_metal.cif", element="Cu").to_dict()
    rng = np.random.default_rng(0)
    uncertain = {**tenorite, "average_std": rng.random(141).tolist(), "interval_95": 2.5}
    uncertain["sites"] = [
        {**site, "std": rng.random(141).tolist(), "ood_score": 0.5 + k, "in_domain": k % 2 == 0}
        for k, site in enumerate(tenorite["sites"])
    ]
    return [tenorite, metal, uncertain, metal]  # the same record twice in a row must stay two records


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_predictions_round_trip_with_optional_fields(records, tmp_path, suffix) -> None:
    path = tmp_path / f"p{suffix}"
    errors = [{"source": "bad.cif", "message": "empty file"}]
    write_predictions(path, records, errors)
    back, back_errors = read_predictions(path)
    assert back == records
    assert back_errors == (errors if suffix == ".json" else [])


def test_prediction_record_round_trips_through_the_dataclass(records) -> None:
    from xasflow.inference.predictor import Prediction

    for record in records:
        assert Prediction.from_dict(record).to_dict() == record


def test_csv_average_row_counts_each_site_once_and_has_a_weight(records, tmp_path) -> None:
    path = tmp_path / "p.csv"
    write_predictions(path, records[:1], [])
    header, *rows = [line.split(",") for line in path.read_text().splitlines()]
    column = {name: k for k, name in enumerate(header)}
    average = next(r for r in rows if r[column["site"]] == "average")
    # --sites all: four sites of multiplicity 4 each; the average stands for 4 sites, not 16.
    means = [r for r in rows if r[column["site"]] != "average" and r[column["quantity"]] == "mean"]
    assert [r[column["multiplicity"]] for r in means] == ["4"] * 4
    assert average[column["multiplicity"]] == "4" and average[column["weight"]] == "4"
    assert {r[column["weight"]] for r in rows if r[column["site"]] != "average"} == {"1.0"}


def test_reading_a_file_that_is_not_predictions_names_it(tmp_path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"x.csv: not an xasflow predictions CSV"):
        read_predictions(bad)
    (tmp_path / "y.json").write_text("[]")
    with pytest.raises(InputError, match=r"y\.json: not an xasflow predictions file"):
        read_predictions(tmp_path / "y.json")


@pytest.mark.parametrize("suffix", [".txt", ".npy"])
def test_matrices_round_trip_and_bad_ones_are_named(tmp_path, suffix) -> None:
    matrix = np.random.default_rng(1).normal(size=(4, 3))
    path = write_matrix(tmp_path / f"m{suffix}", matrix)
    np.testing.assert_array_equal(read_matrix(path, 3), matrix)
    with pytest.raises(InputError, match="has 3 columns, expected 5"):
        read_matrix(path, 5)
    bad = tmp_path / f"nan{suffix}"
    write_matrix(bad, np.array([[1.0, np.nan]]))
    with pytest.raises(InputError, match=f"nan{suffix}: contains NaN"):
        read_matrix(bad)


def test_unreachable_scheduler_is_one_clear_error() -> None:
    from xasflow import parallel

    with pytest.raises(XasflowError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        parallel.start_client(scheduler="tcp://127.0.0.1:9")


def test_local_cluster_workers_get_the_heap_setting() -> None:
    import os

    from xasflow.parallel import WORKER_ENVIRON, dask_client

    with dask_client(1) as client:
        env = next(iter(client.run(lambda: dict(os.environ)).values()))
        assert client.dashboard_link  # on a free port
    # Dask's default MALLOC_TRIM_THRESHOLD_=65536 makes M3GNet twice as slow in workers.
    assert env["MALLOC_TRIM_THRESHOLD_"] == str(WORKER_ENVIRON["MALLOC_TRIM_THRESHOLD_"])
    assert env["MALLOC_MMAP_MAX_"] == "0"
