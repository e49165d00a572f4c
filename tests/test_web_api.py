"""``xasflow serve``'s HTTP API: outputs identical to the CLI's, bad inputs, limits, load, clean-up."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from web_server import CIF, REFERENCE, free_port, live_server, web_modules
from xasflow.cli.main import main
from xasflow.io.ranking import SIMILARITY_PREFIX

web_modules()


@pytest.fixture(scope="module")
def cli_outputs(tmp_path_factory) -> dict[str, bytes]:
    """``xasflow predict Cu2O_cuprite.cif --out x.json`` / ``x.csv``, run in the folder (source = the name)."""
    folder = tmp_path_factory.mktemp("cli")
    shutil.copy(CIF, folder / CIF.name)
    old = Path.cwd()
    os.chdir(folder)
    try:
        assert main(["predict", CIF.name, "--out", "x.json"]) == 0
        assert main(["predict", CIF.name, "--out", "x.csv"]) == 0
    finally:
        os.chdir(old)
    return {"json": (folder / "x.json").read_bytes(), "csv": (folder / "x.csv").read_bytes()}


@pytest.fixture(scope="module")
def tmp_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="module")
def client(tmp_root: Path):
    from fastapi.testclient import TestClient

    from xasflow.web import ServerSettings, create_app

    with TestClient(create_app(ServerSettings(max_upload_mb=0.5, tmp_dir=tmp_root))) as test_client:
        yield test_client


def _cif() -> tuple[str, tuple[str, bytes]]:
    return ("files", (CIF.name, CIF.read_bytes()))


def test_health(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert "Cu" in body["elements"] and "Fe" in body["elements"]
    assert body["version"]


def test_predict_json_is_the_cli_json(client, cli_outputs, tmp_root):
    response = client.post("/api/predict", files=[_cif()])
    assert response.status_code == 200
    assert response.content == cli_outputs["json"]  # the same bytes as `xasflow predict --out x.json`
    body = response.json()
    assert body["predictions"][0]["source"] == CIF.name and body["errors"] == []
    assert list(tmp_root.iterdir()) == []  # per-request folders removed


def test_predict_csv_is_the_cli_csv(client, cli_outputs):
    for url in ("/api/predict.csv", "/api/predict?format=csv"):
        response = client.post(url, files=[_cif()])
        assert response.status_code == 200
        assert response.content == cli_outputs["csv"]
        assert response.headers["content-type"].startswith("text/csv")


def test_bad_file_is_an_error_entry_and_names_are_not_paths(client, tmp_root):
    files = [("files", ("../../etc/passwd.cif", b"not a structure")), _cif()]
    response = client.post("/api/predict", files=files)
    assert response.status_code == 200
    body = response.json()
    assert [e["source"] for e in body["errors"]] == ["passwd.cif"]
    assert "cannot read structure" in body["errors"][0]["message"]
    assert str(tmp_root) not in response.text  # no server path leaks into messages
    assert [p["source"] for p in body["predictions"]] == [CIF.name]
    assert list(tmp_root.iterdir()) == []
    assert client.get("/api/health").status_code == 200


def test_bad_options_are_400_or_422(client):
    cases = [
        ({"element": "Xx"}, 400, "not supported"),
        ({"fidelity": "DFT"}, 400, "fidelity"),
        ({"sites": "some"}, 400, ""),
        ({"model": "/etc/passwd.json"}, 400, "zoo model name"),
        ({"model": "nonsense"}, 400, "nonsense"),
    ]
    for data, status, words in cases:
        response = client.post("/api/predict", files=[_cif()], data=data)
        assert response.status_code == status, (data, response.text)
        assert words in response.json()["detail"]
    assert client.post("/api/predict", data={"element": "Cu"}).status_code == 422  # no files
    assert client.post("/api/predict?format=xml", files=[_cif()]).status_code == 422


def test_upload_over_the_limit_is_413(client, tmp_root):
    big = ("files", ("big.cif", b"#" * (600 * 1024)))
    response = client.post("/api/predict", files=[big])
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert list(tmp_root.iterdir()) == []
    assert client.get("/api/health").json()["status"] == "ok"


def test_413_counts_bytes_not_only_the_declared_length(tmp_path):
    """A body without Content-Length (chunked) is counted as it arrives."""
    import httpx

    with live_server({"max_upload_mb": 0.1, "tmp_dir": tmp_path}) as url:
        boundary = "xasflowboundary"
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.cif"\r\n\r\n').encode()

        def chunks():
            yield head
            for _ in range(40):
                yield b"#" * 8192
            yield f"\r\n--{boundary}--\r\n".encode()

        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        response = httpx.post(f"{url}/api/predict", content=chunks(), headers=headers, timeout=60)
        assert response.status_code == 413
        assert httpx.get(f"{url}/api/health").status_code == 200
    assert list(tmp_path.iterdir()) == []


def test_eight_concurrent_requests_on_a_real_server(cli_outputs, tmp_path):
    import httpx

    expected = json.loads(cli_outputs["json"])
    with live_server({"tmp_dir": tmp_path}) as url:

        def one(_: int) -> tuple[int, bytes]:
            response = httpx.post(f"{url}/api/predict", files=[_cif()], timeout=300)
            return response.status_code, response.content

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(one, range(8)))
        assert [status for status, _ in answers] == [200] * 8
        assert {body for _, body in answers} == {cli_outputs["json"]}
        assert json.loads(answers[0][1]) == expected
        # A failing request leaves the server serving.
        bad = httpx.post(f"{url}/api/predict", files=[("files", ("x.cif", b"\x00\x01"))], data={"element": "Zz"})
        assert bad.status_code == 400
        assert httpx.get(f"{url}/api/health").json()["status"] == "ok"
    assert list(tmp_path.iterdir()) == []


def test_page_and_static_files_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    script = client.get("/static/app.js").text
    assert "https://" not in script and "http://" not in script
    assert len(client.get("/static/plotly.min.js").content) > 1_000_000
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2e%2e%2fapp.py").status_code == 404
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/api/health", "/api/predict", "/api/match"}
    docs = client.get("/docs")
    assert docs.status_code == 200 and "POST /api/match" in docs.text and "candidates" in docs.text
    assert "<script" not in docs.text and "https://" not in docs.text


def _cli_match(measured: Path, candidates: list[Path], tmp_path: Path) -> tuple[list[dict[str, str]], dict]:
    """``xasflow match ... --mix --out ranking.csv`` rows and ``--out ranking.json``."""
    common = ["match", str(measured), *map(str, candidates), "--element", "Cu", "--mix"]
    assert main([*common, "--out", str(tmp_path / "ranking.csv")]) == 0
    assert main([*common, "--out", str(tmp_path / "ranking.json")]) == 0
    with open(tmp_path / "ranking.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return rows, json.loads((tmp_path / "ranking.json").read_text())


def _names(value):
    """Sources as file names: the CLI labels by the path it was given, the server by the upload's name."""
    if isinstance(value, dict):
        return {
            k: Path(v).name if k in ("source", "measured") and isinstance(v, str) else _names(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_names(v) for v in value]
    return value


def test_match_with_reference_structures_is_the_cli_ranking(client, experiment_root, tmp_path, tmp_root):
    measured = experiment_root / "Cu" / "Cu2S_13K_01.xdi"
    upload = REFERENCE / "Cu2O_cuprite.cif"
    data = {"element": "Cu", "reference": "true", "mix": "true"}
    files = [("measured", (measured.name, measured.read_bytes())), ("candidates", ("mine.cif", upload.read_bytes()))]
    response = client.post("/api/match", files=files, data=data)
    assert response.status_code == 200, response.text
    body = response.json()
    references = sorted(p for p in REFERENCE.iterdir() if "Cu" in p.read_text().split("_chemical_formula_sum")[1][:40])
    shutil.copy(upload, tmp_path / "mine.cif")
    rows, cli_json = _cli_match(measured, [tmp_path / "mine.cif", *references], tmp_path)
    overlay = body.pop("overlay")
    assert body == _names(cli_json)  # the JSON `xasflow match --out x.json` writes, sources as names
    assert len(body["ranking"]) == len(rows) == len(references) + 1 >= 5
    assert "mine.cif" in {r["source"] for r in body["ranking"]}
    for entry, row in zip(body["ranking"], rows, strict=True):  # the numbers of the CLI's ranking CSV
        assert entry["source"] == Path(row["source"]).name and entry["rank"] == int(row["rank"])
        assert entry["formula"] == row["formula"]
        for key, digits in (("score", 6), ("shift_eV", 4), ("sigma_eV", 4), ("scale", 5)):
            assert f"{entry[key]:.{digits}f}" == row[key], key
        for name, value in entry["similarities"].items():
            assert f"{value:.6f}" == row[SIMILARITY_PREFIX + name], name
    assert body["measured"]["source"] == measured.name
    assert str(tmp_root) not in response.text
    assert len(overlay["energy"]) == len(overlay["measured"]) > 50
    assert [c["source"] for c in overlay["candidates"]] == [r["source"] for r in body["ranking"][:3]]
    assert all(len(c["energy"]) == len(c["spectrum"]) == len(c["std"]) for c in overlay["candidates"])
    assert len(overlay["mixture"]["energy"]) == len(overlay["mixture"]["spectrum"])
    fractions = [c["fraction"] for c in body["mixture"]["components"]]
    assert fractions and abs(sum(fractions) - 1) < 0.05
    assert list(tmp_root.iterdir()) == []


def test_match_bad_inputs(client):
    cif = ("candidates", (CIF.name, CIF.read_bytes()))
    garbage = ("measured", ("spectrum.xdi", b"this is not a spectrum\n1 2\n"))
    response = client.post("/api/match", files=[garbage, cif], data={"element": "Cu"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("spectrum.xdi")
    response = client.post("/api/match", files=[garbage], data={"element": "Cu"})
    assert response.status_code == 400 and "no candidates" in response.json()["detail"]
    measured = ("measured", ("spectrum.xdi", b"# just a header\n"))
    bad = ("candidates", ("broken.cif", b"data_x\n_cell_length_a 1\n"))
    response = client.post("/api/match", files=[measured, bad], data={"element": "Cu"})
    assert response.status_code == 422
    response = client.post("/api/match", files=[garbage, cif], data={"element": "Qq"})
    assert response.status_code == 400
    assert client.get("/api/health").status_code == 200


def test_match_reads_a_kev_file_when_told(client, experiment_root):
    kev = experiment_root / "Ni" / "ref_LiNiO2.txt"
    files = [("measured", (kev.name, kev.read_bytes()))]
    data = {"element": "Ni", "reference": "true", "columns": "energy=1,mu=2"}
    refused = client.post("/api/match", files=files, data=data)
    assert refused.status_code == 422 and "looks like keV" in refused.json()["detail"]
    assert refused.json()["detail"].startswith(kev.name)
    read = client.post("/api/match", files=files, data={**data, "energy_unit": "keV"})
    assert read.status_code == 200, read.text
    assert read.json()["ranking"][0]["source"] == "LiNiO2.cif"
    unknown = client.post("/api/match", files=files, data={**data, "energy_unit": "meV"})
    assert unknown.status_code == 422 and "unknown energy unit" in unknown.json()["detail"]


def test_match_offset_rule_field(client, experiment_root):
    """The form's offset rule reaches the alignment: by oxidation state, Fe candidates get their own ranges."""
    path = experiment_root / "Fe" / "Fe3C_rt_01.xdi"
    files = [("measured", (path.name, path.read_bytes()))]
    data = {"element": "Fe", "reference": "true"}
    by_element = client.post("/api/match", files=files, data=data)
    by_oxidation = client.post("/api/match", files=files, data={**data, "offset_rule": "oxidation"})
    assert by_element.status_code == by_oxidation.status_code == 200, by_oxidation.text
    shifts = [{r["source"]: r["shift_eV"] for r in b.json()["ranking"]} for b in (by_element, by_oxidation)]
    assert shifts[0].keys() == shifts[1].keys()
    assert any(abs(shifts[0][k] - shifts[1][k]) > 0.1 for k in shifts[0])
    unknown = client.post("/api/match", files=files, data={**data, "offset_rule": "valence"})
    assert unknown.status_code == 422 and "unknown offset rule" in unknown.json()["detail"]


def test_upload_names_on_disk():
    from xasflow.web.uploads import disk_name, label

    assert disk_name("../../evil name;rm -rf.cif", 0) == "upload-1.cif"
    assert disk_name("POSCAR", 2) == "POSCAR" and disk_name("my_CONTCAR.vasp", 0) == "CONTCAR"
    assert disk_name("vasprun.xml.gz", 1) == "vasprun.xml.gz"
    assert disk_name("x.c$f", 3) == "upload-4"
    assert label("C:\\data\\Cu2O.cif", 0) == "Cu2O.cif" and label("", 4) == "upload-5"


def test_serve_command_starts_a_server_and_refuses_bad_options(tmp_path):
    """``xasflow serve`` as a user runs it: a separate process answering on the port it was given."""
    import httpx

    assert main(["serve", "--max-upload-mb", "0"]) == 2
    assert main(["serve", "--port", "70000"]) == 2
    assert main(["serve", "--zoo-dir", str(tmp_path)]) == 2
    port = free_port()
    command = [sys.executable, "-m", "xasflow.cli.main", "serve", "--port", str(port), "--max-upload-mb", "1"]
    process = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "xasflow serve did not answer"
                time.sleep(0.3)
        assert health.json()["status"] == "ok"
        big = [("files", ("big.cif", b"#" * (2 * 1024 * 1024)))]
        assert httpx.post(f"http://127.0.0.1:{port}/api/predict", files=big, timeout=60).status_code == 413
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_predictors_kept_are_bounded(client):
    """Each set of options a request chooses makes a predictor; the server keeps only the last few."""
    from xasflow.inference import batch
    from xasflow.web.service import MAX_PREDICTORS

    for sites in ("0", "1", "2", "3", "4", "5", "all"):
        response = client.post("/api/predict", files=[_cif()], data={"element": "Cu", "sites": sites})
        assert response.status_code == 200
    assert len(batch._PREDICTORS) <= MAX_PREDICTORS
