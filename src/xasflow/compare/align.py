"""Align a predicted spectrum on a normalised measurement: energy shift, Gaussian broadening, scale.

The model of the measurement on the predicted window is ``scale * G_sigma[prediction](E - shift)``:
the prediction's 141 energies ``E_k`` (FEFF's absolute scale) are compared with the measured
flattened μ at ``E_k + shift``. The shift is fitted within ``offset ± shift_bound``, where the
offset is the element's default (``DEFAULT_OFFSET``: the difference between the beamline and the
FEFF energy scales, measured on the reference spectra, see docs/experiment.md). All parameters
are fitted by least squares (grid search, then a bounded refinement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xasflow.compare.normalize import NormalizedSpectrum
from xasflow.constants import E_STEP
from xasflow.errors import InputError, XasflowError

#: Measured minus FEFF energy scale (eV) per element. Cu and Cr: the median fitted shift of the
#: development reference spectra against their own compound's prediction (shift range ±20 eV).
#: Elements without measured references: tabulated K edge - grid start + (-1.48 eV), the mean
#: residual of that rule on Cu and Cr (docs/experiment.md); their shift range is wider.
DEFAULT_OFFSET: dict[str, float] = {
    "Ti": 0.02,
    "V": -0.58,
    "Cr": -0.5,
    "Mn": -0.37,
    "Fe": -0.71,
    "Co": -1.76,
    "Ni": -0.66,
    "Cu": -6.8,
}

#: Half-width (eV) of the fitted shift range: beamline calibration and FEFF's chemical-shift
#: errors (a few eV) for the measured elements, plus the rule's ±1.2 eV error elsewhere.
DEFAULT_SHIFT_BOUND: dict[str, float] = {el: (3.0 if el in ("Cr", "Cu") else 4.5) for el in DEFAULT_OFFSET}

#: How a shift range is centred without an explicit offset (``AlignConfig.offset_rule``).
OFFSET_RULES = ("oxidation", "element")

_SIGMA_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


@dataclass(frozen=True)
class AlignConfig:
    """How a prediction is laid on a measurement.

    Parameters
    ----------
    offset
        Centre of the shift range (eV); ``None`` = ``DEFAULT_OFFSET`` of the element.
    shift_bound
        Half-width (eV) of the fitted shift range around ``offset``; ``None`` = the element's default.
    sigma
        Gaussian broadening (eV, standard deviation) applied to the prediction; ``None`` = fitted
        within ``[0, sigma_max]``.
    sigma_max
        Upper bound of the fitted broadening (eV).
    scale_bounds
        Range of the fitted amplitude scale.
    offset_rule
        How the shift range is centred when ``offset`` is not given: ``element`` (default) on
        ``DEFAULT_OFFSET``; ``oxidation`` on the edge offset of the candidate's formal oxidation state
        where the element has a fitted :data:`~xasflow.compare.correction.EDGE_SHIFT_MODELS` entry
        (half-width from that model unless ``shift_bound`` is given), else on ``DEFAULT_OFFSET``.
    window_start
        Compare only from this far (eV) above the prediction's first energy (e.g. to leave out the
        pre-edge, where FEFF is weakest); 0 = the whole 35 eV window.
    weighted
        Fit by maximum Gaussian likelihood with per-point variance ``std² + tau²`` (the prediction's
        calibrated std, broadened like the spectrum, and a profiled floor ``tau``) instead of least
        squares; needs the prediction's std (otherwise it is least squares).
    """

    offset: float | None = None
    shift_bound: float | None = None
    sigma: float | None = None
    sigma_max: float = 3.0
    scale_bounds: tuple[float, float] = (0.5, 2.0)
    weighted: bool = False
    window_start: float = 0.0
    offset_rule: str = "element"

    def __post_init__(self) -> None:
        if self.offset_rule not in OFFSET_RULES:
            raise XasflowError(f"unknown offset rule {self.offset_rule!r}; use one of {', '.join(OFFSET_RULES)}")

    def centre(self, element: str) -> float:
        """The shift range's centre (eV) for ``element``."""
        return DEFAULT_OFFSET[element] if self.offset is None else float(self.offset)

    def bound(self, element: str) -> float:
        """The shift range's half-width (eV) for ``element``."""
        return DEFAULT_SHIFT_BOUND[element] if self.shift_bound is None else float(self.shift_bound)


