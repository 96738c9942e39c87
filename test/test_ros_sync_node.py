"""sync_node on real rclpy + Fast DDS (one process, executor in a thread, localhost-only discovery).

The node runs the real inference pipeline (an untrained small CLS-epi checkpoint written at test time)
except where a test says it uses the ForegroundPipeline stand-in (controlled inference time, pose).
"""
from __future__ import annotations

import re
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed')

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from geometry_msgs.msg import PointStamped  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rcl_interfaces.srv import GetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_support import (  # noqa: E402
    TEST_REGION,
    Recording,
    harness_for,
    real_checkpoint,
    real_pipeline,
    ros_env,
    rss_mb,
    toy_setup,
    wait_for,
)
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from sync_node_rig import BASE_NS, Rig, diag_values  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from vsync_ros.ros.image_conversion import make_image_msg  # noqa: E402
from vsync_ros.ros.sync_node import SyncNode, ns_to_stamp, stamp_to_ns  # noqa: E402
from vsync_ros.runtime.messages import camera_info_fields  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]  # real rclpy nodes in real time
DOMAIN_ID = 57
@pytest.fixture(scope='module')
def ros():
    yield from harness_for(DOMAIN_ID)


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    """The real pipeline (vsync_ros.inference.pipeline) on an untrained small CLS-epi checkpoint for the toy rig."""
    return real_pipeline(tmp_path_factory.mktemp('sync_node') / 'cls_epi.pt')


def test_three_views_give_density_and_count_with_the_reference_stamp(ros, model):
    """The real model: outputs carry the reference stamp and equal the pipeline's result on the same frames."""
    rig = Rig(ros, 'basic', Recording(model))
    try:
        for k in range(6):
            rig.tick(k)
            assert rig.wait_stamp(rig.stamp(k, 0)), f'no output for tick {k}'
            time.sleep(0.05)
        stamps = rig.stamps()
        assert set(stamps) <= {rig.stamp(k, 0) for k in range(6)}  # only reference stamps, never cam2/cam3's
        assert wait_for(lambda: len(ros.msgs(f'{rig.out}/density')) >= 6 and len(ros.msgs(f'{rig.out}/count')) >= 6)
        dens = ros.msgs(f'{rig.out}/density')[-1]
        assert dens.encoding == '32FC1' and (dens.height, dens.width) == TEST_REGION.shape
        assert dens.header.frame_id == 'world' and stamp_to_ns(dens.header.stamp) == rig.stamp(5, 0)
        density = np.frombuffer(bytes(dens.data), np.float32).reshape(TEST_REGION.shape)
        color = ros.msgs(f'{rig.out}/density_color')[-1]
        assert color.encoding == 'rgb8' and color.header == dens.header and color.step == 3 * dens.width
        counts = [m.data for m in ros.msgs(f'{rig.out}/count')]
        cs = ros.msgs(f'{rig.out}/count_stamped')[-1]
        assert cs.point.x == pytest.approx(counts[-1]) and cs.header.frame_id == 'world'
        assert np.all(np.isfinite(density)) and density.min() >= 0 and density.sum() > 0
        flags, ref = rig.pipe.calls[-1]
        assert flags == [True, True, True] and ref == 0
        # what the node published is the model's estimate on exactly these frames (rgb8 at the model size)
        direct = model.run([rig.world.frame(v, 0.5) for v in range(3)], 0)
        assert counts[-1] == pytest.approx(direct.count, rel=1e-5)
        np.testing.assert_allclose(density, direct.density, rtol=1e-5, atol=1e-9)
        assert cs.point.x == pytest.approx(float(density.sum()), rel=1e-4)
    finally:
        rig.close()


