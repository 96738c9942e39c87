"""Camera-view -> ground-plane projection and depth-ratio scale selection (MVMS), from calibration."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vsync_ros.geometry import Camera, GroundRegion, depth_ratio_map, ground_sampling_grid


class GroundProjection(nn.Module):
    """Resamples per-view feature maps onto the ground-plane grid with precomputed grids.

    The grids (V, rows, cols, 2) and visibility masks (V, 1, rows, cols) are computed once from the
    cameras at construction (:func:`vsync_ros.geometry.ground_sampling_grid`, plane z = ``height_m``) and
    kept as non-persistent buffers.

    Args:
        cameras: calibrations at the network input resolution (image pixels).
        region: ground grid; output maps have ``region.shape`` = (rows, cols), one cell = ``region.cell_m`` m.
        stride: feature-map stride in input pixels. feat_hw: feature-map size (H_f, W_f).
        height_m: plane height in metres (MVMS: 1.75 m, person height).
    """

    def __init__(self, cameras: Sequence[Camera], region: GroundRegion, stride: int, feat_hw: tuple[int, int],
                 height_m: float):
        super().__init__()
        grids, masks = [], []
        for cam in cameras:
            grid, mask = ground_sampling_grid(cam, region, height_m=height_m, stride=stride, feat_hw=feat_hw)
            grids.append(grid)
            masks.append(mask)
        self.register_buffer('grid', torch.from_numpy(np.stack(grids)), persistent=False)
        self.register_buffer('mask', torch.from_numpy(np.stack(masks)[:, None].astype(np.float32)),
                             persistent=False)
        self.feat_hw = tuple(feat_hw)

    def forward(self, features: torch.Tensor, views: Sequence[int] | None = None) -> torch.Tensor:
        """(B, n, C, H_f, W_f) features of ``views`` (default all) -> (B, n, C, rows, cols), masked."""
        views = list(range(self.grid.shape[0])) if views is None else list(views)
        b, n, c, h, w = features.shape
        if (h, w) != self.feat_hw:
            raise ValueError(f'projection expects {self.feat_hw} feature maps, got {(h, w)}')
        idx = torch.as_tensor(views, device=self.grid.device)
        grid = self.grid[idx].unsqueeze(0).expand(b, -1, -1, -1, -1).reshape(b * n, *self.grid.shape[1:])
        out = F.grid_sample(features.reshape(b * n, c, h, w), grid, mode='bilinear', padding_mode='zeros',
                            align_corners=False)
        out = out.reshape(b, n, c, *out.shape[-2:])
        return out * self.mask[idx].unsqueeze(0)


def reference_distance(camera: Camera, height_m: float) -> float:
    """Distance (m) from ``camera`` to where its image-centre ray meets z = height_m (MVMS depth_center).

    Falls back to the median over the image when the centre ray misses the plane.
    """
    centre = np.array([[(camera.width - 1) / 2.0, (camera.height - 1) / 2.0]])
    pt = camera.backproject_to_plane(centre, height_m)
    dist = float(np.linalg.norm(pt - camera.center))
    if np.isfinite(dist):
        return dist
    h, w = camera.height, camera.width
    uv = np.stack(np.meshgrid(np.arange(0, w, 8.0), np.arange(0, h, 8.0)), -1).reshape(-1, 2)
    d = np.linalg.norm(camera.backproject_to_plane(uv, height_m) - camera.center, axis=1)
    d = d[np.isfinite(d)]
    if d.size == 0:
        raise ValueError(f'camera {camera.name!r} never sees the plane z = {height_m} m')
    return float(np.median(d))


class ScaleSelection(nn.Module):
    """MVMS depth-ratio based soft scale selection.

    With d = log2(distance / reference distance) per feature pixel (a fixed buffer, (V, 1, H_f, W_f)),
    s = a * d + b (a learnable 1x1 conv, initialised a = -1, b = 1) and
    mask_k = softmax_k(-(s - k)^2), k = 0 .. K-1. The fused feature is sum_k mask_k * feat_k: pixels at
    the reference depth pick level 1, farther (smaller people) move to level 0, nearer to level 2.

    Args:
        cameras: calibrations at the input resolution; view 0's centre ray defines the reference distance.
        stride: stride of the level-0 feature map (input pixels); feat_hw its size; height_m the plane.
        num_scales: K.
    """

    def __init__(self, cameras: Sequence[Camera], stride: int, feat_hw: tuple[int, int], height_m: float,
                 num_scales: int):
        super().__init__()
        ref = reference_distance(cameras[0], height_m)
        maps = [depth_ratio_map(cam, ref, stride=stride, height_m=height_m, feat_hw=feat_hw) for cam in cameras]
        self.register_buffer('depth_ratio', torch.from_numpy(np.stack(maps)[:, None]), persistent=False)
        self.a = nn.Parameter(torch.tensor(-1.0))
        self.b = nn.Parameter(torch.tensor(1.0))
        self.register_buffer('levels', torch.arange(num_scales, dtype=torch.float32), persistent=False)

    def masks(self, views: Sequence[int] | None = None) -> torch.Tensor:
        """(n, K, H_f, W_f) soft selection weights of ``views`` (sum to 1 over K)."""
        d = self.depth_ratio if views is None else self.depth_ratio[list(views)]
        s = self.a * d + self.b                                        # (n, 1, H, W)
        logits = -(s - self.levels.view(1, -1, 1, 1)) ** 2             # (n, K, H, W)
        return torch.softmax(logits, dim=1)

    def forward(self, per_level: list[torch.Tensor], views: Sequence[int] | None = None) -> torch.Tensor:
        """Per-level (B, n, C, H_f, W_f) maps (already at level-0 size) -> (B, n, C, H_f, W_f) fused."""
        m = self.masks(views)                                          # (n, K, H, W)
        stacked = torch.stack(per_level, dim=2)                        # (B, n, K, C, H, W)
        return (stacked * m[None, :, :, None]).sum(dim=2)
