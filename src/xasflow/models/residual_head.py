"""A ridge residual head: a linear correction of an ensemble's spectra from its last hidden layer and inputs.

For an element with a few dozen spectra, a ridge regression of ``y − model(x)`` on the frozen ensemble's
last hidden layer (all members concatenated) and the standardised features can beat fine-tuning the
networks (``head_desc`` of ``results/new_element_models/curve.md``). :class:`ResidualHeadState` is the
fitted head of one element; applying it is pure numpy. The estimator owns it
(:meth:`XASRegressor.fit_residual_head <xasflow.models.estimator.XASRegressor.fit_residual_head>`) and
persistence stores its arrays in the weights file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xasflow.errors import XasflowError

#: Ridge penalties tried (generalised cross-validation picks one): ``logspace(-2, 4, 13)``.
ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 4, 13))
#: Fewest rows a head is fitted on.
MIN_ROWS = 3
#: Added to every standard deviation (constant columns stay finite).
EPS = 1e-6
#: Names of the arrays of a head in the weights file (``head__{El}__{name}``).
ARRAY_NAMES = ("x_mean", "x_scale", "z_mean", "z_scale", "coef", "intercept")


@dataclass(frozen=True)
class ResidualHeadState:
    """The fitted ridge head of one element.

    Attributes
    ----------
    x_mean, x_scale
        Standardisation of the input features, ``(n_features,)``.
    z_mean, z_scale
        Standardisation of the design ``[hidden, standardised X]``, ``(n_design,)``.
    coef, intercept
        Ridge coefficients ``(141, n_design)`` (float32 values, so a saved head predicts exactly what the
        fitted one does) and intercept ``(141,)``.
    alpha
        Ridge penalty chosen by generalised cross-validation.
    rows
        Rows the head was fitted on.
    """

    x_mean: np.ndarray
    x_scale: np.ndarray
    z_mean: np.ndarray
    z_scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    alpha: float
    rows: int

    @property
    def n_design(self) -> int:
        return len(self.z_mean)

    def design(self, hidden: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Standardised design ``[hidden, (X − x_mean)/x_scale]`` of rows ``(n, n_design)``."""
        raw = np.hstack([hidden, (np.asarray(X, np.float64) - self.x_mean) / self.x_scale])
        if raw.shape[1] != self.n_design:
            raise XasflowError(f"residual head expects {self.n_design} design columns, got {raw.shape[1]}")
        return (raw - self.z_mean) / self.z_scale

    def correction(self, hidden: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The head's additive correction of each row's spectrum, ``(n, 141)``."""
        return self.design(hidden, X) @ self.coef.astype(np.float64).T + self.intercept

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to store (see :data:`ARRAY_NAMES`)."""
        return {name: getattr(self, name) for name in ARRAY_NAMES}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], alpha: float, rows: int) -> ResidualHeadState:
        """Inverse of :meth:`arrays` (``alpha`` and ``rows`` come from the card)."""
        values = {name: np.asarray(arrays[name], np.float64) for name in ARRAY_NAMES if name != "coef"}
        return cls(coef=np.asarray(arrays["coef"], np.float32), alpha=float(alpha), rows=int(rows), **values)


def fit_head(hidden: np.ndarray, X: np.ndarray, residual: np.ndarray) -> ResidualHeadState:
    """Ridge of ``residual`` on ``[hidden, standardised X]`` (design standardised), penalty by GCV.

    Parameters
    ----------
    hidden
        The model's last hidden layer of each row, ``(n, width)``.
    X
        Input features ``(n, n_features)``.
    residual
        ``y`` minus the model's mean prediction, ``(n, 141)``.

    Raises
    ------
    XasflowError
        Fewer than :data:`MIN_ROWS` rows.
    """
    from sklearn.linear_model import RidgeCV  # only when fitting: scikit-learn is slow to import

    X = np.asarray(X, np.float64)
    if len(X) < MIN_ROWS:
        raise XasflowError(f"the residual head needs at least {MIN_ROWS} rows")
    x_mean, x_scale = X.mean(0), X.std(0) + EPS
    raw = np.hstack([np.asarray(hidden, np.float64), (X - x_mean) / x_scale])
    z_mean, z_scale = raw.mean(0), raw.std(0) + EPS
    ridge = RidgeCV(alphas=ALPHAS).fit((raw - z_mean) / z_scale, np.asarray(residual, np.float64))
    return ResidualHeadState(
        x_mean=x_mean,
        x_scale=x_scale,
        z_mean=z_mean,
        z_scale=z_scale,
        coef=np.asarray(ridge.coef_, np.float32),
        intercept=np.asarray(ridge.intercept_, np.float64),
        alpha=float(ridge.alpha_),
        rows=len(X),
    )
