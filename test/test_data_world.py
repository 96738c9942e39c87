"""Synthetic crowd world: trajectories, rendering geometry, occlusion and ground truth."""
import json
import time

import numpy as np
import pytest

from vsync_ros.data.crowd import CrowdParams, CrowdSimulator, CrowdState
from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
from vsync_ros.data.density import ground_density, image_density, resize_density, sum_pool
from vsync_ros.data.render import draw_people
from vsync_ros.data.world import World
from vsync_ros.geometry.presets import PLAZA_REGION

pytestmark = pytest.mark.slow  # every test here simulates or renders the crowd world


@pytest.fixture(scope='module')
def world():
    return CrowdWorld(CrowdWorldConfig(image_size=(192, 144), seed=5, crowd=CrowdParams(n_people=(15, 25))))


@pytest.fixture(scope='module')
def lone_world():
    """One person, no street furniture: nothing can hide the body."""
    cfg = CrowdWorldConfig(image_size=(384, 288), seed=2, furniture=False, crowd=CrowdParams(n_people=(1, 1)))
    return CrowdWorld(cfg)


def test_world_implements_the_protocol(world):
    assert isinstance(world, World)
    assert world.task == 'counting' and len(world.cameras) == 3
    img = world.render(1, 3.0)
    assert img.shape == (144, 192, 3) and img.dtype == np.uint8
    gt = world.ground_truth(3.0)
    assert gt['gp_density'].shape == world.region.shape == (60, 50)
    assert gt['view_density'].shape == (3, 144, 192) and gt['view_density'].dtype == np.float32
    assert gt['positions'].shape[1] == 2 and gt['count'].shape == ()


def test_gt_count_equals_people_inside_region(world):
    for t in (-5.0, 0.0, 7.3, 21.9, 40.0):
        st = world.state(t)
        inside = int(PLAZA_REGION.contains(st.xy).sum())
        gt = world.ground_truth(t)
        assert float(gt['count']) == inside == len(gt['positions'])
        assert gt['gp_density'].sum() == pytest.approx(inside, abs=1e-3)
        assert np.all(PLAZA_REGION.contains(gt['positions']))
        # view density: one unit per head that projects inside the image
        for v in range(3):
            uv, _ = world.heads_uv(v, t)
            assert gt['view_density'][v].sum() == pytest.approx(len(uv), abs=1e-3)


def test_people_outside_region_are_visible_but_not_counted(world):
    seen_outside = False
    for t in np.arange(0.0, 60.0, 5.0):
        st = world.state(t)
        outside = ~PLAZA_REGION.contains(st.xy)
        seen_outside |= bool(outside.any())
        assert float(world.ground_truth(t)['count']) == (~outside).sum()
    assert seen_outside


def test_trajectories_are_smooth_and_realistic():
    sim = CrowdSimulator(PLAZA_REGION, CrowdParams(n_people=(10, 20)), seed=11)
    dt = 0.05
    prev = sim.state(0.0)
    speeds, jumps, ids_seen, counts = [], [], set(prev.ids.tolist()), []
    for t in np.arange(dt, 90.0, dt):
        st = sim.state(t)
        common, i0, i1 = np.intersect1d(prev.ids, st.ids, return_indices=True)
        jumps.append(np.abs(st.xy[i1] - prev.xy[i0]).max() if len(common) else 0.0)
        speeds.extend(np.linalg.norm(st.vel, axis=1).tolist())
        ids_seen |= set(st.ids.tolist())
        counts.append(len(st.ids))
        prev = st
    assert max(jumps) < 2.0 * dt * 1.6 * 1.3  # never faster than 1.3 x the fastest preferred speed (x2 margin)
    moving = np.array(speeds)[np.array(speeds) > 0.3]
    assert 0.95 < np.median(moving) < 1.6
    assert len(ids_seen) > max(counts)  # people enter and leave
    assert min(counts) >= 1 and max(counts) <= 20


def test_people_keep_their_distance():
    sim = CrowdSimulator(PLAZA_REGION, CrowdParams(n_people=(30, 30)), seed=4)
    close = []
    for t in np.arange(0.0, 30.0, 0.5):
        xy = sim.state(t).xy
        d = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 1e9
        close.append(d.min())
    assert np.median(close) > 0.35


def test_state_is_deterministic_and_query_order_free():
    a = CrowdSimulator(PLAZA_REGION, CrowdParams(), seed=9)
    b = CrowdSimulator(PLAZA_REGION, CrowdParams(), seed=9)
    late = a.state(30.0)
    b.state(2.0)
    np.testing.assert_array_equal(b.state(30.0).xy, late.xy)
    with pytest.raises(ValueError, match='before the simulation start'):
        a.state(-1000.0)


def test_rendering_is_deterministic(world):
    np.testing.assert_array_equal(world.render(0, 12.34), world.render(0, 12.34))
    again = CrowdWorld(world.config)
    np.testing.assert_array_equal(again.render(2, 12.34), world.render(2, 12.34))
    assert not np.array_equal(world.render(2, 12.34), world.render(2, 15.0))


