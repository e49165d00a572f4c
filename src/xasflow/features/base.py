"""The site-featurizer interface and the input checks every featurizer shares."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from xasflow.errors import InputError


@runtime_checkable
class SiteFeaturizer(Protocol):
    """Maps sites of a crystal structure to fixed-width feature vectors.

    Attributes
    ----------
    name
        Registry name (``"m3gnet"``, ``"soap"``, ...).
    version
        Changes whenever the features for the same input would change (weights,
        settings); part of the on-disk cache key.
    dim
        Width of a feature vector.
    """

    name: str
    version: str
    dim: int

    def featurize(self, structure, sites: Sequence[int], source: str = "structure") -> np.ndarray:
        """Features of ``sites`` of ``structure``, shape ``(len(sites), dim)``."""
        ...


def check_structure(structure, source: str, allowed_elements: Iterable[str] | None = None) -> None:
    """Raise ``InputError`` for a structure no featurizer can use.

    Parameters
    ----------
    structure
        pymatgen ``Structure``, refused by :func:`xasflow.io.structures.check_structure` when it is a
        ``Molecule``, disordered or physically impossible.
    source
        Name of the input, used in the message.
    allowed_elements
        Elements the featurizer knows (e.g. the 89 of M3GNet); ``None`` = any.
    """
    from xasflow.io.structures import check_structure as check_crystal

    check_crystal(structure, source)
    if allowed_elements is not None:
        allowed = set(allowed_elements)
        unknown = sorted({site.specie.symbol for site in structure} - allowed)
        if unknown:
            raise InputError(
                source, f"element(s) {', '.join(unknown)} not among the {len(allowed)} elements this featurizer knows"
            )


def check_sites(structure, sites: Sequence[int], source: str) -> list[int]:
    """Site indices as a list of ints; raises ``InputError`` if one is out of range."""
    out = []
    for site in sites:
        index = int(site)
        if not 0 <= index < len(structure):
            raise InputError(source, f"site {index} is out of range (structure has {len(structure)} sites)")
        out.append(index)
    return out
