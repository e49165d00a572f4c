"""The torch module of one ensemble member of :class:`~xasflow.models.XASRegressor`."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from xasflow.models.config import ModelConfig


class SpectrumMLP(nn.Module):
    """Hidden blocks Linear → BatchNorm → SiLU → Dropout, then an output head.

    Heads (``config.head``): ``direct`` Linear → Softplus (published; spectra are non-negative);
    ``residual`` offset + Linear, the offset being the element's mean training spectrum; ``pca`` offset +
    Linear → coefficients of ``n_components`` principal deviation spectra. Offsets and components are
    buffers (saved with the weights); the non-direct heads clip at 0 when not training.
    """

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
        if config.head == "direct":
            layers += [nn.Linear(width, config.n_outputs), nn.Softplus()]
        else:
            outputs = config.n_components if config.head == "pca" else config.n_outputs
            layers.append(nn.Linear(width, outputs))
            self.register_buffer("output_offset", torch.zeros(config.n_offsets, config.n_outputs))
        if config.head == "pca":
            self.register_buffer("components", torch.zeros(config.n_components, config.n_outputs))
        self.layers = nn.Sequential(*layers)

    @property
    def n_blocks(self) -> int:
        return len(self.config.hidden)

    def block_parameters(self, block: int) -> list[nn.Parameter]:
        """Parameters of hidden block ``block`` (0-based; ``n_blocks`` = the output layer)."""
        modules = list(self.layers)[4 * block : 4 * block + 4] if block < self.n_blocks else list(self.layers)[-2:]
        return [p for m in modules for p in m.parameters()]

    def set_output_basis(self, offsets: np.ndarray, components: np.ndarray | None = None) -> None:
        """Set the mean-spectrum offsets ``(n_offsets, points)`` and, for ``pca``, the components."""
        if self.config.head == "direct":
            return
        self.output_offset.copy_(torch.as_tensor(np.asarray(offsets), dtype=torch.float32))
        if self.config.head == "pca" and components is not None:
            self.components.copy_(torch.as_tensor(np.asarray(components), dtype=torch.float32))

    def forward(self, features: torch.Tensor, element_code: torch.Tensor | None = None) -> torch.Tensor:
        x = (features - self.feature_mean) / self.feature_scale
        if self.config.conditioning:
            if element_code is None:
                raise ValueError("this network is element-conditioned: pass element_code")
            x = torch.cat([x, element_code], dim=1)
        out = self.layers(x)
        if self.config.head == "direct":
            return out
        if self.config.head == "pca":
            out = out @ self.components
        offset = element_code @ self.output_offset if self.config.per_element_offsets else self.output_offset[0]
        out = out + offset
        return out if self.training else out.clamp_min(0.0)


def output_basis(y: np.ndarray, codes: np.ndarray | None, config: ModelConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-element mean spectra (offsets) and the top principal deviation spectra of ``y``.

    ``codes`` is the ``(n, n_elements)`` one-hot of the rows (``None`` for an unconditioned model); with
    one shared offset (descriptor codes) it is not used.
    """
    y = np.asarray(y, dtype=np.float64)
    if codes is None or not config.per_element_offsets:
        offsets = y.mean(axis=0, keepdims=True)
        deviation = y - offsets[0]
    else:
        counts = codes.sum(axis=0)
        offsets = (codes.T @ y) / np.maximum(counts, 1)[:, None]
        # An element without rows keeps the overall mean.
        offsets[counts == 0] = y.mean(axis=0)
        deviation = y - codes @ offsets
    components = None
    if config.head == "pca":
        _, _, vt = np.linalg.svd(deviation, full_matrices=False)
        components = np.zeros((config.n_components, y.shape[1]))
        k = min(config.n_components, len(vt))
        components[:k] = vt[:k]
    return offsets, components
