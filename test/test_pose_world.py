"""Synthetic motion world: skeleton invariants, continuity, rendering consistency, determinism."""
import numpy as np
import pytest

from vsync_ros.data.motion_world import (
    BACKGROUND_LABEL,
    MOTION_CODES,
    MOTIONS,
    PART_INDEX,
    PART_NAMES,
    MotionWorld,
    body_primitives,
    intersect_capsules,
    intersect_ellipsoids,
    plateau_cycle,
)
from vsync_ros.data.skeleton import BONES, JOINT_NAMES, NUM_JOINTS, PARENTS, PELVIS, bone_lengths
from vsync_ros.geometry.presets import studio_cameras

pytestmark = pytest.mark.slow  # every test here simulates or renders the motion world


@pytest.fixture(scope='module')
def cams():
    return studio_cameras(160, 160)


def test_skeleton_tables_are_consistent():
    assert len(JOINT_NAMES) == NUM_JOINTS == 17 and JOINT_NAMES[PELVIS] == 'Pelvis'
    assert len(BONES) == 16
    # every joint reaches the pelvis through its parents
    for j in range(NUM_JOINTS):
        seen = 0
        while j != PELVIS:
            j = PARENTS[j]
            seen += 1
            assert seen < NUM_JOINTS


@pytest.mark.parametrize('motion', MOTIONS)
def test_bone_lengths_constant_and_plausible(cams, motion):
    world = MotionWorld(cams, seed=3, motions=[motion])
    J = np.stack([world.joints(t) for t in np.linspace(-3.0, 20.0, 400)])[:, 0]
    bl = bone_lengths(J)
    assert np.abs(bl - bl[0]).max() < 1e-9
    names = {b: (JOINT_NAMES[b[0]], JOINT_NAMES[b[1]]) for b in BONES}
    thigh = bl[0, BONES.index((2, 1))]
    assert 0.35 < thigh < 0.56, names
    assert 0.08 < bl[0].min() and bl[0].max() < 0.6


def test_bone_lengths_vary_between_people(cams):
    world = MotionWorld(cams, n_people=4, seed=1)
    bl = bone_lengths(world.joints(0.0))
    assert np.ptp(bl[:, BONES.index((2, 1))]) > 0.01


@pytest.mark.parametrize('motion', MOTIONS)
def test_joints_continuous_in_time(cams, motion):
    world = MotionWorld(cams, seed=5, motions=[motion])
    dt = 0.005
    ts = np.arange(-1.0, 9.0, dt)
    J = np.stack([world.joints(t) for t in ts])
    speed = np.linalg.norm(np.diff(J, axis=0), axis=-1) / dt
    accel = np.linalg.norm(np.diff(J, 2, axis=0), axis=-1) / dt ** 2
    assert speed.max() < 6.0, speed.max()           # m/s: no jumps
    assert accel.max() < 60.0, accel.max()         # m/s^2: smooth (C1) motion
    assert J[..., 2].min() > 0.0                   # nothing under the floor
    # the gait / arm / sit cycles really move something
    assert speed.max() > (0.05 if motion == 'idle' else 0.5)


def test_motion_specific_behaviour(cams):
    walk = MotionWorld(cams, seed=2, motions=['walk'])
    p = np.stack([walk.joints(t)[0, PELVIS] for t in np.arange(0, 4, 0.1)])
    assert np.linalg.norm(p[-1, :2] - p[0, :2]) > 0.5        # walks somewhere
    sit = MotionWorld(cams, seed=2, motions=['sit'])
    z = np.array([sit.joints(t)[0, PELVIS, 2] for t in np.arange(0, 12, 0.05)])
    assert z.max() - z.min() > 0.3                           # sits down and stands up
    wave = MotionWorld(cams, seed=2, motions=['wave'])
    wrists = np.stack([wave.joints(t)[0, [10, 15], 2] for t in np.arange(0, 12, 0.05)])
    head = wave.joints(0.0)[0, 9, 2]
    assert wrists.max() > head - 0.1                          # a hand goes up near the head
    turn = MotionWorld(cams, seed=2, motions=['turn'])
    hips = [turn.joints(t)[0, 3] - turn.joints(t)[0, 2] for t in (0.0, 2.0)]
    cosang = np.dot(hips[0], hips[1]) / np.linalg.norm(hips[0]) / np.linalg.norm(hips[1])
    assert cosang < np.cos(0.6)                               # turned by more than ~35 degrees


