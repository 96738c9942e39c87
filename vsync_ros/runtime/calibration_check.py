"""Check a deployment's calibration (YAML file or CameraInfo) against the one the model uses (ROS-free).

The geometric comparison lives in :mod:`vsync_ros.geometry.calibration` (shared with the inference pipeline);
this module adds the CameraInfo and calibration-file front ends.
"""
from __future__ import annotations

from vsync_ros.geometry import CalibrationError, Camera, GroundRegion
from vsync_ros.geometry.calibration import check_calibration, check_region, probe_points, reprojection_difference_px

__all__ = ['check_calibration', 'check_camera_info', 'load_and_check', 'probe_points', 'reprojection_difference_px',
           'rig_region_problem']


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


def rig_region_problem(pipeline, region: GroundRegion) -> str:
    """'' when a rig's ground region is the counting model's (corner and extent, metres), else the difference.

    The cell size is not compared: the model's output grid has its own (``data.gp_cell_m`` of its training).
    Pose pipelines (``task`` 'pose') have no counting region: always ''.
    """
    if getattr(pipeline, 'task', 'counting') != 'counting':
        return ''
    model_region = pipeline.region
    return check_region(region.with_cell(model_region.cell_m), model_region)
