"""Site featurizers: M3GNet latent features (published convention), alternatives, ACSF and SOAP.

Heavy imports (torch, matgl, dscribe) happen only when a featurizer is built.
"""

from xasflow.features.base import SiteFeaturizer
from xasflow.features.batch import FeaturizedSites, featurize_structures
from xasflow.features.dataset import add_features, featurize_dataset
from xasflow.features.registry import FEATURIZERS, MODELS_DIR_ENV, get_featurizer

__all__ = [
    "FEATURIZERS",
    "MODELS_DIR_ENV",
    "FeaturizedSites",
    "SiteFeaturizer",
    "add_features",
    "featurize_dataset",
    "featurize_structures",
    "get_featurizer",
]
