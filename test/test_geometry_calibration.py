"""The one calibration comparison (geometry.calibration.compare_rigs) and the rig region of pose rigs."""
from __future__ import annotations

import dataclasses

import numpy as np

from vsync_ros.geometry import GroundRegion
from vsync_ros.geometry.calibration import compare_rigs, rig_region
from vsync_ros.geometry.presets import PLAZA_REGION, plaza_cameras, studio_cameras


def test_same_rig_at_another_resolution_matches():
    model = plaza_cameras(192, 144)
    assert compare_rigs(model, plaza_cameras(384, 288), PLAZA_REGION, 0.01, PLAZA_REGION, PLAZA_REGION) == ''


def test_moved_camera_is_named_with_the_size_of_the_difference():
    model = plaza_cameras()
    moved = list(model)
    moved[2] = dataclasses.replace(model[2], t=np.asarray(model[2].t, float) + np.array([0.3, 0.0, 0.0]))
    reason = compare_rigs(model, moved, PLAZA_REGION, 2.0)
    assert reason.startswith(f'view 2 ({model[2].name}): calibration differs') and 'tolerance 2 px' in reason


def test_view_count_aspect_ratio_and_region_are_checked():
    model = plaza_cameras()
    assert compare_rigs(model, model[:2], PLAZA_REGION, 2.0).startswith('3 views expected')
    assert 'aspect ratio' in compare_rigs(model, plaza_cameras(384, 384), PLAZA_REGION, 2.0)
    other = GroundRegion(0.0, 0.0, 20.0, 24.0, 0.4)
    assert 'cell_m' in compare_rigs(model, model, PLAZA_REGION, 2.0, PLAZA_REGION, other)


def test_rig_region_spans_the_camera_centres_on_its_grid():
    cams = studio_cameras()
    region = rig_region(cams, cell_m=0.5, margin_m=0.5)
    centres = np.array([c.center for c in cams])
    assert region.x0 <= centres[:, 0].min() - 0.5 and region.y0 <= centres[:, 1].min() - 0.5
    assert region.x0 + region.width_m >= centres[:, 0].max() + 0.5
    assert region.y0 + region.height_m >= centres[:, 1].max() + 0.5
    for v in (region.x0, region.y0, region.width_m, region.height_m):
        assert abs(v / 0.5 - round(v / 0.5)) < 1e-9


def test_rational_polynomial_cameras_are_compared_by_their_projection():
    from vsync_ros.geometry import Camera

    def with_dist(cam, dist):
        return Camera(cam.name, cam.width, cam.height, cam.K, np.asarray(dist, float), cam.R, cam.t)

    rational = (0.2, 0.05, 1e-4, -2e-4, 0.01, 0.25, 0.04, 0.01)
    model = [with_dist(c, rational) if i == 1 else c for i, c in enumerate(plaza_cameras(192, 144))]
    same = [with_dist(c, rational) if i == 1 else c for i, c in enumerate(plaza_cameras(384, 288))]
    assert compare_rigs(model, same, PLAZA_REGION, 0.01, PLAZA_REGION, PLAZA_REGION) == ''
    # the plumb_bob part alone, or another denominator, is another lens
    for dist in (rational[:5], rational[:5] + (0.3, 0.04, 0.01)):
        other = list(model)
        other[1] = with_dist(model[1], dist)
        assert compare_rigs(model, other, PLAZA_REGION, 0.01).startswith(f'view 1 ({model[1].name}): calibration')
