"""Check a deployment's calibration (YAML file or CameraInfo) against the one the model uses (ROS-free)."""
from __future__ import annotations

import numpy as np

from vsync_ros.geometry import CalibrationError, Camera, GroundRegion


def probe_points(region: GroundRegion, n: int = 9) -> np.ndarray:
    """(2 n^2, 3) world points spread over the region at feet (z = 0) and head (z = 1.7 m) height."""
    xs = np.linspace(region.x0, region.x0 + region.width_m, n)
    ys = np.linspace(region.y0, region.y0 + region.height_m, n)
    gx, gy = np.meshgrid(xs, ys)
    flat = np.stack([gx.ravel(), gy.ravel()], 1)
    return np.vstack([np.hstack([flat, np.zeros((len(flat), 1))]), np.hstack([flat, np.full((len(flat), 1), 1.7)])])


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
    """'' when ``candidate`` agrees with ``model_cam`` within ``tolerance_px``, else the reason."""
    if abs(candidate.width * model_cam.height - candidate.height * model_cam.width) > \
            0.01 * model_cam.width * candidate.height:
        return (f'image size {candidate.width}x{candidate.height} has another aspect ratio than the model\'s '
                f'{model_cam.width}x{model_cam.height}')
    diff = reprojection_difference_px(candidate, model_cam, region)
    if not diff <= tolerance_px:
        return (f'calibration differs from the one the model uses by {diff:.1f} px '
                f'(tolerance {tolerance_px:g} px)')
    return ''


def check_camera_info(msg, model_cam: Camera, region: GroundRegion, tolerance_px: float) -> str:
    """'' when a sensor_msgs/CameraInfo's intrinsics agree with the model camera, else the reason.

    The extrinsics are the model camera's (CameraInfo carries none). NaN / inf values, a zero focal
    length or an unsupported distortion model give a reason too.
    """
    try:
        cam = Camera.from_camera_info(msg, model_cam.R, model_cam.t, name=model_cam.name)
    except CalibrationError as exc:
        return f'invalid CameraInfo: {exc}'
    return check_calibration(cam, model_cam, region, tolerance_px)


def load_and_check(path, model_cam: Camera, region: GroundRegion, tolerance_px: float) -> tuple[Camera | None, str]:
    """Load a calibration YAML and check it; returns (camera or None, reason or '')."""
    try:
        cam = Camera.from_yaml(path)
    except CalibrationError as exc:
        return None, str(exc)
    return cam, check_calibration(cam, model_cam, region, tolerance_px)
