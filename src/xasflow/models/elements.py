"""Element codes appended to the site features of element-conditioned models.

Two encodings: ``onehot`` (one slot per training element; a new element has no slot) and ``descriptors``
(a few physical numbers per element, so a model can place an element it never saw between the ones it did).
"""

from __future__ import annotations

import numpy as np

from xasflow.errors import XasflowError

ENCODINGS = ("onehot", "descriptors")

#: Atomic number, K-edge energy (eV, Bearden & Burr tables) and 3d-electron count of the neutral atom.
ELEMENT_PROPERTIES: dict[str, tuple[int, float, int]] = {
    "Ti": (22, 4966.4, 2),
    "V": (23, 5465.1, 3),
    "Cr": (24, 5989.2, 5),
    "Mn": (25, 6539.0, 5),
    "Fe": (26, 7112.0, 6),
    "Co": (27, 7708.9, 7),
    "Ni": (28, 8332.8, 8),
    "Cu": (29, 8980.5, 10),
}
DESCRIPTOR_NAMES = ("atomic_number", "k_edge_ev", "d_electrons")
N_DESCRIPTORS = len(DESCRIPTOR_NAMES)
# Centre and scale so every descriptor spans about [-1, 1] over Ti..Cu (networks see standardised inputs).
_CENTRE = np.array([25.5, 6970.0, 6.0])
_SCALE = np.array([3.5, 2000.0, 4.0])


def check_encoding(encoding: str) -> str:
    """The encoding name, else :class:`XasflowError`."""
    if encoding not in ENCODINGS:
        raise XasflowError(f"unknown element encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    return encoding


def element_descriptors(element: str) -> np.ndarray:
    """Scaled ``(atomic number, K-edge energy, d count)`` of one element, shape ``(3,)``."""
    try:
        raw = np.array(ELEMENT_PROPERTIES[element], dtype=np.float64)
    except KeyError:
        raise XasflowError(f"no element descriptors for {element!r}") from None
    return (raw - _CENTRE) / _SCALE


def descriptor_matrix(elements: list[str]) -> np.ndarray:
    """Descriptors of each row's element, shape ``(n, 3)``."""
    table = {e: element_descriptors(e) for e in set(elements)}
    return np.stack([table[e] for e in elements]) if elements else np.zeros((0, N_DESCRIPTORS))


def code_width(encoding: str, conditioning: tuple[str, ...]) -> int:
    """Number of input columns the element code adds (0 for an unconditioned model)."""
    if not conditioning:
        return 0
    return len(conditioning) if check_encoding(encoding) == "onehot" else N_DESCRIPTORS
