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


# ------------------------------------------------------------------------------------------ rational_polynomial
GOLDEN_PLUMB_BOB_FINGERPRINTS = ['7649a2682c363187', 'e54c37d5620d07d9', '747a958566814386', '539bde99348249f7',
                                 'b78b191a7cd540d8', '03fe8cfe0166200b', '763576ed2647d9c9']
"""Fingerprints of the preset cameras before rational_polynomial existed (plumb_bob must hash as then)."""

RATIONAL_DISTS = {
    # strong barrel distortion, like the fitted PETS2009 View_002 (k1 k2 p1 p2 k3 k4 k5 k6)
    'barrel': (2.1, 0.85, 5e-4, -3e-4, 0.04, 2.47, 1.35, 0.12),
    # mild pincushion with negative terms in the denominator
    'mixed': (-0.3, 0.1, 1e-3, 5e-4, -0.02, -0.25, 0.06, -0.01),
}


def rational_camera(kind: str = 'barrel', width: int = 384, height: int = 288) -> Camera:
    base = plaza_cameras(width, height)[1]
    return Camera(f'{base.name}_{kind}', base.width, base.height, base.K, np.array(RATIONAL_DISTS[kind]), base.R,
                  base.t)


def _normalized_points(cam: Camera, n: int, rng: np.random.Generator, radius: float) -> np.ndarray:
    """World points at random normalized coordinates |x| < radius and depths 0.5-40 m (no undistortion used)."""
    xn = rng.uniform(-radius, radius, size=(n, 2))
    depth = rng.uniform(0.5, 40.0, size=n)
    pc = np.column_stack([xn * depth[:, None], depth])
    return (pc - cam.t) @ cam.R  # R^T (pc - t)


def test_preset_plumb_bob_fingerprints_are_unchanged():
    assert [c.fingerprint() for c in plaza_cameras() + studio_cameras()] == GOLDEN_PLUMB_BOB_FINGERPRINTS
    assert all(c.distortion_model == 'plumb_bob' and c.dist.shape == (5,) for c in plaza_cameras())


@pytest.mark.parametrize('kind', sorted(RATIONAL_DISTS))
def test_rational_projection_matches_cv2_projectPoints(kind):
    cam = rational_camera(kind)
    assert cam.distortion_model == 'rational_polynomial' and cam.dist.shape == (8,)
    corner = float(np.linalg.norm(cam.undistort_pixels(np.array([[-0.5, -0.5]])), axis=1)[0])
    assert cam.max_distortion_radius > 1.5 * corner  # the whole sample below is in the monotonic range
    pts = _normalized_points(cam, 2000, np.random.default_rng(5), 1.4 * corner / np.sqrt(2))
    uv, depth = cam.project(pts)
    ref, _ = cv2.projectPoints(pts.reshape(-1, 1, 3), cv2.Rodrigues(cam.R)[0], cam.t, cam.K, cam.dist)
    assert np.all(depth > 0) and np.all(np.isfinite(uv))
    assert np.max(np.abs(uv - ref.reshape(-1, 2))) < 1e-6
    # the denominator matters: the plumb_bob part alone projects elsewhere
    plumb = Camera('p', cam.width, cam.height, cam.K, cam.dist[:5], cam.R, cam.t)
    assert np.max(np.abs(plumb.project(pts)[0] - uv)) > 1.0


@pytest.mark.parametrize('kind', sorted(RATIONAL_DISTS))
def test_rational_undistortion_matches_cv2_and_round_trips(kind):
    cam = rational_camera(kind)
    rng = np.random.default_rng(6)
    uv = rng.uniform([-0.5, -0.5], [cam.width - 0.5, cam.height - 0.5], size=(2000, 2))
    ours = cam.undistort_pixels(uv)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-15)
    ref = cv2.undistortPoints(uv.reshape(-1, 1, 2), cam.K, cam.dist, R=np.eye(3), P=np.eye(3), criteria=crit)
    assert np.max(np.abs(ours - ref.reshape(-1, 2))) < 1e-9
    back, _ = cam.project(cam.center + cam.pixel_rays(uv) * 7.0)  # unproject, then project again
    assert np.max(np.abs(back - uv)) < 1e-6
    ground = cam.backproject_to_plane(uv, 0.0)
    ok = np.all(np.isfinite(ground), axis=1)
    assert ok.mean() > 0.5 and np.max(np.abs(cam.project(ground[ok])[0] - uv[ok])) < 1e-6


