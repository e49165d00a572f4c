"""The torch module of one ensemble member of :class:`~xasflow.models.XASRegressor`."""

from __future__ import annotations

import torch
from torch import nn

from xasflow.models.config import ModelConfig


class SpectrumMLP(nn.Module):
    """Hidden blocks Linear → BatchNorm → SiLU → Dropout, then Linear → Softplus (spectra are non-negative)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # Feature standardisation lives in buffers so it is saved with the weights.
        self.register_buffer("feature_mean", torch.zeros(config.n_features))
        self.register_buffer("feature_scale", torch.ones(config.n_features))
        layers: list[nn.Module] = []
        width = config.n_features + config.code_width
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.SiLU(), nn.Dropout(config.dropout)]
            width = hidden
        layers += [nn.Linear(width, config.n_outputs), nn.Softplus()]
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor, element_code: torch.Tensor | None = None) -> torch.Tensor:
        x = (features - self.feature_mean) / self.feature_scale
        if self.config.conditioning:
            if element_code is None:
                raise ValueError("this network is element-conditioned: pass element_code")
            x = torch.cat([x, element_code], dim=1)
        return self.layers(x)
