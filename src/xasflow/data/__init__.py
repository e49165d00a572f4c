"""Readers, processing, the dataset object and material-grouped splits."""

from xasflow.data.dataset import XASDataset

__all__ = ["XASDataset"]
