"""Motion-estimation net of the paper's Table I."""
from __future__ import annotations

import torch
from torch import nn

TABLE_I_WIDTHS = (128, 128, 64, 64, 32)


def scaled_widths(width_factor: float) -> list[int]:
    """Hidden widths of Table I (128, 128, 64, 64, 32) times ``width_factor`` (rounded, at least 2)."""
    return [max(2, int(round(c * width_factor))) for c in TABLE_I_WIDTHS]


def _activation(name: str) -> nn.Module:
    if name == 'relu':
        return nn.ReLU(inplace=True)
    if name == 'leaky_relu':
        return nn.LeakyReLU(0.1, inplace=True)
    if name == 'tanh':
        return nn.Tanh()
    raise ValueError(f'unknown activation {name!r}')


class MotionNet(nn.Module):
    """Six k x k convs: in -> 128 -> 128 -> 64 -> 64 -> 32 -> 2 (widths x ``width_factor``), 'same' padding.

    Input (N, in_channels, H, W): a matching result (concatenation or correlation) or concatenated
    projected features. Output (N, 2, H, W): flow in pixels of the input map (channel 0 = x, 1 = y;
    see :mod:`vsync_ros.models.sync.warp`). The hidden layers use ``activation``; the output is linear and
    initialised small so training starts near the identity warp.
    """

    def __init__(self, in_channels: int, width_factor: float = 1.0, kernel: int = 5, activation: str = 'relu',
                 out_init_std: float = 1e-3):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        gain = 'tanh' if activation == 'tanh' else 'relu'
        for cout in scaled_widths(width_factor):
            conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
            nn.init.kaiming_normal_(conv.weight, nonlinearity=gain)
            nn.init.zeros_(conv.bias)
            layers += [conv, _activation(activation)]
            cin = cout
        out = nn.Conv2d(cin, 2, kernel, padding=kernel // 2)
        nn.init.normal_(out.weight, std=out_init_std)
        nn.init.zeros_(out.bias)
        layers.append(out)
        self.net = nn.Sequential(*layers)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, 2, H, W) flow in pixels of this map."""
        return self.net(x)

    @property
    def first(self) -> nn.Conv2d:
        """The first conv (weight (O, C_in, k, k)), linear in the input."""
        return self.net[0]

    def tail(self, h: torch.Tensor) -> torch.Tensor:
        """Everything after the first conv: (N, O, H, W) pre-activation -> (N, 2, H, W) flow."""
        return self.net[1:](h)