def test_stalled_camera_keeps_running_on_the_others_with_a_warning(ros, model):
    rig = Rig(ros, 'stall', Recording(model), max_frame_age_s=1.0, diagnostics_period_s=0.2)
    try:
        for k in range(3):
            rig.tick(k)
            assert rig.wait_stamp(rig.stamp(k, 0))
        # cam3 stops: tick cam1 and cam2 until cam3's last frame is 1.5 s old (stale after max_frame_age_s = 1 s
        # of wall time; a fixed number of ticks is less than that on a fast machine)
        cam3_last, k = time.monotonic(), 3
        while k < 10 or time.monotonic() - cam3_last < 1.5:
            rig.tick(k, views=(1, 0))
            assert rig.wait_stamp(rig.stamp(k, 0))
            time.sleep(0.1)
            k += 1
        assert rig.pipe.calls[-1] == ([True, True, False], 0)
        # while cam1 and cam2 deliver: cam3 is reported stale and the fused output is fine
        assert wait_for(lambda: rig.any_diag(lambda d: d['camera cam3'].level == DiagnosticStatus.WARN
                                             and 'stale' in d['camera cam3'].message
                                             and d['model'].level == DiagnosticStatus.OK))
        assert wait_for(lambda: rig.ros.logs(rig.name, Log.WARN, 'camera cam3: stale'))
    finally:
        rig.close()


def test_stale_reference_fails_over_and_returns(ros, model):
    """cam1 silent: cam2 becomes the reference and the CLS model fuses the views unsynchronized (logged)."""
    # a 2 s staleness limit keeps cam2 fresh between ticks even on a loaded machine (1 s flapped under load)
    rig = Rig(ros, 'failover', Recording(model), max_frame_age_s=2.0, diagnostics_period_s=0.2)
    try:
        for k in range(2):
            rig.tick(k)
            assert rig.wait_stamp(rig.stamp(k, 0))
        # (under load the start-up grace can end before cam1's first frame: count fail-overs from here)
        failovers0 = rig.node.core.stats.failovers
        time.sleep(2.1)  # cam1 (reference) goes silent; so do the others, until the next tick
        for k in range(2, 6):
            # cam2 first: the reference is chosen when a frame arrives, and with cam3 first the node would rightly
            # fail over to cam3 for a moment before cam2 (next in reference_order) arrived
            rig.tick(k, views=(1, 2))
            assert rig.wait_stamp(rig.stamp(k, 1)), 'no output stamped with the fail-over view cam2'
            time.sleep(0.1)
        assert rig.pipe.calls[-1] == ([False, True, True], 1)
        assert 'without synchronization' in rig.pipe.results[-1].note
        assert wait_for(lambda: rig.ros.logs(rig.name, Log.WARN, 'failing over to cam2'))
        assert wait_for(lambda: rig.ros.logs(rig.name, Log.WARN, 'model: cls_epi synchronizes to cam1'))
        assert wait_for(lambda: rig.any_diag(lambda d: 'failed over' in d['model'].message
                                             and diag_values(d['model'])['active_reference'] == 'cam2'
                                             and 'without synchronization' in diag_values(d['model'])['model_note']))
        for k in range(6, 9):  # the configured reference returns
            rig.tick(k)
            assert rig.wait_stamp(rig.stamp(k, 0))
        assert wait_for(lambda: rig.ros.logs(rig.name, Log.INFO, 'back to the configured view cam1'))
        assert wait_for(lambda: rig.ros.logs(rig.name, Log.INFO, 'model: estimates are normal again'))
        assert rig.pipe.results[-1].note == ''
        assert rig.node.core.stats.failovers - failovers0 == 1
    finally:
        rig.close()


def test_malformed_images_are_rejected_and_the_node_survives(ros, model):
    rig = Rig(ros, 'malformed', Recording(model), diagnostics_period_s=0.2)
    try:
        good = rig.frame(0, 1)
        bad = []
        for mutate in (lambda m: setattr(m, 'encoding', 'rgba8'), lambda m: setattr(m, 'encoding', '16UC1'),
                       lambda m: setattr(m, 'data', bytes(m.data)[:100]), lambda m: setattr(m, 'step', 5)):
            msg = rig.frame(0, 1)
            mutate(msg)
            bad.append(msg)
        bad.append(make_image_msg(np.zeros((50, 50, 3), np.uint8), 'rgb8', good.header))  # wrong aspect ratio
        for msg in bad:
            rig.pubs[1].publish(msg)
        assert wait_for(lambda: rig.node.store.states()[1].rejected == 5), rig.node.store.states()[1]
        assert wait_for(lambda: rig.ros.logs(rig.name, Log.ERROR, 'camera cam2: rejected frame'))
        errors = ' '.join(rig.ros.logs(rig.name, Log.ERROR))
        assert "unsupported encoding 'rgba8'" in errors
        # other encodings and a same-aspect size are accepted, and the node still produces output
        for k, enc in enumerate(('bgr8', 'mono8', 'rgb8'), start=1):
            rig.tick(k, encoding=enc)
            assert rig.wait_stamp(rig.stamp(k, 0)), enc
        big = make_image_msg(np.kron(rig.world.frame(2, 0.4), np.ones((2, 2, 1), np.uint8)), 'rgb8',
                             Header(stamp=ns_to_stamp(rig.stamp(4, 2))))
        rig.pubs[2].publish(big)
        rig.tick(4, views=(1, 0))
        assert rig.wait_stamp(rig.stamp(4, 0))
        assert rig.pipe.calls[-1][0] == [True, True, True]
        assert wait_for(lambda: diag_values(rig.last_diag().get('camera cam2', DiagnosticStatus()))
                        .get('frames_rejected') == '5')
    finally:
        rig.close()


