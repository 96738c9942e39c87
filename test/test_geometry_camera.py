"""Camera projection / back-projection against OpenCV as the oracle; calibration YAML errors."""
import logging
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from vsync_ros.geometry import CalibrationError, Camera
from vsync_ros.geometry.camera import nearest_rotation, rotation_deviation
from vsync_ros.geometry.presets import plaza_cameras, studio_cameras


def _random_points(cam: Camera, n: int, rng: np.random.Generator) -> np.ndarray:
    """World points in front of the camera that land inside the image."""
    uv = rng.uniform([0, 0], [cam.width - 1, cam.height - 1], size=(n, 2))
    depth = rng.uniform(2.0, 30.0, size=n)
    rays = cam.pixel_rays(uv)
    # place points at given distance along each ray
    return cam.center + rays * depth[:, None]


@pytest.mark.parametrize('cam', plaza_cameras() + studio_cameras(), ids=lambda c: c.name)
def test_projection_matches_cv2_projectPoints(cam):
    rng = np.random.default_rng(0)
    pts = _random_points(cam, 500, rng)
    uv, depth = cam.project(pts)
    rvec, _ = cv2.Rodrigues(cam.R)
    ref, _ = cv2.projectPoints(pts.reshape(-1, 1, 3), rvec, cam.t, cam.K, cam.dist)
    assert np.all(depth > 0)
    assert np.max(np.abs(uv - ref.reshape(-1, 2))) < 1e-3


def test_distortion_is_exercised():
    cam = plaza_cameras()[1]
    assert cam.has_distortion and cam.dist[2] != 0  # tangential terms too
    pts = _random_points(cam, 50, np.random.default_rng(1))
    assert np.max(np.abs(cam.project(pts)[0] - cam.project(pts, distort=False)[0])) > 0.5


def test_points_behind_camera_are_nan():
    cam = plaza_cameras()[0]
    behind = cam.center - 5.0 * cam.R[2]  # 5 m behind along the optical axis
    uv, depth = cam.project(behind[None])
    assert depth[0] < 0 and np.all(np.isnan(uv))


@pytest.mark.parametrize('cam', plaza_cameras(), ids=lambda c: c.name)
def test_undistort_matches_cv2(cam):
    rng = np.random.default_rng(2)
    uv = rng.uniform([0, 0], [cam.width - 1, cam.height - 1], size=(300, 2))
    ours = cam.undistort_pixels(uv)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
    ref = cv2.undistortPoints(uv.reshape(-1, 1, 2), cam.K, cam.dist, R=np.eye(3), P=np.eye(3), criteria=crit)
    ref = ref.reshape(-1, 2)
    assert np.max(np.abs(ours - ref)) < 1e-6


@pytest.mark.parametrize('height', [0.0, 0.875, 1.75])
def test_backprojection_round_trip(height):
    cam = plaza_cameras()[2]
    rng = np.random.default_rng(3)
    uv = rng.uniform([0, 100], [cam.width - 1, cam.height - 1], size=(400, 2))
    pts = cam.backproject_to_plane(uv, height)
    ok = np.all(np.isfinite(pts), axis=1)
    assert ok.mean() > 0.9
    assert np.allclose(pts[ok, 2], height)
    uv2, _ = cam.project(pts[ok])
    assert np.max(np.abs(uv2 - uv[ok])) < 1e-4


def test_ray_above_horizon_misses_ground():
    cam = plaza_cameras()[0]
    # a ray pointing upward never meets z = 0 in front of the camera
    up_point = cam.center + np.array([0.0, 0.0, 10.0]) + 5.0 * cam.R[2]
    uv, _ = cam.project(up_point[None], distort=False)
    assert np.all(np.isnan(cam.backproject_to_plane(uv, 0.0)))


def test_yaml_round_trip(tmp_path):
    cam = plaza_cameras()[1]
    cam.to_yaml(tmp_path / 'c.yaml')
    back = Camera.from_yaml(tmp_path / 'c.yaml')
    assert back.name == cam.name and (back.width, back.height) == (cam.width, cam.height)
    for a in ('K', 'dist', 'R', 't'):
        assert np.allclose(getattr(back, a), getattr(cam, a), atol=1e-12)
    assert back.fingerprint() == cam.fingerprint()


