"""Linear-combination fit of a measurement with predicted spectra (Athena-style LCF).

The measurement on the predicted window is modelled as ``Σ c_i G_sigma[p_i](E - shift)``, c_i ≥ 0,
with one shared shift and broadening. Fractions are ``w_i = c_i / Σc`` (non-negative, summing to
1) and ``Σc`` is the amplitude scale. Uncertainties come from the least-squares covariance
(residual variance times (JᵀJ)⁻¹), propagated to the fractions; they treat the 141 window
points as independent and so are a lower bound when the scan is coarser than 0.25 eV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xasflow.compare.align import AlignConfig, broaden, check_coverage, measured_on
from xasflow.compare.match import Candidate
from xasflow.compare.normalize import NormalizedSpectrum
from xasflow.compare.score import rfactor_similarity
from xasflow.constants import E_STEP
from xasflow.errors import XasflowError

_SIGMA_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


@dataclass(frozen=True)
class MixtureResult:
    """Fitted fractions (with 1σ uncertainties), shared shift, broadening and scale."""

    candidates: list[Candidate]
    fractions: np.ndarray
    fraction_std: np.ndarray
    shift: float
    shift_std: float
    sigma: float
    scale: float
    energies: np.ndarray
    measured: np.ndarray
    model: np.ndarray
    r_factor: float

    def table(self) -> list[tuple[str, str, float, float]]:
        """(source, formula, fraction, std) rows, largest fraction first."""
        order = np.argsort(-self.fractions)
        return [
            (
                self.candidates[i].source,
                self.candidates[i].formula,
                float(self.fractions[i]),
                float(self.fraction_std[i]),
            )
            for i in order
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"shift_eV", "shift_std_eV", "sigma_eV", "scale", "r_factor", "components"}``."""
        from xasflow.io.ranking import mixture_record

        return mixture_record(self)

    def write(self, path: str | Path) -> None:
        """Write ``.csv`` (the ``OUT_mixture.csv`` table) or ``.json`` (:meth:`to_dict`), atomically."""
        from xasflow.io.ranking import write_mixture

        write_mixture(path, self)


def mix(
    measured: NormalizedSpectrum,
    candidates: list[Candidate],
    element: str,
    config: AlignConfig | None = None,
) -> MixtureResult:
    """Fit ``measured`` as a non-negative combination of the candidates' spectra.

    Raises
    ------
    XasflowError
        Fewer than two candidates or candidates on different energy grids.
    InputError
        When the scan does not cover the comparison window.
    """
    from scipy.optimize import least_squares, nnls

    config = config or AlignConfig()
    if len(candidates) < 2:
        raise XasflowError("a mixture needs at least two candidate structures")
    energies = np.asarray(candidates[0].energies, float)
    if any(not np.allclose(c.energies, energies) for c in candidates):
        raise XasflowError("mixture candidates must share one energy grid (same element)")
    check_coverage(measured, energies, element, config)
    basis = np.stack([np.asarray(c.spectrum, float) for c in candidates], axis=1)  # (n_points, n_candidates)
    centre, bound = config.centre(element), config.bound(element)
    low, high = centre - bound, centre + bound
    sigmas = (config.sigma,) if config.sigma is not None else tuple(s for s in _SIGMA_GRID if s <= config.sigma_max)

    def broadened(sigma: float) -> np.ndarray:
        return np.stack([broaden(basis[:, j], sigma) for j in range(basis.shape[1])], axis=1)

    best = (np.inf, centre, sigmas[0], np.full(basis.shape[1], 1.0 / basis.shape[1]))
    cache = {s: broadened(s) for s in sigmas}
    for shift in np.arange(low, high + 1e-9, E_STEP):
        target = measured_on(measured, energies + shift)
        for sigma, matrix in cache.items():
            coefficients, norm = nnls(matrix, target)
            if norm**2 < best[0]:
                best = (norm**2, float(shift), sigma, coefficients)
    fit_sigma = config.sigma is None
    n = basis.shape[1]

    def unpack(p: np.ndarray) -> tuple[np.ndarray, float, float]:
        return p[:n], float(p[n]), float(p[n + 1]) if fit_sigma else float(config.sigma)

    def residual(p: np.ndarray) -> np.ndarray:
        coefficients, shift, sigma = unpack(p)
        return measured_on(measured, energies + shift) - broadened(sigma) @ coefficients

    start = [*best[3], best[1]] + ([best[2]] if fit_sigma else [])
    lower = [0.0] * n + [low] + ([0.0] if fit_sigma else [])
    upper = [np.inf] * n + [high] + ([config.sigma_max] if fit_sigma else [])
    start = np.clip(start, np.array(lower) + 1e-9, np.array(upper) - 1e-9)
    solution = least_squares(residual, start, bounds=(lower, upper), diff_step=1e-4)
    coefficients, shift, sigma = unpack(solution.x)
    dof = max(len(energies) - len(solution.x), 1)
    variance = float(np.sum(solution.fun**2)) / dof
    jacobian = solution.jac
    covariance = np.linalg.pinv(jacobian.T @ jacobian) * variance
    total = float(coefficients.sum())
    if total <= 0:
        raise XasflowError(f"{measured.source}: the mixture fit found no positive combination")
    fractions = coefficients / total
    gradient = (np.eye(n) - fractions[:, None]) / total  # d w_i / d c_j = (δ_ij - w_i) / S
    fraction_cov = gradient @ covariance[:n, :n] @ gradient.T
    target = measured_on(measured, energies + shift)
    model = broadened(sigma) @ coefficients
    return MixtureResult(
        candidates=list(candidates),
        fractions=fractions,
        fraction_std=np.sqrt(np.clip(np.diag(fraction_cov), 0, None)),
        shift=shift,
        shift_std=float(np.sqrt(max(covariance[n, n], 0.0))),
        sigma=sigma,
        scale=total,
        energies=energies,
        measured=target,
        model=model,
        r_factor=1.0 - rfactor_similarity(target, model),
    )
