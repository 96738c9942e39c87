"""Compare a deployment's calibration with the one a model was trained with (ROS-free).

Used by :mod:`vsync_ros.inference.pipeline` (refuses a checkpoint whose calibration disagrees with the given
cameras) and by the sync node (:mod:`vsync_ros.runtime.calibration_check`: calibration files, CameraInfo).
The comparison is geometric: both calibrations project the same world points spread over the ground
region (feet and head height), and the largest pixel distance is compared with a tolerance, so small
rounding differences in a YAML file pass and a moved camera or another lens does not.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from vsync_ros.geometry import Camera, GroundRegion

ASPECT_TOLERANCE = 0.01  # relative difference of width / height accepted as "the same aspect ratio"


def probe_points(region: GroundRegion, n: int = 9) -> np.ndarray:
    """(2 n^2, 3) world points spread over the region at feet (z = 0) and head (z = 1.7 m) height, metres."""
    xs = np.linspace(region.x0, region.x0 + region.width_m, n)
    ys = np.linspace(region.y0, region.y0 + region.height_m, n)
    gx, gy = np.meshgrid(xs, ys)
    flat = np.stack([gx.ravel(), gy.ravel()], 1)
    return np.vstack([np.hstack([flat, np.zeros((len(flat), 1))]), np.hstack([flat, np.full((len(flat), 1), 1.7)])])


def same_aspect(width: int, height: int, ref_width: int, ref_height: int, tolerance: float = ASPECT_TOLERANCE) -> bool:
    """True when ``width x height`` has the aspect ratio of ``ref_width x ref_height`` within ``tolerance``."""
    return abs(width * ref_height - height * ref_width) <= tolerance * ref_width * height


def reprojection_difference_px(candidate: Camera, model_cam: Camera, region: GroundRegion) -> float:
    """Largest pixel distance (in the model's image size) between where the two calibrations put points.

    ``candidate`` is first rescaled to the model camera's image size. Points outside the model camera's
    image or behind it are ignored; if none is visible, the image corners' rays are compared instead.
    """
    cand = candidate if (candidate.width, candidate.height) == (model_cam.width, model_cam.height) \
        else candidate.scaled(model_cam.width, model_cam.height)
    pts = probe_points(region)
    uv_m, depth_m = model_cam.project(pts)
    vis = model_cam.in_image(uv_m) & (depth_m > 0)
    if not np.any(vis):
        return _ray_difference_px(cand, model_cam)
    uv_c, depth_c = cand.project(pts[vis])
    diff = np.linalg.norm(uv_c - uv_m[vis], axis=1)
    diff[~np.isfinite(diff) | (depth_c <= 0)] = np.inf
    return float(diff.max())


def _ray_difference_px(cand: Camera, model_cam: Camera) -> float:
    w, h = model_cam.width, model_cam.height
    uv = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1], [(w - 1) / 2, (h - 1) / 2]], float)
    pts = model_cam.center + model_cam.pixel_rays(uv) * 10.0
    uv_c, _ = cand.project(pts)
    return float(np.nanmax(np.linalg.norm(uv_c - uv, axis=1)))


def check_calibration(candidate: Camera, model_cam: Camera, region: GroundRegion, tolerance_px: float) -> str:
    """'' when ``candidate`` agrees with ``model_cam`` within ``tolerance_px`` (model pixels), else the reason."""
    if not same_aspect(candidate.width, candidate.height, model_cam.width, model_cam.height):
        return (f'image size {candidate.width}x{candidate.height} has another aspect ratio than the model\'s '
                f'{model_cam.width}x{model_cam.height}')
    diff = reprojection_difference_px(candidate, model_cam, region)
    if not diff <= tolerance_px:
        return (f'calibration differs from the one the model uses by {diff:.3g} px '
                f'(tolerance {tolerance_px:g} px)')
    return ''


def check_region(given: GroundRegion, model_region: GroundRegion, rel_tol: float = 1e-6) -> str:
    """'' when two ground regions are the same grid (corner, extent, cell size), else the first difference."""
    for name, value in model_region.as_dict().items():
        other = float(getattr(given, name))
        if not math.isclose(other, value, rel_tol=rel_tol, abs_tol=1e-6):
            return f'ground region {name} is {other:g} but the model\'s is {value:g} ({model_region.shape} cells)'
    return ''


def rig_region(cameras: Sequence[Camera], cell_m: float = 0.5, margin_m: float = 0.5) -> GroundRegion:
    """Ground rectangle spanning the camera centres plus ``margin_m`` (metres), on a grid of ``cell_m``.

    The nominal region of a rig without a counting region (pose): calibration probes and markers use it.
    """
    c = np.array([cam.center for cam in cameras], dtype=np.float64)
    lo = np.floor((c[:, :2].min(axis=0) - margin_m) / cell_m) * cell_m
    hi = np.ceil((c[:, :2].max(axis=0) + margin_m) / cell_m) * cell_m
    return GroundRegion(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]), cell_m)


def compare_rigs(model_cameras: Sequence[Camera], cameras: Sequence[Camera], probe_region: GroundRegion,
                 tolerance_px: float, model_region: GroundRegion | None = None,
                 region: GroundRegion | None = None) -> str:
    """'' when ``cameras`` (and ``region``) are the rig a model was trained on, else the first difference.

    The one calibration comparison of the package: checkpoints against data sets, pipelines against a
    deployment's calibration files, the demo's models against its world all call it.

    Args:
        model_cameras: the model's calibration per view (any resolution).
        cameras: the calibration to check, same view order (any resolution with the same aspect ratio).
        probe_region: ground area whose points (feet and head height) both calibrations project.
        tolerance_px: largest accepted reprojection difference, in model-camera pixels.
        model_region, region: the ground grids to compare (skipped when either is None).

    Returns:
        '' or a reason naming the view (index and camera name) or the region field.
    """
    if len(cameras) != len(model_cameras):
        names = ', '.join(c.name for c in model_cameras)
        return f'{len(model_cameras)} views expected ({names}), {len(cameras)} given'
    for v, (model_cam, cam) in enumerate(zip(model_cameras, cameras)):
        reason = check_calibration(cam, model_cam, probe_region, tolerance_px)
        if reason:
            return (f'view {v} ({model_cam.name}): {reason} (given {cam.name!r} {cam.width}x{cam.height}, '
                    f'model {model_cam.width}x{model_cam.height})')
    if model_region is not None and region is not None:
        return check_region(region, model_region)
    return ''
