"""The published outlier filter."""

from __future__ import annotations

import numpy as np


def outlier_mask(spectra: np.ndarray, n_std: float = 2.5) -> np.ndarray:
    """Flag spectra with any point outside mean ± ``n_std``·std of its energy point.

    Statistics are per energy point over all rows given (the whole element set).
    """
    spectra = np.asarray(spectra, dtype=np.float64)
    mean = spectra.mean(axis=0)
    std = spectra.std(axis=0)
    return np.any(np.abs(spectra - mean) > n_std * std, axis=1)
