"""ROS-free core of the sync node: FrameStore, SyncCore, LogThrottle, result checks, calibration checks."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from ros_support import TEST_REGION, ForegroundPipeline, toy_setup

from vsync_ros import paths
from vsync_ros.geometry import Camera
from vsync_ros.geometry.presets import rig
from vsync_ros.inference.api import FramePipeline, PipelineOutputError, PipelineResult, check_result
from vsync_ros.runtime.calibration_check import check_calibration, check_camera_info, load_and_check
from vsync_ros.runtime.frame_store import FrameStore
from vsync_ros.runtime.images import ImageFormatError, check_image, fill_image_msg, numpy_image_to_rgb
from vsync_ros.runtime.messages import camera_info_fields
from vsync_ros.runtime.sync_core import LogThrottle, SyncCore

NAMES = ['a', 'b', 'c']


# ------------------------------------------------------------------------------------------ FrameStore
def test_store_keeps_only_latest_and_counts_superseded():
    st = FrameStore(NAMES, max_age_s=1.0)
    for k in range(5):
        st.put(1, f'f{k}', stamp_ns=k, arrival=0.1 * k)
    assert st.latest(1).payload == 'f4' and st.latest(1).seq == 5
    s = st.states()[1]
    assert s.received == 5 and s.superseded == 4 and s.used == 0
    frames = st.take(0.45)
    assert frames[1].payload == 'f4' and frames[0] is None and frames[2] is None
    st.put(1, 'f5', 5, 0.5)  # replaces a used frame: not superseded
    assert st.states()[1].superseded == 4 and st.states()[1].used == 1


def test_store_staleness_uses_arrival_time_not_stamps():
    st = FrameStore(NAMES, max_age_s=0.5)
    st.put(0, 'x', stamp_ns=10**18, arrival=1.0)  # absurd stamp is irrelevant for the age
    assert st.is_usable(0, 1.5) and not st.is_usable(0, 1.51)
    assert math.isinf(st.states()[1].age(1.0))
    st.set_max_age(2.0)
    assert st.is_usable(0, 2.9)


def test_store_reference_failover_order_and_disabled_views():
    st = FrameStore(NAMES, max_age_s=1.0, reference_order=[0, 2, 1])
    assert st.choose_reference(0.0) is None
    for v in range(3):
        st.put(v, v, 0, 0.0)
    assert st.choose_reference(0.5) == 0
    st.put(1, 1, 0, 1.2)
    st.put(2, 2, 0, 1.2)
    assert st.choose_reference(1.5) == 2  # 0 stale: next in the order is 2, not 1
    st.set_enabled(2, False, 'bad calibration')
    assert st.choose_reference(1.5) == 1
    assert st.take(1.5)[2] is None  # disabled views are never handed out
    st.put(0, 0, 0, 1.6)
    assert st.choose_reference(1.7) == 0


def test_store_rejects_bad_order_and_clears_on_time_jump():
    with pytest.raises(ValueError):
        FrameStore(NAMES, 1.0, [0, 0, 1])
    with pytest.raises(ValueError):
        FrameStore(NAMES, 1.0, [3])
    st = FrameStore(NAMES, 1.0)
    st.note_time(10.0)
    st.put(0, 'x', 0, 10.0)
    assert not st.note_time(10.5)
    assert st.note_time(2.0)  # bag loop / sim time reset
    assert st.latest(0) is None and st.states()[0].received == 1


def test_store_lost_frames_from_sequence_gaps_and_rate():
    st = FrameStore(NAMES, 1.0)
    for seq in (1, 2, 5, 6, 10):
        st.put(0, seq, seq, seq * 0.1, pub_seq=seq)
    s = st.states()[0]
    assert s.lost == 5
    assert s.rate_hz() == pytest.approx(4 / 0.9)
    st.put(0, 'restart', 0, 1.1, pub_seq=1)  # publisher restarted: no negative loss
    assert st.states()[0].lost == 5


def test_store_memory_is_bounded():
    st = FrameStore(NAMES, 1.0)
    for k in range(10000):
        st.put(k % 3, np.zeros(10), k, k * 1e-3)
    assert sum(f is not None for f in (st.latest(v) for v in range(3))) == 3
    assert all(len(s.arrivals) <= 20 for s in st.states())


# ------------------------------------------------------------------------------------------ SyncCore
class Rec:
    """Minimal pipeline recording its calls (a real FramePipeline, density = image means on a grid)."""

    task = 'counting'

    def __init__(self, n=3, fail=False, bad_shape=False):
        self.cameras = [Camera(f'c{i}', 8, 6, np.array([[5, 0, 4], [0, 5, 3], [0, 0, 1.0]])) for i in range(n)]
        self.region = TEST_REGION
        self.calls, self.fail, self.bad_shape = [], fail, bad_shape

    def run(self, images, ref_index):
        self.calls.append(([im is not None for im in images], ref_index))
        if self.fail:
            raise RuntimeError('boom')
        shape = (3, 3) if self.bad_shape else self.region.shape
        density = np.full(shape, np.mean([im.mean() for im in images if im is not None]) / 255.0, np.float32)
        return PipelineResult(density, float(density.sum()))


def _core(pipe, order=None, min_views=1, max_age=1.0):
    store = FrameStore([c.name for c in pipe.cameras], max_age, order)
    return SyncCore(pipe, store, lambda m, wh: numpy_image_to_rgb(m), lambda m, wh: check_image(m, wh, True),
                    min_views=min_views)


def _img(value=100, w=8, h=6, encoding='rgb8'):
    arr = np.full((h, w, 3), value, np.uint8) if encoding != 'mono8' else np.full((h, w), value, np.uint8)
    return fill_image_msg(SimpleNamespace(), arr, encoding)


def test_pipeline_protocol_is_satisfied_by_test_pipelines():
    assert isinstance(Rec(), FramePipeline)
    assert isinstance(toy_setup()[1], FramePipeline)


def test_core_triggers_on_reference_and_returns_its_stamp():
    pipe = Rec()
    core = _core(pipe)
    assert core.accept(0, _img(), 100, 0.0)
    assert core.step(0.0).views == [0]
    assert not core.accept(1, _img(), 111, 0.0)  # the reference is usable: other views never trigger
    assert not core.accept(2, _img(), 222, 0.0)
    assert core.accept(0, _img(), 333, 0.01)
    out = core.step(0.02)
    assert out.status == 'ok' and out.ref == 0 and out.stamp_ns == 333 and out.views == [0, 1, 2]
    assert pipe.calls[-1] == ([True, True, True], 0)
    assert core.step(0.03).status == 'not_new'  # same reference frame: nothing to do
    assert core.stats.runs == 2 and core.stats.last_stamp_ns == 333


def test_core_waits_for_the_reference_during_start_up_grace_then_fails_over():
    pipe = Rec()
    core = _core(pipe, max_age=1.0)
    assert not core.accept(1, _img(), 5, 0.0)  # the reference may still come up: wait for it
    assert core.step(0.5).status == 'no_reference'
    assert all(e.level == 'info' for e in core.drain_events())
    assert core.accept(1, _img(), 6, 1.2)  # grace over: a missing reference fails over like a stale one
    out = core.step(1.2)
    assert out.ref == 1 and out.stamp_ns == 6
    assert any('has sent no frame yet' in e.text for e in core.drain_events())
    assert core.accept(0, _img(), 7, 1.3) and core.step(1.3).ref == 0


def test_core_stalled_camera_runs_on_the_others_with_warning():
    pipe = Rec()
    core = _core(pipe)
    for v in range(3):
        core.accept(v, _img(), 1, 0.0)
    core.step(0.0)
    core.drain_events()
    core.accept(0, _img(), 2, 1.5)
    core.accept(1, _img(), 2, 1.5)
    out = core.step(1.6)  # view 2 last delivered 1.6 s ago > 1 s
    assert out.status == 'ok' and out.views == [0, 1]
    assert pipe.calls[-1] == ([True, True, False], 0)
    events = core.drain_events()
    assert any(e.level == 'warn' and 'c2' in e.text and 'stale' in e.text for e in events)
    core.accept(2, _img(), 3, 1.7)
    core.accept(0, _img(), 3, 1.7)
    core.step(1.7)
    assert any(e.level == 'info' and 'c2' in e.text for e in core.drain_events())


def test_core_stale_reference_fails_over_and_comes_back():
    pipe = Rec()
    core = _core(pipe, order=[0, 2, 1])
    for v in range(3):
        core.accept(v, _img(), 10, 0.0)
    core.step(0.0)
    core.drain_events()
    assert core.accept(2, _img(), 21, 1.5)  # reference 0 is stale: 2 takes over and triggers
    assert not core.accept(1, _img(), 20, 1.5)  # 1 comes after 2 in the fail-over order
    out = core.step(1.5)
    assert out.status == 'ok' and out.ref == 2 and out.stamp_ns == 21 and out.views == [1, 2]
    ev = core.drain_events()
    assert any(e.level == 'warn' and 'failing over to c2' in e.text for e in ev)
    assert core.stats.failovers == 1
    assert core.accept(0, _img(), 30, 1.6)  # the configured reference is back
    out = core.step(1.6)
    assert out.ref == 0 and out.stamp_ns == 30
    assert any('back to the configured view c0' in e.text for e in core.drain_events())


def test_core_rejects_bad_frames_without_raising():
    pipe = Rec()
    core = _core(pipe)
    assert not core.accept(0, _img(encoding='rgb8', w=5, h=6), 1, 0.0)  # wrong aspect ratio
    bad = _img()
    bad.encoding = '16UC1'
    assert not core.accept(0, bad, 1, 0.0)
    short = _img()
    short.data = short.data[:10]
    assert not core.accept(0, short, 1, 0.0)
    st = core.store.states()[0]
    assert st.rejected == 3 and st.received == 0 and 'data has 10 bytes' in st.last_error
    texts = [e.text for e in core.drain_events()]
    assert any("unsupported encoding '16UC1'" in t for t in texts) and all('c0' in t for t in texts)


def test_core_pipeline_failure_and_bad_output_are_reported():
    for pipe, needle in ((Rec(fail=True), 'boom'), (Rec(bad_shape=True), 'shape (3, 3)')):
        core = _core(pipe)
        core.accept(0, _img(), 1, 0.0)
        out = core.step(0.0)
        assert out.status == 'error' and needle in out.message
        assert core.stats.errors == 1 and any(e.level == 'error' for e in core.drain_events())


def test_core_min_views_and_no_reference():
    pipe = Rec()
    core = _core(pipe, min_views=2)
    assert core.step(0.0).status == 'no_reference'
    core.accept(0, _img(), 1, 0.0)
    assert core.step(0.0).status == 'too_few_views' and not pipe.calls
    assert core.stats.too_few_views == 1
    with pytest.raises(ValueError, match='3 cameras but 2 views'):
        SyncCore(pipe, FrameStore(['a', 'b'], 1.0), lambda m, wh: m)


def test_core_logs_pipeline_notes_once_and_when_cleared():
    class Noted(Rec):
        def run(self, images, ref_index):
            res = super().run(images, ref_index)
            return PipelineResult(res.density, res.count, note='fused unsynchronized' if ref_index else '')

    core = _core(Noted(), max_age=0.5)
    core.accept(0, _img(), 1, 0.0)
    assert core.step(0.0).result.note == '' and not [e for e in core.drain_events() if 'model' in e.text]
    for k, t in enumerate((1.0, 1.1, 1.2)):  # cam0 stale: cam1 is the reference, the pipeline notes it
        core.accept(1, _img(), 10 + k, t)
        assert core.step(t).result.note == 'fused unsynchronized'
    notes = [e for e in core.drain_events() if e.key.startswith('pipeline_note')]
    assert [(e.level, e.text) for e in notes] == [('warn', 'model: fused unsynchronized')]
    assert core.last_note == 'fused unsynchronized'
    core.accept(0, _img(), 20, 1.3)
    core.step(1.3)
    notes = [e for e in core.drain_events() if e.key.startswith('pipeline_note')]
    assert [e.level for e in notes] == ['info'] and core.last_note == ''


def test_core_with_foreground_pipeline_counts_people():
    world, pipe = toy_setup()
    core = _core(pipe)
    core.convert = lambda m, wh: numpy_image_to_rgb(m)
    errs = []
    for k, t in enumerate(np.arange(5.0, 15.0, 1.0)):
        for v in (1, 2, 0):
            core.accept(v, fill_image_msg(SimpleNamespace(), world.frame(v, t), 'rgb8'), k, t)
        out = core.step(t)
        errs.append(abs(out.result.count - world.ground_truth(t)['count']))
        assert out.result.density.shape == TEST_REGION.shape
    assert np.mean(errs) < 2.0


def test_log_throttle_per_key():
    th = LogThrottle(5.0)
    assert th.check('a', 0.0) == (True, 0)
    assert th.check('a', 1.0) == (False, 0)
    assert th.check('b', 1.0) == (True, 0)  # other keys are independent
    assert th.check('a', 2.0) == (False, 0)
    assert th.check('a', 5.5) == (True, 2)
    assert th.check('a', 5.6, period_s=0.0) == (True, 0)


# ------------------------------------------------------------------------------------------ contract
def test_check_result_contract():
    ok = check_result(PipelineResult(np.zeros(TEST_REGION.shape), 1.0), TEST_REGION)
    assert ok.density.dtype == np.float32
    bad = np.zeros(TEST_REGION.shape)
    bad[0, 0] = np.nan
    for res, match in ((PipelineResult(bad, 0.0), 'NaN'), (PipelineResult(np.zeros((2, 2)), 0.0), 'shape'),
                       (PipelineResult(np.zeros(TEST_REGION.shape), math.inf), 'count'), ('x', 'expected')):
        with pytest.raises(PipelineOutputError, match=match):
            check_result(res, TEST_REGION)
    with pytest.raises(PipelineOutputError, match='joints'):
        check_result(PipelineResult(np.zeros(TEST_REGION.shape), 0.0), TEST_REGION, task='pose')
    j = check_result(PipelineResult(np.zeros(TEST_REGION.shape), 0.0, np.zeros((2, 17, 3))), TEST_REGION, 'pose')
    assert j.joints.shape == (2, 17, 3)


# ------------------------------------------------------------------------------------------ calibration
def test_calibration_checks_against_model_cameras():
    cams, region = rig('plaza')
    half = [c.scaled(192, 144) for c in cams]
    assert check_calibration(cams[0], half[0], region, 2.0) == ''  # same camera, other resolution
    assert 'differs' in check_calibration(cams[1], half[0], region, 2.0)
    wide = cams[0].scaled(400, 144)
    assert 'aspect ratio' in check_calibration(wide, half[0], region, 2.0)
    root = paths.share_dir()
    cam, reason = load_and_check(root / 'config/cameras/plaza/cam2.yaml', half[1], region, 2.0)
    assert cam is not None and reason == ''
    _, reason = load_and_check(root / 'config/cameras/plaza/cam2.yaml', half[0], region, 2.0)
    assert 'differs' in reason


def test_calibration_file_with_nan_is_reported(tmp_path):
    cams, region = rig('plaza')
    bad = tmp_path / 'bad.yaml'
    doc = yaml.safe_load((paths.share_dir() / 'config/cameras/plaza/cam1.yaml').read_text())
    doc['camera_matrix']['data'][0] = float('nan')
    bad.write_text(yaml.safe_dump(doc))
    cam, reason = load_and_check(bad, cams[0], region, 2.0)
    assert cam is None and 'NaN' in reason


def test_camera_info_check():
    cams, region = rig('plaza')
    info = SimpleNamespace(header=SimpleNamespace(frame_id='cam1_optical'), **camera_info_fields(cams[0]))
    assert check_camera_info(info, cams[0], region, 2.0) == ''
    info.k = list(info.k)
    info.k[0] = float('nan')
    assert 'NaN' in check_camera_info(info, cams[0], region, 2.0)
    info.k[0] = 200.0
    assert 'differs' in check_camera_info(info, cams[0], region, 2.0)
    zero = SimpleNamespace(header=SimpleNamespace(frame_id=''), **camera_info_fields(cams[0]))
    zero.width = 0
    assert 'invalid CameraInfo' in check_camera_info(zero, cams[0], region, 2.0)


def test_foreground_pipeline_is_a_pipeline():
    cams, _ = rig('plaza', 0.5)
    pipe = ForegroundPipeline(cams, TEST_REGION)
    res = pipe.run([np.zeros((c.height, c.width, 3), np.uint8) for c in cams], 0)
    assert res.count == 0.0 and res.density.shape == TEST_REGION.shape


def test_paths_resolve_package_urls():
    assert paths.resolve('package://vsync_ros/config/cameras/plaza/cam1.yaml').is_file()
    assert paths.resolve('config/cameras/studio/cam4.yaml').is_file()
    assert paths.default_checkpoint('counting').name == 'plaza_cls_epi.pt'
    with pytest.raises(ImageFormatError):
        check_image(_img(encoding='mono8', w=8, h=6), (16, 6), True)
