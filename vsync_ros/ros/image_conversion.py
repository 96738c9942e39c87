"""rclpy side of image conversion: cv_bridge when it works, new rclpy ``sensor_msgs/Image`` messages.

The ROS-free conversion (any object with the Image fields) is :mod:`vsync_ros.runtime.images`; cv_bridge
is used when it is importable *and* works (its Python part needs its C++ extension), otherwise the
NumPy conversion does the job.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from vsync_ros.runtime import images
from vsync_ros.runtime.images import check_image, fill_image_msg, numpy_image_to_rgb


@lru_cache(maxsize=1)
def _cv_bridge():
    """A working ``cv_bridge.CvBridge`` or None (not installed, or its C++ extension is missing/broken)."""
    try:
        from cv_bridge import CvBridge
        from sensor_msgs.msg import Image
        bridge = CvBridge()
        bridge.imgmsg_to_cv2(Image(height=1, width=1, encoding='rgb8', step=3, data=bytes(3)), 'rgb8')
        return bridge
    except Exception:  # noqa: BLE001 - any failure means "not usable here"
        return None


def have_cv_bridge() -> bool:
    """True when cv_bridge is importable and its conversion works in this environment."""
    return _cv_bridge() is not None


def cv_bridge_image_to_rgb(msg) -> np.ndarray:
    """(H, W, 3) uint8 RGB through cv_bridge (``imgmsg_to_cv2(msg, 'rgb8')``); RuntimeError without it."""
    check_image(msg)
    bridge = _cv_bridge()
    if bridge is None:
        raise RuntimeError('cv_bridge is not usable in this environment')
    return np.ascontiguousarray(bridge.imgmsg_to_cv2(msg, desired_encoding='rgb8'))


def image_to_rgb(msg, size_wh: tuple[int, int] | None = None, backend: str = 'auto') -> np.ndarray:
    """(H, W, 3) uint8 RGB from an image message, resized to ``size_wh`` = (W, H) when given.

    Args:
        backend: ``'auto'`` (cv_bridge if usable, else NumPy), ``'numpy'`` or ``'cv_bridge'``.
    """
    if backend not in ('auto', 'numpy', 'cv_bridge'):
        raise ValueError(f'unknown conversion backend {backend!r}')
    is_rclpy_msg = type(msg).__module__.startswith('sensor_msgs.')  # cv_bridge needs rclpy messages
    use_bridge = backend == 'cv_bridge' or (backend == 'auto' and is_rclpy_msg and have_cv_bridge())
    return images.image_to_rgb(msg, size_wh, cv_bridge_image_to_rgb if use_bridge else numpy_image_to_rgb)


def make_image_msg(array: np.ndarray, encoding: str, header=None):
    """A new rclpy ``sensor_msgs/Image`` from an array (see :func:`fill_image_msg`), with ``header``."""
    from sensor_msgs.msg import Image
    msg = Image()
    if header is not None:
        msg.header = header
    return fill_image_msg(msg, array, encoding)