def test_ground_truth_contract(cams):
    world = MotionWorld(cams, n_people=3, seed=7, motions=['walk', 'sit'])
    gt = world.ground_truth(1.25)
    assert world.task == 'pose'
    assert gt['joints_3d'].shape == (3, 17, 3) and gt['joints_3d'].dtype == np.float32
    assert gt['motion'].shape == (3,) and set(gt['motion']) <= {MOTION_CODES['walk'], MOTION_CODES['sit']}
    img = world.render(2, 1.25)
    assert img.shape == (160, 160, 3) and img.dtype == np.uint8
    anchors = world.anchors
    assert min(np.linalg.norm(a - b) for i, a in enumerate(anchors) for b in anchors[i + 1:]) >= 0.9


def test_frame_annotations_and_description(cams):
    import json
    world = MotionWorld(cams, n_people=2, seed=3, segment_s=6.0)
    ann = world.frame_annotations(1, 2.0)
    uv, depth = cams[1].project(world.joints(2.0).reshape(-1, 3))
    assert ann['joints_uv'].shape == (2, 17, 2) and ann['joints_depth'].shape == (2, 17)
    assert np.allclose(ann['joints_uv'].reshape(-1, 2), uv, atol=1e-3)
    desc = json.loads(json.dumps(world.describe()))
    assert desc['type'] == 'motion' and desc['segment_s'] == 6.0 and len(desc['people']) == 2


def test_person_zero_visible_in_all_views(cams):
    for seed in range(4):
        world = MotionWorld(cams, seed=seed)
        for t in np.linspace(0, 10, 11):
            J = world.joints(t)[0]
            for cam in cams:
                uv, depth = cam.project(J)
                assert np.all(depth > 1.0) and np.all(cam.in_image(uv))


def test_rendered_joints_are_coloured_as_the_body(cams):
    world = MotionWorld(cams, seed=11, noise_std=0.0)
    person = world.people[0]
    skin, hair = person.shape.colors['skin'], person.shape.colors['hair']
    for t in (0.0, 1.7, 4.2):
        J = world.joints(t)[0]
        prim = body_primitives(person.shape, J)
        for v, cam in enumerate(cams):
            img, labels = world.render(v, t, return_labels=True)
            bg = world.background(v)
            uv, _ = cam.project(J)
            px = np.round(uv).astype(int)
            # every joint lies inside the body: its pixel (or, for surface joints like HeadTop, a
            # neighbour within pixel rounding) shows the person
            near = np.stack([labels[px[:, 1] + dv, px[:, 0] + du] for dv in (-1, 0, 1) for du in (-1, 0, 1)], 1)
            ok = np.any((near >= 0) & (near < len(PART_NAMES)), axis=1)
            assert np.all(ok), (v, t, [JOINT_NAMES[j] for j in np.nonzero(~ok)[0]])
            inner = [j for j in range(NUM_JOINTS) if JOINT_NAMES[j] not in ('HeadTop',)]
            assert np.all(labels[px[inner, 1], px[inner, 0]] >= 0)
            # the head centre shows the head (skin or hair, Lambert-shaded), unless an arm is in front
            (hu, hv), = np.round(cam.project(prim.ell_c[:1])[0]).astype(int)
            if labels[hv, hu] == PART_INDEX['head']:
                rgb = img[hv, hu].astype(float) / 255
                res = [np.linalg.norm(rgb - np.dot(rgb, c) / np.dot(c, c) * c) for c in (skin, hair)]
                assert min(res) < 0.02
            else:
                assert labels[hv, hu] in [PART_INDEX[n] for n in PART_NAMES if 'arm' in n or 'hand' in n]
            # pixels labelled as body differ from the empty room there, background pixels equal it
            body = labels >= 0
            assert np.abs(img[~body].astype(int) - bg[~body]).max() == 0
            assert body.sum() > 50


