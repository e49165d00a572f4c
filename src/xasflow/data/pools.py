"""Which pool a campaign material comes from: the shared structures or the AMCSD minerals.

The Fe/Mn campaign simulates the shared structures (material ids ``mp-…``, ``mvc-…``) and minerals drawn from
the American Mineralogist Crystal Structure Database (``scripts/mineral_pool.py``), whose material ids carry
:data:`MINERAL_PREFIX`. Packaging, training reports and model cards count sites by pool with these names.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: Material-id prefix of the AMCSD minerals (``amcsd-00018``: AMCSD entry 18).
MINERAL_PREFIX = "amcsd-"
SHARED = "shared structures"
MINERALS = "minerals (AMCSD)"


def pool_of(material_id: str) -> str:
    """:data:`MINERALS` for an AMCSD mineral, else :data:`SHARED`."""
    return MINERALS if str(material_id).startswith(MINERAL_PREFIX) else SHARED


def is_mineral(material_ids: Iterable[str]) -> np.ndarray:
    """Boolean mask: which of ``material_ids`` are AMCSD minerals."""
    return np.char.startswith(np.asarray(list(material_ids), dtype=str), MINERAL_PREFIX)
