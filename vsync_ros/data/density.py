"""Ground-truth density maps: a normalized Gaussian per person (MVMS style).

Every person *inside* the map contributes exactly 1 to the sum (the Gaussian is renormalized over
the map, so people near a border are not lost), and people outside contribute 0. Hence the sum of a
ground-plane map is the number of people inside the region, and the sum of an image map is the
number of heads that project inside the image. Densities are not scaled (MVMS trains on x1000; do
that in the model / loss, not here).
"""
from __future__ import annotations

import cv2
import numpy as np

from vsync_ros.geometry.ground import GroundRegion


def _splat_separable(pos_rc: np.ndarray, rows: int, cols: int, sigma_rc: tuple[float, float]) -> np.ndarray:
    """(rows, cols) sum of separable Gaussians centred at fractional (row, col), each summing to 1."""
    out = np.zeros((rows, cols), dtype=np.float64)
    if len(pos_rc) == 0:
        return out.astype(np.float32)
    r = np.arange(rows, dtype=np.float64)
    c = np.arange(cols, dtype=np.float64)
    gy = np.exp(-0.5 * ((r[None, :] - pos_rc[:, :1]) / sigma_rc[0]) ** 2)  # (N, rows)
    gx = np.exp(-0.5 * ((c[None, :] - pos_rc[:, 1:]) / sigma_rc[1]) ** 2)  # (N, cols)
    sy, sx = gy.sum(1, keepdims=True), gx.sum(1, keepdims=True)
    # a centre far outside the map but marked inside cannot happen; guard against 0 anyway
    gy = np.where(sy > 0, gy / np.maximum(sy, 1e-300), 0.0)
    gx = np.where(sx > 0, gx / np.maximum(sx, 1e-300), 0.0)
    out = gy.T @ gx
    return out.astype(np.float32)


def ground_density(positions_xy: np.ndarray, region: GroundRegion, sigma_m: float) -> np.ndarray:
    """(rows, cols) float32 ground-plane density on ``region``'s grid.

    Args:
        positions_xy: (N, 2) ground positions (m); people outside the region are ignored.
        region: the grid (cell centres as in :class:`GroundRegion`).
        sigma_m: Gaussian standard deviation (m).
    """
    if sigma_m <= 0:
        raise ValueError('sigma_m must be positive')
    xy = np.asarray(positions_xy, dtype=np.float64).reshape(-1, 2)
    xy = xy[region.contains(xy)]
    rows, cols = region.shape
    rc = np.stack([(xy[:, 1] - region.y0) / region.cell_m - 0.5, (xy[:, 0] - region.x0) / region.cell_m - 0.5], 1)
    s = sigma_m / region.cell_m
    return _splat_separable(rc, rows, cols, (s, s))


def image_density(points_uv: np.ndarray, width: int, height: int, sigma_px: float) -> np.ndarray:
    """(height, width) float32 image density; points (N, 2) in pixels, pixel centres at integers.

    Points outside ``[-0.5, size - 0.5]`` or non-finite are ignored.
    """
    if sigma_px <= 0:
        raise ValueError('sigma_px must be positive')
    uv = np.asarray(points_uv, dtype=np.float64).reshape(-1, 2)
    with np.errstate(invalid='ignore'):
        ok = (np.isfinite(uv).all(1) & (uv[:, 0] >= -0.5) & (uv[:, 0] <= width - 0.5)
              & (uv[:, 1] >= -0.5) & (uv[:, 1] <= height - 0.5))
    uv = uv[ok]
    return _splat_separable(uv[:, ::-1], height, width, (sigma_px, sigma_px))


def sum_pool(density: np.ndarray, k: int) -> np.ndarray:
    """Sum-pool (k x k) of the last two axes (crops to a multiple of k, like MVMS ``conv_process``)."""
    h, w = density.shape[-2] // k * k, density.shape[-1] // k * k
    d = density[..., :h, :w]
    return d.reshape(*d.shape[:-2], h // k, k, w // k, k).sum(axis=(-3, -1))


def resize_density(density: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a (H, W) density map to (height, width) keeping its sum (area interpolation)."""
    d = np.asarray(density, dtype=np.float32)
    if d.shape == (height, width):
        return d.copy()
    h, w = d.shape
    if h % height == 0 and w % width == 0 and h // height == w // width:
        return sum_pool(d, h // height).astype(np.float32)
    out = cv2.resize(d, (width, height), interpolation=cv2.INTER_AREA if width < w else cv2.INTER_LINEAR)
    total, new = float(d.sum()), float(out.sum())
    return (out * (total / new)).astype(np.float32) if new > 0 else out
