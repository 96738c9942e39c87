"""Backward warping of feature maps by a dense flow, and flow upsampling.

Flow convention (used by every module in this package): a flow ``w`` of shape (N, 2, H, W) is defined
on the *target* grid and measured in pixels of the map it acts on (camera-level sync: feature pixels
of that pyramid level; scene-level sync: ground-plane cells). Channel 0 is x (columns), channel 1 is y
(rows). The warped map is ``out(x, y) = in(x + w_x(x, y), y + w_y(x, y))`` sampled bilinearly with
zero padding (backward warp, as the spatial-transformer resampler of the paper).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def pixel_grid(h: int, w: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
               ) -> torch.Tensor:
    """(1, 2, h, w) pixel coordinates: channel 0 = x (column index), channel 1 = y (row index)."""
    ys = torch.arange(h, device=device, dtype=dtype)
    xs = torch.arange(w, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack([gx, gy], dim=0)[None]


def warp(features: torch.Tensor, flow_px: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Backward-warp ``features`` (N, C, H, W) by ``flow_px`` (N, 2, H, W) in pixels of this map.

    Args:
        features: map to resample.
        flow_px: displacement (x, y) in pixels from each target location to its source location.
        mask: optional (N or 1, 1, H, W) multiplier applied after warping (e.g. ground-plane visibility).

    Returns:
        (N, C, H, W) warped map; a zero flow returns ``features`` exactly.
    """
    n, _, h, w = features.shape
    if flow_px.shape[-2:] != (h, w) or flow_px.shape[1] != 2:
        raise ValueError(f'flow shape {tuple(flow_px.shape)} does not match features {tuple(features.shape)}')
    pos = pixel_grid(h, w, features.device, features.dtype) + flow_px
    # pixel -> normalized coordinates for align_corners=False: (2 p + 1) / size - 1
    gx = (2.0 * pos[:, 0] + 1.0) / w - 1.0
    gy = (2.0 * pos[:, 1] + 1.0) / h - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    out = F.grid_sample(features, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
    return out if mask is None else out * mask


def upsample_flow(flow_px: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a pixel flow (N, 2, h, w) to ``size`` = (H, W) and rescale its values to the new pixels.

    x is multiplied by W / w and y by H / h (x2 per octave), so the displacement stays the same
    physical distance.
    """
    h, w = flow_px.shape[-2:]
    if (h, w) == tuple(size):
        return flow_px
    up = F.interpolate(flow_px, size=size, mode='bilinear', align_corners=False)
    scale = torch.tensor([size[1] / w, size[0] / h], device=flow_px.device, dtype=flow_px.dtype)
    return up * scale.view(1, 2, 1, 1)


def upsample_features(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (N, C, h, w) features to ``size`` (values unchanged)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)
