"""sensor_msgs/Image fields <-> NumPy, ROS-free.

Reading works on any object with the ``sensor_msgs/Image`` fields (rclpy messages, ``rosbags``
messages), honours ``step`` row padding, and accepts ``rgb8``, ``bgr8`` and ``mono8`` (anything else
is rejected with :class:`ImageFormatError`). Writing assigns ``msg.data = array.tobytes()``
(assigning a NumPy array to an rclpy message field is two orders of magnitude slower). The rclpy
side (cv_bridge, new rclpy messages) is :mod:`vsync_ros.ros.image_conversion`.
"""
from __future__ import annotations

import sys
from collections.abc import Callable

import cv2
import numpy as np

SUPPORTED_ENCODINGS = ('rgb8', 'bgr8', 'mono8')
_CHANNELS = {'rgb8': 3, 'bgr8': 3, 'mono8': 1}


class ImageFormatError(ValueError):
    """An image message cannot be used: unsupported encoding, inconsistent size, step or data length."""


def _buffer(data) -> np.ndarray:
    """The message payload as a flat uint8 array (no copy where possible)."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def check_image(msg, expected_wh: tuple[int, int] | None = None, allow_resize: bool = True) -> None:
    """Raise :class:`ImageFormatError` unless ``msg`` is a usable camera image.

    Args:
        msg: a sensor_msgs/Image (any implementation).
        expected_wh: (width, height) the model needs; None skips the size check.
        allow_resize: accept another size with the same aspect ratio (within 1 %), to be resized.
    """
    enc = str(msg.encoding).lower()
    if enc not in _CHANNELS:
        raise ImageFormatError(f'unsupported encoding {msg.encoding!r} (supported: {", ".join(SUPPORTED_ENCODINGS)})')
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ImageFormatError(f'empty image ({w}x{h})')
    row = w * _CHANNELS[enc]
    if step < row:
        raise ImageFormatError(f'step {step} is smaller than width x channels = {row}')
    n = len(msg.data)
    if n < step * (h - 1) + row:
        raise ImageFormatError(f'data has {n} bytes, {w}x{h} {enc} with step {step} needs {step * h}')
    if expected_wh is not None and (w, h) != tuple(expected_wh):
        ew, eh = expected_wh
        same_aspect = abs(w * eh - h * ew) <= 0.01 * ew * h
        if not (allow_resize and same_aspect):
            why = 'resizing is disabled' if same_aspect else 'the aspect ratio differs'
            raise ImageFormatError(f'image is {w}x{h}, the model expects {ew}x{eh} ({why})')


def numpy_image_to_rgb(msg) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an rgb8 / bgr8 / mono8 image message (pure NumPy; copies)."""
    check_image(msg)
    enc = str(msg.encoding).lower()
    h, w, step, c = int(msg.height), int(msg.width), int(msg.step), _CHANNELS[enc]
    buf = _buffer(msg.data)
    if buf.size < h * step:  # the last row may lack its padding
        buf = np.concatenate([buf, np.zeros(h * step - buf.size, np.uint8)])
    rows = buf[:h * step].reshape(h, step)[:, :w * c].reshape(h, w, c)
    if enc == 'rgb8':
        return rows.copy()
    if enc == 'bgr8':
        return np.ascontiguousarray(rows[:, :, ::-1])
    return np.repeat(rows, 3, axis=2)


def resize_rgb(rgb: np.ndarray, size_wh: tuple[int, int] | None) -> np.ndarray:
    """``rgb`` resized to ``size_wh`` = (W, H) (area when shrinking, bilinear when enlarging); as is when None."""
    if size_wh is None or (rgb.shape[1], rgb.shape[0]) == tuple(size_wh):
        return rgb
    shrink = size_wh[0] < rgb.shape[1]
    return cv2.resize(rgb, tuple(int(v) for v in size_wh), interpolation=cv2.INTER_AREA if shrink
                      else cv2.INTER_LINEAR)


def image_to_rgb(msg, size_wh: tuple[int, int] | None = None,
                 convert: Callable[[object], np.ndarray] = numpy_image_to_rgb) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an image message (``convert``, default NumPy), resized to ``size_wh`` = (W, H)."""
    return resize_rgb(convert(msg), size_wh)


def float_image_to_array(msg) -> np.ndarray:
    """(H, W) float32 from a ``32FC1`` image message (honours ``step`` and ``is_bigendian``)."""
    if str(msg.encoding).upper() != '32FC1':
        raise ImageFormatError(f'expected encoding 32FC1, got {msg.encoding!r}')
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if step < 4 * w or len(msg.data) < step * (h - 1) + 4 * w:
        raise ImageFormatError(f'32FC1 image {w}x{h}: step {step} / {len(msg.data)} bytes are inconsistent')
    buf = _buffer(msg.data)
    if buf.size < h * step:
        buf = np.concatenate([buf, np.zeros(h * step - buf.size, np.uint8)])
    dtype = np.dtype('>f4') if msg.is_bigendian else np.dtype('<f4')
    rows = buf[:h * step].reshape(h, step)[:, :4 * w]
    return np.ascontiguousarray(rows).view(dtype).reshape(h, w).astype(np.float32)


def fill_image_msg(msg, array: np.ndarray, encoding: str):
    """Fill ``msg`` (sensor_msgs/Image, header untouched) from an (H, W[, C]) array; returns ``msg``.

    Encodings: ``rgb8`` / ``bgr8`` ((H, W, 3) uint8), ``mono8`` ((H, W) uint8), ``32FC1`` ((H, W) float).
    """
    if encoding in ('rgb8', 'bgr8'):
        arr = np.ascontiguousarray(array, dtype=np.uint8)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f'{encoding} needs an (H, W, 3) array, got {arr.shape}')
    elif encoding == 'mono8':
        arr = np.ascontiguousarray(array, dtype=np.uint8)
        if arr.ndim != 2:
            raise ValueError(f'mono8 needs an (H, W) array, got {arr.shape}')
    elif encoding == '32FC1':
        arr = np.ascontiguousarray(array, dtype=np.float32)
        if arr.ndim != 2:
            raise ValueError(f'32FC1 needs an (H, W) array, got {arr.shape}')
    else:
        raise ValueError(f'cannot write encoding {encoding!r}')
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(sys.byteorder == 'big' and arr.dtype.itemsize > 1)
    msg.step = int(arr.strides[0])
    msg.data = arr.tobytes()
    return msg
