"""The new-element transfer study's protocol: elements, k-row draws, the fixed test materials, methods.

Shared by ``scripts/new_element_study.py`` (η against k), ``scripts/new_element_report.py`` and
``scripts/pool_replay.py`` (active learning replayed on the same rows and test materials).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xasflow.data.published import load_published
from xasflow.data.reserved import reserved_materials
from xasflow.data.splits import grouped_split
from xasflow.io.omnixas import material_ids

#: The elements with published FEFF spectra (each left out in turn).
ELEMENTS = ("Ti", "V", "Cr", "Co", "Ni", "Cu")
#: Rows of the left-out element given to each method; -1: all its non-test rows.
KS = (0, 10, 30, 100, 300, -1)
#: Share of the element's materials held out as its fixed test set.
TEST_FRACTION = 0.25
METHODS = {
    "expert": "expert MLP from scratch on the k rows",
    "expert_ridge": "ridge regression from scratch on the k rows (standardised features, penalty by leave-one-out)",
    "tuned_onehot": "universal (element one-hot, unseen slot for the new element) fine-tuned on the k rows",
    "retrained_onehot": "universal (one-hot) retrained from scratch on the other elements + the k rows",
    "tuned_desc": "universal with element descriptors (Z, K-edge energy, d count) fine-tuned on the k rows",
    "head_desc": "descriptor universal, frozen; ridge head on its last hidden layer learns the residual",
    "ensemble": "mean of tuned_desc and head_desc",
}


def load_rows(root: Path, element: str, reserved_dir: Path | None) -> dict:
    """The element's published validation rows without reserved materials: ids, X, y, materials."""
    data = load_published(root, element, "FEFF", splits=("val",))
    reserved = reserved_materials(reserved_dir, element)
    materials = material_ids(data.ids)
    keep = ~np.isin(materials, sorted(reserved))
    return {
        "ids": data.ids[keep],
        "X": data.features["m3gnet"][keep],
        "y": data.spectra[keep],
        "materials": materials[keep],
        "reserved_dropped": int((~keep).sum()),
    }


def test_split(rows: dict) -> np.ndarray:
    """Boolean mask of the fixed test rows (whole materials, seed 0)."""
    return grouped_split(rows["materials"], {"pool": 1 - TEST_FRACTION, "test": TEST_FRACTION}, seed=0) == "test"


test_split.__test__ = False  # not a pytest test


def draw_order(materials: np.ndarray, seed: int) -> np.ndarray:
    """Pool rows material by material in a seeded order; the first k rows are the k-row draw (nested in k)."""
    unique = np.unique(materials)
    order = np.random.default_rng(1000 + seed).permutation(unique)
    rank = {m: r for r, m in enumerate(order)}
    inner = np.random.default_rng(2000 + seed).permutation(len(materials))
    return inner[np.argsort([rank[materials[i]] for i in inner], kind="stable")]


def ridge_expert(X: np.ndarray, y: np.ndarray):
    """Linear ridge from standardised features to spectra, penalty by leave-one-out (a from-scratch baseline)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 5, 15))).fit(X, y)
