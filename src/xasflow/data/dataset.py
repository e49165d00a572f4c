"""One object per (element, fidelity): ids, spectra, feature matrices, splits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xasflow.constants import N_POINTS, energy_grid
from xasflow.errors import InputError, check_element, check_fidelity
from xasflow.fileio import atomic_path
from xasflow.io.omnixas import parse_site_id

#: Version of the on-disk ``.npz`` layout; bumped on incompatible change.
FORMAT_VERSION = 1


@dataclass
class XASDataset:
    """Spectra and site features of one element at one fidelity.

    Parameters
    ----------
    element, fidelity
        Absorbing element (``"Cu"``) and simulation fidelity (``"FEFF"``/``"VASP"``).
    ids
        Row ids ``MATERIAL_SITE`` (e.g. ``mp-1234_005``), unique.
    spectra
        ``(n, 141)`` spectra in the published ×1000 units, or ``None`` when only features exist.
    features
        Named ``(n, d)`` feature matrices (e.g. ``"m3gnet"``).
    splits
        Split name per row (``"train"``, ``"val"``, ``"test"``; ``""`` for unassigned), or ``None``.
    metadata
        Provenance (JSON-serialisable).
    """

    element: str
    fidelity: str
    ids: np.ndarray
    spectra: np.ndarray | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)
    splits: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.element = check_element(self.element)
        self.fidelity = check_fidelity(self.fidelity)
        self.ids = np.asarray(self.ids, dtype=str)
        n = len(self.ids)
        if len(set(self.ids.tolist())) != n:
            raise ValueError("dataset ids are not unique")
        if self.spectra is not None:
            self.spectra = np.asarray(self.spectra, dtype=np.float64)
            if self.spectra.shape != (n, N_POINTS):
                raise ValueError(f"spectra have shape {self.spectra.shape}, expected ({n}, {N_POINTS})")
        for name, matrix in list(self.features.items()):
            matrix = np.asarray(matrix, dtype=np.float64)
            if matrix.ndim != 2 or len(matrix) != n:
                raise ValueError(f"feature matrix {name!r} has shape {matrix.shape}, expected ({n}, d)")
            self.features[name] = matrix
        if self.splits is not None:
            self.splits = np.asarray(self.splits, dtype=str)
            if self.splits.shape != (n,):
                raise ValueError(f"splits have shape {self.splits.shape}, expected ({n},)")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def name(self) -> str:
        """``{El}_{FIDELITY}``, the published name of the set."""
        return f"{self.element}_{self.fidelity}"

    @property
    def energies(self) -> np.ndarray:
        """Absolute energy grid (eV) of the spectra."""
        return energy_grid(self.element)

    @property
    def material_ids(self) -> np.ndarray:
        """Material id of each row."""
        return np.array([parse_site_id(i)[0] for i in self.ids], dtype=str)

    @property
    def sites(self) -> np.ndarray:
        """Absorbing-site index (in the material's structure) of each row."""
        return np.array([parse_site_id(i)[1] for i in self.ids], dtype=int)

    def subset(self, rows: np.ndarray) -> XASDataset:
        """A new dataset with the given rows (boolean mask or integer indices)."""
        rows = np.asarray(rows)
        return XASDataset(
            element=self.element,
            fidelity=self.fidelity,
            ids=self.ids[rows],
            spectra=None if self.spectra is None else self.spectra[rows],
            features={k: v[rows] for k, v in self.features.items()},
            splits=None if self.splits is None else self.splits[rows],
            metadata=dict(self.metadata),
        )

    def split(self, name: str) -> XASDataset:
        """Rows of one split."""
        if self.splits is None:
            raise ValueError(f"dataset {self.name} has no split assignment")
        return self.subset(self.splits == name)

    def with_features(self, name: str, matrix: np.ndarray, info: Mapping[str, Any] | None = None) -> XASDataset:
        """A copy with one more (or replaced) feature matrix; ``info`` goes into metadata."""
        out = self.subset(np.arange(len(self)))
        out.features[name] = np.asarray(matrix, dtype=np.float64)
        out.__post_init__()
        if info:
            out.metadata.setdefault("features", {})[name] = dict(info)
        return out

    def save(self, path: str | Path) -> Path:
        """Write to a compressed ``.npz`` atomically; returns the path."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {"ids": self.ids}
        if self.spectra is not None:
            arrays["spectra"] = self.spectra
        if self.splits is not None:
            arrays["splits"] = self.splits
        for name, matrix in self.features.items():
            arrays[f"feature__{name}"] = matrix
        header = {
            "format": "xasflow-dataset",
            "version": FORMAT_VERSION,
            "element": self.element,
            "fidelity": self.fidelity,
            "metadata": self.metadata,
        }
        arrays["header"] = np.array(json.dumps(header))
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> XASDataset:
        """Read a dataset written by :meth:`save`.

        Raises
        ------
        InputError
            If the file is missing, not a dataset, or of a newer format version.
        """
        import zipfile

        path = Path(path)
        if not path.is_file():
            raise InputError(path, "no such file" if not path.exists() else "not a file")
        if not zipfile.is_zipfile(path):
            raise InputError(path, "not an xasflow dataset (expected a .npz archive written by xasflow)")
        try:
            with np.load(path, allow_pickle=False) as archive:
                if "header" not in archive.files:
                    raise InputError(path, "not an xasflow dataset (no header)")
                header = json.loads(str(archive["header"]))
                arrays = {k: archive[k] for k in archive.files if k != "header"}
        except InputError:
            raise
        except (OSError, ValueError, json.JSONDecodeError, zipfile.BadZipFile, KeyError) as exc:
            raise InputError(path, f"cannot read dataset ({exc})") from exc
        if header.get("format") != "xasflow-dataset":
            raise InputError(path, "not an xasflow dataset")
        if int(header.get("version", -1)) > FORMAT_VERSION:
            raise InputError(
                path, f"dataset format version {header['version']} is newer than this xasflow ({FORMAT_VERSION})"
            )
        return cls(
            element=header["element"],
            fidelity=header["fidelity"],
            ids=arrays["ids"],
            spectra=arrays.get("spectra"),
            features={k.removeprefix("feature__"): v for k, v in arrays.items() if k.startswith("feature__")},
            splits=arrays.get("splits"),
            metadata=header.get("metadata", {}),
        )

    def summary(self) -> str:
        """Human-readable description (used by ``xasflow data info``)."""
        lines = [
            f"dataset      {self.name}",
            f"rows         {len(self)} ({len(set(self.material_ids.tolist()))} materials)",
            f"energy grid  {self.energies[0]:.3f} .. {self.energies[-1]:.3f} eV, {N_POINTS} points",
            f"spectra      {'yes' if self.spectra is not None else 'no'}",
        ]
        for name, matrix in self.features.items():
            lines.append(f"features     {name}: {matrix.shape[1]} columns")
        if not self.features:
            lines.append("features     none")
        if self.splits is not None:
            values, counts = np.unique(self.splits, return_counts=True)
            parts = [f"{v or 'unassigned'} {c}" for v, c in zip(values, counts, strict=True)]
            lines.append(f"splits       {', '.join(parts)}")
        for key, value in self.metadata.items():
            if key != "features" and not isinstance(value, (list, dict)):
                lines.append(f"{key:<12} {value}")
        return "\n".join(lines)
