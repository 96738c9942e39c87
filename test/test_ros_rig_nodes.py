"""sync_node and replay_node on a rig folder (vsync-rig import), on real rclpy + Fast DDS.

The checkpoint is an untrained small CLS-epi model for a 4-camera rig around a 12 m x 12 m square, written at
test time exactly as vsync-train writes one (pipeline_support.make_checkpoint). The last test runs what
``ros2 launch vsync_ros counting.launch.py rig:=<folder> checkpoint:=<ckpt> use_replay:=true`` starts, in one
process: config/counting.yaml parsed by rcl, the launch file's rig overrides, and a replay node whose ``rig``
parameter is the folder.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed')

from geometry_msgs.msg import PointStamped  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from rig_support import SQUARE, square_cameras, write_square_rig  # noqa: E402
from ros_support import harness_for, ros_env, stop_graph, wait_for  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from vsync_ros.geometry import GroundRegion, cameras_at_resolution  # noqa: E402
from vsync_ros.ros.image_conversion import make_image_msg  # noqa: E402
from vsync_ros.ros.replay_node import ReplayNode  # noqa: E402
from vsync_ros.ros.sync_node import SyncNode, ns_to_stamp, stamp_to_ns  # noqa: E402
from vsync_ros.runtime.rig_folder import rig_node_parameters  # noqa: E402
from vsync_ros.runtime.toy_world import ToyWorld  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]  # real rclpy nodes in real time
DOMAIN_ID = 83
ROOT = Path(__file__).resolve().parents[1]
NAMES = ['north', 'east', 'south', 'west']
PLAZA_FILES = ['config/cameras/plaza/cam1.yaml', 'config/cameras/plaza/cam2.yaml', 'config/cameras/plaza/cam3.yaml']


@pytest.fixture(scope='module')
def ros():
    yield from harness_for(DOMAIN_ID)


@pytest.fixture(scope='module')
def rig_and_model(tmp_path_factory) -> tuple[Path, Path]:
    """A rig folder of the square's 4 cameras (640x480) and a checkpoint for them (192x144, cells of 0.4 m)."""
    import torch
    from pipeline_support import make_checkpoint
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp('rig_nodes')
    folder = write_square_rig(tmp / 'mine')
    ckpt = make_checkpoint(tmp / 'mine_cls_epi.pt', 'cls_epi', cameras_at_resolution(square_cameras(), 192, 144),
                           SQUARE, seed=4)
    return folder, ckpt


def _node(ros, name: str, ckpt: Path, rig: str, pipeline=None, **params) -> SyncNode:
    overrides = [Parameter('checkpoint', value=str(ckpt)), Parameter('rig', value=rig),
                 Parameter('device', value='cpu'),
                 Parameter('camera_topics', value=[f'/{name}/{n}/image_raw' for n in NAMES])]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return SyncNode(pipeline, node_name=name, context=ros.context, parameter_overrides=overrides)


def test_sync_node_takes_its_calibration_from_a_rig_folder(ros, rig_and_model):
    folder, ckpt = rig_and_model
    name = 'sync_rig'
    node = _node(ros, name, ckpt, str(folder), calibration_files=PLAZA_FILES)  # params-file files: ignored
    ros.add(node)
    ros.watch(f'/{name}/count_stamped', PointStamped)
    pubs = []
    try:
        assert node.lifecycle_state == 'active', node.configure_problem
        assert node.names == NAMES and [c.name for c in node.pipeline.cameras] == NAMES
        assert all(st.enabled for st in node.store.states())
        assert node.store.reference_order == [0, 1, 2, 3]
        assert wait_for(lambda: ros.logs(name, Log.INFO, 'calibration_files ignored'))
        assert wait_for(lambda: ros.logs(name, Log.INFO, f'for rig {folder.resolve()} (north, east, south, west)'))
        # frames at the cameras' own 640x480 (resized to the model's 192x144) give a count
        world = ToyWorld(square_cameras(), SQUARE, n_people=5, seed=1)
        pubs = [ros.probe.create_publisher(Image, t, QoSProfile(depth=10)) for t in node.topics]
        assert wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs)
                        and node.pub_count_stamped.get_subscription_count() > 0, 20.0)
        stamp = 1_900_000_000 * 10**9
        for v in (1, 2, 3, 0):
            pubs[v].publish(make_image_msg(world.frame(v, 0.0), 'rgb8', Header(stamp=ns_to_stamp(stamp))))
        assert wait_for(lambda: any(stamp_to_ns(m.header.stamp) == stamp
                                    for m in ros.msgs(f'/{name}/count_stamped')), 20.0)
    finally:
        for p in pubs:
            ros.probe.destroy_publisher(p)
        ros.remove(node)


