"""ACSF and SOAP site descriptors (dscribe) with the OmniXAS baseline settings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from xasflow.errors import InputError, XasflowError
from xasflow.features.base import check_sites, check_structure


@dataclass(frozen=True)
class ACSFSettings:
    """Published ACSF baseline: r_cut 6 Å, three G2 and nine G4 functions."""

    r_cut: float = 6.0
    g2_params: tuple[tuple[float, float], ...] = ((1.0, 0.0), (0.1, 0.0), (0.01, 0.0))  # (eta, Rs)
    g4_params: tuple[tuple[float, float, float], ...] = (  # (eta, zeta, lambda)
        (0.001, 1, -1), (0.001, 2, -1), (0.001, 4, -1),
        (0.01, 1, -1), (0.01, 2, -1), (0.01, 4, -1),
        (0.1, 1, -1), (0.1, 2, -1), (0.1, 3, -1),
    )  # fmt: skip


@dataclass(frozen=True)
class SOAPSettings:
    """Published SOAP baseline: r_cut 6 Å, n_max 3, l_max 3, sigma 1, GTO radial basis."""

    r_cut: float = 6.0
    n_max: int = 3
    l_max: int = 3
    sigma: float = 1.0
    rbf: str = "gto"


class _DscribeFeaturizer:
    """Common part: species handling, ASE conversion, versioning."""

    def __init__(self, species: Sequence[str], settings: ACSFSettings | SOAPSettings, name: str) -> None:
        from pymatgen.core import Element

        self.name = name
        self.settings = settings
        try:
            self.species: tuple[str, ...] = tuple(sorted(set(species), key=lambda s: Element(s).Z))
        except ValueError as exc:
            raise XasflowError(f"{name}: invalid species ({exc})") from exc
        if not self.species:
            raise XasflowError(f"the {name} featurizer needs at least one species")
        self._descriptor = self._build()
        settings = json.dumps({"settings": asdict(self.settings), "species": self.species}, sort_keys=True)
        self.version = f"dscribe/{hashlib.sha256(settings.encode()).hexdigest()[:12]}"
        self.dim = int(self._descriptor.get_number_of_features())

    @property
    def element_types(self) -> tuple[str, ...]:
        """Elements the descriptor covers (checked before featurizing)."""
        return self.species

    def _build(self):
        raise NotImplementedError  # each subclass builds its dscribe descriptor

    def featurize(self, structure, sites: Sequence[int], source: str = "structure") -> np.ndarray:
        """Descriptors of ``sites``, shape ``(len(sites), dim)``.

        Raises
        ------
        InputError
            Molecule, disordered structure, species not in ``species``, or site out of range.
        """
        from pymatgen.io.ase import AseAtomsAdaptor

        check_structure(structure, source, self.species)
        indices = check_sites(structure, sites, source)
        if not indices:
            return np.zeros((0, self.dim))
        try:
            atoms = AseAtomsAdaptor.get_atoms(structure)
            values = self._descriptor.create(atoms, centers=indices)
        except (ValueError, RuntimeError) as exc:
            raise InputError(source, f"{self.name} descriptor failed ({exc})") from exc
        return np.asarray(values, dtype=np.float64).reshape(len(indices), self.dim)


class ACSFFeaturizer(_DscribeFeaturizer):
    """Atom-centred symmetry functions of the absorbing site (dscribe ``ACSF``, periodic)."""

    def __init__(self, species: Sequence[str], settings: ACSFSettings | None = None) -> None:
        super().__init__(species, settings or ACSFSettings(), "acsf")

    def _build(self):
        from dscribe.descriptors import ACSF

        s = self.settings
        return ACSF(
            r_cut=s.r_cut,
            g2_params=[list(p) for p in s.g2_params],
            g4_params=[list(p) for p in s.g4_params],
            species=list(self.species),
            periodic=True,
        )


class SOAPFeaturizer(_DscribeFeaturizer):
    """Smooth overlap of atomic positions around the absorbing site (dscribe ``SOAP``, periodic)."""

    def __init__(self, species: Sequence[str], settings: SOAPSettings | None = None) -> None:
        super().__init__(species, settings or SOAPSettings(), "soap")

    def _build(self):
        from dscribe.descriptors import SOAP

        s = self.settings
        return SOAP(
            r_cut=s.r_cut,
            n_max=s.n_max,
            l_max=s.l_max,
            sigma=s.sigma,
            rbf=s.rbf,
            species=list(self.species),
            periodic=True,
        )
