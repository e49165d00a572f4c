"""Candidate sites of an active-learning campaign, and the reserved materials no campaign may use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xasflow.errors import InputError, XasflowError
from xasflow.io.omnixas import material_ids


@dataclass(frozen=True)
class Pool:
    """Candidate sites: ids (``material_site``), features, and where each came from (a structure file or a row)."""

    ids: np.ndarray
    X: np.ndarray
    sources: np.ndarray

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.X) or len(self.ids) != len(self.sources):
            raise XasflowError(f"pool: {len(self.ids)} ids, {len(self.X)} feature rows, {len(self.sources)} sources")
        if len(set(self.ids.tolist())) != len(self.ids):
            raise XasflowError("pool: duplicate site ids")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def materials(self) -> np.ndarray:
        return material_ids(self.ids)

    def without_materials(self, materials: set[str]) -> tuple[Pool, list[str]]:
        """The pool without the sites of ``materials``, and the ids dropped."""
        keep = np.array([m not in materials for m in self.materials], dtype=bool)
        return Pool(self.ids[keep], self.X[keep], self.sources[keep]), self.ids[~keep].tolist()


def pool_from_structures(
    paths, element: str, cache_dir: Path | None = None, symprec: float = 0.01
) -> tuple[Pool, list[InputError], dict[str, Path]]:
    """Inequivalent ``element`` sites of structure files, with their M3GNet features (published convention).

    Returns the pool, one :class:`InputError` per unusable structure (no atom of the element, unreadable,
    disordered, a molecule, ...) and the structure file of each material id.
    """
    from xasflow.features.batch import featurize_structures
    from xasflow.features.registry import get_featurizer
    from xasflow.io.lightshow import material_id_for
    from xasflow.io.structures import expand_paths
    from xasflow.simulation.campaign import _read_crystal, select_sites

    problems: list[InputError] = []
    files: list[Path] = []
    site_lists: list[list[int]] = []
    sources: dict[str, Path] = {}
    for path in expand_paths(paths):
        try:
            structure = _read_crystal(path)
            material = material_id_for(path)
            if material in sources:
                raise InputError(path, f"material id {material!r} already taken by {sources[material]}; rename")
            sites = select_sites(structure, element, "inequivalent", path, symprec)
        except InputError as err:
            problems.append(err)
            continue
        sources[material] = path
        files.append(path)
        site_lists.append(sites)
    if not files:
        raise XasflowError(f"no usable structure with {element} among the inputs ({len(problems)} problems)")
    rows = featurize_structures(files, element, get_featurizer("m3gnet"), sites=site_lists, cache_dir=cache_dir)
    problems += rows.errors
    ids = [
        f"{material_id_for(files[i])}_{s:03d}" for i, s in zip(rows.inputs.tolist(), rows.sites.tolist(), strict=True)
    ]
    pool = Pool(np.array(ids), np.asarray(rows.features, dtype=np.float64), np.array(rows.sources))
    return pool, problems, sources