def test_nan_camera_info_disables_the_view_until_a_valid_one(ros, model):
    rig = Rig(ros, 'caminfo', Recording(model), info=True, diagnostics_period_s=0.2)
    try:
        cams = rig.pipe.cameras
        good = CameraInfo(header=Header(frame_id='cam2_optical'), **camera_info_fields(cams[1]))
        bad = CameraInfo(header=Header(frame_id='cam2_optical'), **camera_info_fields(cams[1]))
        k = list(bad.k)
        k[0] = float('nan')
        bad.k = k
        rig.info_pubs[1].publish(bad)
        assert wait_for(lambda: not rig.node.store.states()[1].enabled)
        assert wait_for(lambda: rig.ros.logs(rig.name, Log.ERROR, 'camera cam2: disabled: CameraInfo'))
        rig.tick(0)
        assert rig.wait_stamp(rig.stamp(0, 0))
        assert rig.pipe.calls[-1][0] == [True, False, True]
        assert wait_for(lambda: rig.last_diag().get('camera cam2') is not None
                        and rig.last_diag()['camera cam2'].level == DiagnosticStatus.ERROR)
        rig.info_pubs[1].publish(good)
        assert wait_for(lambda: rig.node.store.states()[1].enabled)
        rig.tick(1)
        assert rig.wait_stamp(rig.stamp(1, 0))
        assert rig.pipe.calls[-1][0] == [True, True, True]
    finally:
        rig.close()


def test_burst_at_30hz_keeps_memory_bounded_and_node_responsive(ros):
    """Stand-in pipeline with a fixed 0.1 s inference delay: the test needs a known, load-independent
    inference time (3x slower than the 30 Hz cameras) to assert drops, responsiveness and memory."""
    rig = Rig(ros, 'burst', toy_setup(delay_s=0.1)[1])
    client = ros.probe.create_client(GetParameters, f'{rig.out}/get_parameters')
    try:
        frames = [[rig.frame(k, v) for v in range(3)] for k in range(10)]
        for k in range(10):  # warm-up
            for v in (1, 2, 0):
                rig.pubs[v].publish(frames[k][v])
            time.sleep(1 / 30)
        time.sleep(0.5)
        rss0 = rss_mb()
        latencies = []
        t_end = time.monotonic() + 4.0
        k = 10
        while time.monotonic() < t_end:
            for v in (1, 2, 0):
                msg = frames[k % 10][v]
                msg.header.stamp = ns_to_stamp(rig.stamp(k, v))
                rig.pubs[v].publish(msg)
            if k % 30 == 0:  # the node answers services during the burst
                t0 = time.monotonic()
                fut = client.call_async(GetParameters.Request(names=['max_frame_age_s']))
                assert wait_for(fut.done, 5.0)
                latencies.append(time.monotonic() - t0)
                assert fut.result().values[0].double_value == 1.0
            k += 1
            time.sleep(1 / 30)
        last_ref = rig.stamp(k - 1, 0)
        assert rig.wait_stamp(last_ref, timeout=2.0), 'the newest reference frame was not processed promptly'
        rss1 = rss_mb()
        n_out = len(rig.stamps())
        st = rig.node.store.states()
        assert st[0].received >= 90 and st[0].superseded > 0  # frames were dropped on purpose...
        assert n_out < st[0].received  # ...because inference is slower than the input
        assert n_out >= 15
        assert rss1 - rss0 < 40.0, f'memory grew by {rss1 - rss0:.1f} MiB during the burst'
        assert max(latencies) < 2.0
        assert all(rig.node.store.latest(v) is not None for v in range(3))
        assert wait_for(lambda: rig.ros.logs(rig.name, Log.INFO, 'dropped unused'), 3.0)
    finally:
        ros.probe.destroy_client(client)
        rig.close()


