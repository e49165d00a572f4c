"""Shared fixtures: the public OmniXAS data beside the checkout (../shared), never skipped in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XASFLOW_TEST_SHARED", REPO.parent / "shared"))


#: Fixtures whose use marks a test (markers registered in pyproject.toml; ``-m "not slow"`` etc.).
FIXTURE_MARKERS = {
    "data_root": ("data",),
    "models_root": ("data",),
    "experiment_root": ("data", "larch"),
    "feff10": ("feff", "slow"),
    "fe_model": ("slow",),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test by the fixtures it uses (directly or through other fixtures)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, markers in FIXTURE_MARKERS.items():
            if fixture in names:
                for marker in markers:
                    item.add_marker(marker)


def _require(path: Path) -> Path:
    if not path.exists():
        message = f"test data missing: {path} (set XASFLOW_TEST_SHARED to the shared/ folder)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)  # CI has the shared data: its absence is an error, not a skip
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The OmniXAS data root (``shared/data/omnixas``)."""
    return _require(SHARED / "data" / "omnixas")


@pytest.fixture(scope="session")
def models_root() -> Path:
    """The shared model weights folder (``shared/models``)."""
    return _require(SHARED / "models")


@pytest.fixture(scope="session")
def cu_tree(data_root: Path) -> Path:
    """The raw Cu FEFF tree."""
    return _require(data_root / "FEFF" / "Cu")


@pytest.fixture(scope="session")
def cu_feff_dataset(cu_tree: Path, data_root: Path):
    """The Cu FEFF dataset rebuilt from the raw tree with the published splits (built once per run)."""
    from xasflow.data.feff_tree import build_feff_dataset
    from xasflow.data.published import published_id_lists

    dataset, report = build_feff_dataset(cu_tree, "Cu", id_lists=published_id_lists(data_root, "Cu", "FEFF"))
    return dataset, report


@pytest.fixture(scope="session")
def cu_feff_raw(cu_tree: Path):
    """The raw Cu FEFF tree as a dataset without the outlier filter or splits (built once per run)."""
    from xasflow.data.feff_tree import build_feff_dataset

    return build_feff_dataset(cu_tree, "Cu", drop_outliers=False)


@pytest.fixture(scope="session")
def m3gnet():
    """The published-convention M3GNet featurizer (loaded once per run)."""
    from xasflow.features import get_featurizer

    return get_featurizer("m3gnet")


@pytest.fixture(scope="session")
def experiment_root() -> Path:
    """The measured reference spectra (``shared/data/experiment``, XDI files per element)."""
    return _require(SHARED / "data" / "experiment")


@pytest.fixture(scope="session")
def feff10():
    """The feff10-rs module (the feff extra, a test dependency: a missing install fails loudly, never skips)."""
    import feff10

    return feff10
