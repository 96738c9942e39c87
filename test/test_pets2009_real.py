"""PETS2009 on its real calibration and real annotated crowds (data root ../shared/data/pets2009).

The files are not part of the package; these tests skip with the reason where the data root is absent.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from pets_data import have_pets_data, pets_data_root

from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
from vsync_ros.data.readers.pets2009 import PETS_REGION, pets_cameras
from vsync_ros.data.readers.pets_tracks import (
    FPS,
    TEST_TRACKS,
    TRAIN_TRACKS,
    AnnotationError,
    PetsCrowd,
    PetsTracks,
    foot_and_head_pixels,
    read_boxes,
)
from vsync_ros.data.readers.tsai import read_tsai_params, tsai_project
from vsync_ros.geometry.epipolar import fundamental_matrix

DATA = pets_data_root()
if not have_pets_data():
    pytest.skip(f'the PETS2009 data root {DATA} is absent (see the README: data is read from a root you give)',
                allow_module_level=True)

SEQUENCES = (*TRAIN_TRACKS, *TEST_TRACKS)


@pytest.fixture(scope='module')
def cams():
    return pets_cameras(DATA / 'calibration', (768, 576))


@pytest.fixture(scope='module')
def tracks(cams):
    return {s: PetsTracks.from_annotations(DATA / 'annotations' / f'PETS2009-{s}.xml', cams[0]) for s in SEQUENCES}


def test_foot_points_round_trip_through_the_ground_plane(cams):
    boxes = read_boxes(DATA / 'annotations' / 'PETS2009-S1L1-1.xml')
    feet, _ = foot_and_head_pixels(boxes)
    ground = cams[0].backproject_to_plane(feet, 0.0)
    uv, depth = cams[0].project(ground)
    assert np.all(depth > 0) and np.abs(uv - feet).max() < 1e-3
    # and through the original Tsai model (mm), which the package's plumb_bob camera approximates
    tsai = tsai_project(read_tsai_params(DATA / 'calibration' / 'View_001.xml'), ground * 1000.0)
    assert np.abs(tsai - feet).max() < 0.05


def test_people_stand_inside_the_ground_region_with_plausible_heights(tracks):
    """All annotated positions lie in the MVMS ground region, except far-field ones of S1L1-2.

    In S1L1-2 87 of 3846 positions (2.3 %) belong to people annotated near the top of View_001 (feet
    near image row 77), 26-33 m up the road: beyond the region's far corner (x > 30 m or y > 26 m),
    where MVMS counts nobody.
    """
    r = PETS_REGION
    for name, tr in tracks.items():
        xy = np.concatenate(tr.xy)
        inside = ((xy[:, 0] >= r.x0) & (xy[:, 0] <= r.x0 + r.width_m)
                  & (xy[:, 1] >= r.y0) & (xy[:, 1] <= r.y0 + r.height_m))
        assert inside.mean() >= (0.97 if name == 'S1L1-2' else 1.0), (name, inside.mean())
        far = (xy[~inside, 0] > r.x0 + r.width_m) | (xy[~inside, 1] > r.y0 + r.height_m)
        assert np.all(far) and np.all(xy[~inside, 1] > 25.0), name  # only beyond the far corner
        assert 1.5 < np.nanmedian(tr.height_m) < 2.0, (name, np.nanmedian(tr.height_m))


def test_positions_interpolate_between_annotated_frames(tracks):
    tr = tracks['S1L1-1']
    k = int(np.argmax([len(f) for f in tr.frames]))
    fr, xy = tr.frames[k], tr.xy[k]
    i = len(fr) // 2
    assert fr[i + 1] == fr[i] + 1
    ids, pos = tr.positions_at(fr[i] / FPS)
    np.testing.assert_allclose(pos[list(ids).index(tr.ids[k])], xy[i], atol=1e-9)
    ids, pos = tr.positions_at((fr[i] + 0.5) / FPS)
    np.testing.assert_allclose(pos[list(ids).index(tr.ids[k])], (xy[i] + xy[i + 1]) / 2, atol=1e-9)
    t0, t1 = tr.time_range_s
    assert tr.count_at(t1 + 1.0) == 0 and tr.count_at(t0) > 0
    counts = [tr.count_at(f / FPS) for f in range(0, 220, 10)]
    assert 10 <= np.mean(counts) <= 35  # README of the data root: S1L1-1 has 22.5 people per frame on average


@pytest.mark.parametrize('other', [1, 2], ids=['view1-2', 'view1-3'])
def test_rig_epipolar_geometry_agrees_with_opencv_on_real_people(cams, tracks, other):
    """OpenCV estimates F from the real people's feet and heads seen by both views; the rig's F must agree."""
    pts = []
    for tr in tracks.values():
        for xy, h in zip(tr.xy, tr.height_m):
            for z in (0.0, float(h) if np.isfinite(h) else 1.7):
                pts.append(np.column_stack([xy, np.full(len(xy), z)]))
    world = np.concatenate(pts)
    ref, oth = cams[0], cams[other]
    uv_r, d_r = ref.project(world, distort=False)
    uv_o, d_o = oth.project(world, distort=False)
    seen = (d_r > 0) & (d_o > 0) & ref.in_image(uv_r) & oth.in_image(uv_o)
    assert seen.sum() > 1000
    F_cv, _ = cv2.findFundamentalMat(uv_r[seen], uv_o[seen], cv2.FM_8POINT)
    F = fundamental_matrix(ref, oth)
    F_cv, F = F_cv / np.linalg.norm(F_cv), F / np.linalg.norm(F)
    assert min(np.abs(F_cv - F).max(), np.abs(F_cv + F).max()) < 1e-4
    # the real people's distorted projections lie on the epipolar lines once undistorted
    x_r = np.column_stack([ref.ideal_pixels(ref.project(world[seen])[0]), np.ones(seen.sum())])
    x_o = np.column_stack([oth.ideal_pixels(oth.project(world[seen])[0]), np.ones(seen.sum())])
    lines = x_r @ F.T
    dist = np.abs(np.einsum('ij,ij->i', lines, x_o)) / np.linalg.norm(lines[:, :2], axis=1)
    assert np.median(dist) < 0.01


def test_malformed_annotations_name_the_file_and_element(tmp_path):
    bad = tmp_path / 'PETS2009-X.xml'
    bad.write_text('<dataset><frame number="3"><objectlist><object id="1"><box h="10" w="abc" xc="1" yc="2"/>'
                   '</object></objectlist></frame></dataset>')
    with pytest.raises(AnnotationError, match=r'PETS2009-X.xml: frame 3: object .1. has no valid'):
        read_boxes(bad)
    (tmp_path / 'broken.xml').write_text('<dataset><frame')
    with pytest.raises(AnnotationError, match='broken.xml: cannot read'):
        read_boxes(tmp_path / 'broken.xml')


@pytest.mark.slow  # renders a world
def test_world_renders_the_real_crowd_from_the_real_rig(tracks):
    """Every annotated person inside View_001 appears in the render where its annotated feet are."""
    cams = pets_cameras(DATA / 'calibration', (384, 288))
    tr = tracks['S1L1-1']
    world = CrowdWorld(CrowdWorldConfig(image_size=(384, 288)), cameras=cams, region=PETS_REGION,
                       crowd=PetsCrowd(tr, seed=3))
    t = 10.0
    ids, xy = tr.positions_at(t)
    gt = world.ground_truth(t, view_density=False)
    assert gt['count'] == len(ids) and sorted(gt['person_ids']) == sorted(ids)
    _, id_map = world.render_layers(0, t, noise=False)
    uv, depth = cams[0].project(np.column_stack([xy, np.full(len(xy), 1.0)]))  # hips, 1 m up (legs swing apart)
    hit = 0
    for pid, (u, v) in zip(ids, uv):
        if cams[0].in_image(np.array([[u, v]]), margin=-3)[0]:
            patch = id_map[int(round(v)) - 2:int(round(v)) + 3, int(round(u)) - 2:int(round(u)) + 3]
            hit += int(pid in patch or (patch >= 0).any())  # the person or one standing in front of it
    visible = int(np.sum(cams[0].in_image(uv, margin=-3)))
    assert visible > 10 and hit == visible
