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
IMAGE_TOPIC_FORMAT = '/{camera}/image_raw'
INFO_TOPIC_FORMAT = '/{camera}/camera_info'


def camera_info_fields(cam: Camera) -> dict:
    """sensor_msgs/CameraInfo fields (no header) of a calibrated camera: plumb_bob, R = I, P = K [I | 0]."""
    P = np.hstack([cam.K, np.zeros((3, 1))])
    return {
        'height': int(cam.height), 'width': int(cam.width), 'distortion_model': 'plumb_bob',
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
