"""How unlike the training sites a site is: k-nearest-neighbour distance in standardised feature space.

Each site is described by its standardised features (training mean and std) plus one more coordinate,
``√d ·`` the z-score of the log of its raw feature magnitude: M3GNet node features sum messages from the
neighbours, so their magnitude measures how much environment a site has, and an isolated or
under-coordinated absorber (a Cu–O dimer in vacuum) has a smaller magnitude than any real crystal site even
where its direction in feature space looks ordinary. ``√d`` makes that coordinate count like a typical
distance between sites.

``ood_score`` = mean distance to the ``k`` nearest training rows of the same element, divided by a
threshold: the split-conformal ``1 − α`` quantile of the same distance over held-out in-domain rows (the
⌈(n+1)(1−α)⌉-th smallest of n), so the expected share of fresh in-domain sites flagged is at most α = 1.5 %.
A site is ``in_domain`` when its score is ≤ 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xasflow.data.splits import grouped_split
from xasflow.errors import XasflowError

K_NEIGHBOURS = 5
#: Expected share of in-domain sites flagged (split-conformal level).
ALPHA = 0.015


def conformal_threshold(distances: np.ndarray, alpha: float = ALPHA) -> float:
    """The ⌈(n+1)(1−α)⌉-th smallest distance (the largest when that rank exceeds n)."""
    values = np.sort(np.asarray(distances, dtype=np.float64))
    rank = math.ceil((len(values) + 1) * (1 - alpha))
    return float(values[min(rank, len(values)) - 1])


@dataclass
class DomainReference:
    """Training rows of one element in the domain space, and the threshold fitted on held-out rows."""

    rows: np.ndarray  # (n, d + 1) training rows in the domain space, float32
    mean: np.ndarray  # (d,) feature mean of the training rows
    scale: np.ndarray  # (d,) feature scale of the training rows
    magnitude: np.ndarray  # (2,) mean and std of log |x| over the training rows
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
        logs = np.log(np.maximum(np.linalg.norm(X, axis=1), 1e-12))
        magnitude = np.array([logs.mean(), max(float(logs.std()), 1e-6)])
        reference = cls(np.zeros((0, X.shape[1] + 1), np.float32), mean, scale, magnitude, k)
        reference.rows = reference.embed(X)
        return reference

    def embed(self, X: np.ndarray) -> np.ndarray:
        """Rows in the domain space: standardised features and the weighted log-magnitude z-score."""
        X = np.asarray(X, dtype=np.float64)
        z = (X - self.mean) / self.scale
        logs = np.log(np.maximum(np.linalg.norm(X, axis=1), 1e-12))
        size = math.sqrt(X.shape[1]) * (logs - self.magnitude[0]) / self.magnitude[1]
        return np.hstack([z, size[:, None]]).astype(np.float32)

    def distance(self, X: np.ndarray, block: int = 2048) -> np.ndarray:
        """Mean distance of each row of ``X`` to its ``k`` nearest reference rows (brute force, in blocks)."""
        rows = self.rows.astype(np.float64)
        row_norms = np.einsum("ij,ij->i", rows, rows)
        k = min(self.k, len(rows))
        Z = self.embed(X).astype(np.float64)
        out = np.empty(len(Z))
        for start in range(0, len(Z), block):
            q = Z[start : start + block]
            squared = np.einsum("ij,ij->i", q, q)[:, None] + row_norms[None, :] - 2.0 * q @ rows.T
            nearest = np.partition(np.maximum(squared, 0.0), k - 1, axis=1)[:, :k]
            out[start : start + block] = np.sqrt(nearest).mean(axis=1)
        return out

    def fit_threshold(self, X_heldout: np.ndarray) -> float:
        """Set the threshold from held-out in-domain rows; returns it."""
        if len(X_heldout) < 10:
            raise XasflowError(f"domain threshold needs at least 10 held-out rows, got {len(X_heldout)}")
        self.threshold = conformal_threshold(self.distance(X_heldout))
        return self.threshold

    def score(self, X: np.ndarray) -> np.ndarray:
        """``ood_score`` of each row (> 1: out of domain)."""
        if self.threshold is None:
            raise XasflowError("domain reference has no threshold (not calibrated on held-out rows)")
        return self.distance(X) / self.threshold


def cross_fitted_flag_rate(
    reference: DomainReference, X_heldout: np.ndarray, groups: np.ndarray, seed: int = 0, repeats: int = 5
) -> float:
    """Share of held-out in-domain rows flagged when the threshold is fitted on the other material half.

    Averaged over ``repeats`` random halvings (seeds ``seed ... seed + repeats - 1``): one halving of a
    small set is noisy.
    """
    distances = reference.distance(X_heldout)
    rates = []
    for r in range(repeats):
        halves = grouped_split(np.asarray(groups), {"a": 0.5, "b": 0.5}, seed + r)
        flagged = 0
        for fit_half, test_half in (("a", "b"), ("b", "a")):
            threshold = conformal_threshold(distances[halves == fit_half])
            flagged += int(np.sum(distances[halves == test_half] > threshold))
        rates.append(flagged / len(distances))
    return float(np.mean(rates))
