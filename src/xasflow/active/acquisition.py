"""Acquisition rules: which candidate sites to label next.

Every rule sees the candidates' features, the ensemble's predicted std per site (mean over energy points),
and the features of the sites labelled so far, and returns ``batch`` candidate indices in pick order.

* ``random``: a seeded uniform draw (the reference).
* ``uncertainty``: the ``batch`` largest predicted std.
* ``diversity``: greedy farthest-first (k-centre) in standardised feature space, starting from the labelled
  sites: each pick is the candidate farthest from everything labelled or already picked.
* ``hybrid``: greedy on ``std / median(std) × distance / median(distance)``, the distance being
  the one of ``diversity`` (updated after every pick): uncertain sites, but not several of the same kind.
* ``representative``: k-means of candidates and labelled sites together into ``labelled + batch`` clusters;
  the clusters that hold no labelled site, largest first, each give the candidate nearest their centre
  (filled farthest-first if there are fewer such clusters than the batch). The batch follows the density of
  the pool, as random draws do, but covers it without repeats.

``representative`` is the default of ``xasflow learn``: on the pool replay (results/active_learning/results.md)
it beat ``random`` up to 150 labels (V, where it was designed; Co, where it was then tested), while
``hybrid`` lost to ``random`` on Co: uncertainty-driven picks chase unusual sites, and η is a median over
typical ones.
"""

from __future__ import annotations

import numpy as np

from xasflow.errors import XasflowError

RULES = ("representative", "hybrid", "uncertainty", "diversity", "random")


def _standardise(candidates: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    both = np.vstack([candidates, labelled]) if len(labelled) else candidates
    mean, scale = both.mean(0), both.std(0) + 1e-9
    return (candidates - mean) / scale, ((labelled - mean) / scale if len(labelled) else labelled)


def _min_distance(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    if len(centres) == 0:
        return np.full(len(points), np.inf)
    d = np.full(len(points), np.inf)
    for start in range(0, len(centres), 256):
        block = centres[start : start + 256]
        sq = (points**2).sum(1)[:, None] + (block**2).sum(1)[None, :] - 2 * points @ block.T
        d = np.minimum(d, np.sqrt(np.maximum(sq, 0.0)).min(axis=1))
    return d


def _greedy(Z: np.ndarray, distance: np.ndarray, weight: np.ndarray, batch: int) -> list[int]:
    picks: list[int] = []
    distance = distance.copy()
    if not np.all(np.isfinite(distance)):  # nothing labelled yet: start from the most weighted candidate
        distance = np.ones(len(Z))
        first = int(np.argmax(weight))
        picks.append(first)
        distance = _min_distance(Z, Z[[first]])
    while len(picks) < batch:
        scale = np.median(distance[distance > 0]) if np.any(distance > 0) else 1.0
        score = weight * distance / scale
        score[picks] = -np.inf
        best = int(np.argmax(score))
        picks.append(best)
        distance = np.minimum(distance, _min_distance(Z, Z[[best]]))
    return picks


def select_batch(
    rule: str,
    candidates: np.ndarray,
    std: np.ndarray | None,
    labelled: np.ndarray,
    batch: int,
    seed: int = 0,
) -> np.ndarray:
    """Indices (into ``candidates``) of the next ``batch`` sites to label, in pick order.

    Parameters
    ----------
    rule
        One of :data:`RULES`.
    candidates
        ``(n, d)`` features of the unlabelled candidates.
    std
        ``(n,)`` predicted std per candidate (needed by ``uncertainty`` and ``hybrid``).
    labelled
        ``(m, d)`` features of the sites labelled so far (may be empty).
    batch
        How many to pick; at most ``n``.
    """
    if rule not in RULES:
        raise XasflowError(f"unknown acquisition rule {rule!r}; choose one of {', '.join(RULES)}")
    n = len(candidates)
    if batch < 1:
        raise XasflowError("batch size must be at least 1")
    if batch > n:
        raise XasflowError(f"{n} candidates left, fewer than the batch of {batch}")
    if rule == "random":
        return np.random.default_rng(seed).permutation(n)[:batch]
    if rule in ("uncertainty", "hybrid"):
        if std is None or len(std) != n:
            raise XasflowError(f"rule {rule!r} needs a predicted std per candidate")
        std = np.asarray(std, dtype=np.float64)
    if rule == "uncertainty":
        return np.argsort(-std, kind="stable")[:batch]
    if rule == "representative":
        Z, L = _standardise(
            np.asarray(candidates, np.float64), np.asarray(labelled, np.float64).reshape(-1, candidates.shape[1])
        )
        return _representative(Z, L, batch, seed)
    Z, L = _standardise(
        np.asarray(candidates, np.float64), np.asarray(labelled, np.float64).reshape(-1, candidates.shape[1])
    )
    distance = _min_distance(Z, L)
    weight = np.ones(n) if rule == "diversity" else std / max(float(np.median(std)), 1e-12)
    return np.array(_greedy(Z, distance, weight, batch), dtype=int)


def _representative(Z: np.ndarray, L: np.ndarray, batch: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    both = np.vstack([Z, L]) if len(L) else Z
    n_clusters = min(len(both), len(L) + batch)
    km = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed).fit(both)
    cand_labels, lab_labels = km.labels_[: len(Z)], km.labels_[len(Z) :]
    covered = set(lab_labels.tolist())
    sizes = np.bincount(km.labels_, minlength=n_clusters)
    picks: list[int] = []
    for cluster in np.argsort(-sizes, kind="stable"):
        if cluster in covered or len(picks) == batch:
            continue
        members = np.flatnonzero(cand_labels == cluster)
        if len(members):
            d = ((Z[members] - km.cluster_centers_[cluster]) ** 2).sum(1)
            picks.append(int(members[np.argmin(d)]))
    if len(picks) < batch:
        distance = np.minimum(_min_distance(Z, L), _min_distance(Z, Z[picks]) if picks else np.inf)
        distance[picks] = 0.0
        while len(picks) < batch:
            best = int(np.argmax(np.where(np.isin(np.arange(len(Z)), picks), -np.inf, distance)))
            picks.append(best)
            distance = np.minimum(distance, _min_distance(Z, Z[[best]]))
    return np.array(picks[:batch], dtype=int)
