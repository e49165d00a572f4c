"""Spectrum regressors: the published MLP recipe and its improvements."""

from __future__ import annotations

from xasflow.models.config import REFERENCE_WIDTHS, ModelConfig, reference_widths
from xasflow.models.regressor import XASRegressor

__all__ = ["REFERENCE_WIDTHS", "ModelConfig", "XASRegressor", "reference_widths"]
