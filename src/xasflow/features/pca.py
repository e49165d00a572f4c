"""PCA keeping a fraction of the variance, for very wide descriptors (SOAP has ~10^5 columns).

Works on the ``n × n`` Gram matrix when there are more columns than rows, so fitting
3,000 SOAP rows never forms a ``d × d`` covariance; accumulated in float64 over column blocks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xasflow.errors import InputError, XasflowError
from xasflow.fileio import atomic_path

_BLOCK = 8192  # columns per block: bounds the float64 temporaries to n × 8192


class VariancePCA:
    """Principal components explaining at least ``variance`` of the training variance.

    Parameters
    ----------
    variance
        Fraction of the total variance to keep (the published baseline keeps 0.99).
    """

    def __init__(self, variance: float = 0.99) -> None:
        if not 0.0 < variance <= 1.0:
            raise ValueError(f"variance must be in (0, 1], not {variance}")
        self.variance = variance
        self.mean_: np.ndarray | None = None
        self.components_: np.ndarray | None = None  # (k, d)
        self.explained_variance_ratio_: np.ndarray | None = None

    @property
    def n_components(self) -> int:
        if self.components_ is None:
            raise XasflowError("PCA is not fitted")
        return len(self.components_)

    def fit(self, X: np.ndarray) -> VariancePCA:
        """Fit on training rows only (the caller selects them)."""
        X = np.asarray(X)
        n, d = X.shape
        if n < 2:
            raise XasflowError(f"PCA needs at least 2 training rows, got {n}")
        mean = X.mean(axis=0, dtype=np.float64)
        gram = np.zeros((n, n))
        for start in range(0, d, _BLOCK):
            block = X[:, start : start + _BLOCK].astype(np.float64) - mean[start : start + _BLOCK]
            gram += block @ block.T
        eigvals, eigvecs = np.linalg.eigh(gram)
        order = np.argsort(eigvals)[::-1]
        eigvals, eigvecs = np.clip(eigvals[order], 0.0, None), eigvecs[:, order]
        total = eigvals.sum()
        if total <= 0:
            raise XasflowError("PCA: the training rows have no variance")
        ratio = eigvals / total
        k = int(np.searchsorted(np.cumsum(ratio), self.variance - 1e-12) + 1)
        k = min(k, int((eigvals > 0).sum()))
        # Right singular vectors from the left ones: v_i = Xc^T u_i / sqrt(lambda_i).
        scale = eigvecs[:, :k] / np.sqrt(eigvals[:k])
        components = np.empty((k, d))
        for start in range(0, d, _BLOCK):
            block = X[:, start : start + _BLOCK].astype(np.float64) - mean[start : start + _BLOCK]
            components[:, start : start + _BLOCK] = scale.T @ block
        self.mean_, self.components_, self.explained_variance_ratio_ = mean, components, ratio[:k]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Project rows onto the kept components, shape ``(n, k)``."""
        if self.components_ is None or self.mean_ is None:
            raise XasflowError("PCA is not fitted")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.mean_):
            raise InputError("features", f"have shape {X.shape}, PCA expects {len(self.mean_)} columns")
        out = np.zeros((len(X), self.n_components))
        for start in range(0, X.shape[1], _BLOCK):
            block = X[:, start : start + _BLOCK].astype(np.float64) - self.mean_[start : start + _BLOCK]
            out += block @ self.components_[:, start : start + _BLOCK].T
        return out

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def save(self, path: str | Path) -> Path:
        """Write mean and components to an ``.npz`` atomically."""
        if self.components_ is None:
            raise XasflowError("PCA is not fitted")
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(
                handle,
                variance=self.variance,
                mean=self.mean_,
                components=self.components_,
                explained_variance_ratio=self.explained_variance_ratio_,
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> VariancePCA:
        try:
            with np.load(path, allow_pickle=False) as archive:
                pca = cls(float(archive["variance"]))
                pca.mean_ = archive["mean"]
                pca.components_ = archive["components"]
                pca.explained_variance_ratio_ = archive["explained_variance_ratio"]
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(path, f"cannot read PCA ({exc})") from exc
        return pca


def fit_pca_on_train(
    matrix: np.ndarray, splits: np.ndarray | None, variance: float = 0.99
) -> tuple[np.ndarray, VariancePCA]:
    """Fit :class:`VariancePCA` on the rows whose split is ``"train"``; return all rows transformed.

    Raises
    ------
    XasflowError
        If there is no split assignment or no training row.
    """
    if splits is None or not np.any(splits == "train"):
        raise XasflowError("PCA must be fitted on training rows, but the dataset has no 'train' split")
    pca = VariancePCA(variance).fit(matrix[splits == "train"])
    return pca.transform(matrix), pca