def test_occlusion_is_depth_correct(cams):
    world = MotionWorld(cams, n_people=4, seed=4, noise_std=0.0)
    t = 0.5
    J = world.joints(t)
    for v, cam in enumerate(cams):
        _, labels = world.render(v, t, return_labels=True)
        for p in range(len(world.people)):
            uv, depth = cam.project(J[p])
            px = np.round(uv).astype(int)
            lab = labels[px[:, 1], px[:, 0]]
            inner = [j for j in range(NUM_JOINTS) if JOINT_NAMES[j] != 'HeadTop']
            assert np.all(lab[inner] != BACKGROUND_LABEL)
            lab = lab[inner]
            depth = depth[inner]
            other = lab // len(PART_NAMES) != p
            # where another person is seen in front of a joint, that person is nearer along this ray
            for j in np.nonzero(other)[0]:
                q = lab[j] // len(PART_NAMES)
                assert np.linalg.norm(J[q] - cam.center, axis=1).min() < depth[j] / 0.8


def test_ray_primitive_intersections():
    o = np.zeros(3)
    d = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.6, 0.8]])
    t = intersect_capsules(o, d, np.array([[-1.0, 0.0, 5.0]]), np.array([[1.0, 0.0, 5.0]]), np.array([0.5]))
    assert t[0, 0] == pytest.approx(4.5) and np.isinf(t[0, 1])
    t = intersect_capsules(o, d[:1], np.array([[0.0, 0.0, 5.0]]), np.array([[0.0, 0.0, 8.0]]), np.array([0.5]))
    assert t[0, 0] == pytest.approx(4.5)                    # cap hit end-on
    t = intersect_ellipsoids(o, d, np.array([[0.0, 0.0, 5.0]]), np.eye(3)[None], np.array([[1.0, 1.0, 2.0]]))
    assert t[0, 0] == pytest.approx(3.0) and np.isinf(t[0, 1])


def test_same_seed_same_bytes(cams):
    a = MotionWorld(cams, n_people=2, seed=21)
    b = MotionWorld(cams, n_people=2, seed=21)
    c = MotionWorld(cams, n_people=2, seed=22)
    for v in (0, 3):
        assert a.render(v, 2.5).tobytes() == b.render(v, 2.5).tobytes()
        assert a.render(v, 2.5).tobytes() != c.render(v, 2.5).tobytes()
    assert np.array_equal(a.ground_truth(0.3)['joints_3d'], b.ground_truth(0.3)['joints_3d'])
    assert a.render(0, 2.5).tobytes() != a.render(0, 2.52).tobytes()


def test_plateau_cycle_is_continuous():
    ts = np.linspace(0, 20, 4001)
    s = np.array([plateau_cycle(t, 1.0, 0.5, 2.0, 0.7, offset=0.3) for t in ts])
    assert s.min() == 0.0 and s.max() == 1.0
    assert np.abs(np.diff(s)).max() < 0.05


def test_unknown_motion_rejected(cams):
    with pytest.raises(ValueError):
        MotionWorld(cams, motions=['dance'])


def test_motion_schedule_is_continuous_and_varied(cams):
    world = MotionWorld(cams, n_people=2, seed=8, segment_s=4.0, blend_s=1.0)
    dt = 0.02
    ts = np.arange(-1.0, 60.0, dt)
    J = np.stack([world.joints(t) for t in ts])
    bl = bone_lengths(J)
    assert np.abs(bl - bl[:1]).max() < 1e-9
    speed = np.linalg.norm(np.diff(J, axis=0), axis=-1) / dt
    accel = np.linalg.norm(np.diff(J, 2, axis=0), axis=-1) / dt ** 2
    assert speed.max() < 6.0 and accel.max() < 60.0, (speed.max(), accel.max())
    assert J[..., 2].min() > 0.0
    codes = np.array([world.ground_truth(t)['motion'][0] for t in ts[::25]])
    assert len(set(codes.tolist())) >= 4
    # person 0 stays in view of every camera
    for i in range(0, len(ts), 50):
        for cam in cams:
            uv, depth = cam.project(J[i, 0])
            assert np.all(depth > 1.0) and np.all(cam.in_image(uv))
    # segments do not depend on the order of queries
    fresh = MotionWorld(cams, n_people=2, seed=8, segment_s=4.0, blend_s=1.0)
    assert np.array_equal(fresh.joints(77.7), world.joints(77.7))
