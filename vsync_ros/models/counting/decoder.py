"""MVMS ground-plane fusion decoder."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class GroundDecoder(nn.Module):
    """Concatenated projected views (B, V*C, rows, cols) -> density (B, 1, rows, cols) x density_scale.

    Layers: conv1x1 V*C + ReLU, conv k (channels[0]) + ReLU, conv k (channels[1]) + ReLU, conv k 1 +
    output activation ('relu' as MVMS, or 'none').
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (64, 32), kernel: int = 5,
                 output_activation: str = 'relu'):
        super().__init__()
        c0, c1 = channels
        pad = kernel // 2
        self.layers = nn.ModuleList([
            nn.Conv2d(in_channels, in_channels, 1),
            nn.Conv2d(in_channels, c0, kernel, padding=pad),
            nn.Conv2d(c0, c1, kernel, padding=pad),
            nn.Conv2d(c1, 1, kernel, padding=pad),
        ])
        for layer in self.layers:
            nn.init.kaiming_normal_(layer.weight, nonlinearity='relu')
            nn.init.zeros_(layer.bias)
        # a small positive output bias keeps the final ReLU alive at the start of training
        nn.init.constant_(self.layers[-1].bias, 0.01)
        self.output_activation = output_activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, V*C, rows, cols) -> (B, 1, rows, cols) scaled density."""
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        x = self.layers[-1](x)
        return F.relu(x) if self.output_activation == 'relu' else x
