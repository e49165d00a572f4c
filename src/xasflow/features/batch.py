"""Featurize many structures: input checks, on-disk cache, progress bar, optional worker processes."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xasflow.data.sites import DEFAULT_SYMPREC, absorbing_sites, check_absorber, check_site
from xasflow.errors import InputError, XasflowError, check_element
from xasflow.features.base import SiteFeaturizer, check_structure
from xasflow.features.cache import FeatureCache, structure_hash
from xasflow.io.structures import read_structure


@dataclass
class FeaturizedSites:
    """Rows produced by :func:`featurize_structures`.

    Attributes
    ----------
    sources
        Input of each row (the path as given, or ``structure[i]`` for in-memory structures).
    inputs
        Index of each row's input in the list given.
    sites
        Site index (in its structure) of each row.
    features
        ``(n_rows, dim)`` feature matrix.
    errors
        One ``InputError`` per unusable input (its rows are absent).
    cache_hits, computed
        Inputs served from the cache, and inputs featurized now.
    """

    sources: list[str]
    inputs: np.ndarray
    sites: np.ndarray
    features: np.ndarray
    errors: list[InputError] = field(default_factory=list)
    cache_hits: int = 0
    computed: int = 0


@dataclass
class _Job:
    index: int
    source: str
    structure: object
    sites: list[int]  # requested sites
    key: str | None = None
    absorbers: list[int] = field(default_factory=list)  # every site of the element (what is cached)


_WORKER_FEATURIZER: SiteFeaturizer | None = None  # set in the parent before forking workers


def _compute(job: tuple[int, object, list[int], str]) -> tuple[int, np.ndarray | None, str | None]:
    index, structure, sites, source = job
    assert _WORKER_FEATURIZER is not None
    try:
        features = _WORKER_FEATURIZER.featurize(structure, sites, source=source)
    except InputError as err:  # sent back as text: InputError does not pickle
        return index, None, err.message
    except Exception as exc:  # one odd structure must not stop a batch of thousands
        return index, None, f"featurization failed ({type(exc).__name__}: {exc})"
    if not np.all(np.isfinite(features)):
        return index, None, "featurization gave NaN or infinite values"
    return index, features, None


def _prepare(
    item, sites: Sequence[int] | None, index: int, element: str, featurizer, selection: str, symprec: float
) -> _Job:
    """Read and check one input; raises ``InputError``."""
    if isinstance(item, (str, os.PathLike)):
        source = str(item)
        structure = read_structure(item)
    else:
        source = f"structure[{index}]"
        structure = item
    check_structure(structure, source, getattr(featurizer, "element_types", None))
    absorbers = check_absorber(structure, element, source)
    if sites is not None:
        requested = [int(s) for s in sites]
    elif selection == "all":
        requested = list(absorbers)
    else:
        requested = [s.index for s in absorbing_sites(structure, element, selection, source, symprec)]
    for site in requested:
        check_site(structure, site, element, source)
    return _Job(index, source, structure, requested, absorbers=absorbers)


def featurize_structures(
    inputs: Sequence,
    element: str,
    featurizer: SiteFeaturizer,
    *,
    sites: Sequence[Sequence[int] | None] | None = None,
    selection: str = "all",
    symprec: float = DEFAULT_SYMPREC,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
    dtype: type = np.float64,
) -> FeaturizedSites:
    """Features of the absorbing sites of many structures.

    Parameters
    ----------
    inputs
        Structure files (any format pymatgen reads) and/or pymatgen ``Structure`` objects.
    element
        Absorbing element; by default every site of it is featurized.
    featurizer
        From :func:`xasflow.features.get_featurizer`.
    sites
        Optional site list per input (``None`` entries = the sites ``selection`` picks).
    selection, symprec
        Sites of inputs without a site list: ``all`` (default), ``inequivalent`` or indices
        ``"i,j"`` (see :func:`xasflow.data.sites.absorbing_sites`), and the symmetry tolerance.
    cache_dir
        Folder of the feature cache (key: structure content + element + featurizer name and
        version); ``None`` disables caching. All absorbing sites are cached, whatever was requested.
    workers
        Processes computing features (1 = in this process).
    progress
        Show a tqdm bar on stderr (also hidden with ``XASFLOW_PROGRESS=0``).
    dtype
        Of the returned matrix (float32 halves the memory of very wide descriptors).

    Returns
    -------
    FeaturizedSites
        Rows in input order, then site order; bad inputs are listed in ``errors``.
    """
    from tqdm.auto import tqdm

    element = check_element(element)
    if sites is not None and len(sites) != len(inputs):
        raise XasflowError(f"{len(sites)} site lists for {len(inputs)} inputs")
    cache = FeatureCache(cache_dir, featurizer.name, featurizer.version) if cache_dir is not None else None
    hidden = not progress or os.environ.get("XASFLOW_PROGRESS") == "0"
    bar = tqdm(total=len(inputs), desc=f"{featurizer.name} {element}", disable=hidden, file=sys.stderr, mininterval=1)
    errors: dict[int, InputError] = {}
    results: dict[int, tuple[_Job, np.ndarray]] = {}  # index -> (job, features of the requested sites)
    pending: list[_Job] = []
    hits = 0
    for index, item in enumerate(inputs):
        try:
            job = _prepare(
                item, None if sites is None else sites[index], index, element, featurizer, selection, symprec
            )
        except InputError as err:
            errors[index] = err
            bar.update()
            continue
        stored = None
        if cache is not None:
            job.key = structure_hash(job.structure)
            stored = cache.get(job.key, element)
        if stored is not None and set(job.sites) <= set(stored[0].tolist()):
            results[index] = (job, _requested(job, stored[0], stored[1], dtype))
            hits += 1
            bar.update()
        else:
            pending.append(job)
    by_index = {job.index: job for job in pending}
    for index, features, message in _run(pending, featurizer, workers):
        job = by_index[index]
        bar.update()
        if features is None:
            errors[index] = InputError(job.source, message or "featurization failed")
            continue
        results[index] = (job, _requested(job, np.asarray(job.absorbers), features, dtype))
        if cache is not None and job.key is not None:
            cache.put(job.key, element, np.asarray(job.absorbers), features)
    bar.close()
    return _assemble(results, errors, featurizer.dim, dtype, hits, len(pending))


def _run(jobs: list[_Job], featurizer: SiteFeaturizer, workers: int):
    """Yield ``(index, features of all absorbing sites | None, error message | None)`` per job."""
    global _WORKER_FEATURIZER
    _WORKER_FEATURIZER = featurizer
    tasks = [(j.index, j.structure, j.absorbers, j.source) for j in jobs]
    if workers <= 1 or len(tasks) < 2:
        yield from map(_compute, tasks)
        return
    # fork: workers inherit the loaded featurizer instead of unpickling a model each.
    context = multiprocessing.get_context("fork")
    with context.Pool(processes=workers) as pool:
        yield from pool.imap_unordered(_compute, tasks, chunksize=4)


def _requested(job: _Job, stored_sites: np.ndarray, features: np.ndarray, dtype: type) -> np.ndarray:
    """Rows of the requested sites out of the features of all absorbing sites."""
    position = {int(s): r for r, s in enumerate(stored_sites)}
    return np.asarray(features)[[position[s] for s in job.sites]].astype(dtype, copy=False)


def _assemble(results: dict, errors: dict, dim: int, dtype: type, hits: int, computed: int) -> FeaturizedSites:
    sources: list[str] = []
    owners: list[int] = []
    row_sites: list[int] = []
    matrix = np.empty((sum(len(job.sites) for job, _ in results.values()), dim), dtype=dtype)
    row = 0
    for index in sorted(results):
        job, features = results.pop(index)  # freed as copied: wide descriptors are large
        matrix[row : row + len(features)] = features
        row += len(features)
        sources += [job.source] * len(job.sites)
        owners += [index] * len(job.sites)
        row_sites += job.sites
    return FeaturizedSites(
        sources=sources,
        inputs=np.array(owners, dtype=int),
        sites=np.array(row_sites, dtype=int),
        features=matrix,
        errors=[errors[i] for i in sorted(errors)],
        cache_hits=hits,
        computed=computed,
    )
