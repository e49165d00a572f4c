"""From structures to spectra: site selection, prediction, output writing and batch runs."""

from xasflow.inference.predictor import Prediction, Predictor, SiteSpectrum, predict

__all__ = ["Prediction", "Predictor", "SiteSpectrum", "predict"]
