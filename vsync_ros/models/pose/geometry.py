"""Differentiable multi-view geometry for the volumetric pose model (torch).

Conventions: world metres (z up), image pixels with integer pixel centres (as
:class:`vsync_ros.geometry.Camera`), feature maps of stride s whose pixel k is centred on image pixel
``(k + 0.5) * s - 0.5``. Projection applies the cameras' distortion (plumb_bob or rational_polynomial, as
:mod:`vsync_ros.geometry.camera`), so voxel centres land where the true (distorted) image shows them.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vsync_ros.geometry.camera import Camera

DEPTH_EPS_M = 1e-3


class CameraRig(nn.Module):
    """Static calibrations of V cameras as tensors (non-persistent buffers, rebuilt from the cameras).

    Buffers: ``K`` (V, 3, 3), ``R`` (V, 3, 3), ``t`` (V, 3), ``dist`` (V, 5) when every camera is plumb_bob,
    else (V, 8) rational_polynomial coefficients (plumb_bob cameras with k4 = k5 = k6 = 0, the same model),
    ``P`` (V, 3, 4) = K [R | t].
    """

    def __init__(self, cameras: Sequence[Camera]):
        super().__init__()
        self.cameras = list(cameras)
        self.image_hw = (self.cameras[0].height, self.cameras[0].width)
        if any((c.height, c.width) != self.image_hw for c in self.cameras):
            raise ValueError('all cameras must have the same image size')

        def buf(name: str, arrays) -> None:
            self.register_buffer(name, torch.as_tensor(np.stack(arrays), dtype=torch.float32), persistent=False)

        buf('K', [c.K for c in self.cameras])
        buf('R', [c.R for c in self.cameras])
        buf('t', [c.t for c in self.cameras])
        if all(c.dist.size == 5 for c in self.cameras):
            buf('dist', [c.dist for c in self.cameras])
        else:
            buf('dist', [np.concatenate([c.dist, np.zeros(8 - c.dist.size)]) for c in self.cameras])
        buf('P', [c.P for c in self.cameras])
        self.has_distortion = any(c.has_distortion for c in self.cameras)

    @property
    def num_views(self) -> int:
        """Number of cameras V."""
        return len(self.cameras)

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World points (B, N, 3) metres -> pixels (B, V, N, 2) and depth (B, V, N) metres.

        Points at depth <= 1 mm get the pixel of a point at 1 mm depth (finite); mask them with depth.
        """
        pc = torch.einsum('vij,bnj->bvni', self.R, points) + self.t[None, :, None]
        depth = pc[..., 2]
        xn = pc[..., :2] / depth.clamp_min(DEPTH_EPS_M).unsqueeze(-1)
        if self.has_distortion:
            xn = distort(xn, self.dist[None, :, None])
        uv = torch.einsum('vij,bvnj->bvni', self.K[:, :2, :2], xn) + self.K[None, :, None, :2, 2]
        return uv, depth

    def ideal_pixels(self, uv: torch.Tensor, iterations: int = 10) -> torch.Tensor:
        """(B, V, N, 2) distorted pixels -> pixels of the distortion-free pinhole (for P = K [R | t])."""
        if not self.has_distortion:
            return uv
        k2 = self.K[None, :, None, :2, :2]
        c = self.K[None, :, None, :2, 2]
        xd = torch.linalg.solve(k2, (uv - c).unsqueeze(-1)).squeeze(-1)
        x = undistort(xd, self.dist[None, :, None], iterations)
        return (k2 @ x.unsqueeze(-1)).squeeze(-1) + c


