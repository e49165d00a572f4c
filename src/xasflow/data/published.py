"""Datasets to and from the published ML-ready splits (``ml_data/`` + ``material_id_and_site/``).

The files themselves are read and written by :mod:`xasflow.io.omnixas`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xasflow.constants import N_POINTS
from xasflow.data.dataset import XASDataset
from xasflow.data.reserved import reserved_materials
from xasflow.errors import InputError, XasflowError, check_element, check_fidelity
from xasflow.io.omnixas import (
    SPLITS,
    available_splits,
    id_list_path,
    material_ids,
    ml_data_path,
    read_id_list,
    read_matrix,
    write_split,
)

#: Name under which the published M3GNet rows are stored in a dataset.
PUBLISHED_FEATURES = "m3gnet"


def canonical_set(element: str, fidelity: str) -> tuple[str, str]:
    """Validate and normalise an (element, fidelity) pair."""
    return check_element(element), check_fidelity(fidelity)


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
    for split in SPLITS:
        path = id_list_path(root, element, fidelity, split)
        if path.exists():
            lists[split] = read_id_list(path)
    return lists


def export_omnixas(dataset: XASDataset, out: Path, feature: str = PUBLISHED_FEATURES) -> list[Path]:
    """Write ``ml_data/{set}_{split}_{X|y}.txt`` and ``material_id_and_site/{set}_{split}.txt``.

    Rows without a split are written to split ``all`` when the dataset has no split
    assignment at all, and otherwise left out. ``X`` is written only when the dataset
    has the ``feature`` matrix, ``y`` only when it has spectra.

    Returns
    -------
    list of Path
        The files written.
    """
    if dataset.splits is None:
        groups = {"all": np.ones(len(dataset), dtype=bool)}
    else:
        groups = {s: dataset.splits == s for s in SPLITS if np.any(dataset.splits == s)}
    written: list[Path] = []
    X = dataset.features.get(feature)
    for split, rows in groups.items():
        written += write_split(
            out,
            dataset.name,
            split,
            dataset.ids[rows],
            X=None if X is None else X[rows],
            y=None if dataset.spectra is None else dataset.spectra[rows],
        )
    return written


def published_rows(root: Path, element: str, reserved_dir: Path | None, spectra: bool = True) -> dict | None:
    """Published FEFF val rows of ``element`` without its reserved materials (``ids``, ``X``, ``y``, ``materials``).

    ``None`` when the element has no published spectra, or with ``spectra=False`` (features only, no ``y``)
    no published feature rows.
    """
    needed = "y" if spectra else "X"
    if not ml_data_path(root, element, "FEFF", "val", needed).exists():
        return None
    data = load_published(root, element, "FEFF", splits=("val",))
    materials = material_ids(data.ids)
    keep = ~np.isin(materials, sorted(reserved_materials(reserved_dir, element)))
    out = {"ids": data.ids[keep], "X": data.features[PUBLISHED_FEATURES][keep], "materials": materials[keep]}
    if spectra:
        out["y"] = data.spectra[keep]
    return out
