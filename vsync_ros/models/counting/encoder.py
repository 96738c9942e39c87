"""Per-view fully-convolutional encoders, image pyramid and per-view module containers."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F


def image_pyramid(images: torch.Tensor, num_scales: int) -> list[torch.Tensor]:
    """Halve ``images`` (N, C, H, W) ``num_scales - 1`` times (2x2 mean = bilinear halving).

    Returns:
        list of (N, C, H / 2**k, W / 2**k), k = 0 .. num_scales - 1.
    """
    levels = [images]
    for _ in range(num_scales - 1):
        levels.append(F.avg_pool2d(levels[-1], 2))
    return levels


def lrn() -> nn.Module:
    """TF ``local_response_normalization(depth_radius=5, bias=1, alpha=0.01, beta=0.75)`` as MVMS uses."""
    return nn.LocalResponseNorm(size=11, alpha=0.01 * 11, beta=0.75, k=1.0)


class ConvEncoder(nn.Module):
    """MVMS single-view encoder: conv c0, conv c1, pool, conv c2, conv c3, pool (ReLU, optional LRN).

    Input (N, in_channels, H, W) image in [0, 1]; output (N, channels[3], H/4, W/4), non-negative.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], kernel: int = 5, use_lrn: bool = True):
        super().__init__()
        c0, c1, c2, c3 = channels
        pad = kernel // 2
        norm = lrn if use_lrn else nn.Identity

        def conv(cin: int, cout: int) -> nn.Conv2d:
            layer = nn.Conv2d(cin, cout, kernel, padding=pad)
            nn.init.kaiming_normal_(layer.weight, nonlinearity='relu')
            nn.init.zeros_(layer.bias)
            return layer

        self.body = nn.Sequential(
            conv(in_channels, c0), nn.ReLU(inplace=True), norm(),
            conv(c0, c1), nn.MaxPool2d(2, ceil_mode=True), nn.ReLU(inplace=True), norm(),
            conv(c1, c2), nn.ReLU(inplace=True), norm(),
            conv(c2, c3), nn.MaxPool2d(2, ceil_mode=True), nn.ReLU(inplace=True), norm(),
        )
        self.out_channels = c3

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, ceil(H/4), ceil(W/4))."""
        return self.body(image)


class FusionConv(nn.Module):
    """MVMS per-view, per-scale ``fusion_conv``: conv k x k, C -> C, ReLU (shape preserving)."""

    def __init__(self, channels: int, kernel: int = 5):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity='relu')
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        return F.relu(self.conv(x))


class PerView(nn.Module):
    """Applies one module per view, or one shared module to all views batched together.

    ``forward`` takes (B, V, ...) and returns (B, V, ...); with ``shared=True`` the views are folded
    into the batch (one call), otherwise each view goes through its own copy.
    """

    def __init__(self, factory: Callable[[], nn.Module], num_views: int, shared: bool):
        super().__init__()
        self.shared = shared
        self.num_views = num_views
        self.mods = nn.ModuleList([factory()] if shared else [factory() for _ in range(num_views)])

    def module(self, view: int) -> nn.Module:
        """The module used for ``view``."""
        return self.mods[0 if self.shared else view]

    def forward(self, x: torch.Tensor, views: Sequence[int] | None = None) -> torch.Tensor:
        """(B, n, ...) for the views listed in ``views`` (default all) -> (B, n, ...)."""
        views = list(range(self.num_views)) if views is None else list(views)
        b, n = x.shape[:2]
        if self.shared:
            y = self.mods[0](x.reshape(b * n, *x.shape[2:]))
            return y.reshape(b, n, *y.shape[1:])
        return torch.stack([self.mods[v](x[:, i]) for i, v in enumerate(views)], dim=1)


class MultiScaleEncoder(nn.Module):
    """Counting encoders for every view and pyramid level (MVMS: separate weights per view and level).

    Input: per-level images, list over k of (B, V, C_in, H_k, W_k).
    Output: per-level features, list over k of (B, V, C, H_k / 4, W_k / 4).
    """

    def __init__(self, num_views: int, num_scales: int, in_channels: int, channels: Sequence[int],
                 kernel: int, use_lrn: bool, share_views: bool, share_scales: bool):
        super().__init__()

        def make() -> PerView:
            return PerView(lambda: ConvEncoder(in_channels, channels, kernel, use_lrn), num_views, share_views)

        self.share_scales = share_scales
        self.levels = nn.ModuleList([make()] if share_scales else [make() for _ in range(num_scales)])
        self.out_channels = channels[-1]

    def level(self, k: int) -> PerView:
        """The per-view encoder used at pyramid level ``k``."""
        return self.levels[0 if self.share_scales else k]

    def forward(self, pyramid: list[torch.Tensor], views: Sequence[int] | None = None) -> list[torch.Tensor]:
        """Encode each level (see class docstring); ``views`` restricts to a subset of view indices."""
        return [self.level(k)(img, views) for k, img in enumerate(pyramid)]
