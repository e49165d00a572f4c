"""Physical and dataset constants shared by every module."""

from __future__ import annotations

import numpy as np

#: 3d transition metals whose K-edge XANES the project handles, in Z order.
ELEMENTS: tuple[str, ...] = ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu")

#: Simulation fidelities of the OmniXAS data.
FIDELITIES: tuple[str, ...] = ("FEFF", "VASP")

#: First energy (eV) of each element's spectrum window (OmniXAS, arXiv:2409.19552 Table S1).
E_START: dict[str, float] = {
    "Ti": 4964.504,
    "V": 5464.097,
    "Cr": 5989.168,
    "Mn": 6537.886,
    "Fe": 7111.23,
    "Co": 7709.282,
    "Ni": 8332.181,
    "Cu": 8983.173,
}

N_POINTS = 141
E_STEP = 0.25
E_WINDOW = 35.0

#: Features and spectra of the published data are stored multiplied by this.
#: Featurizer name of the published feature rows (M3GNet node features after the last block).
PUBLISHED_FEATURIZER = "m3gnet"
PUBLISHED_SCALE = 1000.0


def energy_grid(element: str) -> np.ndarray:
    """Absolute energy axis (eV) of an element's 141-point spectrum.

    The published VASP spectra share the FEFF window of the same element.
    """
    return E_START[element] + E_STEP * np.arange(N_POINTS)