def test_timer_trigger_runs_at_its_rate_on_new_reference_frames(ros):
    """Stand-in pipeline (fast, fixed cost): the 10 Hz timer must be able to run on every 10 Hz reference frame."""
    rig = Rig(ros, 'timer', toy_setup()[1], trigger='timer', timer_rate_hz=10.0)
    try:
        for k in range(8):
            rig.tick(k)
            time.sleep(0.1)
        assert wait_for(lambda: len(rig.stamps()) >= 4)
        stamps = rig.stamps()
        assert len(stamps) == len(set(stamps))  # never the same reference frame twice
        assert set(stamps) <= {rig.stamp(k, 0) for k in range(8)}
    finally:
        rig.close()


def test_markers_are_latched_in_the_world_frame(ros, model):
    rig = Rig(ros, 'markers', model)
    try:
        late = ros.node('late_joiner')
        got = []
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
        late.create_subscription(MarkerArray, f'{rig.out}/markers', got.append, qos)
        assert wait_for(lambda: bool(got), 10.0)
        arr = got[-1]
        assert all(m.header.frame_id == 'world' for m in arr.markers)
        assert {m.ns for m in arr.markers} == {'ground_region', 'camera_frusta', 'camera_centres', 'camera_labels'}
        ros.remove(late)
    finally:
        rig.close()


def test_parameters_have_descriptors_ranges_and_validation(ros, model):
    rig = Rig(ros, 'params', model)
    node = rig.node
    try:
        d = node.describe_parameter('max_frame_age_s')
        assert d.description and d.floating_point_range[0].from_value == 0.01 and not d.read_only
        assert node.describe_parameter('camera_topics').read_only
        assert 'one of' in node.describe_parameter('trigger').additional_constraints
        assert node.set_parameters([Parameter('max_frame_age_s', value=2.5)])[0].successful
        assert node.store.max_age_s == 2.5
        assert not node.set_parameters([Parameter('max_frame_age_s', value=-1.0)])[0].successful
        assert not node.set_parameters([Parameter('device', value='cpu')])[0].successful  # read-only
        assert not node.set_parameters([Parameter('colormap', value='rainbow')])[0].successful
        assert node.set_parameters([Parameter('min_views', value=2)])[0].successful and node.core.min_views == 2
    finally:
        rig.close()
    pipe = model
    for overrides, match in (([Parameter('device', value='gpu')], 'device'),
                             ([Parameter('camera_topics', value=['/a', '/b'])], '2 topics but the model has 3'),
                             ([Parameter('trigger', value='always')], 'trigger'),
                             ([Parameter('reference_view', value=5)], 'out of range'),
                             ([Parameter('output_frame_id', value='/world')], 'leading slash'),
                             ([Parameter('task', value='pose')], "model does 'counting'")):
        with pytest.raises(ValueError, match=match):
            SyncNode(pipe, node_name='bad_params', context=ros.context, parameter_overrides=overrides)


