"""Small V2V-style 3D encoder-decoder (after Moon et al., as used by learnable-triangulation).

Scaled down for CPU (3D convolutions at batch 1 run on PyTorch's slow im2col path, ~10 GMAC/s per
core), channels (c0, c1, c2, c3) at resolutions N, N/2, N/4, N/8::

    front   1x1x1 conv in -> c0                       (N)
    enc1    max-pool, 3x3x3 conv c0 -> c1            (N/2)
    enc2    max-pool, residual block c1 -> c2        (N/4)
    enc3    max-pool, residual block c2 -> c3        (N/8)
    dec2    transposed conv c3 -> c2 + enc2, residual block c2   (N/4)
    dec1    transposed conv c2 -> c1 + enc1, 3x3x3 conv c1       (N/2)
    back    transposed conv c1 -> c0 + front, 1x1x1 conv c0      (N)
    output  1x1x1 conv c0 -> joints                   (N)

The original has 5 levels, two residual blocks in front and residual skip branches; the layout
(encoder-decoder with additive skips, BatchNorm, Xavier-normal init, zero biases) is the same;
``norm='group'`` swaps BatchNorm for GroupNorm (training with batch 1 on CPU).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from vsync_ros.models.pose.backbone import norm_layer


def basic3d(cin: int, cout: int, kernel: int, norm: str = 'batch') -> nn.Sequential:
    """Conv3d + normalisation + ReLU with 'same' padding."""
    return nn.Sequential(nn.Conv3d(cin, cout, kernel, padding=kernel // 2), norm_layer(norm, cout, 3),
                         nn.ReLU(inplace=True))


class Res3d(nn.Module):
    """Two 3x3x3 conv + normalisation, skip through a 1x1x1 conv + normalisation when the width changes."""

    def __init__(self, cin: int, cout: int, norm: str = 'batch'):
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), norm_layer(norm, cout, 3), nn.ReLU(inplace=True),
                                  nn.Conv3d(cout, cout, 3, padding=1), norm_layer(norm, cout, 3))
        self.skip = (nn.Identity() if cin == cout
                     else nn.Sequential(nn.Conv3d(cin, cout, 1), norm_layer(norm, cout, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, D, H, W) -> (B, cout, D, H, W)."""
        return F.relu(self.body(x) + self.skip(x))


def up3d(cin: int, cout: int, norm: str = 'batch') -> nn.Sequential:
    """ConvTranspose3d (k2, s2) + normalisation + ReLU: doubles each spatial size."""
    return nn.Sequential(nn.ConvTranspose3d(cin, cout, 2, stride=2), norm_layer(norm, cout, 3), nn.ReLU(inplace=True))


class V2VNet(nn.Module):
    """(B, in_channels, N, N, N) -> (B, out_channels, N, N, N); N must be divisible by 8.

    Args:
        widths: (c0, c1, c2, c3) channels at N, N/2, N/4, N/8 (see the module docstring).
        norm: 'batch' (as the original) or 'group'.
    """

    def __init__(self, in_channels: int, out_channels: int, widths: Sequence[int] = (16, 24, 48, 64),
                 norm: str = 'batch'):
        super().__init__()
        c0, c1, c2, c3 = widths
        self.front = basic3d(in_channels, c0, 1, norm)
        self.enc1 = basic3d(c0, c1, 3, norm)
        self.enc2 = Res3d(c1, c2, norm)
        self.enc3 = Res3d(c2, c3, norm)
        self.up3 = up3d(c3, c2, norm)
        self.dec2 = Res3d(c2, c2, norm)
        self.up2 = up3d(c2, c1, norm)
        self.dec1 = basic3d(c1, c1, 3, norm)
        self.up1 = up3d(c1, c0, norm)
        self.back = basic3d(c0, c0, 1, norm)
        self.output = nn.Conv3d(c0, out_channels, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit volumes, one channel per joint."""
        f0 = self.front(x)
        f1 = self.enc1(F.max_pool3d(f0, 2))
        f2 = self.enc2(F.max_pool3d(f1, 2))
        f3 = self.enc3(F.max_pool3d(f2, 2))
        d2 = self.dec2(self.up3(f3) + f2)
        d1 = self.dec1(self.up2(d2) + f1)
        d0 = self.back(self.up1(d1) + f0)
        return self.output(d0)
