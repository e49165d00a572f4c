"""Training: configuration, the early-stopping loop, the kinds (expert, universal, tuned, cross-fidelity, head)."""

from __future__ import annotations

from xasflow.training.config import IMPROVED, RECIPES, REFERENCE, Recipe, TrainConfig, get_recipe

__all__ = ["IMPROVED", "RECIPES", "REFERENCE", "Recipe", "TrainConfig", "get_recipe"]
