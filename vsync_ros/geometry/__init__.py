"""Geometry layer.

Calibrated cameras (ROS camera_info YAML + extrinsics), projection, ground-plane grids, fundamental
matrices and epipolar weight masks, calibration comparison, the built-in rigs.

Pure NumPy / OpenCV functions; pixels for image coordinates, metres for the world (z up, ground z = 0).
May import: numpy, opencv, yaml and the base modules (vsync_ros.paths, vsync_ros.yaml_config); nothing
else of vsync_ros.
"""
from vsync_ros.geometry.camera import CalibrationError, Camera, cameras_at_resolution, load_cameras
from vsync_ros.geometry.epipolar import (
    EpipolarMaskCache,
    epipolar_lines,
    epipolar_weight_mask,
    fundamental_matrix,
    point_line_distance,
)
from vsync_ros.geometry.ground import GroundRegion, depth_ratio_map, ground_sampling_grid

__all__ = [
    'CalibrationError', 'Camera', 'EpipolarMaskCache', 'GroundRegion', 'cameras_at_resolution', 'depth_ratio_map',
    'epipolar_lines', 'epipolar_weight_mask', 'fundamental_matrix', 'ground_sampling_grid',
    'load_cameras', 'point_line_distance',
]
