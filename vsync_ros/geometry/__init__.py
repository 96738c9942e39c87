"""ROS-free camera geometry: calibrated cameras, ground-plane grids, epipolar geometry."""
from vsync_ros.geometry.camera import CalibrationError, Camera, load_cameras
from vsync_ros.geometry.epipolar import (
    EpipolarMaskCache,
    epipolar_lines,
    epipolar_weight_mask,
    fundamental_matrix,
    point_line_distance,
)
from vsync_ros.geometry.ground import GroundRegion, depth_ratio_map, ground_sampling_grid

__all__ = [
    'CalibrationError', 'Camera', 'EpipolarMaskCache', 'GroundRegion', 'depth_ratio_map',
    'epipolar_lines', 'epipolar_weight_mask', 'fundamental_matrix', 'ground_sampling_grid',
    'load_cameras', 'point_line_distance',
]