def test_dynamic_parameters_over_the_parameter_services(ros, model):
    """As ``ros2 param describe / set`` do: valid changes take effect, invalid and read-only ones change nothing."""
    from rclpy.parameter_client import AsyncParameterClient
    rig = Rig(ros, 'dynparams', model)
    node = rig.node
    client = AsyncParameterClient(ros.probe, rig.name)

    def call(future):
        assert wait_for(future.done, 10.0), 'no answer from the parameter service'
        return future.result()

    try:
        assert client.wait_for_services(10.0)
        described = {d.name: d for d in call(client.describe_parameters(
            ['colormap', 'color_max', 'device', 'min_views', 'trigger'])).descriptors}
        assert described['colormap'].additional_constraints.startswith('one of: turbo') and not described[
            'colormap'].read_only
        assert described['device'].read_only and described['min_views'].integer_range[0].to_value == 64
        assert described['color_max'].floating_point_range[0].to_value == 1.0e6
        assert 'reference frame' in described['trigger'].description and described['trigger'].read_only

        # valid changes (one atomic call): stored and applied to the running node
        res = call(client.set_parameters_atomically([
            Parameter('colormap', value='viridis'), Parameter('color_max', value=4.0),
            Parameter('resize_input', value=False), Parameter('max_frame_age_s', value=2.5),
            Parameter('min_views', value=2)])).result
        assert res.successful, res.reason
        assert (node.colormap, node.color_max, node.resize_input) == ('viridis', 4.0, False)
        assert node.store.max_age_s == 2.5 and node.core.min_views == 2

        before = (node.colormap, node.color_max, node.store.max_age_s, node.core.min_views)
        values_before = [p.value for p in node.get_parameters(['colormap', 'color_max', 'min_views'])]
        # invalid choice in an atomic change: rejected with the reason, nothing changes
        res = call(client.set_parameters_atomically([Parameter('color_max', value=9.0),
                                                     Parameter('colormap', value='rainbow')])).result
        assert not res.successful and 'colormap' in res.reason and 'choose one of' in res.reason
        # out of range (descriptor range, checked by rclpy)
        res = call(client.set_parameters([Parameter('min_views', value=0)])).results[0]
        assert not res.successful and res.reason
        # read-only: refused
        res = call(client.set_parameters([Parameter('device', value='cpu')])).results[0]
        assert not res.successful and 'read-only' in res.reason
        assert (node.colormap, node.color_max, node.store.max_age_s, node.core.min_views) == before
        assert [p.value for p in node.get_parameters(['colormap', 'color_max', 'min_views'])] == values_before
        assert node.device == 'auto' and node.get_parameter('device').value == 'auto'
    finally:
        rig.close()  # (the probe keeps the client's service clients: rclpy has no API to destroy them)


def test_missing_checkpoint_keeps_the_node_up_until_the_file_appears(ros, tmp_path):
    """No checkpoint file: error log with the remedy, ERROR diagnostics, no crash; it loads once written."""
    path = tmp_path / 'later' / 'cls_epi.pt'
    topics = [f'/later/cam{i + 1}/image_raw' for i in range(3)]
    node = SyncNode(None, node_name='sync_later', context=ros.context, parameter_overrides=[
        Parameter('checkpoint', value=str(path)), Parameter('camera_topics', value=topics),
        Parameter('model_retry_period_s', value=0.2), Parameter('diagnostics_period_s', value=0.2),
        Parameter('device', value='cpu')])
    ros.watch('/sync_later/diagnostics', DiagnosticArray)
    ros.watch('/sync_later/count_stamped', PointStamped)
    ros.add(node)
    pubs = []
    try:
        assert node.core is None
        assert wait_for(lambda: ros.logs('sync_later', Log.ERROR, 'does not exist'))
        text = ros.logs('sync_later', Log.ERROR, 'does not exist')[0]
        assert str(path) in text and 'vsync-train' in text and 'Waiting' in text
        assert wait_for(lambda: any(s.level == DiagnosticStatus.ERROR and 'no model' in s.message
                                    for m in ros.msgs('/sync_later/diagnostics') for s in m.status))
        assert node.set_parameters([Parameter('max_frame_age_s', value=2.0)])[0].successful  # read at load time
        real_checkpoint(path)  # the model appears
        assert wait_for(lambda: node.core is not None, 20.0), 'the node did not pick up the checkpoint'
        assert wait_for(lambda: ros.logs('sync_later', Log.INFO, 'appeared: model loaded'))
        assert node.store.max_age_s == 2.0 and node.pipeline.method == 'cls_epi'
        world, _ = toy_setup()
        pubs = [ros.probe.create_publisher(Image, t, QoSProfile(depth=10)) for t in topics]
        assert wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs)
                        and node.pub_count_stamped.get_subscription_count() > 0, 20.0)
        stamp = BASE_NS + 42
        for v in (1, 2, 0):
            pubs[v].publish(make_image_msg(world.frame(v, 0.0), 'rgb8', Header(stamp=ns_to_stamp(stamp))))
        assert wait_for(lambda: any(stamp_to_ns(m.header.stamp) == stamp
                                    for m in ros.msgs('/sync_later/count_stamped')), 10.0)
    finally:
        for pub in pubs:
            ros.probe.destroy_publisher(pub)
        ros.remove(node)