def test_shipped_calibrations_load_and_match_presets(repo_root):
    for rig, cams in (('plaza', plaza_cameras()), ('studio', studio_cameras())):
        for cam in cams:
            loaded = Camera.from_yaml(repo_root / 'config' / 'cameras' / rig / f'{cam.name}.yaml')
            assert loaded.fingerprint() == cam.fingerprint()


def test_from_camera_info_message_fields():
    cam = studio_cameras()[0]
    msg = SimpleNamespace(width=cam.width, height=cam.height, k=list(cam.K.ravel()), d=list(cam.dist),
                          distortion_model='plumb_bob', header=SimpleNamespace(frame_id='cam1_optical'))
    built = Camera.from_camera_info(msg, cam.R, cam.t, name='cam1')
    assert built.fingerprint() == cam.fingerprint() and built.frame_id == 'cam1_optical'


def test_from_real_camera_info_message():
    sensor_msgs = pytest.importorskip('sensor_msgs.msg', reason='sensor_msgs not installed')
    cam = plaza_cameras()[0]
    msg = sensor_msgs.CameraInfo(width=cam.width, height=cam.height, distortion_model='plumb_bob')
    msg.k = cam.K.ravel().tolist()
    msg.d = cam.dist.tolist()
    assert Camera.from_camera_info(msg, cam.R, cam.t, 'cam1').fingerprint() == cam.fingerprint()


