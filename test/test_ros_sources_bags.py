"""Desync schedules, frame sources, rosbag2 writing / reading and the offline evaluation (no ROS graph)."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import astuple
from itertools import islice

import numpy as np
import pytest
from ros_support import TEST_REGION, toy_setup

from vsync_ros.data.crowd_world import CrowdWorldConfig
from vsync_ros.data.desync import preset as data_preset
from vsync_ros.data.generate import generate_dataset
from vsync_ros.geometry.presets import rig
from vsync_ros.ros import bag_eval
from vsync_ros.runtime.bags import (
    bag_info,
    count_metrics,
    iter_raw,
    offline_eval,
    read_ground_truth,
    typestore,
    write_bag,
)
from vsync_ros.runtime.images import float_image_to_array, numpy_image_to_rgb
from vsync_ros.runtime.schedules import DesyncProfile, ViewTiming, desync_profile, schedule, with_stops
from vsync_ros.runtime.sources import DatasetSource, WorldSource, make_source
from vsync_ros.runtime.toy_world import ToyWorld

pytest.importorskip('rosbags', reason='rosbags (pure-Python rosbag2 IO) is not installed')


# ------------------------------------------------------------------------------------------ schedules
def test_sync_schedule_ticks_and_ground_truth():
    prof = desync_profile('sync', 3, rate_hz=5.0)
    evs = list(schedule(prof, duration_s=2.0))
    frames = [e for e in evs if e.view >= 0]
    gts = [e for e in evs if e.view < 0]
    assert len(frames) == 30 and len(gts) == 10
    assert all(math.isclose(e.stamp_s, e.k / 5.0) and e.content_s == e.stamp_s == e.publish_s for e in frames)
    assert [e.publish_s for e in evs] == sorted(e.publish_s for e in evs)


def test_constant_and_random_offsets_follow_the_paper():
    const = desync_profile('constant', 3, 7.0, desync_s=5.0)
    assert [v.offset_s for v in const.views] == [0.0, 5.0, -5.0] and const.t_base == 5.0
    evs = [e for e in islice(schedule(const), 60) if e.view >= 0]
    for e in evs:
        assert e.content_s - e.stamp_s - const.t_base == pytest.approx(const.views[e.view].offset_s)
        assert e.capture_s - e.stamp_s == pytest.approx(const.views[e.view].offset_s)  # a camera's own stamp
    rnd = desync_profile('random', 3, 7.0, desync_s=5.0, reference_view=1)
    assert [v.random_offset_s for v in rnd.views] == [5.0, 0.0, 5.0]
    offs = np.array([e.content_s - e.stamp_s - rnd.t_base for e in islice(schedule(rnd), 600) if e.view == 0])
    assert offs.min() >= -5.0 and offs.max() <= 5.0 and offs.std() > 2.0
    gt = [e for e in islice(schedule(rnd), 100) if e.view < 0]
    assert all(e.content_s == e.stamp_s + rnd.t_base for e in gt)  # GT at the reference times
    assert all(e.capture_s == e.stamp_s for e in gt)
    assert all(e.capture_s == pytest.approx(e.content_s - rnd.t_base) for e in islice(schedule(rnd), 100))


def test_transport_latency_jitter_drops_are_deterministic_and_fifo():
    prof = desync_profile('sync', 3, 10.0, latency_s=0.05, jitter_s=0.3, drop_prob=0.2, phase_spread=True, seed=4)
    a = list(schedule(prof, duration_s=20.0))
    assert a == list(schedule(prof, duration_s=20.0))
    for v in range(3):
        ev = [e for e in a if e.view == v]
        assert all(e.publish_s >= e.stamp_s + 0.05 - 1e-12 for e in ev)
        assert np.all(np.diff([e.publish_s for e in ev]) >= 0)  # FIFO per camera
        assert np.all(np.diff([e.k for e in ev]) == 1)
        assert 0.1 < np.mean([e.dropped for e in ev]) < 0.3
        assert ev[0].stamp_s == pytest.approx(v / 30.0)  # phases spread over one period
    assert max(e.stamp_s for e in a) < 20.0


def test_stop_s_withholds_every_frame_of_the_view_from_then_on_and_changes_nothing_else():
    """An outage (``stop_s``) is not a drop: the same events and seeded draws, the stopped view's later frames
    withheld, and a profile without outages described as before (bags stay byte-identical)."""
    prof = desync_profile('random', 3, 10.0, desync_s=1.0, latency_s=0.02, jitter_s=0.1, drop_prob=0.2, seed=7)
    stopped = with_stops(prof, {0: 1.25})
    assert stopped.stops == {0: 1.25} and prof.stops == {} and prof.views[0].stop_s == math.inf
    base, out = list(schedule(prof, 3.0)), list(schedule(stopped, 3.0))
    # every field (times, content, offsets, drops) equal: the seeded draws did not change
    assert [astuple(e) for e in base] == [astuple(dataclasses.replace(e, stopped=False)) for e in out]
    assert not any(e.stopped for e in base)
    cam1 = [e for e in out if e.view == 0]
    assert all(e.stopped == (e.stamp_s >= 1.25) for e in cam1) and sum(e.stopped for e in cam1) == 17
    assert not any(e.published for e in cam1 if e.stamp_s >= 1.25)  # withheld, whatever the drop draw said
    assert all(e.published == (not e.dropped) for e in out if e.view != 0 or e.stamp_s < 1.25)
    assert 'stop_s' not in json.dumps(prof.as_dict())
    assert json.loads(json.dumps(stopped.as_dict()))['views'][0]['stop_s'] == 1.25
    never = with_stops(prof, {1: -2.0})  # at or before the first stamp: the camera never publishes
    assert not any(e.published for e in schedule(never, 2.0) if e.view == 1)
    for bad in (math.nan, -math.inf):
        with pytest.raises(ValueError, match='stop_s'):
            ViewTiming(stop_s=bad)
    with pytest.raises(ValueError, match='view 3'):
        with_stops(prof, {3: 1.0})


def test_profile_validation():
    with pytest.raises(ValueError):
        desync_profile('weird', 3, 5.0)
    with pytest.raises(ValueError):
        DesyncProfile(0.0, [ViewTiming()])
    with pytest.raises(ValueError):
        ViewTiming(drop_prob=1.5)
    with pytest.raises(ValueError):
        DesyncProfile(5.0, [ViewTiming()], reference_view=2)


# ------------------------------------------------------------------------------------------ sources
def test_toy_world_ground_truth_and_rendering():
    cams, _ = rig('plaza', 0.5)
    world = ToyWorld(cams, TEST_REGION, n_people=5, seed=1)
    gt = world.ground_truth(3.0)
    assert gt['count'] == 5.0 and gt['gp_density'].shape == TEST_REGION.shape
    assert gt['gp_density'].sum() == pytest.approx(5.0, abs=0.5)
    img = world.frame(0, 3.0)
    assert img.shape == (cams[0].height, cams[0].width, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, world.frame(0, 3.0))
    assert not np.array_equal(img, world.frame(0, 4.0))  # people move
    assert np.all(TEST_REGION.contains(world.positions(1e4)))


def test_make_source_and_adapters():
    assert isinstance(make_source('toy', 'studio', image_scale=0.25), ToyWorld)
    with pytest.raises(ValueError):
        make_source('camera')
    with pytest.raises(RuntimeError, match='dataset_root'):
        make_source('dataset')
    world, _ = toy_setup()

    class FakeWorld:  # the vsync_ros.data World protocol
        cameras, region = world.cameras, world.region

        def render(self, view, t):
            return world.frame(view, t)

        def ground_truth(self, t):
            return world.ground_truth(t)

    ws = WorldSource(FakeWorld())
    np.testing.assert_array_equal(ws.frame(1, 2.0), world.frame(1, 2.0))



# ------------------------------------------------------------------------------------------ bags
@pytest.fixture(scope='module')
def world_pipe():
    return toy_setup()


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_write_and_read_bag(tmp_path, storage, world_pipe):
    world, _ = world_pipe
    prof = desync_profile('constant', 3, 5.0, desync_s=2.0, latency_s=0.02, jitter_s=0.05, drop_prob=0.1, seed=2)
    path = tmp_path / f'bag_{storage}'
    summary = write_bag(path, world, prof, duration_s=2.0, storage=storage, encoding='bgr8')
    assert summary.frames + summary.dropped == 30 and summary.ground_truth == 10
    info = bag_info(path)
    assert info.camera_topics == ['/cam1/image_raw', '/cam2/image_raw', '/cam3/image_raw']
    assert info.reference_view == 0 and json.loads(info.custom['vsync.profile'])['rate_hz'] == 5.0
    assert 'stop_s' not in info.custom['vsync.profile'] and 'vsync.outages' not in info.custom  # no outage
    assert info.outages == [] and summary.stopped == 0
    assert info.topics['/cam2/camera_info'] == 'sensor_msgs/msg/CameraInfo'
    msgs = list(iter_raw(path))
    assert len(msgs) == 2 * summary.frames + 2 * summary.ground_truth
    assert [m[0] for m in msgs] == sorted(m[0] for m in msgs)
    ts = typestore()
    start = 1_700_000_000 * 10**9
    events = {(e.view, round(e.stamp_s * 1e9)): e for e in schedule(prof, 2.0)}
    for log_ns, topic, msgtype, raw in msgs:
        msg = ts.deserialize_cdr(raw, msgtype)
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec - start
        if topic.endswith('image_raw'):
            v = info.camera_topics.index(topic)
            ev = events[(v, stamp)]
            assert log_ns - start == round(ev.publish_s * 1e9) and not ev.dropped
            assert msg.encoding == 'bgr8' and msg.header.frame_id == f'cam{v + 1}_optical'
            np.testing.assert_array_equal(numpy_image_to_rgb(msg), world.frame(v, ev.content_s))
        elif topic == '/ground_truth/density':
            d = float_image_to_array(msg)
            assert d.shape == TEST_REGION.shape and msg.header.frame_id == 'world'
    gts = read_ground_truth(path)
    assert len(gts) == 10 and all(v == world.ground_truth(0.0)['count'] for v in gts.values())
    with pytest.raises(ValueError):
        write_bag(tmp_path / 'x', world, desync_profile('sync', 2, 5.0), 1.0)
    with pytest.raises(ValueError):
        write_bag(tmp_path / 'y', world, prof, 1.0, storage='db3')


@pytest.mark.slow  # replays bags
def test_offline_eval_sync_beats_desync(tmp_path, world_pipe):
    world, pipe = world_pipe
    reports = {}
    for preset in ('sync', 'constant'):
        path = tmp_path / preset
        write_bag(path, world, desync_profile(preset, 3, 2.0, desync_s=5.0), duration_s=10.0)
        reports[preset] = offline_eval(path, pipe, max_frame_age_s=1.0)
    sync, const = reports['sync'], reports['constant']
    assert sync['n_ground_truth'] == 20 and sync['coverage'] == 1.0 and sync['n_matched'] == 20
    assert sync['mae'] < 2.0 and const['mae'] > sync['mae']  # desynchronized views hurt the unsynced model
    assert 0 <= sync['nae'] < 1.0 and sync['views'][0]['used'] == 20
    again = offline_eval(tmp_path / 'sync', pipe, max_frame_age_s=1.0)
    assert again['frames'] == sync['frames']  # deterministic


@pytest.mark.slow  # replays bags
def test_offline_eval_stalled_camera_and_dropped_reference(tmp_path, world_pipe):
    world, pipe = world_pipe
    prof = desync_profile('sync', 3, 5.0)
    prof.views[2] = ViewTiming(drop_prob=1.0)  # camera 3 never delivers
    prof.views[0] = ViewTiming(drop_prob=0.3)  # the reference loses frames
    path = tmp_path / 'stall'
    write_bag(path, world, prof, duration_s=4.0)
    logs = []
    rep = offline_eval(path, pipe, max_frame_age_s=0.15, log=lambda lvl, txt: logs.append((lvl, txt)))
    assert rep['views'][2]['received'] == 0
    assert rep['coverage'] == 1.0  # each GT time has an estimate: from cam1, or cam2 after fail-over
    assert any(lvl == 'warn' and 'failing over to cam2' in txt for lvl, txt in logs)
    assert len(pipe.calls) and all(flags[2] is False for flags, _ in pipe.calls[-10:])


def test_count_metrics_matching():
    gts = {0: 2.0, 100: 4.0, 200: 0.0, 300: 5.0}
    m = count_metrics({0: 3.0, 110: 4.0, 200: 1.0, 360: 9.0}, gts)  # 110 -> 100 (within 50), 360 too far
    assert m['n_matched'] == 3 and m['mae'] == pytest.approx(2 / 3) and m['nae'] == pytest.approx(0.25)
    assert m['coverage'] == 0.75
    assert math.isnan(count_metrics({}, gts)['mae'])
    assert count_metrics({5: 1.0, 6: 1.0}, {0: 1.0, 100: 1.0}, tolerance_ns=10)['n_matched'] == 1  # one GT once


@pytest.mark.slow  # replays a bag
def test_bag_eval_cli_offline(tmp_path, world_pipe, capsys):
    world, pipe = world_pipe
    path = tmp_path / 'cli'
    write_bag(path, world, desync_profile('sync', 3, 2.0), duration_s=3.0)
    out = tmp_path / 'r.json'
    assert bag_eval.main(['--bag', str(path), '--offline', '--json', str(out), '--no-progress'], pipeline=pipe) == 0
    report = json.loads(out.read_text())
    assert report['mode'] == 'offline' and report['n_ground_truth'] == 6 and report['mae'] is not None
    assert 'MAE' in capsys.readouterr().out
    assert bag_eval.main(['--bag', str(tmp_path / 'none')]) == 2
    rc = bag_eval.main(['--bag', str(path), '--checkpoint', str(tmp_path / 'missing.pt'), '--offline'])
    assert rc == 1 and 'vsync-bag-eval:' in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ vsync_ros.data
def test_data_presets_become_replay_profiles():
    pets = desync_profile('pets', 3, rate_hz=99.0, latency_s=0.01)
    assert pets.rate_hz == pytest.approx(7.0) and pets.reference_view == 0
    assert [v.random_offset_s for v in pets.views] == [0.0, 5.0, 5.0]
    assert all(v.latency_s == 0.01 for v in pets.views)
    h36m = desync_profile('h36m_test', 4, rate_hz=1.0)
    assert h36m.rate_hz == pytest.approx(50 / 64) and len(h36m.views) == 4


@pytest.mark.slow  # synthesizes a data set
def test_crowd_world_and_generated_dataset_sources(tmp_path):
    world = make_source('world', 'plaza', image_scale=0.25)
    assert isinstance(world, WorldSource)
    gt = world.ground_truth(2.0)
    assert gt['gp_density'].shape == world.region.shape and gt['count'] >= 0
    assert world.frame(1, 2.0).shape == (72, 96, 3)
    root = tmp_path / 'ds'
    generate_dataset(root, CrowdWorldConfig(image_size=(96, 72)), desync=data_preset('pets', mode='constant'),
                     n_train=0, n_test=4, progress=False)
    src = make_source('dataset', dataset_root=str(root), dataset_split='test')
    assert isinstance(src, DatasetSource) and src.rate_hz == pytest.approx(7.0) and src.index_at(0.15) == 1
    from vsync_ros.data.storage import read_image
    np.testing.assert_array_equal(src.frame(2, 1 / 7), read_image(src.ds.frame_file(1, 2)))
    assert src.ground_truth(0.0)['count'] == float(src.ds.raw_gt(0)['count'])
    bag = tmp_path / 'ds_bag'
    summary = write_bag(bag, src, desync_profile('sync', 3, src.rate_hz), duration_s=src.duration_s)
    assert summary.ground_truth == 4 and summary.frames + summary.dropped == 12
    assert read_ground_truth(bag) and len(read_ground_truth(bag)) == 4
    with pytest.raises(RuntimeError, match='cannot open data set'):
        make_source('dataset', dataset_root=str(tmp_path / 'nothing'))
