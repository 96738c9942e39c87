"""replay_node, the replay -> sync_node system with config/counting.yaml, and vsync-bag-eval over ROS 2 topics."""
from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed')
pytest.importorskip('rosbags', reason='rosbags is not installed')

from geometry_msgs.msg import PointStamped  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from ros_support import harness_for, real_checkpoint, ros_env, stop_graph, toy_setup, wait_for  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from vsync_ros.ros import bag_eval  # noqa: E402
from vsync_ros.ros.replay_node import ReplayNode  # noqa: E402
from vsync_ros.ros.sync_node import SyncNode, stamp_to_ns  # noqa: E402
from vsync_ros.runtime.bags import offline_eval, write_bag  # noqa: E402
from vsync_ros.runtime.images import numpy_image_to_rgb  # noqa: E402
from vsync_ros.runtime.schedules import desync_profile, schedule, with_stops  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]  # replay and sync nodes in real time
DOMAIN_ID = 58
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def ros():
    yield from harness_for(DOMAIN_ID)


def test_replay_node_publishes_desynchronized_streams_and_ground_truth(ros):
    world, _ = toy_setup()
    params = dict(rate_hz=10.0, desync_preset='constant', desync_s=1.0, latency_s=0.03, drop_prob=0.2, seed=5,
                  duration_s=1.5, wait_for_subscribers=1)
    rep = ReplayNode(world, context=ros.context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    arrivals: dict[int, list] = {0: [], 1: [], 2: []}

    def on_image(msg, v):
        arrivals[v].append((time.monotonic(), msg))
    subs = [ros.probe.create_subscription(Image, f'/cam{v + 1}/image_raw', lambda m, v=v: on_image(m, v),
                                          qos_profile_sensor_data) for v in range(3)]
    ros.watch('/cam2/camera_info', CameraInfo)
    ros.watch('/ground_truth/count', PointStamped)
    ros.watch('/ground_truth/density', Image)
    ros.add(rep)
    try:
        rep.start()
        assert rep.done.wait(20.0)
        prof = desync_profile('constant', 3, 10.0, 1.0, latency_s=0.03, drop_prob=0.2, seed=5)
        expected = [e for e in schedule(prof, 1.5) if e.view >= 0]
        for v in range(3):
            n_sched = sum(1 for e in expected if e.view == v and not e.dropped)
            assert rep.published[v] == n_sched and rep.dropped[v] == sum(e.dropped for e in expected if e.view == v)
        assert wait_for(lambda: sum(len(a) for a in arrivals.values()) >= sum(rep.published) - 2, 5.0)
        assert wait_for(lambda: len(ros.msgs('/ground_truth/count')) == 15, 5.0)
        gts = ros.msgs('/ground_truth/count')
        t0 = stamp_to_ns(gts[0].header.stamp)
        assert gts[0].header.frame_id == 'world' and gts[0].point.x == world.ground_truth(1.0)['count']
        by_stamp = {(e.view, round(e.stamp_s * 1e9)): e for e in expected}
        for v in (1, 2):
            for _, msg in arrivals[v][:5]:
                ev = by_stamp[(v, stamp_to_ns(msg.header.stamp) - t0)]
                assert not ev.dropped
                np.testing.assert_array_equal(numpy_image_to_rgb(msg), world.frame(v, ev.content_s))
        info = ros.msgs('/cam2/camera_info')[-1]
        assert info.header.frame_id == 'cam2_optical' and info.width == world.cameras[1].width
        dens = ros.msgs('/ground_truth/density')[-1]
        assert dens.encoding == '32FC1' and dens.header.stamp == gts[-1].header.stamp
    finally:
        for s in subs:
            ros.probe.destroy_subscription(s)
        ros.remove(rep)

class StampProbe:
    """Header stamps (ns) of each camera's images and of the ground-truth counts the probe node receives."""

    def __init__(self, ros, n_views: int = 3):
        self.lock = threading.Lock()
        self.got: dict[int, list[int]] = {v: [] for v in range(n_views)}
        self.gts: list[int] = []
        self._ros = ros
        self.subs = [ros.probe.create_subscription(Image, f'/cam{v + 1}/image_raw',
                                                   lambda m, v=v: self._add(self.got[v], m), 50)
                     for v in range(n_views)]
        self.subs.append(ros.probe.create_subscription(PointStamped, '/ground_truth/count',
                                                       lambda m: self._add(self.gts, m), 50))

    def _add(self, stamps: list[int], msg) -> None:
        with self.lock:
            stamps.append(stamp_to_ns(msg.header.stamp))

    def close(self) -> None:
        for sub in self.subs:
            self._ros.probe.destroy_subscription(sub)


def test_replay_node_stop_s_stops_a_camera_for_good(ros):
    """``stop_s``: cam1 publishes no frame stamped 0.45 s or later; the other cameras and the GT go on."""
    world, _ = toy_setup()
    rep = ReplayNode(world, context=ros.context, node_name='outage_replay', parameter_overrides=[
        Parameter('rate_hz', value=10.0), Parameter('desync_preset', value='sync'), Parameter('duration_s', value=1.0),
        Parameter('stop_s', value=[0.45, math.inf, math.inf]), Parameter('wait_for_subscribers', value=1)])
    probe = StampProbe(ros)
    got, gts, lock = probe.got, probe.gts, probe.lock
    ros.add(rep)
    try:
        assert 'cam1 stops at 0.45 s' in rep.describe_timing()
        rep.start()
        assert rep.done.wait(20.0)
        assert rep.published == [5, 10, 10] and rep.stopped == [5, 0, 0] and rep.dropped == [0, 0, 0]
        assert wait_for(lambda: len(gts) == 10 and [len(got[v]) for v in range(3)] == [5, 10, 10], 5.0)
        with lock:
            assert sorted(got[0]) == [min(gts) + k * 100_000_000 for k in range(5)]  # ticks 0-0.4 s only
    finally:
        probe.close()
        ros.remove(rep)
    for bad, why in (([1.0], 'stop_s has 1 values for 3 cameras'), ([1.0, math.nan, 2.0], 'camera cam2 has nan')):
        with pytest.raises(RuntimeError, match=why):
            ReplayNode(world, context=ros.context, node_name='bad_outage_replay',
                       parameter_overrides=[Parameter('stop_s', value=bad)])


def test_replay_and_sync_node_with_the_shipped_counting_config(tmp_path):
    """What ``counting.launch.py use_replay:=true`` runs, in one process, with config/counting.yaml parsed by rcl.

    The sync node loads a real checkpoint (written here, as the shipped one is not needed) through its
    ``checkpoint`` parameter, checks counting.yaml's full-size plaza calibration files against the checkpoint's
    half-size calibration, and resizes the replayed 384x288 frames to the model's 192x144.
    """
    import torch
    torch.set_num_threads(1)
    world, _ = toy_setup(image_scale=1.0)  # counting.yaml's calibration files are the full-size plaza rig
    ckpt = real_checkpoint(tmp_path / 'cls_epi.pt')
    with ros_env(DOMAIN_ID + 1):
        ctx = rclpy.context.Context()
        rclpy.init(context=ctx, domain_id=DOMAIN_ID + 1,
                   args=['--ros-args', '--params-file', str(ROOT / 'config' / 'counting.yaml'),
                         '-p', f'checkpoint:={ckpt}', '-p', 'device:=cpu'])
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    ex = SingleThreadedExecutor(context=ctx)
    sync = SyncNode(context=ctx)
    rep = ReplayNode(world, context=ctx, parameter_overrides=[
        Parameter('rate_hz', value=2.0), Parameter('desync_preset', value='sync'), Parameter('duration_s', value=3.0),
        Parameter('wait_for_subscribers', value=1)])
    probe = Node('probe', context=ctx)
    outs, gts = [], []
    probe.create_subscription(PointStamped, '/sync_node/count_stamped', outs.append, 50)
    probe.create_subscription(PointStamped, '/ground_truth/count', gts.append, 50)
    for n in (sync, rep, probe):
        ex.add_node(n)
    import threading
    th = threading.Thread(target=ex.spin, daemon=True)
    th.start()
    try:
        assert sync.get_parameter('calibration_files').value[0] == 'config/cameras/plaza/cam1.yaml'
        assert sync.pipeline.method == 'cls_epi' and sync.pipeline.checkpoint == str(ckpt)
        assert (sync.pipeline.cameras[0].width, sync.pipeline.cameras[0].height) == (192, 144)
        assert len(sync.info_subs) == 3 and sync.store.reference_order == [0, 1, 2]
        assert all(st.enabled for st in sync.store.states()), [st.disabled_reason for st in sync.store.states()]
        assert wait_for(lambda: sync.pub_count_stamped.get_subscription_count() > 0, 10.0)
        rep.start()
        assert rep.done.wait(20.0)
        assert wait_for(lambda: len(outs) >= 5 and len(gts) == 6, 5.0), (len(outs), len(gts))
        gt_stamps = {stamp_to_ns(m.header.stamp) for m in gts}
        assert {stamp_to_ns(m.header.stamp) for m in outs} <= gt_stamps  # reference stamps = GT stamps
        assert all(st.enabled for st in sync.store.states())  # the replayed CameraInfo matches the model
    finally:
        stop_graph(ex, (sync, rep, probe), ctx, th)


def test_bag_eval_online_matches_offline(tmp_path, ros):
    """Stand-in pipeline: comparing online (real time, x2) with offline coverage needs an inference time far
    below the frame period, independent of the machine's load."""
    world, pipe = toy_setup()
    bag = tmp_path / 'eval_bag'
    profile = desync_profile('sync', 3, 4.0, latency_s=0.02, jitter_s=0.02, seed=1)
    write_bag(bag, world, with_stops(profile, {2: 2.0}), duration_s=4.0)  # cam3 (not the reference) stops at 2 s
    max_age = 0.9  # s; not a multiple of the 0.25 s period, so cam3 goes stale between two reference ticks
    offline = offline_eval(bag, pipe, max_frame_age_s=max_age)
    out = tmp_path / 'online.json'
    with ros_env(DOMAIN_ID):
        rc = bag_eval.main(['--bag', str(bag), '--json', str(out), '--rate', '2.0', '--no-progress',
                            '--max-frame-age', str(max_age)], pipeline=pipe)
    assert rc == 0
    online = json.loads(out.read_text())
    assert online['mode'] == 'online' and online['n_ground_truth'] == 16
    assert online['coverage'] >= 0.8  # real topics, at twice real time: an estimate for nearly every GT time
    assert online['pipeline_errors'] == 0
    assert abs(online['mae'] - offline['mae']) <= 1.0
    assert {f['stamp_ns'] for f in online['frames']} <= {f['gt_stamp_ns'] for f in offline['frames']}
    # segments: offline from the core's assessment, online from the node's ~/estimate_status
    seg, off_seg = online['segments'], offline['segments']
    assert seg['unknown']['n'] == 0 and seg['nominal']['n'] + seg['degraded']['n'] == online['n_matched']
    assert off_seg['before_outage']['n'] == 8 and off_seg['nominal']['n'] == 11  # 0-2.5 s: cam3 still fresh
    assert off_seg['degraded']['n'] == off_seg['degraded']['n_fewer_views'] == 5  # last cam3 frame 1.75 s: 2.75-3.75 s
    assert off_seg['degraded']['n_failover'] == 0
    assert offline['outages'][0]['transition']['first_degraded_s'] == pytest.approx(0.75)
    assert abs(seg['degraded']['n'] - 5) <= 1 and seg['degraded']['n_failover'] == 0  # real time: +-1 frame
    assert online['outages'][0]['camera'] == 'cam3' and seg['before_outage']['n'] >= 7


def test_replay_node_publishes_joint_ground_truth_for_a_pose_world(ros):
    """A pose source (the motion world on the studio rig) also gets /ground_truth/joints, the ~/joints layout."""
    from geometry_msgs.msg import PoseArray

    from vsync_ros.ros.joint_messages import pose_array_to_joints
    from vsync_ros.runtime.sources import make_source
    source = make_source('world', 'studio', seed=4, n_people=1, image_scale=0.25)
    rep = ReplayNode(source, context=ros.context, node_name='pose_replay', parameter_overrides=[
        Parameter('rate_hz', value=5.0), Parameter('desync_preset', value='sync'), Parameter('duration_s', value=1.0),
        Parameter('wait_for_subscribers', value=0)])
    assert rep.gt_joints_pub is not None
    ros.watch('/ground_truth/joints', PoseArray)
    ros.add(rep)
    try:
        assert wait_for(lambda: rep.gt_joints_pub.get_subscription_count() > 0, 10.0)
        rep.start()
        assert rep.done.wait(20.0)
        assert wait_for(lambda: len(ros.msgs('/ground_truth/joints')) == rep.ground_truth == 5, 5.0)
        msgs = ros.msgs('/ground_truth/joints')
        t0 = stamp_to_ns(msgs[0].header.stamp)
        for k, msg in enumerate(msgs):
            assert msg.header.frame_id == 'world' and stamp_to_ns(msg.header.stamp) - t0 == k * 200_000_000
            want = source.ground_truth(k * 0.2)['joints_3d']
            np.testing.assert_allclose(pose_array_to_joints(msg), want, atol=1e-6)
    finally:
        ros.remove(rep)


def test_replay_node_capture_stamps_carry_each_views_offset(ros):
    """``stamp: capture``: each view's frame k is stamped when it was taken, the reference tick + its offset."""
    world, _ = toy_setup()
    params = dict(rate_hz=10.0, desync_preset='constant', desync_s=1.0, duration_s=1.0, wait_for_subscribers=1,
                  stamp='capture')
    rep = ReplayNode(world, context=ros.context, node_name='capture_replay',
                     parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    probe = StampProbe(ros)
    got, gts, lock = probe.got, probe.gts, probe.lock
    ros.add(rep)
    try:
        assert rep.capture_stamps and rep.p['stamp'] == 'capture'
        rep.start()
        assert rep.done.wait(20.0)
        assert wait_for(lambda: len(gts) == 10 and all(len(got[v]) == rep.published[v] == 10 for v in range(3)),
                        5.0), (len(gts), rep.published, {v: len(s) for v, s in got.items()})
        t0 = min(gts)  # the reference tick of frame 0
        ticks = [t0 + k * 100_000_000 for k in range(10)]
        with lock:
            stamps = {v: sorted(s) for v, s in got.items()}
        assert stamps[0] == ticks  # the reference view: offset 0, its capture time is the tick
        assert [s - t for s, t in zip(stamps[1], ticks)] == [1_000_000_000] * 10  # tau = +1 s
        assert [s - t for s, t in zip(stamps[2], ticks)] == [-1_000_000_000] * 10  # tau = -1 s
    finally:
        probe.close()
        ros.remove(rep)


def _pose_launch_replay_defaults() -> dict[str, str]:
    """The replay arguments pose.launch.py declares, with their defaults (read statically)."""
    import ast
    tree = ast.parse((ROOT / 'launch' / 'pose.launch.py').read_text())
    out = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', None) == 'DeclareLaunchArgument':
            default = next(k.value for k in call.keywords if k.arg == 'default_value')
            if isinstance(default, ast.Constant):
                out[call.args[0].value] = default.value
    return out


def test_pose_launch_replay_defaults_give_a_live_skeleton_stream():
    """What ``pose.launch.py use_replay:=true`` runs with its defaults: >= 3 skeleton outputs per second.

    The replay node gets pose.launch.py's replay defaults (studio rig, its desync preset and rate); the sync
    node config/pose.yaml (freshness: max_frame_age_s, min_views) through the rcl parser, with the
    StandingPosePipeline stand-in for the pose model (a few ms per call: the test is about the timing of the
    defaults, not the model's speed).
    """
    from geometry_msgs.msg import PoseArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from ros_support import StandingPosePipeline

    from vsync_ros.geometry.presets import rig
    from vsync_ros.runtime.sources import make_source

    defaults = _pose_launch_replay_defaults()
    assert defaults['rig'] == 'studio'
    duration_s = 4.0
    source = make_source('toy', 'studio', seed=0, n_people=4)
    cams, region = rig('studio')
    pipe = StandingPosePipeline(cams, region.with_cell(0.1), sigma_m=0.15)
    with ros_env(DOMAIN_ID + 2):
        ctx = rclpy.context.Context()
        rclpy.init(context=ctx, domain_id=DOMAIN_ID + 2,
                   args=['--ros-args', '--params-file', str(ROOT / 'config' / 'pose.yaml')])
    sync = SyncNode(pipe, context=ctx)
    rep = ReplayNode(source, context=ctx, parameter_overrides=[
        Parameter('rig', value='studio'), Parameter('desync_preset', value=defaults['desync_preset']),
        Parameter('desync_s', value=float(defaults['desync_s'])),
        Parameter('rate_hz', value=float(defaults['rate_hz'])),
        Parameter('duration_s', value=duration_s), Parameter('wait_for_subscribers', value=1)])
    probe = Node('pose_probe', context=ctx)
    joints, gts = [], []
    probe.create_subscription(PoseArray, '/sync_node/joints', joints.append, 100)
    probe.create_subscription(PointStamped, '/ground_truth/count', gts.append, 100)
    ex = SingleThreadedExecutor(context=ctx)
    for n in (sync, rep, probe):
        ex.add_node(n)
    th = threading.Thread(target=ex.spin, daemon=True)
    th.start()
    try:
        assert sync.task == 'pose' and all(st.enabled for st in sync.store.states())
        assert wait_for(lambda: sync.pub_joints.get_subscription_count() > 0, 10.0)
        rep.start()
        assert rep.done.wait(30.0)
        n_ref = math.ceil(duration_s * rep.profile.rate_hz - 1e-9)  # reference ticks k / rate < duration
        assert wait_for(lambda: len(gts) == n_ref, 5.0), (len(gts), n_ref)
        wait_for(lambda: len(joints) >= n_ref, 3.0)  # let the last outputs arrive (not required to be all)
        assert len(joints) >= 3.0 * duration_s, (f'{len(joints)} skeleton outputs in {duration_s} s of '
                                                 f'{defaults["desync_preset"]} replay at {rep.profile.rate_hz:g} Hz')
        gt_stamps = {stamp_to_ns(m.header.stamp) for m in gts}
        assert {stamp_to_ns(m.header.stamp) for m in joints} <= gt_stamps  # stamped with reference frames
    finally:
        stop_graph(ex, (sync, rep, probe), ctx, th)


def test_replay_node_logs_the_rate_it_publishes(ros):
    """A data preset sets the rate itself: the start-up log gives that rate, not the ignored ``rate_hz``."""
    from vsync_ros.runtime.sources import make_source
    source = make_source('toy', 'studio', seed=0, n_people=1, image_scale=0.25)
    rep = ReplayNode(source, context=ros.context, node_name='preset_replay', parameter_overrides=[
        Parameter('desync_preset', value='h36m_train'), Parameter('rate_hz', value=7.0)])
    try:
        assert rep.profile.rate_hz == pytest.approx(12.5)
        assert wait_for(lambda: bool(ros.logs('preset_replay', contains='cameras at 12.5 Hz')), 5.0), \
            ros.logs('preset_replay')
        (line,) = ros.logs('preset_replay', contains='cameras at')
        assert '7 Hz' not in line and 'rate_hz, desync_s ignored' in line and 'reference stamps' in line
    finally:
        rep.destroy_node()
