"""How unlike the training sites a site is: k-nearest-neighbour distance in standardised feature space.

``ood_score`` = mean Euclidean distance to the ``k`` nearest training rows of the same element (features
standardised with the training rows' mean and std), divided by a threshold: the ``quantile`` of the same
distance over held-out in-domain rows. A site is ``in_domain`` when its score is ≤ 1, so by construction
about ``1 − quantile`` of fresh in-domain rows are flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xasflow.data.splits import grouped_split
from xasflow.errors import XasflowError

K_NEIGHBOURS = 5
#: Quantile of held-out in-domain distances used as the threshold.
THRESHOLD_QUANTILE = 0.995


@dataclass
class DomainReference:
    """Training rows of one element, standardised, and the threshold fitted on held-out rows."""

    rows: np.ndarray  # (n, d) standardised reference rows, float32
    mean: np.ndarray
    scale: np.ndarray
    k: int = K_NEIGHBOURS
    threshold: float | None = None

    @classmethod
    def from_training(cls, X: np.ndarray, k: int = K_NEIGHBOURS) -> DomainReference:
        X = np.asarray(X, dtype=np.float64)
        if len(X) <= k:
            raise XasflowError(f"domain reference needs more than {k} training rows, got {len(X)}")
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        # Features that barely vary in training would turn noise into huge distances.
        scale = np.maximum(std, 1e-3 * max(float(np.median(std)), 1e-12))
        return cls(((X - mean) / scale).astype(np.float32), mean, scale, k)

    def distance(self, X: np.ndarray, exclude_self: bool = False) -> np.ndarray:
        """Mean distance of each row of ``X`` to its ``k`` nearest reference rows."""
        from sklearn.neighbors import NearestNeighbors

        Z = ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)
        k = self.k + (1 if exclude_self else 0)
        nn = NearestNeighbors(n_neighbors=min(k, len(self.rows)), algorithm="brute").fit(self.rows)
        dist, _ = nn.kneighbors(Z)
        if exclude_self:
            dist = dist[:, 1:]
        return dist.mean(axis=1)

    def fit_threshold(self, X_heldout: np.ndarray, quantile: float = THRESHOLD_QUANTILE) -> float:
        """Set the threshold from held-out in-domain rows; returns it."""
        if len(X_heldout) < 10:
            raise XasflowError(f"domain threshold needs at least 10 held-out rows, got {len(X_heldout)}")
        self.threshold = float(np.quantile(self.distance(X_heldout), quantile))
        return self.threshold

    def score(self, X: np.ndarray) -> np.ndarray:
        """``ood_score`` of each row (> 1: out of domain)."""
        if self.threshold is None:
            raise XasflowError("domain reference has no threshold (not calibrated on held-out rows)")
        return self.distance(X) / self.threshold


def cross_fitted_flag_rate(
    reference: DomainReference,
    X_heldout: np.ndarray,
    groups: np.ndarray,
    quantile: float = THRESHOLD_QUANTILE,
    seed: int = 0,
) -> float:
    """Share of held-out in-domain rows flagged when the threshold is fitted on the other material half."""
    distances = reference.distance(X_heldout)
    halves = grouped_split(np.asarray(groups), {"a": 0.5, "b": 0.5}, seed)
    flagged = 0
    for fit_half, test_half in (("a", "b"), ("b", "a")):
        threshold = np.quantile(distances[halves == fit_half], quantile)
        flagged += int(np.sum(distances[halves == test_half] > threshold))
    return flagged / len(distances)