def test_fallback_model_estimates_while_the_reference_is_lost(ros, tmp_path):
    """fallback_checkpoint: frame sets without cam1 are estimated by the base model, flagged and reported."""
    from vsync_ros.inference.fallback import FallbackPipeline
    from vsync_ros.inference.pipeline import load_pipeline
    primary = real_checkpoint(tmp_path / 'cls_epi.pt')
    backup = real_checkpoint(tmp_path / 'base.pt', 'base', seed=5)
    topics = [f'/fb/cam{i + 1}/image_raw' for i in range(3)]
    node = SyncNode(None, node_name='sync_fallback', context=ros.context, parameter_overrides=[
        Parameter('checkpoint', value=str(primary)), Parameter('fallback_checkpoint', value=str(backup)),
        Parameter('camera_topics', value=topics), Parameter('reference_grace_s', value=0.0),
        Parameter('max_frame_age_s', value=10.0), Parameter('diagnostics_period_s', value=0.2),
        Parameter('device', value='cpu')])
    ros.watch('/sync_fallback/count_stamped', PointStamped)
    ros.watch('/sync_fallback/diagnostics', DiagnosticArray)
    ros.add(node)
    pubs = []
    try:
        assert isinstance(node.pipeline, FallbackPipeline) and node.pipeline.when == 'reference'
        world, _ = toy_setup()
        pubs = [ros.probe.create_publisher(Image, t, QoSProfile(depth=10)) for t in topics]
        assert wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs)
                        and node.pub_count_stamped.get_subscription_count() > 0, 20.0)
        frames = [world.frame(v, 0.0) for v in range(3)]
        stamp = BASE_NS + 77
        # cam1 never delivers: cam3 first (stored before cam2 arrives), then cam2, which becomes the reference
        pubs[2].publish(make_image_msg(frames[2], 'rgb8', Header(stamp=ns_to_stamp(stamp - 1))))
        assert wait_for(lambda: node.store.latest(2) is not None, 10.0)
        pubs[1].publish(make_image_msg(frames[1], 'rgb8', Header(stamp=ns_to_stamp(stamp))))
        assert wait_for(lambda: any(stamp_to_ns(m.header.stamp) == stamp
                                    for m in ros.msgs('/sync_fallback/count_stamped')), 10.0)
        got = [m for m in ros.msgs('/sync_fallback/count_stamped') if stamp_to_ns(m.header.stamp) == stamp][-1]
        spare = load_pipeline(backup, 'cpu').run([None, frames[1], frames[2]], 1).count
        alone = load_pipeline(primary, 'cpu').run([None, frames[1], frames[2]], 1).count
        assert got.point.x == pytest.approx(spare, rel=1e-4) and spare != pytest.approx(alone, rel=1e-3)
        assert wait_for(lambda: ros.logs('sync_fallback', Log.WARN, 'fallback model base'))
        est = node.core.stats.last_estimate
        assert est.degraded and 'cam1' in est.reason and 'estimate from the fallback model base' in est.reason

        def fallback_diag():
            return [diag_values(s) for m in ros.msgs('/sync_fallback/diagnostics') for s in m.status
                    if diag_values(s).get('fallback_runs', '0') != '0']
        assert wait_for(lambda: fallback_diag(), 10.0)
        values = fallback_diag()[-1]
        assert 'base' in values['fallback_model'] and 'when reference' in values['fallback_model']
        assert 'fallback model' in values['model_note']
    finally:
        for pub in pubs:
            ros.probe.destroy_publisher(pub)
        ros.remove(node)
    # a missing fallback file or one of another rig: an error naming it, and the primary model runs alone
    import dataclasses

    from pipeline_support import make_checkpoint

    from vsync_ros.geometry.presets import rig as preset_rig
    cams = [dataclasses.replace(c, t=c.t + np.array([0.0, 0.5, 0.0])) if c.name == 'cam3' else c
            for c in preset_rig('plaza', 0.5)[0]]
    other = make_checkpoint(tmp_path / 'other.pt', 'base', cams, TEST_REGION, seed=5)
    cases = (('no_fallback', tmp_path / 'no.pt', 'does not exist'), ('other_fallback', other, 'view 2 (cam3)'))
    for name, path, why in cases:
        node = SyncNode(None, node_name=name, context=ros.context, parameter_overrides=[
            Parameter('checkpoint', value=str(primary)), Parameter('fallback_checkpoint', value=str(path))])
        try:
            assert node.lifecycle_state == 'active' and node.pipeline.method == 'cls_epi'
            assert not isinstance(node.pipeline, FallbackPipeline)
            assert str(path) in node.fallback_problem and why in node.fallback_problem, node.fallback_problem
        finally:
            node.destroy_node()