@dataclass(frozen=True)
class Alignment:
    """A fitted alignment; ``measured`` and ``model`` are on ``energies + shift`` (measured scale)."""

    shift: float
    sigma: float
    scale: float
    energies: np.ndarray
    measured: np.ndarray
    model: np.ndarray
    model_std: np.ndarray | None
    shift_at_bound: bool
    tau: float | None = None  # the likelihood fit's profiled floor (normalised μ), None for least squares

    @property
    def measured_energies(self) -> np.ndarray:
        """The comparison energies on the measured (beamline) scale."""
        return self.energies + self.shift

    @property
    def residual(self) -> np.ndarray:
        return self.measured - self.model


def broaden(spectrum: np.ndarray, sigma: float, step: float = E_STEP) -> np.ndarray:
    """Gaussian broadening of a spectrum on a uniform grid (``sigma`` in eV)."""
    from scipy.ndimage import gaussian_filter1d

    if sigma <= 1e-3:
        return np.asarray(spectrum, float).copy()
    return gaussian_filter1d(np.asarray(spectrum, float), sigma / step, mode="nearest")


def window_range(energies: np.ndarray, element: str, config: AlignConfig) -> tuple[float, float]:
    """Measured energies (eV) the comparison may touch for any allowed shift."""
    centre, bound = config.centre(element), config.bound(element)
    return float(energies[0] + centre - bound), float(energies[-1] + centre + bound)


def check_coverage(measured: NormalizedSpectrum, energies: np.ndarray, element: str, config: AlignConfig) -> None:
    """``InputError`` when the scan does not cover the comparison window."""
    low, high = window_range(energies, element, config)
    if measured.energy[0] > low or measured.energy[-1] < high:
        raise InputError(
            measured.source,
            f"scan covers {measured.energy[0]:.0f}-{measured.energy[-1]:.0f} eV; the {element} comparison "
            f"window needs {low:.0f}-{high:.0f} eV",
        )


def measured_on(measured: NormalizedSpectrum, energies: np.ndarray) -> np.ndarray:
    """Flattened measured μ interpolated at ``energies`` (measured scale)."""
    return np.interp(energies, measured.energy, measured.flat)


def _weighted_fit(
    target: np.ndarray, shape: np.ndarray, sd: np.ndarray, bounds: tuple[float, float]
) -> tuple[float, float, float]:
    """Best ``(negative log-likelihood, scale, tau)`` for one shift and broadening.

    For every floor ``tau`` of ``TAU_GRID`` the weighted least-squares scale is closed-form; the
    floor with the highest likelihood is kept. ``sd`` is on the prediction's scale (not multiplied
    by the fitted scale, which stays near 1), so the scale stays linear.
    """
    from xasflow.compare.score import TAU_GRID

    variance = sd[None, :] ** 2 + TAU_GRID[:, None] ** 2
    weights = 1.0 / variance
    denominator = (weights * shape * shape).sum(axis=1)
    scales = np.clip((weights * target * shape).sum(axis=1) / np.where(denominator > 0, denominator, 1.0), *bounds)
    residual = target[None, :] - scales[:, None] * shape[None, :]
    nll = 0.5 * (residual**2 * weights + np.log(2 * np.pi * variance)).sum(axis=1)
    best = int(np.argmin(nll))
    return float(nll[best]), float(scales[best]), float(TAU_GRID[best])


def _best_scale(target: np.ndarray, shape: np.ndarray, bounds: tuple[float, float]) -> float:
    denominator = float(shape @ shape)
    scale = float(target @ shape) / denominator if denominator > 0 else 1.0
    return float(np.clip(scale, *bounds))


