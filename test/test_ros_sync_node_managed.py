"""sync_node as a managed perception node, on real rclpy + Fast DDS: lifecycle services, degraded estimates,
the reference's start-up grace, image QoS with large frames, /diagnostics and the sync policy.

Where a test uses the ForegroundPipeline stand-in instead of the real model it says why.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed')

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from geometry_msgs.msg import PointStamped  # noqa: E402
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_support import (  # noqa: E402
    TEST_REGION,
    ForegroundPipeline,
    Recording,
    RosHarness,
    harness_for,
    real_checkpoint,
    real_pipeline,
    toy_setup,
    wait_for,
)
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from sync_node_rig import BASE_NS, Rig, diag_values  # noqa: E402

from vsync_ros.geometry.presets import rig as preset_rig  # noqa: E402
from vsync_ros.ros.image_conversion import make_image_msg  # noqa: E402
from vsync_ros.ros.sync_node import SyncNode, message_filters_available, ns_to_stamp, stamp_to_ns  # noqa: E402
from vsync_ros.runtime.degraded import MARK_RGB  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]  # real rclpy nodes in real time
DOMAIN_ID = 74


@pytest.fixture(scope='module')
def ros():
    yield from harness_for(DOMAIN_ID)


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    """The real pipeline on an untrained small CLS-epi checkpoint for the toy rig (trained reference: cam1)."""
    return real_pipeline(tmp_path_factory.mktemp('managed') / 'cls_epi.pt')


def _call(ros: RosHarness, client, request, timeout: float = 20.0):
    assert client.wait_for_service(timeout), f'service {client.srv_name} not available'
    future = client.call_async(request)
    assert wait_for(future.done, timeout), f'no answer from {client.srv_name}'
    return future.result()


def _statuses(msg: DiagnosticArray) -> dict[str, DiagnosticStatus]:
    return {s.name: s for s in msg.status}


# ------------------------------------------------------------------------------------------ lifecycle
def test_lifecycle_transitions_over_the_standard_services(ros, tmp_path):
    """autostart false: unconfigured until configure; activate subscribes and publishes; deactivate and
    cleanup release; a calibration file that disagrees leaves the node unconfigured, alive, reason logged."""
    ckpt = real_checkpoint(tmp_path / 'cls_epi.pt')
    topics = [f'/lc/cam{i + 1}/image_raw' for i in range(3)]
    name = 'sync_lc'
    node = SyncNode(None, node_name=name, context=ros.context, parameter_overrides=[
        Parameter('autostart', value=False), Parameter('checkpoint', value=str(ckpt)),
        Parameter('camera_topics', value=topics), Parameter('device', value='auto'),
        Parameter('diagnostics_period_s', value=0.2)])
    ros.add(node)
    ros.watch(f'/{name}/count_stamped', PointStamped)
    ros.watch('/diagnostics', DiagnosticArray)
    get = ros.probe.create_client(GetState, f'/{name}/get_state')
    change = ros.probe.create_client(ChangeState, f'/{name}/change_state')
    world, _ = toy_setup()
    pubs = [ros.probe.create_publisher(Image, t, QoSProfile(depth=10)) for t in topics]

    def state() -> int:
        return _call(ros, get, GetState.Request()).current_state.id

    def transition(tid: int) -> bool:
        return _call(ros, change, ChangeState.Request(transition=Transition(id=tid))).success

    def publish(stamp: int) -> None:
        for v in (1, 2, 0):
            pubs[v].publish(make_image_msg(world.frame(v, 0.0), 'rgb8', Header(stamp=ns_to_stamp(stamp + v))))

    try:
        assert state() == State.PRIMARY_STATE_UNCONFIGURED and node.core is None
        assert all(p.get_subscription_count() == 0 for p in pubs)
        assert transition(Transition.TRANSITION_CONFIGURE)
        assert state() == State.PRIMARY_STATE_INACTIVE and node.core is not None
        assert all(p.get_subscription_count() == 0 for p in pubs)  # inactive: not subscribed
        assert transition(Transition.TRANSITION_ACTIVATE)
        assert state() == State.PRIMARY_STATE_ACTIVE
        assert wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs)
                        and node.pub_count_stamped.get_subscription_count() > 0, 20.0)
        stamp = BASE_NS + 7_000
        publish(stamp)
        assert wait_for(lambda: any(stamp_to_ns(m.header.stamp) == stamp
                                    for m in ros.msgs(f'/{name}/count_stamped')), 20.0)
        # /diagnostics (absolute, for the aggregator): the device really used, not 'auto'
        assert wait_for(lambda: any(f'{name}: model' in _statuses(m) and f'{name}: estimate' in _statuses(m)
                                    for m in ros.msgs('/diagnostics')), 20.0)
        msg = [m for m in ros.msgs('/diagnostics') if f'{name}: model' in _statuses(m)][-1]
        model_values = diag_values(_statuses(msg)[f'{name}: model'])
        assert model_values['device'] == str(node.pipeline.device) == 'cpu'  # no CUDA on the test machine
        assert model_values['lifecycle_state'] == 'active'
        assert transition(Transition.TRANSITION_DEACTIVATE)
        assert state() == State.PRIMARY_STATE_INACTIVE
        assert wait_for(lambda: all(p.get_subscription_count() == 0 for p in pubs), 20.0)
        n_out = node.outputs
        publish(stamp + 100_000_000)
        time.sleep(0.5)
        assert node.outputs == n_out  # nothing while inactive
        assert transition(Transition.TRANSITION_CLEANUP)
        assert state() == State.PRIMARY_STATE_UNCONFIGURED and node.core is None and node.pipeline is None
    finally:
        for p in pubs:
            ros.probe.destroy_publisher(p)
        ros.remove(node)

    # a calibration file that disagrees with the checkpoint: configure fails, the node stays up, unconfigured
    name = 'sync_lc_bad'
    files = ['config/cameras/plaza/cam1.yaml', 'config/cameras/plaza/cam3.yaml', 'config/cameras/plaza/cam3.yaml']
    node = SyncNode(None, node_name=name, context=ros.context, parameter_overrides=[
        Parameter('autostart', value=False), Parameter('checkpoint', value=str(ckpt)),
        Parameter('calibration_files', value=files), Parameter('device', value='cpu'),
        Parameter('diagnostics_period_s', value=0.2)])
    ros.add(node)
    ros.watch(f'/{name}/diagnostics', DiagnosticArray)
    get = ros.probe.create_client(GetState, f'/{name}/get_state')
    change = ros.probe.create_client(ChangeState, f'/{name}/change_state')
    try:
        assert state() == State.PRIMARY_STATE_UNCONFIGURED
        assert not transition(Transition.TRANSITION_CONFIGURE)
        assert state() == State.PRIMARY_STATE_UNCONFIGURED and node.core is None
        assert 'view 1 (cam2): calibration differs' in node.configure_problem
        assert wait_for(lambda: ros.logs(name, Log.ERROR, 'configure failed, the node stays unconfigured'))
        assert 'calibration differs' in ros.logs(name, Log.ERROR, 'configure failed')[0]
        assert wait_for(lambda: any(s.level == DiagnosticStatus.ERROR and 'calibration differs' in s.message
                                    for m in ros.msgs(f'/{name}/diagnostics') for s in m.status))
        assert state() == State.PRIMARY_STATE_UNCONFIGURED  # still alive and answering
    finally:
        ros.remove(node)


# ------------------------------------------------------------------------------------------ degraded estimates
def _watch_estimates(ros: RosHarness, rig: Rig) -> str:
    topic = f'{rig.out}/estimate_status'
    ros.watch(topic, DiagnosticArray)
    assert wait_for(lambda: rig.node.pub_estimate.get_subscription_count() > 0, 20.0)
    return topic


def _estimate(ros: RosHarness, topic: str, stamp: int) -> dict[str, str] | None:
    for m in ros.msgs(topic):
        if stamp_to_ns(m.header.stamp) == stamp:
            return {**diag_values(m.status[0]), 'level': m.status[0].level, 'message': m.status[0].message}
    return None


def test_degraded_estimates_are_flagged_and_marked(ros, model):
    """The real model: all views -> normal; a stale view or a fail-over reference -> degraded=true with the
    reason on ~/estimate_status (stamped like the outputs), a marked colour image, diagnostics ERROR."""
    rig = Rig(ros, 'degr', Recording(model), max_frame_age_s=1.0, diagnostics_period_s=0.2)
    try:
        est_topic = _watch_estimates(ros, rig)
        rig.tick(0)
        assert rig.wait_stamp(rig.stamp(0, 0), 20.0)
        assert wait_for(lambda: _estimate(ros, est_topic, rig.stamp(0, 0)) is not None)
        normal = _estimate(ros, est_topic, rig.stamp(0, 0))
        assert normal['degraded'] == 'false' and normal['level'] == DiagnosticStatus.OK
        assert normal['views_fused'] == 'cam1,cam2,cam3' and normal['reference'] == 'cam1'
        color0 = ros.msgs(f'{rig.out}/density_color')[-1]
        assert not _has_mark(color0)
        time.sleep(1.2)  # cam3 goes stale
        for k in range(1, 4):
            rig.tick(k, views=(1, 0))
            assert rig.wait_stamp(rig.stamp(k, 0), 20.0)
            time.sleep(0.05)
        assert wait_for(lambda: _estimate(ros, est_topic, rig.stamp(3, 0)) is not None)
        est = _estimate(ros, est_topic, rig.stamp(3, 0))
        assert est['degraded'] == 'true' and est['level'] == DiagnosticStatus.ERROR
        assert est['views_fused'] == 'cam1,cam2' and est['views_missing'] == 'cam3' and est['published'] == 'true'
        assert 'cam3 stale' in est['reason']
        color = [m for m in ros.msgs(f'{rig.out}/density_color') if stamp_to_ns(m.header.stamp) == rig.stamp(3, 0)]
        assert color and _has_mark(color[0])
        assert wait_for(lambda: ros.logs(rig.name, Log.ERROR, 'estimates are DEGRADED'))
        assert wait_for(lambda: rig.any_diag(lambda d: d['estimate'].level == DiagnosticStatus.ERROR
                                             and 'cam3' in d['estimate'].message))
        # fail-over: cam1 silent, cam2 takes over -> degraded because the reference is not the trained one
        time.sleep(1.2)
        for k in range(4, 7):
            rig.tick(k, views=(1, 2))
            assert rig.wait_stamp(rig.stamp(k, 1), 20.0)
            time.sleep(0.05)
        assert wait_for(lambda: _estimate(ros, est_topic, rig.stamp(6, 1)) is not None)
        est = _estimate(ros, est_topic, rig.stamp(6, 1))
        assert est['degraded'] == 'true' and 'fail-over' in est['reason'] and est['reference'] == 'cam2'
        assert est['model_reference'] == 'cam1'
        # all views back: normal again
        for k in range(7, 10):
            rig.tick(k)
            assert rig.wait_stamp(rig.stamp(k, 0), 20.0)
            time.sleep(0.05)
        assert wait_for(lambda: _estimate(ros, est_topic, rig.stamp(9, 0)) is not None)
        assert _estimate(ros, est_topic, rig.stamp(9, 0))['degraded'] == 'false'
        assert wait_for(lambda: ros.logs(rig.name, Log.INFO, 'estimates are no longer degraded'))
    finally:
        rig.close()


def _has_mark(msg: Image) -> bool:
    rgb = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
    return bool(np.all(rgb[0] == MARK_RGB) and np.all(rgb[:, 0] == MARK_RGB))


def test_suppress_withholds_degraded_density_and_count(ros, model):
    """degraded_output suppress: no density / count while degraded, but ~/estimate_status says why."""
    rig = Rig(ros, 'suppr', Recording(model), max_frame_age_s=1.0, diagnostics_period_s=0.2,
              degraded_output='suppress')
    try:
        est_topic = _watch_estimates(ros, rig)
        rig.tick(0)
        assert rig.wait_stamp(rig.stamp(0, 0), 20.0)
        time.sleep(1.2)  # cam3 goes stale
        rig.tick(1, views=(1, 0))
        assert wait_for(lambda: _estimate(ros, est_topic, rig.stamp(1, 0)) is not None, 20.0)
        est = _estimate(ros, est_topic, rig.stamp(1, 0))
        assert est['degraded'] == 'true' and est['published'] == 'false' and 'not published' in est['message']
        time.sleep(0.5)
        assert rig.stamp(1, 0) not in rig.stamps()
        assert rig.stamp(1, 0) not in rig.stamps('density')
        assert wait_for(lambda: ros.logs(rig.name, Log.ERROR, 'density and count withheld'))
        assert wait_for(lambda: rig.any_diag(lambda d: d['estimate'].level == DiagnosticStatus.ERROR
                                             and diag_values(d['estimate'])['suppressed_estimates'] != '0'))
        rig.tick(2)  # all views again: published
        assert rig.wait_stamp(rig.stamp(2, 0), 20.0)
    finally:
        rig.close()


# ------------------------------------------------------------------------------------------ start-up grace
def test_reference_grace_prevents_a_spurious_start_up_failover(ros):
    """Stand-in pipeline (fast; the test is about timing): cam2 and cam3 deliver for longer than
    max_frame_age_s before cam1's first frame; within reference_grace_s the node waits for cam1."""
    rig = Rig(ros, 'grace', toy_setup()[1], max_frame_age_s=0.3, reference_grace_s=30.0)
    try:
        t_end = time.monotonic() + 1.0
        k = 0
        while time.monotonic() < t_end:
            rig.tick(k, views=(1, 2))
            k += 1
            time.sleep(0.1)
        assert wait_for(lambda: rig.node.store.states()[1].received >= 3)
        time.sleep(0.3)
        assert rig.stamps() == [] and rig.node.core.stats.failovers == 0
        rig.tick(k, views=(1, 2, 0))
        assert rig.wait_stamp(rig.stamp(k, 0), 20.0)
        assert all(s in {rig.stamp(j, 0) for j in range(k + 1)} for s in rig.stamps())  # only cam1 stamps
        assert rig.node.core.stats.failovers == 0 and not ros.logs(rig.name, Log.WARN, 'failing over')
    finally:
        rig.close()
    # without a grace period the same start fails over to cam2 (what the parameter prevents)
    rig = Rig(ros, 'nograce', toy_setup()[1], max_frame_age_s=0.3, reference_grace_s=0.0)
    try:
        rig.tick(0, views=(1, 2))
        assert rig.wait_stamp(rig.stamp(0, 1), 20.0)
        assert rig.node.core.stats.failovers == 1
    finally:
        rig.close()


