"""Ground-plane grid and camera-view -> ground-plane sampling grids (MVMS projection).

Convention (documented once, used everywhere): the region covers x in [x0, x0 + width_m) and
y in [y0, y0 + height_m) metres on the plane z = 0. Row i / column j of the grid is the cell whose
centre is (x0 + (j + 0.5) * cell_m, y0 + (i + 0.5) * cell_m). Rows follow +y, columns follow +x.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vsync_ros.geometry.camera import CalibrationError, Camera


@dataclass(frozen=True)
class GroundRegion:
    """Rectangular ground region sampled by square cells.

    Attributes:
        x0, y0: corner of the region (metres).
        width_m: extent along x (metres). height_m: extent along y (metres).
        cell_m: cell side (metres).
    """

    x0: float
    y0: float
    width_m: float
    height_m: float
    cell_m: float

    def __post_init__(self) -> None:
        vals = (self.x0, self.y0, self.width_m, self.height_m, self.cell_m)
        if not all(math.isfinite(v) for v in vals) or min(self.width_m, self.height_m, self.cell_m) <= 0:
            raise CalibrationError(f'invalid ground region {self}')

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the grid."""
        return int(round(self.height_m / self.cell_m)), int(round(self.width_m / self.cell_m))

    def with_cell(self, cell_m: float) -> GroundRegion:
        """Same region sampled with another cell size (e.g. 4x coarser for the network output)."""
        return GroundRegion(self.x0, self.y0, self.width_m, self.height_m, cell_m)

    def cell_centers(self) -> np.ndarray:
        """(rows, cols, 2) x, y of every cell centre, metres."""
        rows, cols = self.shape
        xs = self.x0 + (np.arange(cols) + 0.5) * self.cell_m
        ys = self.y0 + (np.arange(rows) + 0.5) * self.cell_m
        gx, gy = np.meshgrid(xs, ys)
        return np.stack([gx, gy], axis=-1)

    def world_to_cell(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) ground points (m) -> ((N, 2) int (row, col), (N,) bool inside the region)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        col = np.floor((xy[:, 0] - self.x0) / self.cell_m).astype(np.int64)
        row = np.floor((xy[:, 1] - self.y0) / self.cell_m).astype(np.int64)
        rows, cols = self.shape
        inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        return np.stack([row, col], axis=1), inside

    def cell_to_world(self, rc: np.ndarray) -> np.ndarray:
        """(N, 2) fractional (row, col) -> (N, 2) x, y in metres (integer indices give cell centres)."""
        rc = np.asarray(rc, dtype=np.float64).reshape(-1, 2)
        return np.stack([self.x0 + (rc[:, 1] + 0.5) * self.cell_m, self.y0 + (rc[:, 0] + 0.5) * self.cell_m], 1)

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """(N,) bool: ground points inside the region."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return ((xy[:, 0] >= self.x0) & (xy[:, 0] < self.x0 + self.width_m)
                & (xy[:, 1] >= self.y0) & (xy[:, 1] < self.y0 + self.height_m))

    def as_dict(self) -> dict:
        """Plain mapping (for YAML / checkpoints)."""
        return {'x0': self.x0, 'y0': self.y0, 'width_m': self.width_m, 'height_m': self.height_m,
                'cell_m': self.cell_m}


def ground_sampling_grid(camera: Camera, region: GroundRegion, height_m: float = 0.0, stride: int = 1,
                         feat_hw: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sampling grid that resamples a camera-view feature map onto the ground grid at z = height_m.

    Args:
        camera: calibration of the full-resolution image (camera.width x camera.height pixels).
        region: ground grid; the output has region.shape = (rows, cols).
        height_m: height of the plane the features are assumed to lie on (MVMS: person height 1.75 m,
            half height 0.875 m, or the ground 0).
        stride: feature-map stride in image pixels (feature pixel centre k <-> image pixel (k + 0.5) * s - 0.5).
        feat_hw: feature map size; default ceil(image size / stride).

    Returns:
        grid: (rows, cols, 2) float32 normalized (x, y) for ``torch.nn.functional.grid_sample`` with
            ``align_corners=False``; x indexes feature columns, y feature rows.
        mask: (rows, cols) bool, True where the cell projects inside the image in front of the camera.
    """
    rows, cols = region.shape
    if feat_hw is None:
        feat_hw = (math.ceil(camera.height / stride), math.ceil(camera.width / stride))
    fh, fw = feat_hw
    centers = region.cell_centers().reshape(-1, 2)
    pts = np.hstack([centers, np.full((centers.shape[0], 1), float(height_m))])
    uv, depth = camera.project(pts)
    mask = camera.in_image(uv) & (depth > 0)
    # image pixel u -> feature pixel (u + 0.5) / s - 0.5 -> normalized (2 * f + 1) / fw - 1
    gx = 2.0 * (uv[:, 0] + 0.5) / (stride * fw) - 1.0
    gy = 2.0 * (uv[:, 1] + 0.5) / (stride * fh) - 1.0
    grid = np.stack([gx, gy], axis=1)
    grid[~mask] = -2.0  # outside [-1, 1]: zero padding in grid_sample, and the mask zeroes it anyway
    return grid.reshape(rows, cols, 2).astype(np.float32), mask.reshape(rows, cols)


def depth_ratio_map(camera: Camera, ref_distance_m: float, stride: int = 1, height_m: float = 0.875,
                    feat_hw: tuple[int, int] | None = None) -> np.ndarray:
    """(H_f, W_f) float32 log2(distance / ref_distance_m) of each feature pixel's ray hit on z = height_m.

    MVMS uses this map (at person half-height) to pick the image-pyramid scale per pixel. Pixels
    whose ray misses the plane get the largest finite value of the map.
    """
    if feat_hw is None:
        feat_hw = (math.ceil(camera.height / stride), math.ceil(camera.width / stride))
    fh, fw = feat_hw
    u = (np.arange(fw) + 0.5) * stride - 0.5
    v = (np.arange(fh) + 0.5) * stride - 0.5
    gu, gv = np.meshgrid(u, v)
    pts = camera.backproject_to_plane(np.stack([gu.ravel(), gv.ravel()], 1), height_m)
    dist = np.linalg.norm(pts - camera.center, axis=1)
    ratio = np.log2(dist / ref_distance_m)
    finite = np.isfinite(ratio)
    fill = ratio[finite].max() if finite.any() else 0.0
    ratio[~finite] = fill
    return ratio.reshape(fh, fw).astype(np.float32)