def test_scaled_camera_matches_resized_image_coordinates():
    cam = plaza_cameras()[0]
    small = cam.scaled(cam.width // 2, cam.height // 2)
    pts = _random_points(cam, 100, np.random.default_rng(4))
    uv, _ = cam.project(pts)
    uv_small, _ = small.project(pts)
    # cv2.resize pixel-centre convention: u' = (u + 0.5) * s - 0.5
    assert np.allclose(uv_small, (uv + 0.5) * 0.5 - 0.5, atol=1e-9)


@pytest.mark.parametrize('bad', [
    dict(K=np.full((3, 3), np.nan)),
    dict(R=np.ones((3, 3))),
    dict(t=[0.0, np.inf, 0.0]),
    dict(width=0),
    dict(K=np.eye(2)),
])
def test_bad_calibration_is_rejected_clearly(bad):
    cam = plaza_cameras()[0]
    args = dict(name='bad', width=cam.width, height=cam.height, K=cam.K, dist=cam.dist, R=cam.R, t=cam.t)
    args.update(bad)
    with pytest.raises(CalibrationError, match='bad'):
        Camera(**args)


def test_bad_yaml_is_rejected_clearly(tmp_path):
    p = tmp_path / 'broken.yaml'
    p.write_text('image_width: 10\nimage_height: 10\n')
    with pytest.raises(CalibrationError, match='lacks field'):
        Camera.from_yaml(p)
    p.write_text(': : :\n  - [')
    with pytest.raises(CalibrationError, match='cannot read'):
        Camera.from_yaml(p)


def test_far_out_of_view_points_do_not_fold_back_into_the_image():
    cam = plaza_cameras()[2]  # k1 < 0: the distortion polynomial turns back at a finite radius
    r_max = cam.max_distortion_radius
    assert np.isfinite(r_max) and r_max > 2.0
    far = cam.center + (cam.R.T @ np.array([3.5 * r_max, 0.0, 1.0]))  # normalized radius 3.5 r_max
    uv, depth = cam.project(far[None])
    assert depth[0] > 0 and np.all(np.isnan(uv))
    assert not cam.in_image(uv).any()


def _write_calibration(tmp_path: Path, name: str = 'cam1.yaml', **edits) -> Path:
    """A valid plaza calibration YAML with top-level / nested fields replaced by ``edits``."""
    import yaml

    path = tmp_path / name
    plaza_cameras()[0].to_yaml(path)
    doc = yaml.safe_load(path.read_text())
    for key, value in edits.items():
        node = doc
        *parents, last = key.split('.')
        for part in parents:
            node = node[part]
        node[last] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize('edits, field', [
    ({'camera_matrix.data': [100.0, 0.0, 'abc', 0.0, 100.0, 50.0, 0.0, 0.0, 1.0]}, r'camera_matrix\.data\[2\]'),
    ({'image_width': 'wide'}, 'image_width'),
    ({'image_height': -5}, 'image_height'),
    ({'extrinsics.translation': [0.0, 'x', 1.0]}, r'extrinsics\.translation\[1\]'),
    ({'distortion_coefficients.data': [0.1, True]}, r'distortion_coefficients\.data\[1\]'),
    ({'extrinsics.rotation.data': [1.0, 0.0, 0.0]}, r'extrinsics\.rotation\.data must have 9 numbers'),
    ({'extrinsics.translation': [0.0, float('nan'), 1.0]}, r'extrinsics\.translation contains NaN'),
])
def test_text_or_nan_in_a_calibration_names_the_file_and_the_field(tmp_path, edits, field):
    path = _write_calibration(tmp_path, **edits)
    with pytest.raises(CalibrationError, match=field) as err:
        Camera.from_yaml(path)
    assert str(path) in str(err.value)


def test_constructor_errors_from_a_yaml_name_the_file(tmp_path):
    path = _write_calibration(tmp_path, **{'camera_matrix.data': [-5.0, 0, 50, 0, 100, 50, 0, 0, 1]})
    with pytest.raises(CalibrationError, match='positive fx') as err:
        Camera.from_yaml(path)
    assert str(path) in str(err.value)


def test_a_rotation_with_four_decimals_is_repaired_with_a_warning(tmp_path, caplog):
    cam = plaza_cameras()[0]
    rounded = np.round(cam.R, 4)
    dev = float(np.max(np.abs(rounded @ rounded.T - np.eye(3))))
    assert 1e-5 < dev < 1e-3  # rejected by the old 1e-5 tolerance
    path = _write_calibration(tmp_path, **{'extrinsics.rotation.data': [float(x) for x in rounded.ravel()]})
    with caplog.at_level(logging.WARNING, logger='vsync_ros.geometry.camera'):
        loaded = Camera.from_yaml(path)
    assert str(path) in caplog.text and 'nearest rotation' in caplog.text
    np.testing.assert_allclose(loaded.R @ loaded.R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(loaded.R) == pytest.approx(1.0)
    np.testing.assert_allclose(loaded.R, cam.R, atol=1e-4)  # as close to the true rotation as the rounding
    assert np.max(np.abs(loaded.R - rounded)) < 1e-4          # and to what was written


def test_nearest_rotation_is_the_svd_projection():
    theta = np.radians(30.0)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0.0], [np.sin(theta), np.cos(theta), 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(nearest_rotation(rot), rot, atol=1e-12)       # a rotation stays itself
    np.testing.assert_allclose(nearest_rotation(2.0 * rot), rot, atol=1e-12)  # scale removed
    sym = np.array([[0.0, 1e-3, 0.0], [1e-3, 0.0, 0.0], [0.0, 0.0, 0.0]])   # symmetric perturbation vanishes
    np.testing.assert_allclose(nearest_rotation(rot + sym @ rot), rot, atol=1e-6)
    with pytest.raises(CalibrationError, match='reflection'):
        nearest_rotation(np.diag([1.0, 1.0, -1.0]))
    assert rotation_deviation(rot) < 1e-15 and rotation_deviation(np.diag([1.0, 1.0, 1.01])) == pytest.approx(0.0201)


@pytest.mark.parametrize('rotation, why', [
    (np.diag([1.0, 1.0, 1.01]), r'max \|R R\^T - I\| = 0\.02'),   # beyond the repair tolerance
    (np.diag([1.0, 1.0, -1.0]), 'det -1'),                           # a reflection
])
def test_a_non_rotation_in_a_yaml_names_the_file_and_field(tmp_path, rotation, why):
    path = _write_calibration(tmp_path, **{'extrinsics.rotation.data': [float(x) for x in rotation.ravel()]})
    with pytest.raises(CalibrationError, match=why) as err:
        Camera.from_yaml(path)
    assert str(path) in str(err.value) and 'extrinsics.rotation.data' in str(err.value)
