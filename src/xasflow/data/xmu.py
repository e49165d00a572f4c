"""FEFF ``xmu.dat`` reading and the published processing to a 141-point spectrum."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xasflow.constants import E_WINDOW, PUBLISHED_SCALE, energy_grid
from xasflow.errors import InputError

#: Bohr radius in Å, CODATA 2018. The published spectra were made with scipy's CODATA 2018
#: value; scipy >= 1.15 carries CODATA 2022 (0.529177210544), which shifts every spectrum by
#: 1.4e-9 relative, so the value is pinned to reproduce the published rows exactly.
BOHR_ANGSTROM: float = 0.529177210903
_XSEDGE_MARK = "xsedge+ 50, used to normalize mu"
#: FEFF's first energy lies up to ~5.6 eV above the window start in the published Cu data (the
#: processing clamps there); data starting later than this miss part of the window.
MAX_START_GAP = 10.0


@dataclass(frozen=True)
class XmuData:
    """The columns of an ``xmu.dat`` that the processing uses."""

    omega: np.ndarray
    mu: np.ndarray
    xsedge50: float
    source: str


def read_xmu(path: str | Path) -> XmuData:
    """Parse an ``xmu.dat``: absolute energy (column 1), mu (column 4) and the xsedge+50 norm.

    Raises
    ------
    InputError
        If the file is unreadable, lacks the normalisation header or has malformed rows.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read xmu.dat ({exc})") from exc
    xsedge50: float | None = None
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if _XSEDGE_MARK in stripped:
                try:
                    xsedge50 = float(stripped.split()[-1])
                except ValueError as exc:
                    raise InputError(path, f"line {number}: unreadable xsedge+50 value") from exc
            continue
        parts = stripped.split()
        if len(parts) < 6:
            raise InputError(path, f"line {number}: expected 6 columns, found {len(parts)} (truncated file?)")
        try:
            rows.append([float(parts[0]), float(parts[3])])
        except ValueError as exc:
            raise InputError(path, f"line {number}: non-numeric value") from exc
    if xsedge50 is None:
        raise InputError(path, f"missing header line '{_XSEDGE_MARK}'")
    if not rows:
        raise InputError(path, "no data rows")
    data = np.asarray(rows)
    if not np.all(np.isfinite(data)):
        raise InputError(path, "non-finite values in data rows")
    return XmuData(omega=data[:, 0], mu=data[:, 1], xsedge50=xsedge50, source=str(path))


def process_xmu(xmu: XmuData, element: str) -> np.ndarray:
    """The published spectrum (×1000 units) on the element's 141-point grid.

    Keeps rows strictly inside the window with positive mu, rescales mu by
    ``xsedge50 / a0**2`` and interpolates linearly, clamped at the ends.

    Raises
    ------
    InputError
        If the data end before the window does (a file cut at a line end) or start more
        than :data:`MAX_START_GAP` eV after it, or fewer than 2 points are usable.
    """
    grid = energy_grid(element)
    start = grid[0]
    first, last = float(xmu.omega.min()), float(xmu.omega.max())
    if last < grid[-1] or first > start + MAX_START_GAP:
        raise InputError(
            xmu.source,
            f"data cover {first:.3f}..{last:.3f} eV, not the {element} window {start:.3f}..{grid[-1]:.3f} eV "
            "(truncated xmu.dat?)",
        )
    keep = (xmu.omega > start) & (xmu.omega < start + E_WINDOW) & (xmu.mu > 0)
    if keep.sum() < 2:
        raise InputError(xmu.source, f"fewer than 2 points with mu > 0 inside the {element} window")
    mu = xmu.mu[keep] * xmu.xsedge50 / BOHR_ANGSTROM**2
    return PUBLISHED_SCALE * np.interp(grid, xmu.omega[keep], mu)


def spectrum_from_xmu(path: str | Path, element: str) -> np.ndarray:
    """Read and process one ``xmu.dat``."""
    return process_xmu(read_xmu(path), element)
