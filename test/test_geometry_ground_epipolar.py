"""Ground-plane grids and epipolar geometry, with OpenCV and torch as oracles."""
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsync_ros.geometry import (
    EpipolarMaskCache,
    GroundRegion,
    depth_ratio_map,
    epipolar_lines,
    epipolar_weight_mask,
    fundamental_matrix,
    ground_sampling_grid,
    point_line_distance,
)
from vsync_ros.geometry.presets import PLAZA_REGION, plaza_cameras, studio_cameras


def test_region_shape_and_cell_round_trip():
    region = PLAZA_REGION.with_cell(0.4)
    assert region.shape == (60, 50)
    rng = np.random.default_rng(0)
    xy = rng.uniform([0, 0], [20, 24], size=(200, 2))
    rc, inside = region.world_to_cell(xy)
    assert inside.all()
    centres = region.cell_to_world(rc)
    assert np.all(np.abs(centres - xy) <= 0.2 + 1e-9)
    _, inside = region.world_to_cell(np.array([[-0.1, 5.0], [5.0, 24.0]]))
    assert not inside.any()


@pytest.mark.parametrize('stride', [1, 4, 8])
@pytest.mark.parametrize('height', [0.0, 1.75])
def test_grid_sample_reads_feature_where_cell_projects(stride, height):
    """Resampling coordinate ramps with the grid returns, per GP cell, the feature-map position of its centre."""
    cam = plaza_cameras()[0]
    region = PLAZA_REGION.with_cell(0.4)
    grid, mask = ground_sampling_grid(cam, region, height_m=height, stride=stride)
    fh, fw = -(-cam.height // stride), -(-cam.width // stride)
    ramps = np.stack(np.meshgrid(np.arange(fw), np.arange(fh))).astype(np.float32)  # (2, fh, fw): x, y
    out = F.grid_sample(torch.from_numpy(ramps)[None], torch.from_numpy(grid)[None],
                        align_corners=False, padding_mode='border')[0].numpy()
    xy = region.cell_centers().reshape(-1, 2)
    uv, _ = cam.project(np.hstack([xy, np.full((len(xy), 1), height)]))
    expect = (uv + 0.5) / stride - 0.5
    inner = mask.ravel() & np.all((expect >= 0) & (expect <= [fw - 1, fh - 1]), axis=1)
    assert inner.mean() > 0.5
    got = out.reshape(2, -1).T
    assert np.max(np.abs(got[inner] - expect[inner])) < 1e-3


def test_world_point_lands_in_its_cell():
    """A bright image spot at a world point's projection is moved by the grid into that point's GP cell."""
    cam = plaza_cameras()[2]
    region = PLAZA_REGION.with_cell(0.4)
    grid, mask = ground_sampling_grid(cam, region, height_m=0.0, stride=1)
    rng = np.random.default_rng(7)
    for _ in range(10):
        p = np.array([[rng.uniform(4, 16), rng.uniform(4, 20), 0.0]])
        rc, inside = region.world_to_cell(p[:, :2])
        uv, _ = cam.project(p)
        if not (inside[0] and mask[rc[0, 0], rc[0, 1]]):
            continue
        # a blob with the spatial extent of one GP cell around the projection
        img = np.zeros((cam.height, cam.width), np.float32)
        cell_px = np.linalg.norm(cam.project(p + [[0.4, 0.0, 0.0]])[0] - uv)
        r = max(cell_px, 2.0)
        yy, xx = np.mgrid[:cam.height, :cam.width]
        img[:] = np.exp(-((xx - uv[0, 0]) ** 2 + (yy - uv[0, 1]) ** 2) / (2 * (r / 2) ** 2))
        out = F.grid_sample(torch.from_numpy(img)[None, None], torch.from_numpy(grid)[None],
                            align_corners=False)[0, 0].numpy()
        peak = np.unravel_index(np.argmax(out), out.shape)
        assert abs(peak[0] - rc[0, 0]) <= 1 and abs(peak[1] - rc[0, 1]) <= 1


def test_grid_values_match_projection_formula():
    cam = plaza_cameras()[1]
    region = PLAZA_REGION.with_cell(0.4)
    grid, mask = ground_sampling_grid(cam, region, height_m=0.0, stride=4)
    xy = region.cell_centers().reshape(-1, 2)
    uv, _ = cam.project(np.hstack([xy, np.zeros((len(xy), 1))]))
    m = mask.ravel()
    expect_x = (uv[m, 0] + 0.5) / cam.width * 2 - 1
    assert np.allclose(grid.reshape(-1, 2)[m, 0], expect_x, atol=1e-5)
    assert np.all(np.abs(grid.reshape(-1, 2)[m]) <= 1.0 + 1e-6)
    assert 0.3 < m.mean() <= 1.0


def test_mask_marks_cells_outside_view():
    cam = plaza_cameras()[2]
    far = GroundRegion(x0=200.0, y0=200.0, width_m=4.0, height_m=4.0, cell_m=0.5)
    _, mask = ground_sampling_grid(cam, far, 0.0, 4)
    assert not mask.any()


def test_depth_ratio_map_is_zero_at_reference_distance():
    cam = plaza_cameras()[0]
    ratio = depth_ratio_map(cam, ref_distance_m=1.0, stride=4, height_m=0.875)
    fh, fw = ratio.shape
    centre_pt = cam.backproject_to_plane(np.array([[(fw // 2 + 0.5) * 4 - 0.5, (fh // 2 + 0.5) * 4 - 0.5]]), 0.875)
    d = float(np.linalg.norm(centre_pt[0] - cam.center))
    ratio = depth_ratio_map(cam, ref_distance_m=d, stride=4, height_m=0.875)
    assert abs(ratio[fh // 2, fw // 2]) < 1e-5
    assert ratio[-1, fw // 2] < ratio[fh // 2, fw // 2]  # bottom rows are nearer


def _correspondences(cam_a, cam_b, n=200, seed=0):
    rng = np.random.default_rng(seed)
    pts = np.column_stack([rng.uniform(2, 18, n), rng.uniform(2, 22, n), rng.uniform(0, 2, n)])
    ua, _ = cam_a.project(pts, distort=False)
    ub, _ = cam_b.project(pts, distort=False)
    ok = cam_a.in_image(ua) & cam_b.in_image(ub)
    return ua[ok], ub[ok]


@pytest.mark.parametrize('pair', [(0, 1), (0, 2), (1, 2)])
def test_fundamental_matrix_vs_cv2(pair):
    cams = plaza_cameras()
    a, b = cams[pair[0]], cams[pair[1]]
    ua, ub = _correspondences(a, b)
    assert len(ua) > 50
    F_ours = fundamental_matrix(a, b)
    F_cv, _ = cv2.findFundamentalMat(ua, ub, cv2.FM_8POINT)
    F_cv = F_cv / np.linalg.norm(F_cv) * np.sign(F_cv[2, 2])
    ha, hb = (np.hstack([u, np.ones((len(u), 1))]) for u in (ua, ub))
    resid = np.abs(np.einsum('ni,ij,nj->n', hb, F_ours, ha))
    assert resid.max() < 1e-9
    # same epipolar geometry as OpenCV's estimate: lines agree to well under a pixel
    d_ours = point_line_distance(epipolar_lines(F_ours, ua), ub).diagonal()
    d_cv = point_line_distance(epipolar_lines(F_cv, ua), ub).diagonal()
    assert d_ours.max() < 1e-6 and d_cv.max() < 0.05
    assert min(np.abs(F_ours - F_cv).max(), np.abs(F_ours + F_cv).max()) < 1e-3


def test_fundamental_matrix_rank_two():
    cams = studio_cameras()
    F = fundamental_matrix(cams[0], cams[2])
    s = np.linalg.svd(F, compute_uv=False)
    assert s[2] < 1e-10 * s[0]


@pytest.mark.parametrize('kernel', ['gauss', 'laplace'])
def test_epipolar_mask_peaks_on_line(kernel):
    cams = plaza_cameras(192, 144)
    a, b = cams[0], cams[1]
    stride = 8
    mask = epipolar_weight_mask(a, b, stride=stride, sigma=1.5, kernel=kernel)
    hr, wr = 18, 24
    assert mask.shape == (hr * wr, 18, 24) and mask.dtype == np.float32
    assert mask.max() <= 1.0 and mask.min() >= 0.0
    # true correspondences (a world point seen in both) get weight near the row maximum
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(40):
        p = np.array([[rng.uniform(3, 17), rng.uniform(3, 21), rng.uniform(0, 1.8)]])
        ua, _ = a.project(p)
        ub, _ = b.project(p)
        if not (a.in_image(ua)[0] and b.in_image(ub)[0]):
            continue
        ia = int(np.clip(round((ua[0, 1] + 0.5) / stride - 0.5), 0, hr - 1)) * wr + \
            int(np.clip(round((ua[0, 0] + 0.5) / stride - 0.5), 0, wr - 1))
        jb = (int(np.clip(round((ub[0, 1] + 0.5) / stride - 0.5), 0, 17)),
              int(np.clip(round((ub[0, 0] + 0.5) / stride - 0.5), 0, 23)))
        row = mask[ia]
        assert row.max() > 0.9  # the line crosses the map
        assert row[jb] > (0.5 if kernel == 'gauss' else 0.4)  # rounding to the feature grid moves <= ~1 px
        checked += 1
    assert checked > 10


def test_epipolar_mask_kernels_follow_formula():
    cams = plaza_cameras(192, 144)
    g = epipolar_weight_mask(cams[0], cams[2], stride=16, sigma=2.0, kernel='gauss')
    lap = epipolar_weight_mask(cams[0], cams[2], stride=16, sigma=2.0, kernel='laplace')
    d_from_lap = -2.0 * np.log(np.clip(lap, 1e-30, None))
    expect_g = np.exp(-0.5 * (d_from_lap / 2.0) ** 2)
    ok = lap > 1e-6
    assert np.allclose(g[ok], expect_g[ok], atol=1e-5)


def test_epipolar_mask_cache_builds_once():
    cams = plaza_cameras(192, 144)
    cache = EpipolarMaskCache()
    m1 = cache.get(cams[0], cams[1], 16, 1.0)
    m2 = cache.get(cams[0], cams[1], 16, 1.0)
    assert m1 is m2 and len(cache) == 1
    cache.get(cams[0], cams[2], 16, 1.0)
    assert len(cache) == 2


def test_epipolar_mask_rejects_bad_sigma():
    cams = plaza_cameras(192, 144)
    with pytest.raises(ValueError, match='sigma'):
        epipolar_weight_mask(cams[0], cams[1], 16, 0.0)
