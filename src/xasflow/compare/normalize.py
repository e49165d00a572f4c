"""Edge-step normalisation of measured spectra (xraylarch's ``pre_edge``) and the checks that go with it.

A measurement is normalised over its whole scan, as in Athena: E0 at the maximum of dμ/dE, a
pre-edge line subtracted, divided by the edge step of a post-edge polynomial, and flattened (the
post-edge curvature removed). A prediction covers only 35 eV from its element's grid start, too
short for that procedure; it is already in edge-step units (FEFF's μ normalised at +50 eV), so
the two are compared on the predicted window with a fitted amplitude scale (``align``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from xasflow.errors import InputError, XasflowError, check_element
from xasflow.io.measured import MeasuredSpectrum

#: Largest distance (eV) between a spectrum's E0 and the tabulated K-edge energy of its element.
#: Neighbouring 3d K edges are 500-1000 eV apart; chemical shifts are below 25 eV.
EDGE_TOLERANCE = 60.0

#: The scan must start at least this far (eV) below E0 for a pre-edge line.
MIN_PRE_EDGE = 20.0


@dataclass(frozen=True)
class NormalizedSpectrum:
    """A measured spectrum after edge-step normalisation; ``flat`` is what is compared."""

    source: str
    energy: np.ndarray
    mu: np.ndarray
    norm: np.ndarray
    flat: np.ndarray
    e0: float
    edge_step: float
    pre_slope: float
    pre_offset: float
    element: str | None = None
    name: str = ""
    reference_flat: np.ndarray | None = None  # the reference foil's flattened μ on ``energy`` (if measured)
    reference_e0: float | None = None


def k_edge_energy(element: str) -> float:
    """Tabulated K-edge energy (eV) of ``element`` (xraydb, the elemental edge)."""
    import xraydb

    return float(xraydb.xray_edge(element, "K").energy)


def normalize(measured: MeasuredSpectrum, element: str | None = None) -> NormalizedSpectrum:
    """Edge-step normalise a measured spectrum with larch's ``pre_edge``.

    Parameters
    ----------
    measured
        The raw spectrum.
    element
        Absorbing element; checked against the file's metadata and the edge position.

    Raises
    ------
    InputError
        Another element's edge, no pre-edge region, or a failed normalisation.
    """
    source = measured.source
    if element is not None:
        check_element(element)
        if measured.element and measured.element.lower() != element.lower():
            raise InputError(source, f"file is a {measured.element} spectrum (its header), not {element}")
        if measured.edge and measured.edge.upper() not in ("K", ""):
            raise InputError(source, f"file is a {measured.edge} edge; only K edges are predicted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from larch import Group
            from larch.xafs import pre_edge
    except ImportError as exc:
        raise XasflowError("normalisation needs xraylarch: pip install 'xasflow[experiment]'") from exc
    mu = np.asarray(measured.mu, float)
    if mu.size and np.ptp(mu) <= 1e-12 * max(1.0, float(np.max(np.abs(mu)))):
        what = "all zero" if not np.any(mu) else "constant"
        raise InputError(source, f"μ is {what}: no absorption edge (wrong column? give --columns energy=N,mu=M)")
    group = Group(energy=np.asarray(measured.energy, float), mu=mu)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            pre_edge(group)
    except Exception as exc:
        raise InputError(source, f"edge-step normalisation failed ({exc})") from exc
    e0, step = float(group.e0), float(group.edge_step)
    if element is not None:
        edge = k_edge_energy(element)
        if abs(e0 - edge) > EDGE_TOLERANCE:
            raise InputError(
                source, f"absorption edge at {e0:.0f} eV is not the {element} K edge ({edge:.0f} eV): another element?"
            )
    if measured.energy[0] > e0 - MIN_PRE_EDGE:
        raise InputError(
            source, f"scan starts at {measured.energy[0]:.0f} eV, less than {MIN_PRE_EDGE:.0f} eV below E0 {e0:.0f} eV"
        )
    if not np.isfinite(step) or step <= 0:
        raise InputError(source, f"no absorption edge found (edge step {step:g})")
    reference_flat, reference_e0 = _reference(measured, element)
    return NormalizedSpectrum(
        source=source,
        energy=np.asarray(group.energy, float),
        mu=np.asarray(group.mu, float),
        norm=np.asarray(group.norm, float),
        flat=np.asarray(group.flat, float),
        e0=e0,
        edge_step=step,
        pre_slope=float(getattr(group, "pre_slope", np.nan)),
        pre_offset=float(getattr(group, "pre_offset", np.nan)),
        element=element or measured.element,
        name=measured.name,
        reference_flat=reference_flat,
        reference_e0=reference_e0,
    )


def _reference(measured: MeasuredSpectrum, element: str | None) -> tuple[np.ndarray | None, float | None]:
    """Normalised reference-foil channel and its E0, or ``(None, None)``.

    The channel is dropped (not an error: it is optional) when it has no edge of ``element``
    within ``EDGE_TOLERANCE`` of the tabulated K edge, e.g. a foil of another metal or an empty channel.
    """
    if measured.reference_mu is None:
        return None, None
    from larch import Group
    from larch.xafs import pre_edge

    group = Group(energy=np.asarray(measured.energy, float), mu=np.asarray(measured.reference_mu, float))
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            pre_edge(group)
    except Exception:
        return None, None
    e0, step = float(group.e0), float(group.edge_step)
    if not np.isfinite(step) or step <= 0.05 or not np.all(np.isfinite(group.flat)):
        return None, None
    if element is not None and abs(e0 - k_edge_energy(element)) > EDGE_TOLERANCE:
        return None, None
    return np.asarray(group.flat, float), e0