def test_rendered_feet_and_head_fall_on_the_projections(lone_world):
    """The silhouette's lowest / highest pixels match the projected ground position / head top."""
    checked = 0
    for t in np.arange(0.0, 60.0, 1.5):
        st = lone_world.state(t)
        if len(st.ids) != 1:
            continue
        x, y = st.xy[0]
        h = lone_world.appearances(st.ids)[0].height_m
        for v, cam in enumerate(lone_world.cameras):
            _, ids = lone_world.render_layers(v, t, noise=False)
            rows, cols = np.nonzero(ids == st.ids[0])
            if len(rows) < 30 or rows.max() >= cam.height - 1 or rows.min() <= 0 or cols.min() <= 0 \
                    or cols.max() >= cam.width - 1:
                continue  # not fully inside the image
            (u_f, v_f), (u_h, v_h) = cam.project(np.array([[x, y, 0.0], [x, y, h]]))[0]
            depth = cam.world_to_camera([[x, y, 0.9]])[0, 2]
            px_per_m = cam.K[1, 1] / depth
            tol = 0.3 * px_per_m + 1.5  # feet swing +-0.25 m around the ground position
            assert abs(rows.max() - v_f) < tol, (t, v)
            assert abs(cols[rows >= rows.max() - 2].mean() - u_f) < tol, (t, v)
            assert abs(rows.min() - v_h) < 0.12 * px_per_m + 1.5, (t, v)
            assert 0.42 * px_per_m < (cols.max() - cols.min() + 1) < 1.2 * px_per_m  # about 0.5 m wide
            checked += 1
    assert checked >= 10


def test_nearer_person_occludes_farther_one(lone_world):
    cam = lone_world.cameras[0]
    c = cam.center[:2]
    d = np.array([10.0, 12.0]) - c
    d /= np.linalg.norm(d)
    near, far = c + 9.0 * d, c + 14.0 * d  # on one viewing ray
    st = CrowdState(np.array([1, 2]), np.stack([near, far]), np.zeros((2, 2)), np.zeros(2), np.zeros(2))
    apps = lone_world.appearances(st.ids)
    canvas = np.zeros((cam.height, cam.width, 3), np.uint8)
    depth = np.full((cam.height, cam.width), np.inf, np.float32)
    ids = np.full((cam.height, cam.width), -1, np.int32)
    for order in ([0, 1], [1, 0]):  # input order must not matter
        canvas[:] = 0
        depth[:] = np.inf
        ids[:] = -1
        sub = CrowdState(st.ids[order], st.xy[order], st.vel[order], st.heading[order], st.walk_m[order])
        draw_people(canvas, cam, sub, [apps[i] for i in order], depth, ids)
        n_near, n_far = (ids == 1).sum(), (ids == 2).sum()
        assert n_near > 0 and n_far > 0
        near_alone = np.zeros_like(ids)
        draw_people(np.zeros_like(canvas), cam, CrowdState(st.ids[:1], st.xy[:1], st.vel[:1], st.heading[:1],
                                                           st.walk_m[:1]), apps[:1],
                    np.full(ids.shape, np.inf, np.float32), near_alone)
        assert (ids[near_alone == 1] == 1).all()  # wherever the near person is, it is on top


def test_structures_occlude_people_behind_them(world):
    cam_i = 0
    cam = world.cameras[cam_i]
    post = next(s for s in world.scene.structures if s.kind == 'post')
    c = cam.center[:2]
    d = np.array([post.x, post.y]) - c
    behind = np.array([post.x, post.y]) + 2.5 * d / np.linalg.norm(d)
    st = CrowdState(np.array([0]), behind[None], np.zeros((1, 2)), np.zeros(1), np.zeros(1))
    orig = world.state
    try:
        world.state = lambda t: st
        _, ids = world.render_layers(cam_i, 0.0, noise=False)
    finally:
        world.state = orig
    uv_post, _ = cam.project(np.array([[post.x, post.y, 1.2]]))
    u, v = np.round(uv_post[0]).astype(int)
    assert ids[v, u] == -1  # the post hides the person at this pixel
    assert (ids == 0).sum() > 10  # the rest of the person is visible


def test_render_speed(world):
    world.render(0, 50.0)
    start = time.perf_counter()
    for k in range(15):
        world.render(k % 3, 50.0 + 0.1 * k)
    assert (time.perf_counter() - start) / 15 < 0.1


def test_density_helpers():
    region = PLAZA_REGION.with_cell(0.4)
    pts = np.array([[0.05, 0.05], [10.0, 12.0], [19.9, 23.9], [-1.0, 5.0]])
    d = ground_density(pts, region, sigma_m=1.0)
    assert d.shape == (60, 50) and d.sum() == pytest.approx(3.0, abs=1e-4)  # border people fully counted
    r, c = np.unravel_index(np.argmax(ground_density(pts[1:2], region, 0.5)), d.shape)
    assert (r, c) in {(29, 24), (29, 25), (30, 24), (30, 25)}
    img = image_density(np.array([[5.0, 5.0], [-3.0, 4.0], [np.nan, 1.0]]), 40, 30, 2.0)
    assert img.sum() == pytest.approx(1.0, abs=1e-5) and np.unravel_index(img.argmax(), img.shape) == (5, 5)
    np.testing.assert_allclose(sum_pool(d, 2).sum(), d.sum(), rtol=1e-5)
    assert resize_density(d, 25, 30).sum() == pytest.approx(d.sum(), rel=1e-4)
    assert resize_density(d, 33, 41).sum() == pytest.approx(d.sum(), rel=1e-4)


def test_config_round_trip_through_json():
    cfg = CrowdWorldConfig(seed=4, image_size=(192, 144), crowd=CrowdParams(n_people=(5, 9)), gp_cell_m=0.2)
    assert CrowdWorldConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match='rig'):
        CrowdWorldConfig(rig='moon')
    with pytest.raises(ValueError, match='n_people'):
        CrowdParams(n_people=(5, 2))