def distort(xn: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """Distortion of normalized coordinates (..., 2) (as ``Camera.distort``).

    ``dist`` (..., 5) plumb_bob k1 k2 p1 p2 k3 or (..., 8) rational_polynomial k1 k2 p1 p2 k3 k4 k5 k6,
    broadcastable against ``xn[..., 0]``.
    """
    if dist.shape[-1] == 8:
        k1, k2, p1, p2, k3, k4, k5, k6 = dist.unbind(-1)
    else:
        k1, k2, p1, p2, k3 = dist.unbind(-1)
    x, y = xn[..., 0], xn[..., 1]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
    if dist.shape[-1] == 8:
        radial = radial / (1 + k4 * r2 + k5 * r2 * r2 + k6 * r2 * r2 * r2)
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return torch.stack([xd, yd], dim=-1)


def undistort(xd: torch.Tensor, dist: torch.Tensor, iterations: int = 10) -> torch.Tensor:
    """Inverse of :func:`distort` by fixed-point iteration (as ``Camera.undistort_pixels``); ``dist`` (..., 5 | 8)."""
    rational = dist.shape[-1] == 8
    if rational:
        k1, k2, p1, p2, k3, k4, k5, k6 = dist.unbind(-1)
    else:
        k1, k2, p1, p2, k3 = dist.unbind(-1)
    x = xd
    for _ in range(iterations):
        u, v = x[..., 0], x[..., 1]
        r2 = u * u + v * v
        radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
        if rational:
            radial = radial / (1 + k4 * r2 + k5 * r2 * r2 + k6 * r2 * r2 * r2)
        dx = 2 * p1 * u * v + p2 * (r2 + 2 * u * u)
        dy = p1 * (r2 + 2 * v * v) + 2 * p2 * u * v
        x = torch.stack([(xd[..., 0] - dx) / radial, (xd[..., 1] - dy) / radial], dim=-1)
    return x


def pixels_to_grid(uv: torch.Tensor, stride: int, feat_hw: tuple[int, int]) -> torch.Tensor:
    """Image pixels (..., 2) -> ``grid_sample(align_corners=False)`` coordinates of a stride-s map."""
    h, w = feat_hw
    gx = 2.0 * (uv[..., 0] + 0.5) / (stride * w) - 1.0
    gy = 2.0 * (uv[..., 1] + 0.5) / (stride * h) - 1.0
    return torch.stack([gx, gy], dim=-1)


def volume_grid(center: torch.Tensor, side_m: float, size: int, yaw: torch.Tensor | None = None) -> torch.Tensor:
    """Voxel centres (B, n, n, n, 3) of cubes of side ``side_m`` centred at ``center`` (B, 3), metres.

    Index [b, i, j, k] is ``center + Rz(yaw) @ (x_i, y_j, z_k)`` with x_i = -side/2 + i * side/(n-1)
    (both cube faces are voxel centres, as learnable-triangulation). ``yaw`` (B,) rotates the grid
    about the vertical through the centre.
    """
    lin = torch.linspace(-side_m / 2, side_m / 2, size, device=center.device, dtype=center.dtype)
    base = torch.stack(torch.meshgrid(lin, lin, lin, indexing='ij'), dim=-1)        # (n, n, n, 3)
    base = base.unsqueeze(0).expand(center.shape[0], -1, -1, -1, -1)
    if yaw is not None:
        c, s = torch.cos(yaw).view(-1, 1, 1, 1), torch.sin(yaw).view(-1, 1, 1, 1)
        x, y, z = base.unbind(-1)
        base = torch.stack([c * x - s * y, s * x + c * y, z], dim=-1)
    return base + center.view(-1, 1, 1, 1, 3)


def world_to_voxel(points: torch.Tensor, center: torch.Tensor, side_m: float, size: int,
                   yaw: torch.Tensor | None = None) -> torch.Tensor:
    """Fractional voxel indices (B, J, 3) of world points (B, J, 3) in the grid of :func:`volume_grid`."""
    local = points - center.unsqueeze(1)
    if yaw is not None:
        c, s = torch.cos(yaw).view(-1, 1), torch.sin(yaw).view(-1, 1)
        x, y, z = local.unbind(-1)
        local = torch.stack([c * x + s * y, -s * x + c * y, z], dim=-1)
    return (local + side_m / 2) * ((size - 1) / side_m)


def unproject(features: torch.Tensor, uv: torch.Tensor, depth: torch.Tensor, stride: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample per-view feature maps at projected voxel centres (vectorised over batch and views).

    Args:
        features: (B, V, C, h, w) stride-``stride`` feature maps.
        uv: (B, V, N, 2) image pixels of the N voxel centres; depth: (B, V, N) metres.

    Returns:
        volumes (B, V, C, N): bilinear samples, zero outside the image and behind the camera;
        visible (B, V, N) bool: in front of the camera and inside the image.
    """
    b, v, c, h, w = features.shape
    n = uv.shape[2]
    grid = pixels_to_grid(uv, stride, (h, w))                                     # (B, V, N, 2)
    sampled = F.grid_sample(features.reshape(b * v, c, h, w), grid.reshape(b * v, 1, n, 2),
                            mode='bilinear', padding_mode='zeros', align_corners=False)
    sampled = sampled.reshape(b, v, c, n)
    front = depth > DEPTH_EPS_M
    inside = (grid.abs() <= 1.0).all(dim=-1)
    return sampled * front.unsqueeze(2).to(sampled.dtype), front & inside


def aggregate_views(volumes: torch.Tensor, view_mask: torch.Tensor, method: str = 'softmax') -> torch.Tensor:
    """Fuse per-view volumes (B, V, C, ...) into (B, C, ...); views with ``view_mask`` (B, V) False are left out.

    'softmax': per voxel and channel, softmax over the views of the values, then the weighted sum
    (learnable-triangulation's ``softmax`` aggregation). 'mean': average over the used views.
    """
    shape = (*view_mask.shape, *([1] * (volumes.dim() - 2)))
    mask = view_mask.view(shape)
    if method == 'softmax':
        weights = torch.softmax(volumes.masked_fill(~mask, float('-inf')), dim=1)
        return (weights * volumes.masked_fill(~mask, 0.0)).sum(dim=1)
    if method == 'mean':
        m = mask.to(volumes.dtype)
        return (volumes * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
    raise ValueError(f'unknown aggregation {method!r}')


def soft_argmax_3d(volumes: torch.Tensor, grid: torch.Tensor, multiplier: float = 1.0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected world position under a softmax over all voxels.

    Args:
        volumes: (B, J, n, n, n) logits; grid: (B, n, n, n, 3) voxel centres (metres).

    Returns:
        points (B, J, 3) metres and probabilities (B, J, n, n, n).
    """
    b, j = volumes.shape[:2]
    probs = torch.softmax(volumes.reshape(b, j, -1) * multiplier, dim=-1)
    points = torch.einsum('bjn,bnc->bjc', probs, grid.reshape(b, -1, 3))
    return points, probs.reshape(volumes.shape)


def heatmap_argmax(heatmaps: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak of each map (..., h, w) in image pixels (..., 2) and its softmax confidence (...,).

    The integer argmax is refined by a quarter pixel towards the larger neighbour (SimpleBaseline).
    The confidence is the softmax probability mass in the 3 x 3 window around the peak.
    """
    *lead, h, w = heatmaps.shape
    flat = heatmaps.reshape(-1, h, w)
    idx = flat.flatten(1).argmax(dim=1)
    y, x = idx // w, idx % w
    ar = torch.arange(flat.shape[0], device=flat.device)

    def at(yy, xx):
        return flat[ar, yy.clamp(0, h - 1), xx.clamp(0, w - 1)]

    dx = torch.sign(at(y, x + 1) - at(y, x - 1)) * ((x > 0) & (x < w - 1))
    dy = torch.sign(at(y + 1, x) - at(y - 1, x)) * ((y > 0) & (y < h - 1))
    fx = x.to(flat.dtype) + 0.25 * dx
    fy = y.to(flat.dtype) + 0.25 * dy
    uv = torch.stack([(fx + 0.5) * stride - 0.5, (fy + 0.5) * stride - 0.5], dim=-1)
    prob = torch.softmax(flat.flatten(1), dim=1).reshape(-1, h, w)
    win = F.avg_pool2d(prob.unsqueeze(1), 3, 1, 1, count_include_pad=True).squeeze(1) * 9.0
    conf = win[ar, y, x]
    return uv.reshape(*lead, 2), conf.reshape(*lead)


def dlt_triangulate(P: torch.Tensor, uv: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted linear (DLT) triangulation of one point per batch element.

    Args:
        P: (B, V, 3, 4) or (V, 3, 4) projection matrices (pixels from metres, no distortion).
        uv: (B, V, 2) undistorted pixels of the point in each view.
        weights: (B, V) non-negative view weights (0 = unused); at least two positive per row.

    Returns:
        (B, 3) world points. Rows of the DLT system are normalised before weighting, so the weights
        are relative confidences (learnable-triangulation's algebraic triangulation uses the same form).
    """
    b, v = uv.shape[:2]
    out_dtype = uv.dtype
    P = P.expand(b, v, 3, 4).to(torch.float64)
    uv = uv.to(torch.float64)
    rows = torch.cat([uv[..., 0:1] * P[..., 2, :] - P[..., 0, :],
                      uv[..., 1:2] * P[..., 2, :] - P[..., 1, :]], dim=1)          # (B, 2V, 4)
    rows = rows / rows.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if weights is not None:
        w = weights.to(torch.float64).clamp_min(0)
        rows = rows * torch.cat([w, w], dim=1).unsqueeze(-1)
    _, _, vh = torch.linalg.svd(rows)
    X = vh[:, -1]
    return (X[:, :3] / X[:, 3:4]).to(out_dtype)


def gaussian_heatmaps(uv: torch.Tensor, stride: int, feat_hw: tuple[int, int], sigma_px: float) -> torch.Tensor:
    """Gaussian maps (..., h, w) centred on image pixels (..., 2); sigma in feature pixels, peak 1."""
    h, w = feat_hw
    f = (uv + 0.5) / stride - 0.5
    ys = torch.arange(h, device=uv.device, dtype=uv.dtype)
    xs = torch.arange(w, device=uv.device, dtype=uv.dtype)
    dx = xs.view(*([1] * (uv.dim() - 1)), 1, w) - f[..., 0, None, None]
    dy = ys.view(*([1] * (uv.dim() - 1)), h, 1) - f[..., 1, None, None]
    return torch.exp(-(dx * dx + dy * dy) / (2.0 * sigma_px ** 2))


def random_yaw(batch: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """(B,) uniform yaw angles in [0, 2 pi)."""
    return torch.rand(batch, generator=generator, device=device) * (2 * math.pi)
