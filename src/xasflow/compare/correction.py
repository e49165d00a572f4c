"""Physically parameterised corrections of predicted spectra before matching (measured-vs-FEFF gap).

Two kinds. Broadening that grows with energy above the grid start, ``σ(E) = k · (E − E_start)``
(eV), on top of the constant σ that the alignment fits: the photoelectron's inelastic losses grow
with kinetic energy, which FEFF's self-energy may underestimate. And an edge offset that depends on
the absorber's formal oxidation state (:class:`EdgeShiftModel`): FEFF's chemical shift between
oxidation states is not the measured one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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


def formal_oxidation_state(structure, element: str) -> float | None:
    """Mean formal oxidation state of ``element`` in a pymatgen ``Structure`` (or a ``Composition``).

    A structure's valences come from its bond lengths (pymatgen's ``BVAnalyzer``, right for e.g.
    siderite FeCO3 where the composition alone suggests Fe(III)); when that fails, and for a bare
    composition, from pymatgen's most likely charge-balanced guess. Elemental solids give 0. ``None``
    when neither finds an assignment (e.g. a hydrate whose H atoms are not in the structure).
    """
    from pymatgen.core import Composition

    composition = getattr(structure, "composition", None) or Composition(structure)
    if element not in composition:
        raise ValueError(f"{composition.reduced_formula} contains no {element}")
    if len(composition.elements) == 1:
        return 0.0
    if hasattr(structure, "sites"):
        from pymatgen.analysis.bond_valence import BVAnalyzer

        try:
            valences = BVAnalyzer().get_valences(structure)
        except ValueError:  # "Valences cannot be assigned": fall back on the composition
            pass
        else:
            own = [v for site, v in zip(structure, valences, strict=True) if site.specie.symbol == element]
            return float(np.mean(own))
    guesses = composition.oxi_state_guesses()
    return float(guesses[0][element]) if guesses else None


@dataclass(frozen=True)
class EdgeShiftModel:
    """Measured-minus-FEFF edge shift (eV) linear in the absorber's formal oxidation state.

    FEFF's chemical shift between oxidation states differs from the measured one (for Fe the
    measured Fe(II)→Fe(III) shift is about 1.7 eV larger than the model's), so a single per-element
    offset lets a candidate of the wrong oxidation state slide onto the measured edge.
    ``offset(ox) = intercept + slope · ox``; ``bound`` is the half-width of the fitted shift range
    around it.
    """

    intercept: float
    slope: float
    bound: float

    @classmethod
    def fit(cls, oxidation_states, shifts, bound: float) -> EdgeShiftModel:
        """Least-squares line through ``(oxidation state, own-compound shift)`` pairs.

        With fewer than two distinct oxidation states the slope is 0 and the intercept the median shift.
        """
        ox = np.asarray(oxidation_states, float)
        shift = np.asarray(shifts, float)
        if ox.size == 0:
            raise ValueError("no (oxidation state, shift) pairs to fit")
        if np.unique(ox).size < 2:
            return cls(float(np.median(shift)), 0.0, bound)
        slope, intercept = np.polyfit(ox, shift, 1)
        return cls(float(intercept), float(slope), bound)

    def offset(self, oxidation_state: float) -> float:
        """Centre of the shift range (eV) for an absorber in ``oxidation_state``."""
        return self.intercept + self.slope * oxidation_state


#: Edge offset by oxidation state (``match --offset-rule oxidation``), fitted on all development
#: compounds of the element with the shipped zoo (``python scripts/match_study.py``,
#: results/matching/results.md, "edge offset by oxidation state"; refitted with the Fe/Mn models of
#: 129 / 128 sites, 2026-12-07). Only Fe and Mn: leave-one-compound-out the correction raises top-1 for Fe
#: (2 -> 3 of 15) and Mn (0 -> 1 of 6; with the 101 / 102-site models Fe 2 -> 4, Mn 1 -> 3; with the 79 / 93-site
#: models Fe 0 -> 0, Mn 1 -> 3; with the 74 / 73-site models Mn 3 -> 4; with the 59 / 58-site models Fe 1 -> 3 too)
#: but loses on Cu, so it is an option, not the default.
EDGE_SHIFT_MODELS: dict[str, EdgeShiftModel] = {
    "Fe": EdgeShiftModel(intercept=-5.17, slope=1.55, bound=2.0),
    "Mn": EdgeShiftModel(intercept=-1.18, slope=0.10, bound=1.5),
}
