"""Typed configuration of the spectrum MLP and the published per-set hidden widths."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from xasflow.constants import N_POINTS
from xasflow.errors import XasflowError
from xasflow.models.elements import check_encoding, code_width

#: Hidden widths of the published OmniXAS MLPs, per set (``{El}_{FID}``) and for the universal model.
REFERENCE_WIDTHS: dict[str, tuple[int, ...]] = {
    "Ti_FEFF": (600, 600, 450),
    "V_FEFF": (600, 550, 450),
    "Cr_FEFF": (450, 350, 150),
    "Mn_FEFF": (500, 400, 300),
    "Fe_FEFF": (450, 400, 450),
    "Co_FEFF": (600, 550, 450),
    "Ni_FEFF": (600, 300),
    "Cu_FEFF": (600, 600, 400),
    "Ti_VASP": (500, 600, 400),
    "Cu_VASP": (550, 600, 450),
    "universal": (500, 500, 550),
}

#: Output heads of the spectrum MLP.
HEADS = ("direct", "residual", "pca")

#: Width of the published M3GNet site features.
N_FEATURES = 64


def reference_widths(key: str) -> tuple[int, ...]:
    """Published hidden widths of a set (``"Cu_FEFF"``) or of ``"universal"``."""
    try:
        return REFERENCE_WIDTHS[key]
    except KeyError:
        raise XasflowError(f"no published architecture for {key!r}") from None


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one MLP: features (+ optional element one-hot) → hidden layers → 141 points.

    Parameters
    ----------
    hidden
        Widths of the hidden layers; each is Linear → BatchNorm → SiLU → Dropout.
    dropout
        Dropout probability after each hidden layer (the published recipe uses 0.5).
    n_features, n_outputs
        Input feature width and number of spectrum points.
    conditioning
        Elements whose one-hot code is appended to the input (empty: no conditioning).
    standardize
        Standardise the features with the training mean/std stored in the model.
    encoding
        Element code of a conditioned model: ``onehot`` (one slot per conditioning element) or
        ``descriptors`` (:mod:`xasflow.models.elements`; any element with descriptors can be coded).
    head
        Output head: ``direct`` (Linear → Softplus, published), ``residual`` (the element's mean training
        spectrum + a linear deviation) or ``pca`` (mean + ``n_components`` principal spectra of the deviations).
    n_components
        Number of principal spectra of the ``pca`` head.
    """

    hidden: tuple[int, ...]
    dropout: float = 0.5
    n_features: int = N_FEATURES
    n_outputs: int = N_POINTS
    conditioning: tuple[str, ...] = field(default_factory=tuple)
    standardize: bool = False
    encoding: str = "onehot"

    @property
    def code_width(self) -> int:
        """Input columns added by the element code."""
        return code_width(self.encoding, self.conditioning)

    head: str = "direct"
    n_components: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))
        object.__setattr__(self, "conditioning", tuple(self.conditioning))
        if not self.hidden or min(self.hidden) < 1:
            raise XasflowError(f"hidden widths must be positive, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise XasflowError(f"dropout must be in [0, 1), got {self.dropout}")
        check_encoding(self.encoding)
        if self.head not in HEADS:
            raise XasflowError(f"unknown output head {self.head!r}; choose one of {', '.join(HEADS)}")
        if self.head == "pca" and not 1 <= self.n_components <= self.n_outputs:
            raise XasflowError(f"n_components must be in [1, {self.n_outputs}], got {self.n_components}")

    @property
    def per_element_offsets(self) -> bool:
        """One offset row per conditioning element (one-hot codes select it); else one shared offset.

        Descriptor codes are not one-hot and may describe an element without training rows, so a
        descriptor-coded model has one offset (the mean of its training spectra) and learns the rest.
        """
        return bool(self.conditioning) and self.encoding == "onehot"

    @property
    def n_offsets(self) -> int:
        """Rows of the mean-spectrum offset: one per conditioning element, or one."""
        return len(self.conditioning) if self.per_element_offsets else 1

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        out["conditioning"] = list(self.conditioning)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()})
