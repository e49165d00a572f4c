"""Calibrating the ensemble spread into honest intervals, from held-out residuals.

The raw spread of the members is overconfident (on held-back Cu data ±2 member-std covered 35 % of the
points). Per energy point we fit a scale ``s_j`` such that ``|residual| ≤ s_j · σ`` holds for 68.27 % of
held-out rows (split-conformal on the normalised residual ``|r| / σ``), and one global multiple ``z95`` of
the calibrated std that covers 95.45 % (residuals are heavier-tailed than Gaussian, so ``z95`` is usually
above 2). ``σ`` is the member std with a small floor, so points where all members agree do not get
zero-width intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xasflow.data.splits import grouped_split
from xasflow.errors import XasflowError

LEVEL_68 = 0.6827
LEVEL_95 = 0.9545
#: Floor of the member std, as a fraction of its median over the calibration rows and points.
FLOOR_FRACTION = 0.05


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration: ``std = scale * sqrt(member_std**2 + floor**2)``; 95 % interval ``± z95 · std``."""

    scale: np.ndarray
    z95: float
    floor: float

    def std(self, member_std: np.ndarray) -> np.ndarray:
        """Calibrated standard deviation ``(n, points)``."""
        return self.scale * np.sqrt(np.asarray(member_std) ** 2 + self.floor**2)


def fit_calibration(residual: np.ndarray, member_std: np.ndarray) -> Calibration:
    """Fit per-energy scales and ``z95`` on held-out ``residual = target − mean`` and member std.

    Raises
    ------
    XasflowError
        Fewer than 10 rows, or shapes that differ.
    """
    residual = np.asarray(residual, dtype=np.float64)
    member_std = np.asarray(member_std, dtype=np.float64)
    if residual.shape != member_std.shape or residual.ndim != 2:
        raise XasflowError(f"residuals {residual.shape} and stds {member_std.shape} must be equal (n, points)")
    if len(residual) < 10:
        raise XasflowError(f"calibration needs at least 10 held-out rows, got {len(residual)}")
    floor = max(FLOOR_FRACTION * float(np.median(member_std)), 1e-9)
    sigma = np.sqrt(member_std**2 + floor**2)
    ratio = np.abs(residual) / sigma
    scale = np.quantile(ratio, LEVEL_68, axis=0)
    scale = np.maximum(scale, 1e-6)
    z95 = float(np.quantile(ratio / scale, LEVEL_95))
    return Calibration(scale=scale, z95=z95, floor=floor)


def coverage(residual: np.ndarray, std: np.ndarray, z: float = 1.0) -> float:
    """Share of points with ``|residual| ≤ z · std``."""
    return float(np.mean(np.abs(residual) <= z * np.asarray(std)))


@dataclass(frozen=True)
class CoverageReport:
    """Coverage of calibrated intervals on rows the calibration was not fitted on."""

    coverage_68: float
    coverage_95: float
    rows: int
    materials: int


def cross_fitted_coverage(
    residual: np.ndarray, member_std: np.ndarray, groups: np.ndarray, seed: int = 0
) -> CoverageReport:
    """Coverage measured honestly: fit on one material-grouped half of the rows, test on the other, and swap.

    Parameters
    ----------
    groups
        Material id of each row (rows of one material stay in one half).
    """
    residual = np.asarray(residual)
    member_std = np.asarray(member_std)
    groups = np.asarray(groups)
    halves = grouped_split(groups, {"a": 0.5, "b": 0.5}, seed)
    hit68 = hit95 = 0.0
    total = 0
    for fit_half, test_half in (("a", "b"), ("b", "a")):
        fit_rows, test_rows = halves == fit_half, halves == test_half
        if fit_rows.sum() < 10 or test_rows.sum() == 0:
            raise XasflowError("too few held-out rows to cross-fit the calibration (need 10 per half)")
        cal = fit_calibration(residual[fit_rows], member_std[fit_rows])
        std = cal.std(member_std[test_rows])
        n = residual[test_rows].size
        hit68 += coverage(residual[test_rows], std) * n
        hit95 += coverage(residual[test_rows], std, cal.z95) * n
        total += n
    return CoverageReport(hit68 / total, hit95 / total, len(residual), len(set(groups.tolist())))


def reliability_curve(
    residual: np.ndarray, std: np.ndarray, levels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Observed vs nominal coverage of Gaussian intervals ``± Φ⁻¹((1+p)/2) · std`` (a reliability diagram)."""
    from scipy.stats import norm

    levels = np.linspace(0.05, 0.99, 20) if levels is None else np.asarray(levels)
    z = norm.ppf((1 + levels) / 2)
    observed = np.array([coverage(residual, std, float(zi)) for zi in z])
    return levels, observed
