"""vsync-rig: calibration formats, rig folders, coverage and the region choice (geometry.rig, data.rig_cli)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vsync_ros.data.readers.tsai import read_tsai_params, tsai_project
from vsync_ros.data.rig_cli import main
from vsync_ros.geometry.calibration_formats import (
    detect_length_unit,
    read_h36m_cameras,
    read_opencv_yaml,
    to_metres,
    write_opencv_yaml,
)
from vsync_ros.geometry.camera import CalibrationError, Camera
from vsync_ros.geometry.presets import plaza_cameras
from vsync_ros.geometry.rig import CoverageSettings, choose_region, read_rig, rig_coverage

# ../shared/data next to the checkout (a git worktree one level deeper also finds it)
SHARED = next((p / 'shared' / 'data' for p in Path(__file__).resolve().parents[2:4]
               if (p / 'shared' / 'data').is_dir()),
              Path(__file__).resolve().parents[2] / 'shared' / 'data')
PETS = SHARED / 'pets2009' / 'calibration'
H36M = SHARED / 'h36m' / 'camera-parameters.json'
needs_pets = pytest.mark.skipif(not (PETS / 'View_001.xml').is_file(), reason=f'PETS2009 calibration {PETS} absent')
needs_h36m = pytest.mark.skipif(not H36M.is_file(), reason=f'Human3.6M camera JSON {H36M} absent')


def same_camera(a: Camera, b: Camera, tol: float = 0.0) -> bool:
    return (a.name == b.name and (a.width, a.height) == (b.width, b.height)
            and all(np.allclose(x, y, rtol=0, atol=tol) for x, y in ((a.K, b.K), (a.dist, b.dist), (a.R, b.R),
                                                                   (a.t, b.t))))


def rational_plaza_cameras() -> list[Camera]:
    """The plaza rig with cam2 given a rational_polynomial lens (k1 k2 p1 p2 k3 k4 k5 k6)."""
    cams = plaza_cameras()
    c = cams[1]
    cams[1] = Camera(c.name, c.width, c.height, c.K, np.array([0.2, 0.05, 1e-4, -2e-4, 0.01, 0.25, 0.04, 0.01]),
                     c.R, c.t)
    return cams


def test_camera_info_folder_round_trip(tmp_path):
    cams = rational_plaza_cameras()
    for c in cams:
        c.to_yaml(tmp_path / 'in' / f'{c.name}.yaml')
    assert main(['import', '--from', 'camera_info', str(tmp_path / 'in'), '--out', str(tmp_path / 'rig')]) == 0
    rig = read_rig(tmp_path / 'rig')
    assert [c.name for c in rig.cameras] == ['cam1', 'cam2', 'cam3'] and rig.source_unit == 'm'
    assert all(same_camera(a, b) for a, b in zip(cams, rig.cameras))
    assert [c.distortion_model for c in rig.cameras] == ['plumb_bob', 'rational_polynomial', 'plumb_bob']
    assert (tmp_path / 'rig' / 'coverage.png').is_file()


@pytest.mark.parametrize('rvec', [False, True])
def test_opencv_yaml_round_trip(tmp_path, rvec):
    cams = rational_plaza_cameras()
    for c in cams:
        write_opencv_yaml(c, tmp_path / 'in' / f'{c.name}.yaml', rvec=rvec)
    back = [read_opencv_yaml(tmp_path / 'in' / f'{c.name}.yaml') for c in cams]
    assert all(same_camera(a, b, 1e-12 if rvec else 0.0) for a, b in zip(cams, back))
    # the same in millimetres, detected from the camera heights
    mm = [Camera(c.name, c.width, c.height, c.K, c.dist, c.R, c.t * 1000) for c in cams]
    assert [c.dist.size for c in back] == [5, 8, 5] and back[1].distortion_model == 'rational_polynomial'
    for c in mm:
        write_opencv_yaml(c, tmp_path / 'mm' / f'{c.name}.yaml', rvec=rvec)
    assert main(['import', '--from', 'opencv', str(tmp_path / 'mm'), '--out', str(tmp_path / 'rig')]) == 0
    rig = read_rig(tmp_path / 'rig')
    assert rig.source_unit == 'mm'
    assert all(same_camera(a, b, 1e-9) for a, b in zip(cams, rig.cameras))
    assert rig.cameras[1].distortion_model == 'rational_polynomial'


def test_opencv_distortion_vectors_pick_the_model(tmp_path):
    good = dict(image_width=640, image_height=480, K=np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]),
                R=np.eye(3), t=np.array([[0.0], [0], [5]]))
    for d, model, size in (([0.1, 0.01, 0, 0], 'plumb_bob', 5),
                           ([0.1, 0.01, 0, 0, 0.001, 0, 0, 0], 'plumb_bob', 5),      # k4 k5 k6 = 0
                           ([0.1, 0.01, 0, 0, 0.001, 0.2, 0, 0], 'rational_polynomial', 8),
                           ([0.1, 0.01, 0, 0, 0.001, 0.2, 0, 0] + [0.0] * 6, 'rational_polynomial', 8)):
        cam = read_opencv_yaml(_fs(tmp_path / f'd{len(d)}_{model}.yaml', D=np.array([d]), **good))
        assert cam.distortion_model == model and cam.dist.size == size
        assert np.array_equal(cam.dist, np.array(d + [0.0] * max(0, 5 - len(d)))[:size])


def test_units_detection():
    cams = plaza_cameras()
    assert detect_length_unit(cams) == 'm'
    assert detect_length_unit([Camera(c.name, c.width, c.height, c.K, c.dist, c.R, c.t * 1000) for c in cams]) == 'mm'
    with pytest.raises(CalibrationError, match='--units'):
        detect_length_unit([Camera(c.name, c.width, c.height, c.K, c.dist, c.R, c.t * 15) for c in cams])


def _fs(path: Path, **fields) -> Path:
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    for key, value in fields.items():
        fs.write(key, value)
    fs.release()
    return path


def test_bad_files_name_file_and_field(tmp_path, capsys):
    good = dict(image_width=640, image_height=480, K=np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]),
                D=np.zeros((1, 5)), R=np.eye(3), t=np.array([[0.0], [0], [5]]))
    cases = {
        'K': dict(good, K=np.eye(2)),
        'R': dict(good, R=np.diag([1.0, 2.0, 1.0])),
        't': {k: v for k, v in good.items() if k != 't'},
        'D': dict(good, D=np.array([[0.1, 0, 0, 0, 0, 0.3, 0, 0, 0.01, 0, 0, 0]])),  # thin prism s1
        'image_width': {k: v for k, v in good.items() if k not in ('image_width', 'image_height')},
    }
    for field, fields in cases.items():
        path = _fs(tmp_path / f'bad_{field}.yaml', **fields)
        with pytest.raises(CalibrationError) as err:
            read_opencv_yaml(path)
        assert str(path) in str(err.value) and field in str(err.value), str(err.value)
    # camera_info YAML and Tsai XML through the CLI: one line naming the file and the field, exit code 2
    cam = plaza_cameras()[0]
    cam.to_yaml(tmp_path / 'ci' / 'cam1.yaml')
    text = (tmp_path / 'ci' / 'cam1.yaml').read_text().replace('camera_matrix:', 'camera_matrx:')
    (tmp_path / 'ci' / 'cam1.yaml').write_text(text)
    assert main(['import', '--from', 'camera_info', str(tmp_path / 'ci'), '--out', str(tmp_path / 'r1')]) == 2
    out = capsys.readouterr().err
    assert 'cam1.yaml' in out and 'camera_matrix' in out
    xml = tmp_path / 'View_009.xml'
    xml.write_text('<Camera name="V"><Geometry width="768" height="576" dpx="0.005" dpy="0.005"/>'
                   '<Intrinsic focal="abc" kappa1="0" cx="1" cy="1" sx="1"/>'
                   '<Extrinsic tx="0" ty="0" tz="1" rx="0" ry="0" rz="0"/></Camera>')
    assert main(['import', '--from', 'tsai', str(xml), '--out', str(tmp_path / 'r2')]) == 2
    out = capsys.readouterr().err
    assert 'View_009.xml' in out and 'Intrinsic.focal' in out
    # Human3.6M JSON with a broken field
    js = tmp_path / 'cams.json'
    js.write_text('{"intrinsics": {"1": {"calibration_matrix": [[1, 0, 0], [0, 1, 0]], "distortion": [0, 0, 0, 0, 0]}},'
                  ' "extrinsics": {"S1": {"1": {"R": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "t": [0, 0, 1]}}}}')
    with pytest.raises(CalibrationError, match=r'cams\.json.*intrinsics\.1\.calibration_matrix'):
        read_h36m_cameras(js, 'S1')
    with pytest.raises(CalibrationError, match='extrinsics.S9'):
        read_h36m_cameras(js, 'S9')


def test_auto_region_covers_every_cell_seen_by_two_views():
    cams = plaza_cameras()
    settings = CoverageSettings()
    cov = rig_coverage(cams, 0.4, settings)
    region = choose_region(cov.grid, cov.seen, 2)
    centres = cov.grid.cell_centers()[cov.count >= 2]
    assert len(centres) > 100 and region.contains(centres).all()
    assert cov.region_fraction(region, 2) > 0.5
    for corner in (region.x0, region.y0, region.width_m, region.height_m):
        assert abs(corner / 0.4 - round(corner / 0.4)) < 1e-6  # snapped to the cell grid
    # a tighter grid: the region has no row / column without a cell seen by 2 views (it is the bounding box)
    inside = region.contains(cov.grid.cell_centers().reshape(-1, 2)).reshape(cov.grid.shape)
    rows, cols = np.nonzero(inside)
    sub = (cov.count >= 2)[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert sub[0].any() and sub[-1].any() and sub[:, 0].any() and sub[:, -1].any()


def test_given_region_and_show(tmp_path, capsys):
    for c in plaza_cameras():
        c.to_yaml(tmp_path / 'in' / f'{c.name}.yaml')
    args = ['import', '--from', 'camera_info', str(tmp_path / 'in'), '--out', str(tmp_path / 'rig'),
            '--region', '0', '0', '20', '24', '--cell', '0.4']
    assert main(args) == 0
    rig = read_rig(tmp_path / 'rig')
    assert rig.region.as_dict() == {'x0': 0.0, 'y0': 0.0, 'width_m': 20.0, 'height_m': 24.0, 'cell_m': 0.4}
    assert rig.region_from == 'given'
    assert main(args) == 2 and '--force' in capsys.readouterr().err  # no silent overwrite
    (tmp_path / 'rig' / 'coverage.png').unlink()
    assert main(['show', str(tmp_path / 'rig')]) == 0
    out = capsys.readouterr().out
    assert 'cam1' in out and 'ground region (given)' in out
    img = cv2.imread(str(tmp_path / 'rig' / 'coverage.png'))
    assert img is not None and img.shape[0] >= 500


def _tsai_points(p, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """World points (mm) in front of the camera whose Tsai projections are pixels inside the image."""
    u = rng.uniform(-0.5, p.width - 0.5, n)
    v = rng.uniform(-0.5, p.height - 0.5, n)
    xd, yd = (u - p.cx) * p.dpx / p.sx, (v - p.cy) * p.dpy
    rd2 = xd ** 2 + yd ** 2
    depth = rng.uniform(1000.0, 80000.0, n)
    pc = np.stack([xd * (1 + p.kappa1 * rd2) / p.focal * depth, yd * (1 + p.kappa1 * rd2) / p.focal * depth, depth], 1)
    return (pc - p.T) @ p.R, np.stack([u, v], 1)


# largest difference to the Tsai model per PETS view (px). Views 1 and 3 stay plumb_bob (0.0001 px, 0.003 px);
# View_002 (665 px focal length, strong barrel distortion), where plumb_bob's k1 k2 k3 polynomial leaves 0.095 px,
# is imported as rational_polynomial (0.0003 px).
TSAI_TOLERANCE_PX = {'View_001': 0.01, 'View_002': 0.01, 'View_003': 0.01}
TSAI_MODELS = {'View_001': 'plumb_bob', 'View_002': 'rational_polynomial', 'View_003': 'plumb_bob'}


@pytest.mark.parametrize('kappa1, model', [(0.002, 'plumb_bob'), (0.045, 'rational_polynomial')])
def test_tsai_fit_picks_rational_polynomial_only_where_plumb_bob_misses(kappa1, model):
    """Made-up Tsai cameras (not PETS's numbers): mild and strong barrel distortion of a wide lens."""
    from vsync_ros.data.readers.tsai import TSAI_PLUMB_BOB_TOLERANCE_PX, TsaiParams, tsai_fit, tsai_to_camera

    p = TsaiParams(name='wide', width=640, height=480, dpx=0.0055, dpy=0.005, focal=3.0, kappa1=kappa1, cx=330.0,
                   cy=236.0, sx=1.05, T=np.array([500.0, -800.0, 20000.0]), rot=np.array([1.9, 0.1, 0.05]))
    plumb = tsai_fit(p, 'plumb_bob')
    assert (plumb[2] <= TSAI_PLUMB_BOB_TOLERANCE_PX) == (model == 'plumb_bob')
    cam = tsai_to_camera(p)
    assert cam.distortion_model == model
    pts_mm, uv_in = _tsai_points(p, 20000, np.random.default_rng(3))
    err = np.abs(cam.project(pts_mm / 1000.0)[0] - tsai_project(p, pts_mm)).max()
    assert err < 0.01 and err < np.abs(tsai_to_camera(p, model='plumb_bob').project(pts_mm / 1000.0)[0]
                                       - tsai_project(p, pts_mm)).max() + 1e-12
    with pytest.raises(ValueError, match='model must be'):
        tsai_fit(p, 'fisheye')


@needs_pets
def test_pets_tsai_import_reproduces_the_tsai_model(tmp_path):
    assert main(['import', '--from', 'tsai', *(str(PETS / f'View_00{v}.xml') for v in (1, 2, 3)),
                 '--out', str(tmp_path / 'pets')]) == 0
    rig = read_rig(tmp_path / 'pets')
    rng = np.random.default_rng(0)
    for v, cam in enumerate(rig.cameras):
        p = read_tsai_params(PETS / f'View_00{v + 1}.xml')
        pts_mm, uv_in = _tsai_points(p, 20000, rng)
        ref = tsai_project(p, pts_mm)
        assert np.abs(ref - uv_in).max() < 1e-6
        uv, depth = cam.project(pts_mm / 1000.0)
        assert np.all(depth > 0)
        assert np.abs(uv - ref).max() < TSAI_TOLERANCE_PX[cam.name], cam.name
        assert cam.distortion_model == TSAI_MODELS[cam.name]
        # and back: the image pixels' rays meet the Tsai points
        rays = cam.pixel_rays(uv_in)
        to_pts = pts_mm / 1000.0 - cam.center
        miss = np.linalg.norm(np.cross(rays, to_pts), axis=1) / np.linalg.norm(to_pts, axis=1)  # sin(angle)
        assert np.max(miss) * cam.K[0, 0] < TSAI_TOLERANCE_PX[cam.name], cam.name
    assert rig.source_unit == 'mm' and (tmp_path / 'pets' / 'coverage.png').stat().st_size > 10000
    cov = rig_coverage(rig.cameras, rig.region.cell_m, rig.coverage)
    assert rig.region.contains(cov.grid.cell_centers()[cov.count >= 2]).all()


@needs_h36m
def test_h36m_import_reproduces_opencv_projection(tmp_path):
    assert main(['import', '--from', 'h36m', str(H36M), '--subject', 'S1', '--max-range', '6', '--cell', '0.1',
                 '--out', str(tmp_path / 'h36m')]) == 0
    rig = read_rig(tmp_path / 'h36m')
    assert len(rig.cameras) == 4 and rig.subject == 'S1'
    raw = read_h36m_cameras(H36M, 'S1')  # mm, as in the file
    rng = np.random.default_rng(1)
    for cam, src in zip(rig.cameras, raw):
        assert (cam.width, cam.height) == (1000, 1002)
        uv_in = np.stack([rng.uniform(-0.5, 999.5, 20000), rng.uniform(-0.5, 1001.5, 20000)], 1)
        xn = cv2.undistortPoints(uv_in.reshape(-1, 1, 2), src.K, src.dist).reshape(-1, 2)
        depth = rng.uniform(500.0, 15000.0, len(xn))
        pts_mm = (np.hstack([xn, np.ones((len(xn), 1))]) * depth[:, None] - src.t) @ src.R
        ref, _ = cv2.projectPoints(pts_mm, cv2.Rodrigues(src.R)[0], src.t, src.K, src.dist)
        ref = ref.reshape(-1, 2)
        inside = src.in_image(ref)
        assert inside.mean() > 0.95
        uv, d = cam.project(pts_mm / 1000.0)
        assert np.all(d > 0) and np.abs(uv[inside] - ref[inside]).max() < 0.01
    assert to_metres(raw, 'mm')[0].t[2] == pytest.approx(raw[0].t[2] / 1000)
    assert (tmp_path / 'h36m' / 'coverage.png').stat().st_size > 10000
