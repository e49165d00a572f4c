"""On-disk cache of site features keyed by structure content, element and featurizer version."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from xasflow.fileio import atomic_path

#: Decimals kept when hashing coordinates: far below any physical difference, above float noise.
_DECIMALS = 6


def structure_hash(structure) -> str:
    """SHA-256 of a structure's lattice, species and fractional coordinates (not its file format or name)."""
    digest = hashlib.sha256()
    lattice = np.round(np.asarray(structure.lattice.matrix, dtype=np.float64), _DECIMALS) + 0.0
    frac = np.round(np.asarray(structure.frac_coords, dtype=np.float64), _DECIMALS) + 0.0  # +0.0: no -0.0
    numbers = np.array([site.specie.Z for site in structure], dtype=np.int64)
    for array in (lattice, frac, numbers):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class FeatureCache:
    """Features of all absorbing sites of one structure, one small ``.npz`` per entry.

    Parameters
    ----------
    root
        Cache folder (created on first write).
    featurizer_name, featurizer_version
        Part of the key: a new version never reads old entries.
    """

    def __init__(self, root: str | Path, featurizer_name: str, featurizer_version: str) -> None:
        self.root = Path(root)
        tag = hashlib.sha256(f"{featurizer_name}\0{featurizer_version}".encode()).hexdigest()[:16]
        self.folder = self.root / f"{featurizer_name}-{tag}"

    def _path(self, structure_key: str, element: str) -> Path:
        return self.folder / structure_key[:2] / f"{structure_key}_{element}.npz"

    def get(self, structure_key: str, element: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(sites, features)`` stored for this structure and element, or ``None``."""
        path = self._path(structure_key, element)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                return archive["sites"], archive["features"]
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is recomputed, not fatal

    def put(self, structure_key: str, element: str, sites: np.ndarray, features: np.ndarray) -> None:
        """Store an entry atomically (concurrent writers of the same entry are harmless)."""
        path = self._path(structure_key, element)
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, sites=np.asarray(sites, dtype=np.int64), features=features)
