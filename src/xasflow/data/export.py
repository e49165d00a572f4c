"""Write a dataset in the published OmniXAS text layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xasflow.data.dataset import XASDataset
from xasflow.data.published import PUBLISHED_FEATURES
from xasflow.fileio import atomic_open


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
        groups = {s: dataset.splits == s for s in ("train", "val", "test") if np.any(dataset.splits == s)}
    written: list[Path] = []
    for split, rows in groups.items():
        stem = f"{dataset.name}_{split}"
        id_file = out / "material_id_and_site" / f"{stem}.txt"
        with atomic_open(id_file) as handle:
            handle.write("".join(f"{i}\n" for i in dataset.ids[rows]))
        written.append(id_file)
        matrices = {"y": dataset.spectra, "X": dataset.features.get(feature)}
        for kind, matrix in matrices.items():
            if matrix is None:
                continue
            path = out / "ml_data" / f"{stem}_{kind}.txt"
            with atomic_open(path) as handle:
                np.savetxt(handle, matrix[rows], fmt="%.18e")
            written.append(path)
    return written