def test_rational_scaled_camera_keeps_the_model():
    cam = rational_camera()
    small = cam.scaled(192, 144)
    assert small.distortion_model == 'rational_polynomial' and np.array_equal(small.dist, cam.dist)
    pts = _normalized_points(cam, 200, np.random.default_rng(7), 0.5)
    assert np.allclose(small.project(pts)[0], (cam.project(pts)[0] + 0.5) * 0.5 - 0.5, atol=1e-9)


def test_rational_pole_limits_the_projection_range():
    base = plaza_cameras()[1]
    cam = Camera('pole', base.width, base.height, base.K, np.array([0.0, 0, 0, 0, 0, -1.0, 0, 0]), base.R, base.t)
    r_max = cam.max_distortion_radius  # denominator 1 - r^2 vanishes at r = 1
    assert 0.99 < r_max < 1.0
    far = cam.center + cam.R.T @ np.array([1.5, 0.0, 1.0])
    assert np.all(np.isnan(cam.project(far[None])[0]))


def test_rational_yaml_round_trip(tmp_path):
    import yaml

    cam = rational_camera()
    cam.to_yaml(tmp_path / 'c.yaml')
    doc = yaml.safe_load((tmp_path / 'c.yaml').read_text())
    assert doc['distortion_model'] == 'rational_polynomial'
    assert doc['distortion_coefficients']['cols'] == 8 and len(doc['distortion_coefficients']['data']) == 8
    back = Camera.from_yaml(tmp_path / 'c.yaml')
    assert back.distortion_model == 'rational_polynomial' and np.array_equal(back.dist, cam.dist)
    assert back.fingerprint() == cam.fingerprint()
    # the same numbers as plumb_bob (k4 = k5 = k6 = 0) are another calibration file, another fingerprint
    plumb = Camera(cam.name, cam.width, cam.height, cam.K, cam.dist[:5], cam.R, cam.t)
    assert plumb.fingerprint() != Camera(cam.name, cam.width, cam.height, cam.K,
                                         np.concatenate([cam.dist[:5], np.zeros(3)]), cam.R, cam.t).fingerprint()


def test_plumb_bob_yaml_keeps_its_layout(tmp_path):
    import yaml

    plaza_cameras()[1].to_yaml(tmp_path / 'c.yaml')
    doc = yaml.safe_load((tmp_path / 'c.yaml').read_text())
    assert doc['distortion_model'] == 'plumb_bob' and doc['distortion_coefficients']['cols'] == 5


@pytest.mark.parametrize('edits, field', [
    ({'distortion_model': 'rational_polynomial'},
     r'distortion_coefficients\.data must have 8 numbers \(rational_polynomial.*got 5'),
    ({'distortion_coefficients.data': [0.1, 0.0, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0]},
     r'distortion_coefficients\.data must have at most 5 numbers \(plumb_bob\), got 8'),
    ({'distortion_model': 'equidistant'}, r"field distortion_model 'equidistant' is not supported"),
    ({'distortion_model': 'rational_polynomial', 'distortion_coefficients.data': [0.1] * 7 + ['x']},
     r'distortion_coefficients\.data\[7\] must be a number'),
    ({'distortion_model': 'rational_polynomial', 'distortion_coefficients.data': [0.1] * 7 + [float('inf')]},
     r'distortion_coefficients\.data contains NaN'),
])
def test_a_wrong_distortion_in_a_yaml_names_the_file_and_the_field(tmp_path, edits, field):
    path = _write_calibration(tmp_path, **edits)
    with pytest.raises(CalibrationError, match=field) as err:
        Camera.from_yaml(path)
    assert str(path) in str(err.value)


