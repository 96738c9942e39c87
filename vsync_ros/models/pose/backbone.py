"""Small 2D backbone for CPU: per-view joint heatmaps and features at stride 4.

A stand-in for learnable-triangulation's ResNet-152 SimpleBaseline (256 features at stride 4 plus a
17-map head): a three-level encoder (strides 4, 8, 16) with residual blocks and a light U-Net
decoder back to stride 4. Heads: 1x1 conv to the joint heatmaps (logits) and 1x1 conv to the
unprojected features ("process_features": no activation, as the original).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

IMAGE_MEAN = 0.45
IMAGE_STD = 0.225


def norm_layer(kind: str, channels: int, dims: int = 2) -> nn.Module:
    """'batch' -> BatchNorm{dims}d; 'group' -> GroupNorm with up to 8 groups (batch-size independent)."""
    if kind == 'batch':
        return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm3d(channels)
    if kind == 'group':
        groups = max(g for g in range(1, 9) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    raise ValueError(f'unknown norm {kind!r} (batch | group)')


def conv_bn_relu(cin: int, cout: int, stride: int = 1, kernel: int = 3, norm: str = 'batch') -> nn.Sequential:
    """Conv (no bias) + normalisation + ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), norm_layer(norm, cout),
                         nn.ReLU(inplace=True))


class ResBlock2d(nn.Module):
    """Two 3x3 conv + normalisation with an identity skip."""

    def __init__(self, channels: int, norm: str = 'batch'):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), norm_layer(norm, channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), norm_layer(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        return F.relu(x + self.body(x))


class PoseBackbone(nn.Module):
    """Images (N, 3, H, W) in [0, 1] -> heatmaps, features and per-level encoder maps.

    Args:
        channels: encoder widths at strides 4, 8, 16.
        num_joints: heatmap channels.
        feature_channels: channels of the stride-4 features that get unprojected.
        norm: 'batch' (as the original) or 'group' (independent of the batch size).
    """

    def __init__(self, channels: Sequence[int] = (32, 64, 96), num_joints: int = 17, feature_channels: int = 32,
                 norm: str = 'batch'):
        super().__init__()
        c4, c8, c16 = channels
        self.channels = (c4, c8, c16)
        c2 = max(c4 // 2, 8)
        self.stem = nn.Sequential(conv_bn_relu(3, c2, 2, norm=norm), conv_bn_relu(c2, c4, 2, norm=norm),
                                  ResBlock2d(c4, norm))
        self.down8 = nn.Sequential(conv_bn_relu(c4, c8, 2, norm=norm), ResBlock2d(c8, norm))
        self.down16 = nn.Sequential(conv_bn_relu(c8, c16, 2, norm=norm), ResBlock2d(c16, norm))
        self.lat16 = nn.Conv2d(c16, c8, 1)
        self.up8 = conv_bn_relu(c8, c8, norm=norm)
        self.lat8 = nn.Conv2d(c8, c4, 1)
        self.up4 = conv_bn_relu(c4, c4, norm=norm)
        self.heatmap_head = nn.Conv2d(c4, num_joints, 1)
        self.feature_head = nn.Conv2d(c4, feature_channels, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.heatmap_head.weight, std=1e-3)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Run on a batch of images.

        Returns:
            'heatmaps' (N, J, H/4, W/4) logits; 'features' (N, C_f, H/4, W/4);
            'levels' [stride 4 (N, c4, H/4, W/4), stride 8, stride 16] non-negative encoder maps.
        """
        x = (images - IMAGE_MEAN) / IMAGE_STD
        e4 = self.stem(x)
        e8 = self.down8(e4)
        e16 = self.down16(e8)
        d8 = self.up8(e8 + F.interpolate(self.lat16(e16), size=e8.shape[-2:], mode='bilinear', align_corners=False))
        d4 = self.up4(e4 + F.interpolate(self.lat8(d8), size=e4.shape[-2:], mode='bilinear', align_corners=False))
        return {'heatmaps': self.heatmap_head(d4), 'features': self.feature_head(d4), 'levels': [e4, e8, e16]}