# ------------------------------------------------------------------------------------------ image QoS
def test_large_frames_with_reliable_qos_and_incompatible_publishers_reported(ros):
    """1920x1080 rgb8 frames (6 MB): a reliable publisher + image_qos reliable delivers them; a best-effort
    publisher cannot match a reliable subscription, which is reported (log, diagnostics hint).
    Stand-in pipeline on a 1920x1080 rig: the real model's input size is fixed at training."""
    cams = [c.scaled(1920, 1080) for c in preset_rig('plaza', 0.5)[0]]
    pipe = ForegroundPipeline(cams, TEST_REGION)
    tag, name = 'bigqos', 'sync_bigqos'
    topics = [f'/{tag}/cam{i + 1}/image_raw' for i in range(3)]
    node = SyncNode(pipe, node_name=name, context=ros.context, parameter_overrides=[
        Parameter('camera_topics', value=topics), Parameter('image_qos', value='reliable'),
        Parameter('image_qos_depth', value=2), Parameter('no_frame_warn_s', value=1.0),
        Parameter('diagnostics_period_s', value=0.2)])
    ros.add(node)
    ros.watch(f'/{name}/count_stamped', PointStamped)
    ros.watch('/diagnostics', DiagnosticArray)
    reliable = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    best_effort = QoSProfile(depth=2, reliability=ReliabilityPolicy.BEST_EFFORT)
    pubs = [ros.probe.create_publisher(Image, topics[0], reliable),
            ros.probe.create_publisher(Image, topics[1], reliable),
            ros.probe.create_publisher(Image, topics[2], best_effort)]
    try:
        assert wait_for(lambda: pubs[0].get_subscription_count() > 0 and pubs[1].get_subscription_count() > 0
                        and node.pub_count_stamped.get_subscription_count() > 0, 20.0)
        big = np.zeros((1080, 1920, 3), np.uint8)
        big[400:700, 800:1100] = (255, 0, 0)
        stamp = BASE_NS + 1080
        for v in (1, 2, 0):
            pubs[v].publish(make_image_msg(big, 'rgb8', Header(stamp=ns_to_stamp(stamp + v))))
        assert wait_for(lambda: any(stamp_to_ns(m.header.stamp) == stamp
                                    for m in ros.msgs(f'/{name}/count_stamped')), 30.0), 'large frames lost'
        st = node.store.states()
        assert st[0].received >= 1 and st[1].received >= 1 and st[0].rejected == 0
        assert st[2].received == 0  # the best-effort publisher does not match the reliable subscription
        assert wait_for(lambda: ros.logs(name, Log.ERROR, 'camera cam3: a publisher on'), 20.0)
        text = ros.logs(name, Log.ERROR, 'camera cam3: a publisher on')[0]
        assert 'RELIABILITY' in text and 'image_qos' in text

        def cam3_hint(msg) -> bool:
            s = _statuses(msg).get(f'{name}: camera cam3')
            return (s is not None and s.hardware_id == topics[2] and 'incompatible' in diag_values(s).get('hint', '')
                    and s.level == DiagnosticStatus.WARN)
        assert wait_for(lambda: any(cam3_hint(m) for m in ros.msgs('/diagnostics')), 20.0)
        # /diagnostics: stable names, the device really used, hardware_id per camera
        msg = [m for m in ros.msgs('/diagnostics') if f'{name}: model' in _statuses(m)][-1]
        statuses = _statuses(msg)
        assert {f'{name}: camera cam1', f'{name}: camera cam2', f'{name}: camera cam3', f'{name}: model',
                f'{name}: estimate'} <= set(statuses)
        assert statuses[f'{name}: camera cam1'].hardware_id == topics[0]
    finally:
        for p in pubs:
            ros.probe.destroy_publisher(p)
        ros.remove(node)


