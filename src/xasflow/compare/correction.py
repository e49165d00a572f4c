"""Physically parameterised corrections of predicted spectra before matching (measured-vs-FEFF gap).

Only one kind is implemented: broadening that grows with energy above the grid start,
``σ(E) = k · (E − E_start)`` (eV), on top of the constant σ that the alignment fits. It models the
photoelectron's inelastic losses growing with kinetic energy, which FEFF's self-energy may
underestimate, and the measured spectra's features above the edge being damped more than the edge.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np


def energy_dependent_broadening(energies: np.ndarray, spectrum: np.ndarray, k: float) -> np.ndarray:
    """Gaussian broadening with ``σ(E) = k · (E − energies[0])`` (eV); ``k = 0`` returns the input.

    Each output point is the normalised Gaussian-weighted mean of the input around it with its
    own σ; points where σ is below a tenth of the grid step are kept as they are.
    """
    e = np.asarray(energies, float)
    y = np.asarray(spectrum, float)
    if k < 0:
        raise ValueError("k must be non-negative")
    if k == 0:
        return y.copy()
    sigma = k * (e - e[0])
    step = float(np.median(np.diff(e)))
    out = y.copy()
    wide = sigma > 0.1 * step
    if np.any(wide):
        d = e[wide][:, None] - e[None, :]
        weights = np.exp(-0.5 * (d / sigma[wide][:, None]) ** 2)
        out[wide] = (weights @ y) / weights.sum(axis=1)
    return out


def broaden_candidate(candidate, k: float):
    """The candidate with its spectrum (and std) broadened by :func:`energy_dependent_broadening`."""
    std = None if candidate.std is None else energy_dependent_broadening(candidate.energies, candidate.std, k)
    return replace(candidate, spectrum=energy_dependent_broadening(candidate.energies, candidate.spectrum, k), std=std)