def align(
    measured: NormalizedSpectrum,
    energies: np.ndarray,
    spectrum: np.ndarray,
    element: str,
    config: AlignConfig | None = None,
    std: np.ndarray | None = None,
) -> Alignment:
    """Fit shift, broadening and scale of one prediction to a normalised measurement.

    Parameters
    ----------
    measured
        Output of :func:`~xasflow.compare.normalize.normalize`.
    energies, spectrum
        The prediction (absolute FEFF energies, eV) and its values.
    element
        Absorbing element (selects the default offset).
    config
        Bounds and fixed values; default :class:`AlignConfig`.
    std
        Optional predicted standard deviation, carried through broadening and scale.
    """
    from scipy.optimize import least_squares

    config = config or AlignConfig()
    energies = np.asarray(energies, float)
    spectrum = np.asarray(spectrum, float)
    if energies.shape != spectrum.shape or energies.ndim != 1:
        raise XasflowError("prediction energies and spectrum must be 1-D arrays of the same length")
    if config.window_start > 0:
        keep = energies >= energies[0] + config.window_start
        energies, spectrum = energies[keep], spectrum[keep]
        std = None if std is None else np.asarray(std, float)[keep]
    check_coverage(measured, energies, element, config)
    centre, bound = config.centre(element), config.bound(element)
    low, high = centre - bound, centre + bound
    sigmas = (config.sigma,) if config.sigma is not None else tuple(s for s in _SIGMA_GRID if s <= config.sigma_max)
    broadened = {s: broaden(spectrum, s) for s in sigmas}
    weighted = config.weighted and std is not None
    std_broadened = {s: broaden(np.asarray(std, float), s) for s in sigmas} if weighted else {}

    best = (np.inf, centre, sigmas[0], 1.0, None)
    for shift in np.arange(low, high + 1e-9, E_STEP):
        target = measured_on(measured, energies + shift)
        for sigma, shape in broadened.items():
            if weighted:
                cost, scale, tau = _weighted_fit(target, shape, std_broadened[sigma], config.scale_bounds)
            else:
                scale, tau = _best_scale(target, shape, config.scale_bounds), None
                cost = float(np.sum((target - scale * shape) ** 2))
            if cost < best[0]:
                best = (cost, float(shift), sigma, scale, tau)
    cost0, shift0, sigma0, scale0, tau0 = best

    fit_sigma = config.sigma is None

    def unpack(p: np.ndarray) -> tuple[float, float, float]:
        return (float(p[0]), float(p[1]) if fit_sigma else float(config.sigma), float(p[-1]))

    def residual(p: np.ndarray) -> np.ndarray:
        shift, sigma, scale = unpack(p)
        difference = measured_on(measured, energies + shift) - scale * broaden(spectrum, sigma)
        if weighted:  # weighted residuals at the grid's floor; the floor is re-profiled below
            return difference / np.sqrt(broaden(np.asarray(std, float), sigma) ** 2 + tau0**2)
        return difference

    start = [shift0, sigma0, scale0] if fit_sigma else [shift0, scale0]
    lower = [low, 0.0, config.scale_bounds[0]] if fit_sigma else [low, config.scale_bounds[0]]
    upper = [high, config.sigma_max, config.scale_bounds[1]] if fit_sigma else [high, config.scale_bounds[1]]
    start = np.clip(start, np.array(lower) + 1e-9, np.array(upper) - 1e-9)
    solution = least_squares(residual, start, bounds=(lower, upper), diff_step=1e-3)
    shift, sigma, scale, tau = shift0, sigma0, scale0, tau0
    if weighted:
        refined = unpack(solution.x)
        target = measured_on(measured, energies + refined[0])
        sd = broaden(np.asarray(std, float), refined[1])
        cost, scale_r, tau_r = _weighted_fit(target, broaden(spectrum, refined[1]), sd, config.scale_bounds)
        if cost < cost0:
            shift, sigma, scale, tau = refined[0], refined[1], scale_r, tau_r
    elif solution.cost * 2 < cost0:
        shift, sigma, scale = unpack(solution.x)
    model = scale * broaden(spectrum, sigma)
    model_std = None if std is None else scale * broaden(np.asarray(std, float), sigma)
    return Alignment(
        shift=shift,
        sigma=sigma,
        scale=scale,
        energies=energies,
        measured=measured_on(measured, energies + shift),
        model=model,
        model_std=model_std,
        shift_at_bound=bool(min(shift - low, high - shift) < 0.05),
        tau=tau,
    )