def test_a_rational_yaml_without_coefficients_names_the_field(tmp_path):
    import yaml

    path = _write_calibration(tmp_path, distortion_model='rational_polynomial')
    doc = yaml.safe_load(path.read_text())
    del doc['distortion_coefficients']
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(CalibrationError, match=r'lacks field distortion_coefficients\.data') as err:
        Camera.from_yaml(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize('dist, model, match', [
    (np.zeros(6), '', 'plumb_bob distortion needs <= 5 coefficients'),
    (np.zeros(8), 'plumb_bob', 'plumb_bob distortion needs <= 5 coefficients'),
    (np.zeros(5), 'rational_polynomial', 'rational_polynomial distortion needs 8 coefficients'),
    (np.full(8, np.nan), '', 'rational_polynomial distortion coefficients contain NaN'),
    (np.zeros(5), 'fisheye', "'fisheye' is not supported"),
])
def test_bad_distortion_is_rejected_naming_the_camera(dist, model, match):
    cam = plaza_cameras()[0]
    with pytest.raises(CalibrationError, match=match) as err:
        Camera('bad', cam.width, cam.height, cam.K, dist, cam.R, cam.t, distortion_model=model)
    assert "camera 'bad'" in str(err.value)


def test_rational_camera_info_fields_round_trip():
    from vsync_ros.runtime.messages import camera_info_fields

    for cam in (rational_camera(), plaza_cameras()[1]):
        fields = camera_info_fields(cam)
        assert fields['distortion_model'] == cam.distortion_model and fields['d'] == list(cam.dist)
        msg = SimpleNamespace(header=SimpleNamespace(frame_id=cam.frame_id), **fields)
        built = Camera.from_camera_info(msg, cam.R, cam.t, name=cam.name)
        assert built.distortion_model == cam.distortion_model and built.fingerprint() == cam.fingerprint()


@pytest.mark.parametrize('model, d, match', [
    ('rational_polynomial', [0.1, 0, 0, 0, 0], r'field d must have 8 numbers for distortion_model '
                                                 r'rational_polynomial, got 5'),
    ('plumb_bob', [0.1, 0, 0, 0, 0, 0.2, 0, 0], r'field d must have at most 5 numbers.*got 8'),
    ('equidistant', [0.1, 0, 0, 0], r"field distortion_model 'equidistant' is not supported"),
])
def test_bad_camera_info_distortion_names_the_camera_and_field(model, d, match):
    cam = plaza_cameras()[0]
    msg = SimpleNamespace(width=cam.width, height=cam.height, k=list(cam.K.ravel()), d=d, distortion_model=model,
                          header=SimpleNamespace(frame_id='cam1_optical'))
    with pytest.raises(CalibrationError, match=match) as err:
        Camera.from_camera_info(msg, cam.R, cam.t, name='cam1')
    assert "camera 'cam1'" in str(err.value)


@pytest.mark.parametrize('kind', sorted(RATIONAL_DISTS))
def test_drawing_projection_of_rational_cameras_matches_near_the_image(kind):
    from vsync_ros.data.render import project_for_drawing

    cam = rational_camera(kind)
    corner = float(np.linalg.norm(cam.undistort_pixels(np.array([[-0.5, -0.5]])), axis=1)[0])
    pts = _normalized_points(cam, 500, np.random.default_rng(8), corner)
    uv, depth = project_for_drawing(cam, pts)
    assert np.max(np.abs(uv - cam.project(pts)[0])) < 1e-9 and np.all(depth > 0)
    far = _normalized_points(cam, 200, np.random.default_rng(9), 30.0)  # far outside: finite, never folded in
    uv_far, _ = project_for_drawing(cam, far)
    r_far = np.linalg.norm(cam.world_to_camera(far)[:, :2] / cam.world_to_camera(far)[:, 2:], axis=1)
    assert np.all(np.isfinite(uv_far)) and not cam.in_image(uv_far[r_far > 3 * corner]).any()
