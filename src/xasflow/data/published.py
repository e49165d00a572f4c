"""Readers of the published ML-ready splits (``ml_data/`` + ``material_id_and_site/``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xasflow.constants import N_POINTS
from xasflow.data.dataset import XASDataset
from xasflow.data.ids import read_id_list
from xasflow.data.layout import canonical_set, id_list_path, ml_data_path
from xasflow.errors import InputError, XasflowError

#: Name under which the published M3GNet rows are stored in a dataset.
PUBLISHED_FEATURES = "m3gnet"


def read_matrix(path: Path, width: int | None = None) -> np.ndarray:
    """Read a whitespace-separated float matrix (``.txt`` or ``.txt.gz``).

    Raises
    ------
    InputError
        If unreadable, ragged, non-numeric, non-finite, or of the wrong width.
    """
    try:
        matrix = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(path, f"cannot read matrix ({exc})") from exc
    if width is not None and matrix.shape[1] != width:
        raise InputError(path, f"has {matrix.shape[1]} columns, expected {width}")
    if not np.all(np.isfinite(matrix)):
        raise InputError(path, "contains NaN or infinite values")
    return matrix


def available_splits(root: Path, element: str, fidelity: str) -> list[str]:
    """Published splits of a set whose feature rows exist under ``root``."""
    return [s for s in ("train", "val", "test") if ml_data_path(root, element, fidelity, s, "X").exists()]


def load_published(
    root: Path, element: str, fidelity: str = "FEFF", splits: tuple[str, ...] | None = None
) -> XASDataset:
    """Load the published feature rows (and spectra, where published) of one set.

    Parameters
    ----------
    root
        Data root in the OmniXAS layout.
    splits
        Splits to load; default all whose ``X`` file exists.

    Raises
    ------
    XasflowError
        If no split of the set exists, or if a split has features for some rows only.
    """
    element, fidelity = canonical_set(element, fidelity)
    splits = tuple(splits) if splits is not None else tuple(available_splits(root, element, fidelity))
    if not splits:
        raise XasflowError(f"{root}: no published ML data for {element} {fidelity}")
    ids: list[str] = []
    labels: list[str] = []
    features: list[np.ndarray] = []
    spectra: list[np.ndarray] = []
    for split in splits:
        id_path = id_list_path(root, element, fidelity, split)
        split_ids = read_id_list(id_path)
        x_path = ml_data_path(root, element, fidelity, split, "X")
        x = read_matrix(x_path)
        if len(x) != len(split_ids):
            raise InputError(x_path, f"has {len(x)} rows but {id_path.name} lists {len(split_ids)} ids")
        y_path = ml_data_path(root, element, fidelity, split, "y")
        if y_path.exists():
            y = read_matrix(y_path, N_POINTS)
            if len(y) != len(split_ids):
                raise InputError(y_path, f"has {len(y)} rows but {id_path.name} lists {len(split_ids)} ids")
            spectra.append(y)
        ids += split_ids
        labels += [split] * len(split_ids)
        features.append(x)
    if spectra and len(spectra) != len(features):
        raise XasflowError(f"{root}: {element} {fidelity} has spectra for some splits only")
    return XASDataset(
        element=element,
        fidelity=fidelity,
        ids=np.array(ids),
        spectra=np.vstack(spectra) if spectra else None,
        features={PUBLISHED_FEATURES: np.vstack(features)},
        splits=np.array(labels),
        metadata={"source": "published OmniXAS ml_data", "root": str(root)},
    )


def published_id_lists(root: Path, element: str, fidelity: str) -> dict[str, list[str]]:
    """The published id lists of a set that exist under ``root`` (split name → ids)."""
    element, fidelity = canonical_set(element, fidelity)
    lists = {}
    for split in ("train", "val", "test"):
        path = id_list_path(root, element, fidelity, split)
        if path.exists():
            lists[split] = read_id_list(path)
    return lists
