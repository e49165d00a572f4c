"""Which pool sites a simulation campaign runs first: feature-space diversity, optionally of a published population.

:func:`diversity_priority` ranks a campaign's candidate sites; the ranking goes into
``CampaignConfig.priority`` (through ``scripts/campaign_priority.py`` and ``scripts/fe_mn_campaign.py --priority``),
where it orders the sites *within* each round of the ``coverage`` order: material coverage stays first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xasflow.active.acquisition import select_batch
from xasflow.errors import XasflowError


def diversity_priority(
    site_ids: Sequence[str],
    features: np.ndarray,
    finished_ids: Sequence[str] = (),
    reference: np.ndarray | None = None,
    seed: int = 0,
    clusters: int | None = None,
) -> list[str]:
    """Candidate sites ordered so that each next one covers the most representative part of feature space left.

    Parameters
    ----------
    site_ids
        Ids of the rows of ``features``: the candidates and (optionally) the finished sites.
    features
        ``(n, d)`` site features (the published M3GNet features when ``reference`` is given).
    finished_ids
        Sites already simulated: they are not ranked, and the feature space near them counts as
        covered. Ids not in ``site_ids`` are ignored.
    reference
        ``(m, d)`` feature rows of the population to cover first (the element's published rows), or
        ``None``. With it: k-means of the reference rows (standardised by the reference) into
        ``clusters`` clusters; every cluster that holds no finished site, largest first, gives the
        candidate of that cluster nearest its centre (clusters of no candidate are skipped). The
        candidates left follow as without a reference, with those picks counted as covered.
    seed
        k-means seed: the same inputs and seed give the same order.
    clusters
        Reference clusters (default ``min(m, n)``).

    Returns
    -------
    list[str]
        Every candidate (``site_ids`` not finished) once, best first. Without a reference the order is
        built by the ``representative`` acquisition rule (:func:`xasflow.active.acquisition.select_batch`)
        in batches of 1, 1, 2, 4, ... (each batch as large as everything covered so far), each batch
        given the finished sites and the earlier batches as labelled.

    Raises
    ------
    XasflowError
        Mismatched shapes, repeated site ids, or non-finite features.
    """
    ids = [str(s) for s in site_ids]
    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(ids):
        raise XasflowError(f"{len(ids)} site ids for a feature matrix of shape {X.shape}")
    if len(set(ids)) != len(ids):
        raise XasflowError("site ids repeat")
    if not np.all(np.isfinite(X)):
        raise XasflowError("site features hold NaN or infinite values")
    finished = set(map(str, finished_ids)) & set(ids)
    candidates = [k for k, s in enumerate(ids) if s not in finished]
    covered = [k for k, s in enumerate(ids) if s in finished]
    picks: list[int] = []
    if reference is not None and len(candidates):
        picks = _reference_picks(X, candidates, covered, np.asarray(reference, dtype=np.float64), seed, clusters)
    taken = set(picks)
    rest = [k for k in candidates if k not in taken]
    labelled = covered + picks
    while rest:
        batch = min(len(rest), max(1, len(labelled)))
        chosen = select_batch("representative", X[rest], None, X[labelled], batch, seed=seed)
        new = [rest[int(j)] for j in chosen]
        picks += new
        labelled += new
        taken.update(new)
        rest = [k for k in rest if k not in taken]
    return [ids[k] for k in picks]


def _reference_picks(
    X: np.ndarray, candidates: list[int], covered: list[int], reference: np.ndarray, seed: int, clusters: int | None
) -> list[int]:
    from sklearn.cluster import KMeans

    if reference.ndim != 2 or reference.shape[1] != X.shape[1] or not len(reference):
        raise XasflowError(f"reference rows of shape {reference.shape} for site features of width {X.shape[1]}")
    if not np.all(np.isfinite(reference)):
        raise XasflowError("reference rows hold NaN or infinite values")
    mean, scale = reference.mean(0), reference.std(0) + 1e-9
    R, Z = (reference - mean) / scale, (X - mean) / scale
    k = min(len(R), clusters or len(candidates))
    if k < 1:
        raise XasflowError("at least one reference cluster is needed")
    km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(R)
    sizes = np.bincount(km.labels_, minlength=k)
    label = km.predict(Z)
    done = {int(label[j]) for j in covered}
    picks: list[int] = []
    for cluster in np.argsort(-sizes, kind="stable"):
        members = [j for j in candidates if label[j] == cluster]
        if int(cluster) in done or not members:
            continue
        d = ((Z[members] - km.cluster_centers_[cluster]) ** 2).sum(1)
        picks.append(members[int(np.argmin(d))])
    return picks
