"""Complete (published train + val) datasets for sets whose raw tree is available (Cu FEFF).

Two honest sources: a dataset file made earlier (``xasflow data build-feff`` + M3GNet features), or the
raw tree under the data root, featurised now with the packaged M3GNet weights (minutes on a CPU).
"""

from __future__ import annotations

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


def featurize_feff_tree(root: Path, element: str, progress: bool = True) -> XASDataset:
    """Rebuild an element's FEFF train+val rows from the raw tree and add published-convention M3GNet features.

    The published id lists define the rows, so the outlier filter is not applied again.
    """
    from xasflow.data.feff_tree import build_feff_dataset
    from xasflow.features import get_featurizer
    from xasflow.features.dataset import add_features
    from xasflow.io.lightshow import element_dir as feff_element_dir

    lists = published_id_lists(root, element, "FEFF")
    if "train" not in lists:
        raise XasflowError(f"{root}: no published {element} FEFF train id list")
    tree = feff_element_dir(root, element)
    dataset, _ = build_feff_dataset(tree, element, id_lists=lists, drop_outliers=False)
    dataset = dataset.subset(np.isin(dataset.splits, ["train", "val"]))
    out, _ = add_features(dataset, tree, get_featurizer("m3gnet"), name=PUBLISHED_FEATURES, progress=progress)
    return out
