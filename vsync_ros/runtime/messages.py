"""Field values of the messages the replay node and the bag writer emit (ROS-free).

Both rclpy messages (live topics) and ``rosbags`` messages (bag files) are filled from these, so a bag
and a live replay carry identical data.
"""
from __future__ import annotations

import cv2
import numpy as np

from vsync_ros.geometry import Camera

GT_COUNT_TOPIC = 'ground_truth/count'      # geometry_msgs/PointStamped, point.x = people in the region
GT_DENSITY_TOPIC = 'ground_truth/density'  # sensor_msgs/Image 32FC1 on the ground grid
GT_JOINTS_TOPIC = 'ground_truth/joints'    # geometry_msgs/PoseArray, as the sync node's ~/joints (pose worlds)
IMAGE_TOPIC_FORMAT = '/{camera}/image_raw'
INFO_TOPIC_FORMAT = '/{camera}/camera_info'


def camera_info_fields(cam: Camera) -> dict:
    """sensor_msgs/CameraInfo fields (no header) of a calibrated camera: R = I, P = K [I | 0].

    ``distortion_model`` and ``d`` are the camera's: plumb_bob (5 coefficients) or rational_polynomial (8).
    """
    P = np.hstack([cam.K, np.zeros((3, 1))])
    return {
        'height': int(cam.height), 'width': int(cam.width), 'distortion_model': cam.distortion_model,
        'd': [float(x) for x in cam.dist], 'k': [float(x) for x in cam.K.ravel()],
        'r': [float(x) for x in np.eye(3).ravel()], 'p': [float(x) for x in P.ravel()],
    }


def encode_rgb(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """Convert an (H, W, 3) RGB image to the array layout of ``encoding`` (rgb8, bgr8 or mono8)."""
    if encoding == 'rgb8':
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    if encoding == 'bgr8':
        return np.ascontiguousarray(rgb[:, :, ::-1], dtype=np.uint8)
    if encoding == 'mono8':
        return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    raise ValueError(f'cannot publish encoding {encoding!r} (rgb8, bgr8 or mono8)')


def topic_for(fmt: str, cam: Camera) -> str:
    """Expand a topic format (``{camera}`` = camera name)."""
    return fmt.format(camera=cam.name)


def joint_positions(joints) -> np.ndarray:
    """(P, J, 3) joints in metres (or None) -> (P * J, 3) float64 positions, person-major (PoseArray order)."""
    if joints is None:
        return np.zeros((0, 3))
    return np.asarray(joints, dtype=np.float64).reshape(-1, 3)


def positions_to_joints(positions, num_joints: int = 17) -> np.ndarray:
    """(P * J, 3) PoseArray positions -> (P, J, 3); raises ValueError when the count is not a multiple of J."""
    xyz = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if len(xyz) % num_joints:
        raise ValueError(f'{len(xyz)} poses are not a whole number of {num_joints}-joint skeletons')
    return xyz.reshape(-1, num_joints, 3)
