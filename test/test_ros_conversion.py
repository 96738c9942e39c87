"""Image conversion (NumPy and cv_bridge paths) and density colour mapping, without a ROS graph."""
from __future__ import annotations

import array
from types import SimpleNamespace

import numpy as np
import pytest

from vsync_ros.reports.colormap import colorize_density
from vsync_ros.ros.image_conversion import have_cv_bridge, image_to_rgb, make_image_msg
from vsync_ros.runtime.images import (
    ImageFormatError,
    check_image,
    fill_image_msg,
    float_image_to_array,
    numpy_image_to_rgb,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def padded_msg(arr: np.ndarray, encoding: str, pad: int, container=bytes):
    """An image message whose rows carry ``pad`` junk bytes (step > width * channels)."""
    rows = arr.reshape(arr.shape[0], -1)
    junk = np.full((rows.shape[0], pad), 0xAB, np.uint8)
    data = np.hstack([rows, junk]).tobytes()
    return SimpleNamespace(height=arr.shape[0], width=arr.shape[1], encoding=encoding, is_bigendian=0,
                           step=rows.shape[1] + pad, data=container(data))


@pytest.mark.parametrize('container', [bytes, bytearray, lambda b: array.array('B', b),
                                       lambda b: np.frombuffer(b, np.uint8), list])
@pytest.mark.parametrize('pad', [0, 3])
def test_rgb8_honours_step_and_any_buffer(pad, container):
    out = numpy_image_to_rgb(padded_msg(RGB, 'rgb8', pad, container))
    assert out.dtype == np.uint8 and out.shape == RGB.shape
    np.testing.assert_array_equal(out, RGB)


def test_bgr8_and_mono8():
    np.testing.assert_array_equal(numpy_image_to_rgb(padded_msg(RGB[:, :, ::-1].copy(), 'bgr8', 2)), RGB)
    gray = RGB[:, :, 0].copy()
    out = numpy_image_to_rgb(padded_msg(gray, 'mono8', 1))
    assert out.shape == (5, 7, 3) and np.all(out == gray[:, :, None])


def test_last_row_without_padding_is_accepted():
    msg = padded_msg(RGB, 'rgb8', 4)
    msg.data = msg.data[:-4]  # some drivers omit the padding of the last row
    np.testing.assert_array_equal(numpy_image_to_rgb(msg), RGB)


@pytest.mark.parametrize('mutate,match', [
    (lambda m: setattr(m, 'encoding', 'rgba8'), "unsupported encoding 'rgba8'"),
    (lambda m: setattr(m, 'encoding', '16UC1'), 'supported: rgb8, bgr8, mono8'),
    (lambda m: setattr(m, 'step', 10), 'step 10 is smaller'),
    (lambda m: setattr(m, 'data', m.data[:20]), 'data has 20 bytes'),
    (lambda m: setattr(m, 'height', 0), 'empty image'),
])
def test_rejects_with_clear_errors(mutate, match):
    msg = padded_msg(RGB, 'rgb8', 0)
    mutate(msg)
    with pytest.raises(ImageFormatError, match=match):
        numpy_image_to_rgb(msg)


def test_size_check_and_resize():
    msg = fill_image_msg(SimpleNamespace(), np.zeros((60, 80, 3), np.uint8), 'rgb8')
    check_image(msg, (80, 60))
    check_image(msg, (40, 30), allow_resize=True)  # same aspect ratio
    with pytest.raises(ImageFormatError, match='resizing is disabled'):
        check_image(msg, (40, 30), allow_resize=False)
    with pytest.raises(ImageFormatError, match='aspect ratio differs'):
        check_image(msg, (40, 40))
    grad = np.tile(np.arange(80, dtype=np.uint8)[None, :, None], (60, 1, 3))
    out = image_to_rgb(fill_image_msg(SimpleNamespace(), grad, 'rgb8'), (40, 30), backend='numpy')
    assert out.shape == (30, 40, 3) and abs(int(out[0, 20, 0]) - 40) <= 1
    with pytest.raises(ValueError, match='backend'):
        image_to_rgb(msg, backend='pil')


def test_float_image_roundtrip_with_padding_and_endianness():
    d = RNG.random((4, 6)).astype(np.float32)
    msg = fill_image_msg(SimpleNamespace(), d, '32FC1')
    assert msg.step == 24 and msg.encoding == '32FC1' and isinstance(msg.data, bytes)
    np.testing.assert_array_equal(float_image_to_array(msg), d)
    be = SimpleNamespace(height=4, width=6, encoding='32FC1', is_bigendian=1, step=28,
                         data=np.hstack([d.astype('>f4').view(np.uint8).reshape(4, 24),
                                         np.zeros((4, 4), np.uint8)]).tobytes())
    np.testing.assert_array_equal(float_image_to_array(be), d)
    with pytest.raises(ImageFormatError):
        float_image_to_array(fill_image_msg(SimpleNamespace(), RGB, 'rgb8'))


def test_rclpy_message_uses_bytes_assignment():
    sensor_msgs = pytest.importorskip('sensor_msgs.msg', reason='sensor_msgs (rclpy messages) not installed')
    from std_msgs.msg import Header
    header = Header(frame_id='world')
    header.stamp.sec, header.stamp.nanosec = 12, 34
    msg = make_image_msg(RGB, 'rgb8', header)
    assert isinstance(msg, sensor_msgs.Image)
    assert (msg.height, msg.width, msg.step, msg.encoding) == (5, 7, 21, 'rgb8')
    assert msg.header.stamp.nanosec == 34 and msg.header.frame_id == 'world'
    np.testing.assert_array_equal(image_to_rgb(msg, backend='numpy'), RGB)
    for bad in (np.zeros((2, 2, 3)), np.zeros((2, 2))):
        with pytest.raises(ValueError):
            make_image_msg(bad, 'mono8' if bad.ndim == 3 else 'rgb8')


def test_auto_backend_matches_numpy_here():
    msg = make_image_msg(RGB[:, :, ::-1], 'bgr8') if _have_msgs() else fill_image_msg(
        SimpleNamespace(), RGB[:, :, ::-1], 'bgr8')
    np.testing.assert_array_equal(image_to_rgb(msg, backend='auto'), RGB)


def _have_msgs() -> bool:
    try:
        import sensor_msgs.msg  # noqa: F401
        return True
    except ImportError:
        return False


def test_cv_bridge_and_numpy_give_identical_arrays():
    pytest.importorskip('cv_bridge', reason='cv_bridge is not installed (not on PyPI for ROS 2)')
    if not have_cv_bridge():
        pytest.skip('cv_bridge is importable but its C++ extension does not work here')
    for enc, arr in (('rgb8', RGB), ('bgr8', RGB[:, :, ::-1].copy()), ('mono8', RGB[:, :, 0].copy())):
        msg = make_image_msg(arr, enc)
        np.testing.assert_array_equal(image_to_rgb(msg, backend='cv_bridge'), image_to_rgb(msg, backend='numpy'))
    padded = make_image_msg(RGB, 'rgb8')
    padded.step, padded.data = 24, np.hstack([RGB.reshape(5, 21), np.zeros((5, 3), np.uint8)]).tobytes()
    np.testing.assert_array_equal(image_to_rgb(padded, backend='cv_bridge'), RGB)


def test_cv_bridge_backend_fails_clearly_when_unusable():
    if have_cv_bridge():
        pytest.skip('cv_bridge works here')
    with pytest.raises(RuntimeError, match='cv_bridge is not usable'):
        image_to_rgb(fill_image_msg(SimpleNamespace(), RGB, 'rgb8'), backend='cv_bridge')


# ------------------------------------------------------------------------------------------ colour map
def test_colorize_density():
    d = np.zeros((4, 5), np.float32)
    d[1, 2] = 2.0
    d[3, 4] = np.nan
    img = colorize_density(d)
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8 and img.flags.c_contiguous
    assert not np.array_equal(img[1, 2], img[0, 0])  # the peak has the top colour
    np.testing.assert_array_equal(img[3, 4], img[0, 0])  # NaN shown as 0
    fixed = colorize_density(d, vmax=4.0)
    assert not np.array_equal(fixed[1, 2], img[1, 2])  # half-scale colour
    np.testing.assert_array_equal(colorize_density(np.zeros((2, 2))), colorize_density(np.zeros((2, 2)), 1.0))
    top = colorize_density(np.ones((1, 1)), colormap='viridis')[0, 0]
    assert top[1] > top[2]  # viridis ends in yellow (RGB order, not BGR)
    with pytest.raises(ValueError):
        colorize_density(d, colormap='rainbow')
    with pytest.raises(ValueError):
        colorize_density(np.zeros(3))


# ------------------------------------------------------------------------------------------ CameraInfo
def _rational_and_plumb_bob_cameras():
    from vsync_ros.geometry import Camera
    from vsync_ros.geometry.presets import plaza_cameras

    base = plaza_cameras()[1]
    rational = Camera('rat', base.width, base.height, base.K,
                      np.array([2.1, 0.85, 5e-4, -3e-4, 0.04, 2.47, 1.35, 0.12]), base.R, base.t)
    return [rational, base]


def test_camera_info_message_round_trip_keeps_the_distortion_model():
    sensor_msgs = pytest.importorskip('sensor_msgs.msg', reason='sensor_msgs not installed')
    from vsync_ros.geometry import Camera
    from vsync_ros.runtime.messages import camera_info_fields

    for cam in _rational_and_plumb_bob_cameras():
        msg = sensor_msgs.CameraInfo(**camera_info_fields(cam))
        assert msg.distortion_model == cam.distortion_model and len(msg.d) == cam.dist.size
        back = Camera.from_camera_info(msg, cam.R, cam.t, name=cam.name)
        assert back.distortion_model == cam.distortion_model and np.array_equal(back.dist, cam.dist)
        assert back.fingerprint() == cam.fingerprint()


def test_bag_camera_info_keeps_the_distortion_model():
    pytest.importorskip('rosbags', reason='rosbags not installed')
    from vsync_ros.geometry import Camera
    from vsync_ros.runtime.bags import _camera_info

    for cam in _rational_and_plumb_bob_cameras():
        msg = _camera_info(cam, 123)
        assert msg.distortion_model == cam.distortion_model
        back = Camera.from_camera_info(msg, cam.R, cam.t, name=cam.name)
        assert back.fingerprint() == cam.fingerprint()
