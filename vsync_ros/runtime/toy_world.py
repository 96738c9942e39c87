"""``ToyWorld``: a tiny built-in synthetic crowd rendered for each camera (a ROS-free frame source).

For exercising the ROS plumbing (replay node, sync node, bags) without the data module's worlds; not
for training. World coordinates in metres, images in pixels, times in seconds.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from vsync_ros.geometry import Camera, GroundRegion


def _triangle(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect x into [lo, hi] (bouncing motion)."""
    span = hi - lo
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def gaussian_ground_density(feet_xy: np.ndarray, region: GroundRegion, sigma_m: float) -> np.ndarray:
    """(rows, cols) float32: one Gaussian of mass 1 (over the infinite plane) per person at ``feet_xy``."""
    rows, cols = region.shape
    xs = region.x0 + (np.arange(cols) + 0.5) * region.cell_m
    ys = region.y0 + (np.arange(rows) + 0.5) * region.cell_m
    out = np.zeros((rows, cols), np.float64)
    norm = region.cell_m / (math.sqrt(2 * math.pi) * sigma_m)
    for x, y in np.asarray(feet_xy, dtype=np.float64).reshape(-1, 2):
        gx = np.exp(-0.5 * ((xs - x) / sigma_m) ** 2) * norm
        gy = np.exp(-0.5 * ((ys - y) / sigma_m) ** 2) * norm
        out += np.outer(gy, gx)
    return out.astype(np.float32)


class ToyWorld:
    """A tiny deterministic crowd for exercising the ROS plumbing (not for training).

    People are upright ellipsoids walking in straight lines and bouncing off the region's borders; each
    camera renders them as filled ellipses in saturated colours over a grey ground. Ground truth: the
    number of people inside the region and a Gaussian ground-plane density (one unit per person).
    """

    def __init__(self, cameras: list[Camera], region: GroundRegion, n_people: int = 8, seed: int = 0,
                 speed_mps: float = 1.2, height_m: float = 1.7, radius_m: float = 0.3,
                 sigma_m: float | None = None) -> None:
        self.cameras, self.region = list(cameras), region
        self.duration_s = None
        self.height_m, self.radius_m = height_m, radius_m
        self.sigma_m = sigma_m or max(2 * region.cell_m, 0.3)
        rng = np.random.default_rng(seed)
        m = radius_m
        self._lo = np.array([region.x0 + m, region.y0 + m])
        self._hi = np.array([region.x0 + region.width_m - m, region.y0 + region.height_m - m])
        self._p0 = rng.uniform(self._lo, self._hi, size=(n_people, 2))
        ang = rng.uniform(0, 2 * np.pi, n_people)
        self._v = speed_mps * rng.uniform(0.5, 1.0, (n_people, 1)) * np.stack([np.cos(ang), np.sin(ang)], 1)
        hues = (np.arange(n_people) * 37) % 180
        self._colors = [tuple(int(c) for c in cv2.cvtColor(np.uint8([[[h, 230, 230]]]), cv2.COLOR_HSV2RGB)[0, 0])
                        for h in hues]
        self._backgrounds = [self._background(cam) for cam in self.cameras]

    @staticmethod
    def _background(cam: Camera) -> np.ndarray:
        rows = np.linspace(70, 140, cam.height, dtype=np.float32)[:, None, None]
        return np.broadcast_to(rows, (cam.height, cam.width, 3)).astype(np.uint8).copy()

    def positions(self, t: float) -> np.ndarray:
        """(P, 2) feet positions (m) at world time ``t`` (s)."""
        raw = self._p0 + self._v * t
        return np.stack([_triangle(raw[:, 0], self._lo[0], self._hi[0]),
                         _triangle(raw[:, 1], self._lo[1], self._hi[1])], 1)

    def frame(self, view: int, t: float) -> np.ndarray:
        """(H, W, 3) uint8 RGB rendering of ``view`` at ``t``."""
        cam = self.cameras[view]
        img = self._backgrounds[view].copy()
        xy = self.positions(t)
        feet = np.hstack([xy, np.zeros((len(xy), 1))])
        heads = np.hstack([xy, np.full((len(xy), 1), self.height_m)])
        uv_f, d_f = cam.project(feet)
        uv_h, d_h = cam.project(heads)
        f = cam.K[0, 0]
        for p in np.argsort(-d_f):  # far to near
            if d_f[p] <= 0.1 or d_h[p] <= 0.1 or not np.all(np.isfinite(uv_f[p])) or not np.all(np.isfinite(uv_h[p])):
                continue
            centre = (uv_f[p] + uv_h[p]) / 2
            half_h = np.linalg.norm(uv_f[p] - uv_h[p]) / 2
            half_w = f * self.radius_m / d_f[p]
            if not (np.all(np.abs(centre) < 1e5) and half_h < 1e5):
                continue
            angle = math.degrees(math.atan2(uv_f[p][1] - uv_h[p][1], uv_f[p][0] - uv_h[p][0])) - 90
            cv2.ellipse(img, (int(round(centre[0])), int(round(centre[1]))),
                        (max(1, int(round(half_w))), max(1, int(round(half_h)))), angle, 0, 360,
                        self._colors[p], -1, cv2.LINE_AA)
        return img

    def ground_truth(self, t: float) -> dict:
        """Count of people inside the region and their Gaussian ground-plane density."""
        xy = self.positions(t)
        inside = self.region.contains(xy)
        return {'count': float(inside.sum()),
                'gp_density': gaussian_ground_density(xy[inside], self.region, self.sigma_m)}
