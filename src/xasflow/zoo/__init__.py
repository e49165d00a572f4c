"""Trained models shipped with xasflow: one folder per (element, fidelity), a JSON model card per model."""

from __future__ import annotations

from xasflow.zoo.registry import available_models, card_path, load_model, load_model_on, packaged_zoo_dir, read_index

__all__ = ["available_models", "card_path", "load_model", "load_model_on", "packaged_zoo_dir", "read_index"]
