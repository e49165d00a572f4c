"""Complete (published train + val) datasets for sets whose raw tree is available (Cu FEFF).

Two honest sources: a dataset file made earlier (``xasflow data build-feff`` + M3GNet features), or the
raw tree under the data root, featurised now with the packaged M3GNet weights (minutes on a CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from xasflow.data.dataset import XASDataset
from xasflow.data.published import PUBLISHED_FEATURES, published_id_lists
from xasflow.errors import XasflowError


def check_full_dataset(dataset: XASDataset, source: object, feature: str = PUBLISHED_FEATURES) -> XASDataset:
    """Keep the train/val rows of a dataset after checking it can serve as a complete set."""
    if dataset.spectra is None:
        raise XasflowError(f"{source}: dataset has no spectra")
    if feature not in dataset.features:
        raise XasflowError(
            f"{source}: dataset has no {feature!r} features (has {', '.join(dataset.features) or 'none'})"
        )
    if dataset.splits is None or not (np.any(dataset.splits == "train") and np.any(dataset.splits == "val")):
        raise XasflowError(f"{source}: dataset lacks published train and val split labels")
    matrix = dataset.features[feature]
    if not np.all(np.isfinite(matrix)) or not np.all(np.isfinite(dataset.spectra)):
        raise XasflowError(f"{source}: dataset contains NaN or infinite values")
    return dataset.subset(np.isin(dataset.splits, ["train", "val"]))


def load_full_dataset(path: Path, element: str, fidelity: str = "FEFF") -> XASDataset:
    """A dataset file with published train/val splits, spectra and ``m3gnet`` features."""
    dataset = XASDataset.load(path)
    if (dataset.element, dataset.fidelity) != (element, fidelity):
        raise XasflowError(f"{path}: holds {dataset.element} {dataset.fidelity}, expected {element} {fidelity}")
    return check_full_dataset(dataset, path)


def featurize_feff_tree(
    root: Path,
    element: str,
    progress: Callable[[Iterable, int, str], Iterable] | None = None,
) -> XASDataset:
    """Rebuild an element's FEFF set from the raw tree and compute its published-convention M3GNet features."""
    from xasflow.data.feff_tree import build_feff_dataset
    from xasflow.data.layout import feff_element_dir
    from xasflow.data.structures import read_structure
    from xasflow.features import get_featurizer

    lists = published_id_lists(root, element, "FEFF")
    if "train" not in lists:
        raise XasflowError(f"{root}: no published {element} FEFF train id list")
    dataset, _ = build_feff_dataset(feff_element_dir(root, element), element, id_lists=lists)
    dataset = dataset.subset(np.isin(dataset.splits, ["train", "val"]))
    featurizer = get_featurizer("m3gnet")
    materials = dataset.material_ids
    sites = dataset.sites
    features = np.zeros((len(dataset), featurizer.dim))
    unique = list(dict.fromkeys(materials.tolist()))
    iterator: Iterable = unique if progress is None else progress(unique, len(unique), f"{element} M3GNet features")
    base = feff_element_dir(root, element)
    for material in iterator:
        rows = np.flatnonzero(materials == material)
        structure = read_structure(base / material / "POSCAR")
        features[rows] = featurizer.featurize(structure, sites[rows].tolist())
    return dataset.with_features(
        PUBLISHED_FEATURES, features, {"featurizer": featurizer.name, "version": featurizer.version}
    )
