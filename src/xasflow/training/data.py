"""Training / early-stopping / evaluation subsets of every set, material-grouped and seeded.

Only the published *val* rows exist for most sets, so those are carved into three material-disjoint
subsets. Where a dataset with the published *train* split is supplied (Cu FEFF, rebuilt from the raw
tree), the model trains on published train (minus a grouped early-stopping share) and is evaluated
on the whole published val split, the same protocol as the published numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xasflow.constants import ELEMENTS, FIDELITIES
from xasflow.data.dataset import XASDataset
from xasflow.data.published import PUBLISHED_FEATURES, load_published
from xasflow.data.splits import grouped_split
from xasflow.errors import XasflowError, check_element, check_fidelity
from xasflow.io.omnixas import material_ids, ml_data_path

#: Shares of the published val rows (by material) used when no train split exists.
CARVE_FRACTIONS: dict[str, float] = {"train": 0.7, "stop": 0.1, "eval": 0.2}
#: Share of the published train rows (by material) held out for early stopping.
STOP_FRACTION = 0.1
PARTS = ("train", "stop", "eval")


@dataclass(frozen=True)
class Subset:
    """Rows of one part of a set."""

    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def materials(self) -> set[str]:
        return set(material_ids(self.ids).tolist())

    def without_materials(self, materials: set[str]) -> Subset:
        keep = ~np.isin(material_ids(self.ids), list(materials))
        return Subset(self.ids[keep], self.X[keep], self.y[keep])


@dataclass(frozen=True)
class SetData:
    """Train, early-stopping and evaluation subsets of one (element, fidelity) set."""

    element: str
    fidelity: str
    train: Subset
    stop: Subset
    eval: Subset
    protocol: str
    feature: str = PUBLISHED_FEATURES
    feature_version: str = "unknown"

    @property
    def key(self) -> str:
        return f"{self.element}_{self.fidelity}"

    @property
    def baseline(self) -> np.ndarray:
        """Mean training spectrum: the η baseline."""
        return self.train.y.mean(axis=0)

    def ids_hash(self) -> str:
        """SHA-256 (first 16 hex) of the sorted train+stop ids: which data a model saw."""
        import hashlib

        ids = sorted(np.concatenate([self.train.ids, self.stop.ids]).tolist())
        return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]

    def sizes(self) -> dict[str, int]:
        return {p: len(getattr(self, p)) for p in PARTS}


@dataclass
class SetCatalog:
    """All sets with spectra, plus the sets that have features only (reported, never trained)."""

    sets: dict[str, SetData] = field(default_factory=dict)
    features_only: list[str] = field(default_factory=list)
    #: The same sets carved identically but with other feature matrices: ``{key: {feature: SetData}}``.
    variants: dict[str, dict[str, SetData]] = field(default_factory=dict)

    def for_feature(self, key: str, feature: str) -> SetData:
        """Set ``key`` with the feature matrix ``feature`` (the default set when its feature matches)."""
        data = self.sets[key]
        if data.feature == feature:
            return data
        try:
            return self.variants[key][feature]
        except KeyError:
            raise XasflowError(f"{key}: no {feature!r} features loaded (have {data.feature})") from None

    def get(self, element: str, fidelity: str) -> SetData:
        key = f"{check_element(element)}_{check_fidelity(fidelity)}"
        if key in self.sets:
            return self.sets[key]
        if key in self.features_only:
            raise XasflowError(f"{key}: the data has features but no spectra, so no model can be trained or scored")
        raise XasflowError(f"{key}: no data for this set under the data root")

    def feff(self) -> list[SetData]:
        return [s for s in self.sets.values() if s.fidelity == "FEFF"]


def _feature_version(dataset: XASDataset, feature: str) -> str:
    info = dataset.metadata.get("features", {}).get(feature, {})
    if "version" in info:
        return str(info["version"])
    if feature == PUBLISHED_FEATURES:
        # The published rows are reproduced by the packaged featurizer (see docs/featurizers.md).
        from xasflow.features.m3gnet import published_version

        return published_version()
    return "unknown"


def _subset(dataset: XASDataset, rows: np.ndarray, feature: str) -> Subset:
    return Subset(dataset.ids[rows], dataset.features[feature][rows], dataset.spectra[rows])


def carve(dataset: XASDataset, seed: int, feature: str = PUBLISHED_FEATURES) -> SetData:
    """Material-grouped train/stop/eval subsets of a dataset.

    A dataset with published ``train`` and ``val`` rows trains on train (minus a grouped early-stopping
    share) and is evaluated on val; otherwise all rows are carved with :data:`CARVE_FRACTIONS`.
    """
    if dataset.spectra is None:
        raise XasflowError(f"{dataset.name}: no spectra")
    if feature not in dataset.features:
        raise XasflowError(f"{dataset.name}: no {feature!r} features (has {', '.join(dataset.features) or 'none'})")
    splits = dataset.splits if dataset.splits is not None else np.full(len(dataset), "")
    materials = dataset.material_ids
    if np.any(splits == "train") and np.any(splits == "val"):
        train_rows = np.flatnonzero(splits == "train")
        inner = grouped_split(materials[train_rows], {"train": 1 - STOP_FRACTION, "stop": STOP_FRACTION}, seed)
        return SetData(
            dataset.element,
            dataset.fidelity,
            train=_subset(dataset, train_rows[inner == "train"], feature),
            stop=_subset(dataset, train_rows[inner == "stop"], feature),
            eval=_subset(dataset, np.flatnonzero(splits == "val"), feature),
            protocol="published train (90% fit / 10% early stopping, by material); evaluated on published val",
            feature=feature,
            feature_version=_feature_version(dataset, feature),
        )
    rows = np.flatnonzero(splits == "val") if np.any(splits == "val") else np.arange(len(dataset))
    parts = grouped_split(materials[rows], CARVE_FRACTIONS, seed)
    return SetData(
        dataset.element,
        dataset.fidelity,
        **{p: _subset(dataset, rows[parts == p], feature) for p in PARTS},
        protocol="published val carved by material: 70% fit / 10% early stopping / 20% evaluation",
        feature=feature,
        feature_version=_feature_version(dataset, feature),
    )


def _exclude_cross_fidelity(sets: dict[str, SetData]) -> dict[str, SetData]:
    """Keep VASP early-stopping/evaluation materials out of the element's FEFF fitting data.

    The same structure has the same features at both fidelities; without this the FEFF universal model
    would have seen the evaluation structures of the cross-fidelity comparison.
    """
    out = dict(sets)
    for key, vasp in sets.items():
        if vasp.fidelity != "VASP" or f"{vasp.element}_FEFF" not in sets:
            continue
        held = vasp.stop.materials | vasp.eval.materials
        feff = sets[f"{vasp.element}_FEFF"]
        out[f"{vasp.element}_FEFF"] = SetData(
            feff.element,
            feff.fidelity,
            train=feff.train.without_materials(held),
            stop=feff.stop.without_materials(held),
            eval=feff.eval,
            protocol=feff.protocol + f"; FEFF fit rows of {key} early-stopping/evaluation materials removed",
            feature=feff.feature,
            feature_version=feff.feature_version,
        )
    return out


def drop_reserved(dataset: XASDataset, reserved: set[str]) -> XASDataset:
    """The rows of ``dataset`` whose material is not in ``reserved``."""
    keep = ~np.isin(dataset.material_ids, sorted(reserved))
    return dataset if keep.all() else dataset.subset(np.flatnonzero(keep))


def load_sets(
    root: Path,
    seed: int = 0,
    full: Mapping[str, XASDataset] | None = None,
    elements: tuple[str, ...] = ELEMENTS,
    reserved: Mapping[str, set[str]] | None = None,
    variants: Mapping[str, tuple[str, ...]] | None = None,
) -> SetCatalog:
    """Every set under ``root`` (published ML data), carved; ``full`` replaces sets by complete datasets.

    Parameters
    ----------
    full
        ``{"Cu_FEFF": dataset}``: datasets with published train+val splits and ``m3gnet`` features.
    reserved
        ``{element: materials}`` whose sites of that element are never used (dropped before carving).
    variants
        ``{"Cu_FEFF": ("m3gnet-env",)}``: further feature matrices of a complete dataset, carved the same way
        (:meth:`SetCatalog.for_feature`).
    """
    full = dict(full or {})
    reserved = dict(reserved or {})
    catalog = SetCatalog()
    sets: dict[str, SetData] = {}
    for element in elements:
        for fidelity in FIDELITIES:
            key = f"{element}_{fidelity}"
            if key in full:
                dataset = drop_reserved(full[key], reserved.get(element, set()))
                sets[key] = carve(dataset, seed)
                for feature in (variants or {}).get(key, ()):
                    catalog.variants.setdefault(key, {})[feature] = carve(dataset, seed, feature)
                continue
            if not ml_data_path(root, element, fidelity, "val", "X").exists():
                continue
            dataset = load_published(root, element, fidelity)
            if dataset.spectra is None:
                catalog.features_only.append(key)
                continue
            sets[key] = carve(drop_reserved(dataset, reserved.get(element, set())), seed)
    if not sets:
        raise XasflowError(f"{root}: no set with spectra found (expected ml_data/*_val_y.txt[.gz])")
    catalog.sets = _exclude_cross_fidelity(sets)
    return catalog