def test_sync_node_refuses_a_checkpoint_of_another_rig(ros, rig_and_model, tmp_path):
    folder, ckpt = rig_and_model
    moved = write_square_rig(tmp_path / 'moved', square_cameras(shift={'east': (3.0, 0.0, 0.0)}))
    bigger = write_square_rig(tmp_path / 'bigger', region=GroundRegion(0.0, 0.0, 14.0, 12.0, 0.4))
    three = write_square_rig(tmp_path / 'three', square_cameras(('north', 'east', 'south')))
    cases = [(moved, r'view 1 \(east\): calibration differs from the one the model uses'),
             (bigger, r"ground region width_m is 14 but the model's is 12"),
             (three, r'4 views expected \(north, east, south, west\), 3 given'),
             (tmp_path / 'nowhere', r'rig not usable: .*nowhere/rig\.yaml does not exist')]
    for i, (rig, pattern) in enumerate(cases):
        node = _node(ros, f'sync_rig_bad{i}', ckpt, str(rig))
        try:
            assert node.core is None and node.lifecycle_state == 'unconfigured'
            assert re.search(pattern, node.configure_problem), node.configure_problem
        finally:
            node.destroy_node()


def test_injected_pipeline_disables_a_view_its_rig_folder_disagrees_with(ros, rig_and_model, tmp_path):
    from vsync_ros.inference.pipeline import load_pipeline
    _, ckpt = rig_and_model
    pipe = load_pipeline(ckpt, device='cpu')
    moved = write_square_rig(tmp_path / 'moved', square_cameras(shift={'south': (0.0, -2.0, 0.0)}))
    node = _node(ros, 'sync_rig_injected', ckpt, str(moved), pipeline=pipe)
    try:
        assert node.lifecycle_state == 'active', node.configure_problem
        states = node.store.states()
        assert [st.enabled for st in states] == [True, True, False, True]
        assert f'rig {moved.resolve()} camera south: calibration differs' in states[2].disabled_reason
    finally:
        node.destroy_node()


def test_counting_launch_with_a_rig_folder_in_one_process(rig_and_model):
    """counting.yaml + the launch file's rig overrides + checkpoint:=, and replay_node with rig:=<folder>."""
    folder, ckpt = rig_and_model
    with ros_env(DOMAIN_ID + 1):
        ctx = rclpy.context.Context()
        rclpy.init(context=ctx, domain_id=DOMAIN_ID + 1,
                   args=['--ros-args', '--params-file', str(ROOT / 'config' / 'counting.yaml')])
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    launch_params = {**rig_node_parameters(str(folder)), 'checkpoint': str(ckpt), 'device': 'cpu'}
    ex = SingleThreadedExecutor(context=ctx)
    sync = SyncNode(context=ctx, parameter_overrides=[Parameter(k, value=v) for k, v in launch_params.items()])
    rep = ReplayNode(context=ctx, parameter_overrides=[
        Parameter('rig', value=str(folder)), Parameter('image_scale', value=0.25), Parameter('n_people', value=6),
        Parameter('rate_hz', value=2.0), Parameter('desync_preset', value='constant'), Parameter('desync_s', value=1.0),
        Parameter('duration_s', value=3.0), Parameter('wait_for_subscribers', value=1)])
    probe = Node('probe', context=ctx)
    outs, gts = [], []
    probe.create_subscription(PointStamped, '/sync_node/count_stamped', outs.append, 50)
    probe.create_subscription(PointStamped, '/ground_truth/count', gts.append, 50)
    for n in (sync, rep, probe):
        ex.add_node(n)
    th = threading.Thread(target=ex.spin, daemon=True)
    th.start()
    try:
        assert sync.lifecycle_state == 'active', sync.configure_problem
        assert sync.topics == [f'/{n}/image_raw' for n in NAMES] and len(sync.info_subs) == 4
        assert sync.get_parameter('calibration_files').value == PLAZA_FILES  # counting.yaml's, not used
        assert [(c.name, c.width, c.height) for c in rep.source.cameras] == [(n, 160, 120) for n in NAMES]
        assert rep.source.region == SQUARE
        assert wait_for(lambda: sync.pub_count_stamped.get_subscription_count() > 0, 10.0)
        rep.start()
        assert rep.done.wait(20.0)
        assert wait_for(lambda: len(outs) >= 4 and len(gts) == 6, 5.0), (len(outs), len(gts))
        assert {stamp_to_ns(m.header.stamp) for m in outs} <= {stamp_to_ns(m.header.stamp) for m in gts}
        # the replayed CameraInfo (160x120, same cameras) agrees with the model's calibration
        assert all(st.enabled for st in sync.store.states()), [st.disabled_reason for st in sync.store.states()]
    finally:
        stop_graph(ex, (sync, rep, probe), ctx, th)