def test_unusable_checkpoint_leaves_the_node_unconfigured_with_the_reason(ros, tmp_path):
    """A corrupt checkpoint or a disagreeing calibration file: configure fails, the node stays up, unconfigured."""
    bad = tmp_path / 'bad.pt'
    bad.write_bytes(b'not a checkpoint')
    node = SyncNode(None, node_name='bad_model', context=ros.context, parameter_overrides=[
        Parameter('checkpoint', value=str(bad))])
    try:
        assert node.core is None and node.lifecycle_state == 'unconfigured'
        assert 'corrupt' in node.configure_problem
    finally:
        node.destroy_node()
    # a calibration file that disagrees with the checkpoint is refused, naming the view
    path = real_checkpoint(tmp_path / 'ok.pt')
    files = ['config/cameras/plaza/cam1.yaml', 'config/cameras/plaza/cam3.yaml', 'config/cameras/plaza/cam3.yaml']
    node = SyncNode(None, node_name='bad_calib', context=ros.context, parameter_overrides=[
        Parameter('checkpoint', value=str(path)), Parameter('calibration_files', value=files)])
    try:
        assert node.core is None and node.lifecycle_state == 'unconfigured'
        assert re.search(r'view 1 \(cam2\): calibration differs', node.configure_problem), node.configure_problem
    finally:
        node.destroy_node()


def test_pose_config_loads_and_skeletons_carry_the_reference_stamp():
    """config/pose.yaml through the rcl parser; the pose task publishes ~/skeleton markers."""
    from pathlib import Path

    from rclpy.executors import SingleThreadedExecutor
    from ros_support import StandingPosePipeline
    from visualization_msgs.msg import Marker

    from vsync_ros.geometry.presets import rig
    from vsync_ros.runtime.toy_world import ToyWorld

    cams, region = rig('studio')
    world = ToyWorld(cams, region, n_people=2, seed=1, speed_mps=0.5)
    pipe = StandingPosePipeline(cams, region.with_cell(0.1), sigma_m=0.15)
    params = Path(__file__).resolve().parents[1] / 'config' / 'pose.yaml'
    with ros_env(DOMAIN_ID + 10):
        ctx = rclpy.context.Context()
        rclpy.init(context=ctx, domain_id=DOMAIN_ID + 10, args=['--ros-args', '--params-file', str(params)])
    node = SyncNode(pipe, context=ctx)
    probe = rclpy.create_node('pose_probe', context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    for n in (node, probe):
        ex.add_node(n)
    skel = []
    probe.create_subscription(MarkerArray, '/sync_node/skeleton', skel.append, 10)
    pubs = [probe.create_publisher(Image, f'/cam{v + 1}/image_raw', 10) for v in range(4)]

    def spin_until(pred, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not pred():
            ex.spin_once(timeout_sec=0.05)
        return pred()
    try:
        assert node.task == 'pose' and node.store.reference_order == [0, 1, 2, 3] and node.core.min_views == 2
        assert all(st.enabled for st in node.store.states())  # the studio calibration files match the model
        assert spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs)
                          and node.pub_skeleton.get_subscription_count() > 0)
        stamp = BASE_NS + 123
        for v in (3, 2, 1, 0):
            pubs[v].publish(make_image_msg(world.frame(v, 1.0), 'rgb8', Header(stamp=ns_to_stamp(stamp + v))))
        assert spin_until(lambda: bool(skel))
        arr = skel[-1]
        adds = [m for m in arr.markers if m.action == Marker.ADD]
        assert adds and all(stamp_to_ns(m.header.stamp) == stamp and m.header.frame_id == 'world' for m in adds)
        assert {m.ns for m in adds} == {'skeleton_bones', 'skeleton_joints'}
        assert len([m for m in adds if m.ns == 'skeleton_joints'][0].points) == 17
    finally:
        ex.shutdown()
        for n in (node, probe):
            n.destroy_node()
        rclpy.try_shutdown(context=ctx)
