"""Models: the typed model card, the ensemble estimator, calibration and the domain score.

This layer imports only ``data``/``constants``: training drivers, evaluation and the zoo sit above it.
"""

from xasflow.models.card import FeaturizerSpec, ModelCard
from xasflow.models.config import REFERENCE_WIDTHS, ModelConfig, reference_widths
from xasflow.models.estimator import Provenance, SpectrumEstimate, XASRegressor

__all__ = [
    "REFERENCE_WIDTHS",
    "FeaturizerSpec",
    "ModelCard",
    "ModelConfig",
    "Provenance",
    "SpectrumEstimate",
    "XASRegressor",
    "reference_widths",
]
