"""Markers from Camera / GroundRegion and diagnostics statuses, without a ROS graph."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vsync_ros.geometry import GroundRegion
from vsync_ros.geometry.presets import rig
from vsync_ros.ros.diagnostics import (
    ERROR,
    OK,
    WARN,
    estimate_status,
    node_status,
    parse_estimate_status,
    to_diagnostic_array,
    view_status,
)
from vsync_ros.ros.markers import (
    H36M_BONES,
    build_scene_markers,
    build_skeleton_markers,
    frustum_corners,
    frustum_segments,
    region_outline,
    skeleton_segments,
)
from vsync_ros.runtime.degraded import assess
from vsync_ros.runtime.frame_store import FrameStore
from vsync_ros.runtime.sync_core import CoreStats

CAMS, REGION = rig('plaza')


def test_frustum_rays_end_on_the_ground_or_at_max_range():
    for cam in CAMS:
        far = frustum_corners(cam, max_range_m=1000.0)
        # the bottom corners look down: they end on the ground plane, inside the image when re-projected
        assert np.allclose(far[2:, 2], 0.0, atol=1e-6)
        uv, depth = cam.project(far[2:])
        w, h = cam.width, cam.height
        np.testing.assert_allclose(uv, [[w - 0.5, h - 0.5], [-0.5, h - 0.5]], atol=1e-3)
        short = frustum_corners(cam, max_range_m=2.0)
        np.testing.assert_allclose(np.linalg.norm(short - cam.center, axis=1), 2.0)
        seg = frustum_segments(cam, 5.0)
        assert seg.shape == (16, 3) and np.allclose(seg[0], cam.center)


def test_region_outline_and_skeleton_segments():
    out = region_outline(GroundRegion(1.0, 2.0, 3.0, 4.0, 0.5))
    np.testing.assert_array_equal(out[[0, 2]], [[1, 2, 0], [4, 6, 0]])
    assert np.array_equal(out[0], out[-1])
    j = np.arange(17 * 3, dtype=float).reshape(17, 3)
    seg = skeleton_segments(j)
    assert seg.shape == (2 * len(H36M_BONES), 3)
    np.testing.assert_array_equal(seg[0], j[0])
    np.testing.assert_array_equal(seg[1], j[1])
    assert skeleton_segments(j[:5]).shape[0] < seg.shape[0]  # bones to missing joints are skipped


def test_scene_marker_messages():
    pytest.importorskip('visualization_msgs.msg', reason='visualization_msgs not installed')
    from std_msgs.msg import Header
    from visualization_msgs.msg import Marker
    header = Header(frame_id='world')
    arr = build_scene_markers(CAMS, REGION, header, active_ref=1, disabled={2})
    assert len(arr.markers) == 1 + 3 * len(CAMS)
    keys = [(m.ns, m.id) for m in arr.markers]
    assert len(set(keys)) == len(keys)  # stable, unique ids: republishing replaces
    assert all(m.header.frame_id == 'world' and m.action == Marker.ADD for m in arr.markers)
    frusta = {m.id: m for m in arr.markers if m.ns == 'camera_frusta'}
    assert len(frusta[0].points) == 16 and frusta[1].scale.x > frusta[0].scale.x
    assert frusta[2].color.r == frusta[2].color.g == frusta[2].color.b  # disabled: grey
    labels = {m.id: m.text for m in arr.markers if m.ns == 'camera_labels'}
    assert labels == {0: 'cam1', 1: 'cam2 (ref)', 2: 'cam3 (disabled)'}
    assert all(0.0 <= c <= 1.0 for m in arr.markers for c in (m.color.r, m.color.g, m.color.b, m.color.a))


def test_skeleton_markers_delete_vanished_people():
    pytest.importorskip('visualization_msgs.msg', reason='visualization_msgs not installed')
    from std_msgs.msg import Header
    from visualization_msgs.msg import Marker
    arr = build_skeleton_markers(np.zeros((2, 17, 3)), Header(frame_id='world'), previous_count=4, lifetime_s=1.5)
    adds = [m for m in arr.markers if m.action == Marker.ADD]
    deletes = [m for m in arr.markers if m.action == Marker.DELETE]
    assert len(adds) == 4 and sorted({m.id for m in deletes}) == [2, 3] and len(deletes) == 4
    assert adds[0].lifetime.sec == 1 and adds[0].lifetime.nanosec == 500_000_000
    assert len(build_skeleton_markers(None, Header()).markers) == 0


def test_view_and_node_status_levels():
    st = FrameStore(['cam1', 'cam2', 'cam3'], max_age_s=1.0, topics=['/a', '/b', '/c'])
    st.put(0, 'x', 2_000_000_000, 10.0)
    st.put(1, 'x', 1_900_000_000, 8.0)
    st.reject(0, 'unsupported encoding', 10.0)
    st.set_enabled(2, False, 'CameraInfo: NaN')
    s = st.states()
    ok = view_status(s[0], 20.0 - 9.5, 1.0, 2_000_000_000, 'sync_node', True)
    assert ok.level == WARN and 'rejecting frames' in ok.message  # a recent rejection
    later = view_status(s[0], 10.5 + 10, 100.0, 2_000_000_000, 'sync_node', True)
    assert later.level == OK and later.values['active_reference'] == 'true'
    stale = view_status(s[1], 10.0, 1.0, 2_000_000_000, 'sync_node')
    assert stale.level == WARN and 'stale' in stale.message
    assert float(stale.values['stamp_offset_to_reference_s']) == pytest.approx(-0.1)
    assert stale.hardware_id == '/b' and stale.name == 'sync_node: camera cam2'
    dis = view_status(s[2], 10.0, 1.0, None, 'sync_node')
    assert dis.level == ERROR and 'NaN' in dis.message and dis.values['stamp_offset_to_reference_s'] == 'nan'
    stats = CoreStats(runs=3, last_inference_ms=12.5, mean_inference_ms=11.0)
    names = ['cam1', 'cam2', 'cam3']
    assert node_status(stats, 0, 0, names, 'n').level == OK
    fo = node_status(stats, 1, 0, names, 'n', device='cpu', outputs=3)
    assert fo.level == WARN and 'cam2' in fo.message and fo.values['inference_ms'] == '12.5'
    assert fo.values['device'] == 'cpu' and fo.values['outputs_published'] == '3'
    assert node_status(stats, None, 0, names, 'n').level == ERROR
    assert node_status(CoreStats(errors=2, last_error='pipeline failed'), 0, 0, names, 'n').level == ERROR
    assert math.isinf(s[2].age(0.0))


def test_estimate_status_values_parse_back():
    """What vsync-bag-eval online reads from ~/estimate_status is the core's assessment (reasons per view aside)."""
    names = ['cam1', 'cam2', 'cam3']
    for est in (assess(5, 0, 0, [0, 1, 2], 3, names), assess(7, 1, 0, [1, 2], 3, names, {0: 'stale'})):
        back = parse_estimate_status(estimate_status(est, names, 'n').values, names, est.stamp_ns)
        assert back == type(est)(**{**est.__dict__, 'missing': {v: '' for v in est.missing}})
    assert parse_estimate_status(estimate_status(None, names, 'n').values, names, 1) is None
    with pytest.raises(ValueError, match='reference'):
        parse_estimate_status({'reference': 'cam9'}, names, 1)


def test_diagnostic_array_message():
    pytest.importorskip('diagnostic_msgs.msg', reason='diagnostic_msgs not installed')
    from diagnostic_msgs.msg import DiagnosticStatus
    from std_msgs.msg import Header
    st = FrameStore(['cam1'], 1.0)
    arr = to_diagnostic_array([view_status(st.states()[0], 0.0, 1.0, None, 'n')], Header(frame_id=''))
    assert arr.status[0].level == DiagnosticStatus.WARN
    keys = {kv.key for kv in arr.status[0].values}
    assert {'frame_age_s', 'frames_dropped_superseded', 'frames_rejected', 'rate_hz'} <= keys
