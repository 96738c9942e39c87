"""Two-view geometry: fundamental matrices, epipolar lines and the epipolar-guided weight mask.

Convention: for a reference pixel x_ref and its true correspondence x_other in the other view
(homogeneous pixel coordinates), ``x_other^T F x_ref = 0``; the epipolar line in the other view is
``F @ x_ref``. Distortion is handled by working in ideal (undistorted) pixel coordinates.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np

from vsync_ros.geometry.camera import Camera

Kernel = Literal['gauss', 'laplace']


def skew(v: np.ndarray) -> np.ndarray:
    """(3, 3) cross-product matrix of a 3-vector."""
    x, y, z = np.asarray(v, dtype=np.float64)
    return np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])


def fundamental_matrix(cam_ref: Camera, cam_other: Camera) -> np.ndarray:
    """(3, 3) F with x_other^T F x_ref = 0 for ideal pixel coordinates; scaled to unit Frobenius norm."""
    R_rel = cam_other.R @ cam_ref.R.T
    t_rel = cam_other.t - R_rel @ cam_ref.t
    E = skew(t_rel) @ R_rel
    F = np.linalg.inv(cam_other.K).T @ E @ np.linalg.inv(cam_ref.K)
    F /= np.linalg.norm(F)
    if F[2, 2] < 0:
        F = -F
    return F


def epipolar_lines(F: np.ndarray, pts_ref: np.ndarray) -> np.ndarray:
    """(N, 2) reference pixels -> (N, 3) lines (a, b, c) in the other view, scaled so a^2 + b^2 = 1."""
    pts = np.asarray(pts_ref, dtype=np.float64).reshape(-1, 2)
    lines = np.hstack([pts, np.ones((pts.shape[0], 1))]) @ F.T
    return lines / np.linalg.norm(lines[:, :2], axis=1, keepdims=True)


def point_line_distance(lines: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance in pixels between (L, 3) normalized lines and (P, 2) points: returns (L, P)."""
    pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    return np.abs(lines[:, :2] @ pts.T + lines[:, 2:3])


def feature_pixel_centres(feat_hw: tuple[int, int], stride: int) -> np.ndarray:
    """(H*W, 2) image-pixel (u, v) of every feature-map location, row-major."""
    fh, fw = feat_hw
    u = (np.arange(fw) + 0.5) * stride - 0.5
    v = (np.arange(fh) + 0.5) * stride - 0.5
    gu, gv = np.meshgrid(u, v)
    return np.stack([gu.ravel(), gv.ravel()], axis=1)


def epipolar_weight_mask(cam_ref: Camera, cam_other: Camera, stride: int, sigma: float,
                         kernel: Kernel = 'gauss', sigma_in_feature_px: bool = True,
                         ref_hw: tuple[int, int] | None = None,
                         other_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Epipolar-guided weights M[(y, x), (y', x')] for a feature map of stride ``stride``.

    For reference location (y, x) the weight at other-view location (y', x') is 1 on the epipolar line
    of (y, x) and decays with the point-line distance d: ``exp(-d^2 / (2 sigma^2))`` (``gauss``, the
    paper's Gaussian motion model) or ``exp(-d / sigma)`` (``laplace``, as in the authors' code).

    Args:
        sigma: fall-off scale, in feature pixels of this level (default) or in image pixels
            (``sigma_in_feature_px=False``).
        ref_hw, other_hw: feature map sizes; default ceil(image size / stride).

    Returns:
        (H_ref * W_ref, H_other, W_other) float32, reference locations row-major.
    """
    if sigma <= 0 or not math.isfinite(sigma):
        raise ValueError(f'epipolar sigma must be positive, got {sigma}')
    if kernel not in ('gauss', 'laplace'):
        raise ValueError(f'unknown epipolar kernel {kernel!r} (gauss | laplace)')
    ref_hw = ref_hw or (math.ceil(cam_ref.height / stride), math.ceil(cam_ref.width / stride))
    other_hw = other_hw or (math.ceil(cam_other.height / stride), math.ceil(cam_other.width / stride))
    F = fundamental_matrix(cam_ref, cam_other)
    ref_px = cam_ref.ideal_pixels(feature_pixel_centres(ref_hw, stride))
    other_px = cam_other.ideal_pixels(feature_pixel_centres(other_hw, stride))
    d = point_line_distance(epipolar_lines(F, ref_px), other_px)
    if sigma_in_feature_px:
        d = d / stride
    w = np.exp(-0.5 * (d / sigma) ** 2) if kernel == 'gauss' else np.exp(-d / sigma)
    return w.astype(np.float32).reshape(ref_hw[0] * ref_hw[1], other_hw[0], other_hw[1])


class EpipolarMaskCache:
    """Computes each epipolar weight mask once per (camera pair, stride, sigma, kernel, sizes)."""

    def __init__(self) -> None:
        self._masks: dict[tuple, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._masks)

    def get(self, cam_ref: Camera, cam_other: Camera, stride: int, sigma: float, kernel: Kernel = 'gauss',
            sigma_in_feature_px: bool = True, ref_hw: tuple[int, int] | None = None,
            other_hw: tuple[int, int] | None = None) -> np.ndarray:
        """Cached :func:`epipolar_weight_mask` (same arguments)."""
        key = (cam_ref.fingerprint(), cam_other.fingerprint(), stride, float(sigma), kernel,
               sigma_in_feature_px, ref_hw, other_hw)
        if key not in self._masks:
            self._masks[key] = epipolar_weight_mask(cam_ref, cam_other, stride, sigma, kernel,
                                                    sigma_in_feature_px, ref_hw, other_hw)
        return self._masks[key]
