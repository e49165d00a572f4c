"""A catalogue of bad inputs through every command: exit codes, one message naming the file, no
traceback, and the good inputs of the same batch still processed.

The structure commands run as subprocesses, so a crash inside a native library (spglib on NaN
coordinates used to end the whole batch with a segmentation fault) fails the test cleanly.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import xasflow
from xasflow.cli.main import main

EXAMPLES = Path(xasflow.__file__).parent / "examples" / "structures"
SRC = Path(xasflow.__file__).resolve().parents[1]

_CUBIC = "4.27 0 0\n0 4.27 0\n0 0 4.27\n"


def _poscar(lattice: str, species: str, counts: str, coords: str) -> str:
    return f"test\n1.0\n{lattice}{species}\n{counts}\ndirect\n{coords}"


#: name -> (file text or writer, expected message). Every one is refused by every structure command.
BAD_STRUCTURES: dict[str, tuple[str | Callable[[Path], None], str]] = {
    "empty.cif": ("", "empty file"),
    "garbage.cif": ("data_x\n_cell_length_a oops\n", "cannot read structure"),
    "binary.vasp": (lambda p: p.write_bytes(bytes(range(256)) * 4), "cannot read structure"),
    "cut_poscar.vasp": (_poscar(_CUBIC, "Cu O", "2 1", "0.25 0.25 0.25\n0.75"), "cannot read structure"),
    "no_cu.cif": (lambda p: shutil.copy(EXAMPLES / "NiO_bunsenite.cif", p), "contains no Cu"),
    "disordered.cif": (
        (EXAMPLES / "CuO_tenorite.cif").read_text().replace("0.00000000  1\n", "0.00000000  0.5\n", 1),
        "disordered",
    ),
    "molecule.xyz": ("2\nCuO\nCu 0 0 0\nO 0 0 1.8\n", "molecule"),
    "nan.vasp": (_poscar(_CUBIC, "Cu O", "2 1", "0.25 0.25 0.25\nnan 0.75 0.25\n0 0 0\n"), "non-finite"),
    "inf.vasp": (_poscar(_CUBIC, "Cu O", "2 1", "0.25 0.25 0.25\ninf 0.75 0.25\n0 0 0\n"), "non-finite"),
    "nan_lattice.vasp": (_poscar("4.27 0 0\n0 nan 0\n0 0 4.27\n", "Cu", "1", "0 0 0\n"), "non-finite"),
    "zero_volume.vasp": (
        _poscar("4.27 0 0\n4.27 0 0\n0 0 4.27\n", "Cu O", "1 1", "0.25 0.25 0.25\n0 0 0\n"),
        "zero or near-zero cell volume",
    ),
    "flat_volume.vasp": (_poscar("4.27 0 0\n0 4.27 0\n0 0 1e-6\n", "Cu", "1", "0 0 0\n"), "near-zero cell volume"),
    "same_position.vasp": (
        _poscar(_CUBIC, "Cu O", "2 1", "0.25 0.25 0.25\n0.25 0.25 0.25\n0 0 0\n"),
        "closer than 0.5 Å",
    ),
    "close_across_boundary.vasp": (
        _poscar(_CUBIC, "Cu O", "1 1", "0.01 0.5 0.5\n0.99 0.5 0.5\n"),
        "closer than 0.5 Å",
    ),
    "own_image.vasp": (_poscar("0.3 0 0\n0 4.27 0\n0 0 4.27\n", "Cu", "1", "0 0 0\n"), "its own periodic image"),
    "unknown_element.vasp": (_poscar(_CUBIC, "Cu Xx", "1 1", "0 0 0\n0.5 0.5 0.5\n"), "unknown element Xx"),
}

#: Good inputs among the bad ones; each must still be processed.
GOOD_STRUCTURES: dict[str, str | Callable[[Path], None]] = {
    "good_tenorite.cif": lambda p: shutil.copy(EXAMPLES / "CuO_tenorite.cif", p),
    "good_metal.cif": lambda p: shutil.copy(EXAMPLES / "Cu_metal.cif", p),
    # A left-handed cell and coordinates outside [0, 1) are unusual, not wrong.
    "good_left_handed.vasp": _poscar(
        "-3.615 0 0\n0 3.615 0\n0 0 3.615\n", "Cu", "4", "0 0 0\n0.5 0.5 0\n0.5 0 0.5\n0 0.5 0.5\n"
    ),
    "good_outside_cell.vasp": _poscar(
        "3.615 0 0\n0 3.615 0\n0 0 3.615\n", "Cu", "4", "1 1 1\n1.5 0.5 0\n0.5 -1 0.5\n0 0.5 2.5\n"
    ),
}


def _write(folder: Path, name: str, content: str | Callable[[Path], None]) -> Path:
    path = folder / name
    if callable(content):
        content(path)
    else:
        path.write_text(content)
    return path


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> tuple[Path, list[str]]:
    """A folder of bad and good structures, plus a missing file and an empty folder (the extra args)."""
    root = tmp_path_factory.mktemp("catalogue")
    folder = root / "inputs"
    folder.mkdir()
    for name, (content, _) in BAD_STRUCTURES.items():
        _write(folder, name, content)
    for name, content in GOOD_STRUCTURES.items():
        _write(folder, name, content)
    (root / "empty_folder").mkdir()
    return root, [str(folder), str(root / "missing.cif"), str(root / "empty_folder")]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "XASFLOW_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "xasflow.cli.main", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def _expected() -> dict[str, str]:
    messages = {name: message for name, (_, message) in BAD_STRUCTURES.items()}
    return {**messages, "missing.cif": "no such file", "empty_folder": "folder holds no structure files"}


def _assert_each_reported(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    for name, message in _expected().items():
        hits = [line for line in lines if f"/{name}:" in line]
        assert len(hits) == 1, f"{name}: expected one line, got {hits}\n{stderr}"
        assert message in hits[0], f"{name}: {hits[0]!r} lacks {message!r}"


def _run_catalogue(catalogue, command: str, *options: str) -> subprocess.CompletedProcess:
    """``xasflow COMMAND`` on the whole catalogue: exit 1, one line per bad input, no traceback."""
    root, args = catalogue
    done = _run(command, *args, "--element", "Cu", *options, cwd=root)
    assert done.returncode == 1, done.stderr
    _assert_each_reported(done.stderr)
    return done


def test_predict_catalogue(catalogue) -> None:
    root, _ = catalogue
    out = root / "predict.json"
    _run_catalogue(catalogue, "predict", "--out", str(out))
    payload = json.loads(out.read_text())
    assert sorted(Path(p["source"]).name for p in payload["predictions"]) == sorted(GOOD_STRUCTURES)
    assert all(np.all(np.isfinite(p["average"])) for p in payload["predictions"])
    assert {Path(e["source"]).name for e in payload["errors"]} == set(_expected())
    assert not list(root.glob("*.partial.jsonl"))


def test_featurize_catalogue(catalogue) -> None:
    root, _ = catalogue
    out = root / "features.csv"
    _run_catalogue(catalogue, "featurize", "--out", str(out))
    rows = list(csv.reader(out.open()))[1:]
    assert {Path(r[0]).name for r in rows} == set(GOOD_STRUCTURES)  # no rows (and no NaN rows) for bad ones
    assert np.all(np.isfinite(np.array([r[2:] for r in rows], dtype=float)))


def test_simulate_plan_catalogue(catalogue) -> None:
    root, _ = catalogue
    done = _run_catalogue(catalogue, "simulate", "--out", str(root / "sim"), "--plan")
    lines = done.stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("site ")) + 1 :]
    planned = {line.split()[0].rsplit("_", 1)[0] for line in table if line.strip()}
    assert planned == {Path(n).stem for n in GOOD_STRUCTURES}
    assert not (root / "sim").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "{tmp}"], "is a folder"),
        (["--out", "{tmp}/a_file.txt/x.json"], "is a file, not a folder"),
        (["--out", "{tmp}/x.txt"], "must end in .csv or .json"),
        (["--plot", "{tmp}/x.jpg"], "must end in .png"),
        (["--out", "{tmp}/x.json", "--sites", "0,0"], "more than once"),
        (["--out", "{tmp}/x.json", "--model", "bogus"], "no model 'bogus'"),
        (["--out", "{tmp}/x.json", "--symprec", "0"], "--symprec"),
    ],
)
def test_predict_refuses_bad_options_before_any_work(tmp_path, capsys, monkeypatch, extra, message) -> None:
    from xasflow.inference import batch

    (tmp_path / "a_file.txt").write_text("x")
    monkeypatch.setattr(batch, "predict_one", lambda *a: pytest.fail("predicted despite a bad option"))
    args = [a.format(tmp=tmp_path) for a in extra]
    assert main(["predict", str(EXAMPLES / "Cu_metal.cif"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_predict_out_creates_its_folder_like_every_output(tmp_path) -> None:
    out = tmp_path / "new" / "sub" / "x.csv"
    plot = tmp_path / "figs" / "x.svg"
    assert main(["predict", str(EXAMPLES / "Cu_metal.cif"), "--out", str(out), "--plot", str(plot)]) == 0
    assert out.is_file() and plot.read_text().lstrip().startswith("<?xml")


def test_features_mode_writes_only_json_or_matrix_formats(data_root, tmp_path, capsys) -> None:
    rows = np.loadtxt(data_root / "ml_data" / "Cu_FEFF_val_X.txt.gz")[:3]
    np.save(tmp_path / "X.npy", rows)
    base = ["predict", "--features", str(tmp_path / "X.npy"), "--element", "Cu", "--out"]
    assert main([*base, str(tmp_path / "y.csv")]) == 2
    assert "must end in .json or .txt or .npy" in capsys.readouterr().err and not (tmp_path / "y.csv").exists()
    assert main([*base, str(tmp_path / "y.npy")]) == 0
    assert np.load(tmp_path / "y.npy").shape == (3, 141)


def _small_tree(cu_tree: Path, dest: Path, n: int = 4) -> list[Path]:
    for material in sorted(p.name for p in cu_tree.iterdir() if p.is_dir())[:n]:
        shutil.copytree(cu_tree / material, dest / material)
    return sorted(dest.rglob("xmu.dat"))


def test_xmu_cut_at_a_line_end_inside_the_window_is_refused(cu_tree, tmp_path, capsys) -> None:
    xmus = _small_tree(cu_tree, tmp_path / "Cu")
    lines = xmus[0].read_text().splitlines(keepends=True)
    data = [k for k, line in enumerate(lines) if line.strip() and not line.startswith("#")]
    energies = [float(lines[k].split()[0]) for k in data]
    inside = next(k for k, e in zip(data, energies, strict=True) if e > 8983.173 + 10)  # 10 eV into the window
    xmus[0].write_text("".join(lines[:inside]))  # a clean cut: every line complete
    out = tmp_path / "d.npz"
    assert main(["data", "build-feff", str(tmp_path / "Cu"), "--element", "Cu", "--out", str(out), "--no-splits"]) == 1
    err = capsys.readouterr().err
    assert f"{xmus[0]}: data cover" in err and "truncated xmu.dat" in err and "Traceback" not in err
    from xasflow.data.dataset import XASDataset

    assert len(XASDataset.load(out)) == len(xmus) - 1 - 0  # the others kept (outliers aside)


def test_data_commands_refuse_bad_files_by_name(tmp_path, capsys) -> None:
    from xasflow.data.dataset import XASDataset

    text = tmp_path / "notes.npz"
    text.write_text("not an archive\n")
    assert main(["data", "info", str(text)]) == 2
    err = capsys.readouterr().err
    assert f"{text}: not an xasflow dataset" in err and "pickle" not in err
    dataset = tmp_path / "d.npz"
    XASDataset("Ti", "FEFF", ids=["mp-1_000"], spectra=np.ones((1, 141))).save(dataset)
    taken = tmp_path / "taken"
    taken.write_text("x")
    assert main(["data", "export", str(dataset), "--out", str(taken)]) == 2
    assert f"{taken}: exists and is not a folder" in capsys.readouterr().err
    assert main(["data", "export", str(dataset), "--out", str(tmp_path / "e"), "--feature", "soap"]) == 2
    assert "no feature matrix 'soap'" in capsys.readouterr().err and not (tmp_path / "e").exists()
    assert main(["data", "build-feff", str(tmp_path), "--element", "Cu", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_feff_child_gets_absolute_paths_from_a_relative_out(tmp_path, monkeypatch) -> None:
    """``simulate --out RELATIVE``: FEFF runs in its work folder, so relative paths must be resolved first."""
    from xasflow.simulation.runner import FeffFailure, run_feff

    work = tmp_path / "rel" / "work"
    work.mkdir(parents=True)
    # An input FEFF10 rejects at once: the error must be about the input, not a missing file.
    (work / "feff.inp").write_text("TITLE x\nPOTENTIALS\n 0 29 Cu\nATOMS\n 0 0 0 0 Cu\n 1.8 0 0 3 O\nEND\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FeffFailure) as failure:
        run_feff(Path("rel/work/feff.inp"), Path("rel/work"), timeout=120)
    assert "No such file" not in failure.value.reason
    assert "ipot" in failure.value.reason


_LONG_COMMAND = """
import argparse, sys, time
from xasflow.cli import main as cli

def long_command(args):
    print("running", flush=True)
    time.sleep(60)

class Parser:
    def parse_args(self, argv):
        return argparse.Namespace(handler=long_command)

cli.build_parser = Parser
sys.exit(cli.main([]))
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_command_started_in_the_background_stops_like_ctrl_c(signame: str) -> None:
    """``nohup xasflow simulate ... &`` inherits SIGINT ignored: ``kill -INT`` did nothing and ``kill`` ended the
    run without its clean-up. Both now stop a command as Ctrl-C does: one line, exit 130, no traceback."""
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-c", _LONG_COMMAND],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert proc.stdout.readline().strip() == "running"
        proc.send_signal(getattr(signal, signame))
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip() == "xasflow: interrupted" and "Traceback" not in out
