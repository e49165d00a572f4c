"""Feature matrices for the rows of an :class:`XASDataset` from a tree of structures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xasflow.data.dataset import XASDataset
from xasflow.errors import InputError, XasflowError
from xasflow.features.base import SiteFeaturizer
from xasflow.features.batch import featurize_structures
from xasflow.features.pca import fit_pca_on_train
from xasflow.io.lightshow import poscar_path

#: Feature widths above this are held in float32 and need PCA before going into a dataset.
WIDE = 4096


@dataclass
class DatasetFeatures:
    """Result of :func:`featurize_dataset`: one row per dataset row (NaN where it failed)."""

    matrix: np.ndarray
    errors: list[InputError] = field(default_factory=list)
    cache_hits: int = 0
    computed: int = 0

    @property
    def complete(self) -> bool:
        return not self.errors and not np.isnan(self.matrix).any()


def featurize_dataset(
    dataset: XASDataset,
    tree: str | Path,
    featurizer: SiteFeaturizer,
    *,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> DatasetFeatures:
    """Featurize every row ``MATERIAL_SITE`` of ``dataset`` from ``TREE/{material}/POSCAR``.

    Raises
    ------
    XasflowError
        If ``tree`` is not a folder.
    """
    tree = Path(tree)
    if not tree.is_dir():
        raise XasflowError(f"{tree}: structure tree is not a folder")
    materials = dataset.material_ids
    row_sites = dataset.sites
    order: dict[str, list[int]] = {}
    for row, material in enumerate(materials):
        order.setdefault(str(material), []).append(row)
    names = list(order)
    # Wide descriptors (SOAP: ~10^5 columns) are held in float32 to halve memory before PCA.
    dtype = np.float32 if featurizer.dim > WIDE else np.float64
    result = featurize_structures(
        [poscar_path(tree, m) for m in names],
        dataset.element,
        featurizer,
        sites=[[int(row_sites[r]) for r in order[m]] for m in names],
        cache_dir=cache_dir,
        workers=workers,
        progress=progress,
        dtype=dtype,
    )
    matrix = np.full((len(dataset), featurizer.dim), np.nan, dtype=dtype)
    lookup = {(names[i], int(s)): k for k, (i, s) in enumerate(zip(result.inputs, result.sites, strict=True))}
    for row, (material, site) in enumerate(zip(materials, row_sites, strict=True)):
        k = lookup.get((str(material), int(site)))
        if k is not None:
            matrix[row] = result.features[k]
    return DatasetFeatures(matrix, result.errors, result.cache_hits, result.computed)


def attach_features(
    dataset: XASDataset,
    features: DatasetFeatures,
    featurizer: SiteFeaturizer,
    *,
    name: str | None = None,
    pca_variance: float | None = None,
    pca_out: str | Path | None = None,
    source: str = "",
) -> XASDataset:
    """A copy of ``dataset`` with the computed matrix stored as ``name`` (default the featurizer's name).

    Parameters
    ----------
    pca_variance
        If given, reduce the features with :class:`~xasflow.features.pca.VariancePCA` keeping this
        fraction of the variance, fitted on the ``train`` rows only (the ACSF/SOAP baseline uses 0.99).
    pca_out
        Where to save the fitted PCA (``.npz``), to apply it to new structures later.
    source
        Where the structures came from (recorded in the metadata).

    Raises
    ------
    XasflowError
        If some rows have no features, or a very wide matrix is stored without PCA.
    """
    if not features.complete:
        missing = int(np.isnan(features.matrix).any(axis=1).sum())
        detail = "; ".join(str(e) for e in features.errors[:3])
        raise XasflowError(f"{missing} of {len(dataset)} rows could not be featurized ({detail})")
    info: dict = {"featurizer": featurizer.name, "version": featurizer.version, "structures": source}
    matrix = features.matrix
    if pca_variance is not None:
        matrix, pca = fit_pca_on_train(matrix, dataset.splits, pca_variance)
        info["pca"] = {"variance": pca_variance, "fitted_on": "train", "n_components": pca.n_components,
                       "input_dim": featurizer.dim}  # fmt: skip
        if pca_out is not None:
            info["pca"]["file"] = str(pca.save(pca_out))
    elif featurizer.dim > WIDE:
        raise XasflowError(f"{featurizer.name} features have {featurizer.dim} columns: reduce them with PCA first")
    return dataset.with_features(name or featurizer.name, matrix, info=info)


def add_features(
    dataset: XASDataset,
    tree: str | Path,
    featurizer: SiteFeaturizer,
    *,
    name: str | None = None,
    pca_variance: float | None = None,
    pca_out: str | Path | None = None,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> tuple[XASDataset, DatasetFeatures]:
    """:func:`featurize_dataset` then :func:`attach_features`; returns the new dataset and the raw result.

    Raises
    ------
    XasflowError
        If any row could not be featurized (the message names the first problems).
    """
    features = featurize_dataset(dataset, tree, featurizer, cache_dir=cache_dir, workers=workers, progress=progress)
    out = attach_features(
        dataset, features, featurizer, name=name, pca_variance=pca_variance, pca_out=pca_out, source=str(tree)
    )
    return out, features
