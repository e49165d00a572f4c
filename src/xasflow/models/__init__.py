"""Models: the typed model card, the ensemble estimator, calibration and the domain score.

This layer imports only ``data``/``constants``: training drivers, evaluation and the zoo sit above it.
"""

from xasflow.models.card import FeaturizerSpec, ModelCard
from xasflow.models.config import REFERENCE_WIDTHS, ModelConfig, reference_widths
from xasflow.models.estimator import SpectrumEstimate, XASRegressor, check_is_fitted
from xasflow.models.provenance import Provenance
from xasflow.models.spec import ModelSpec

__all__ = [
    "REFERENCE_WIDTHS",
    "FeaturizerSpec",
    "ModelCard",
    "ModelConfig",
    "ModelSpec",
    "Provenance",
    "SpectrumEstimate",
    "XASRegressor",
    "check_is_fitted",
    "reference_widths",
]