def test_no_frame_hint_names_what_to_try():
    from vsync_ros.ros.image_qos import image_qos_profile, no_frame_hint
    hint = no_frame_hint('/cam1/image_raw', 6.0, [True], 'sensor_data')
    assert 'image_qos reliable' in hint and 'shared memory' in hint and '1 publisher(s)' in hint
    assert 'image_qos reliable' not in no_frame_hint('/c', 6.0, [True], 'reliable')
    assert no_frame_hint('/c', 6.0, [], 'reliable') == 'no publisher on /c'
    assert image_qos_profile('sensor_data', 3).reliability == ReliabilityPolicy.BEST_EFFORT
    assert image_qos_profile('reliable', 3).depth == 3
    with pytest.raises(ValueError):
        image_qos_profile('fast', 1)


# ------------------------------------------------------------------------------------------ sync policy
@pytest.mark.skipif(message_filters_available(), reason='message_filters is installed: the refusal does not apply')
def test_approximate_sync_policy_is_refused_without_message_filters(ros):
    _, pipe = toy_setup()
    with pytest.raises(ValueError, match='sync_policy approximate needs the message_filters package'):
        SyncNode(pipe, node_name='no_mf', context=ros.context, parameter_overrides=[
            Parameter('camera_topics', value=['/nomf/a', '/nomf/b', '/nomf/c']),
            Parameter('sync_policy', value='approximate')])


@pytest.mark.skipif(not message_filters_available(), reason='message_filters is not importable here')
def test_approximate_sync_policy_fuses_stamp_matched_sets(ros):
    """Stand-in pipeline: message_filters ApproximateTimeSynchronizer pairs frames whose stamps are within slop_s."""
    rig = Rig(ros, 'approx', toy_setup()[1], sync_policy='approximate', slop_s=0.05)
    try:
        for k in range(3):
            rig.tick(k)
            assert rig.wait_stamp(rig.stamp(k, 0), 20.0)
        assert rig.pipe.calls[-1] == ([True, True, True], 0) if hasattr(rig.pipe, 'calls') else True
    finally:
        rig.close()
