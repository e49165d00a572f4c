"""Building a campaign's pieces from a data root: the starting universal model and replay pools."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xasflow.active.oracles import ReplayOracle
from xasflow.active.pool import Pool
from xasflow.constants import ELEMENTS
from xasflow.data.published import published_rows
from xasflow.data.splits import grouped_split
from xasflow.errors import XasflowError
from xasflow.models.estimator import XASRegressor
from xasflow.training.config import Recipe
from xasflow.training.transfer import pretrain_by_element


def base_model(
    out: Path, root: Path, element: str, settings: Recipe, seed: int, reserved_dir: Path | None
) -> XASRegressor:
    """A descriptor-coded universal ensemble on every other element's published spectra (cached in ``out``)."""
    path = Path(out) / "base_model.json"
    if path.exists():
        return XASRegressor.load(path)
    parts = {e: r for e in ELEMENTS if e != element and (r := published_rows(root, e, reserved_dir)) is not None}
    if not parts:
        raise XasflowError(f"{root}: no published spectra of other elements to pretrain the starting model on")
    model = pretrain_by_element(parts, settings, seed, "descriptors")
    model.save(path.with_suffix(".npz"))
    return model


def replay_setup(root: Path, element: str, reserved_dir: Path | None, heldout_fraction: float = 0.25):
    """Pool, replay oracle and held-out rows from an element's published rows (material-grouped, seed 0)."""
    rows = published_rows(root, element, reserved_dir)
    if rows is None:
        raise XasflowError(f"{root}: {element} FEFF has no published spectra to replay")
    test = grouped_split(rows["materials"], {"pool": 1 - heldout_fraction, "test": heldout_fraction}, 0) == "test"
    pool = Pool(rows["ids"][~test], rows["X"][~test], np.array(["published val"] * int((~test).sum())))
    return (
        pool,
        ReplayOracle(rows["ids"][~test], rows["y"][~test]),
        (rows["X"][test], rows["y"][test], rows["y"][~test].mean(0)),
    )
