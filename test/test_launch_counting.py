"""launch_testing test of ``counting.launch.py use_replay:=true``: the installed package end to end.

The sync node is a lifecycle node started with ``autostart`` (the default): it must reach the active state
(``/sync_node/get_state``), keep the params file's ``checkpoint`` (the launch argument is not given) while
taking the given ``device``, and both processes must exit with code 0 when the launch shuts down.

Needs a ROS 2 install with launch_testing / launch_ros (``colcon test --packages-select vsync_ros``, or
``pytest test/test_launch_counting.py`` in a sourced workspace) and the shipped model
(share/vsync_ros/models/plaza_cls_epi.pt). Where the launch stack is absent the module is skipped with the
reason. The same system (replay_node -> sync_node with config/counting.yaml) is exercised in-process
on real rclpy by test_ros_replay_bag_eval.py, which runs everywhere.
"""
import os
import time
import unittest

import pytest

pytest.importorskip(
    'launch_testing', reason='launch_testing is not installed (no ROS 2 launch stack here); run on a ROS 2 install')
pytest.importorskip('launch_ros', reason='launch_ros is not installed (no ROS 2 launch stack here)')

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import launch_testing.markers  # noqa: E402
import rclpy  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PointStamped  # noqa: E402
from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from lifecycle_msgs.msg import State  # noqa: E402
from lifecycle_msgs.srv import GetState  # noqa: E402
from rcl_interfaces.srv import GetParameters  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

# keep the launched graph on loopback and away from other tests
DOMAIN_ID = os.environ.get('VSYNC_LAUNCH_TEST_DOMAIN_ID', '61')
ISOLATION = {'ROS_DOMAIN_ID': DOMAIN_ID, 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
TIMEOUT_S = 90.0
SHIPPED_CHECKPOINT = 'package://vsync_ros/models/plaza_cls_epi.pt'  # config/counting.yaml's checkpoint


@pytest.mark.launch_test
@launch_testing.markers.keep_alive
def generate_test_description():
    share = get_package_share_directory('vsync_ros')
    counting = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'counting.launch.py')),
        launch_arguments={'use_replay': 'true', 'use_rviz': 'false', 'desync_preset': 'constant',
                          'desync_s': '1.0', 'rate_hz': '5.0', 'device': 'cpu'}.items(),
    )
    isolation = [SetEnvironmentVariable(k, v) for k, v in ISOLATION.items()]
    return launch.LaunchDescription([*isolation, counting, launch_testing.actions.ReadyToTest()])


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


class TestCountingOutputs(unittest.TestCase):
    """Outputs of the running system."""

    @classmethod
    def setUpClass(cls):
        cls.saved_env = {k: os.environ.get(k) for k in ISOLATION}
        os.environ.update(ISOLATION)
        rclpy.init()
        cls.node = rclpy.create_node('vsync_launch_test_probe')

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()
        for k, v in cls.saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def _spin_until(self, predicate, timeout_s=TIMEOUT_S):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and not predicate():
            rclpy.spin_once(self.node, timeout_sec=0.1)
        return predicate()

    def _call(self, client, request, timeout_s=TIMEOUT_S):
        self.assertTrue(client.wait_for_service(timeout_sec=timeout_s), f'{client.srv_name} never appeared')
        future = client.call_async(request)
        self.assertTrue(self._spin_until(future.done, timeout_s), f'{client.srv_name} did not answer')
        return future.result()

    def test_sync_node_autostarts_into_the_active_state(self):
        client = self.node.create_client(GetState, '/sync_node/get_state')
        try:
            end = time.monotonic() + TIMEOUT_S
            state = self._call(client, GetState.Request()).current_state
            while state.id != State.PRIMARY_STATE_ACTIVE and time.monotonic() < end:
                self._spin_until(lambda: False, 0.5)  # configuring (model loading) takes a while
                state = self._call(client, GetState.Request()).current_state
            self.assertEqual(state.id, State.PRIMARY_STATE_ACTIVE, f'sync_node is {state.label}, not active')
            self.assertEqual(state.label, 'active')
        finally:
            self.node.destroy_client(client)

    def test_launch_arguments_override_the_params_file_only_when_given(self):
        client = self.node.create_client(GetParameters, '/sync_node/get_parameters')
        try:
            values = self._call(client, GetParameters.Request(names=['checkpoint', 'device'])).values
            self.assertEqual(values[0].string_value, SHIPPED_CHECKPOINT)  # checkpoint:= not given
            self.assertEqual(values[1].string_value, 'cpu')  # device:=cpu given
        finally:
            self.node.destroy_client(client)

    def test_density_and_count_carry_reference_stamps(self):
        cam1, dens, counts = [], [], []
        subs = [
            self.node.create_subscription(Image, '/cam1/image_raw', cam1.append, qos_profile_sensor_data),
            self.node.create_subscription(Image, '/sync_node/density', dens.append, 10),
            self.node.create_subscription(PointStamped, '/sync_node/count_stamped', counts.append, 10),
        ]
        try:
            self.assertTrue(self._spin_until(lambda: len(dens) >= 3 and len(counts) >= 3),
                            'no density / count output from sync_node')
            ref_stamps = {_stamp(m) for m in cam1}
            for msg in dens[-3:]:
                self.assertEqual(msg.encoding, '32FC1')
                self.assertEqual(msg.header.frame_id, 'world')
                self.assertIn(_stamp(msg), ref_stamps, 'density not stamped with a reference (cam1) frame')
            for msg in counts[-3:]:
                self.assertIn(_stamp(msg), ref_stamps)
                self.assertGreaterEqual(msg.point.x, 0.0)
        finally:
            for s in subs:
                self.node.destroy_subscription(s)

    def test_diagnostics_cover_every_view(self):
        diags = []
        sub = self.node.create_subscription(DiagnosticArray, '/sync_node/diagnostics', diags.append, 10)
        try:
            self.assertTrue(self._spin_until(lambda: bool(diags)))
            names = {s.name.split(': ', 1)[-1] for s in diags[-1].status}
            self.assertTrue({'cam1', 'cam2', 'cam3', 'sync'} <= names, names)
        finally:
            self.node.destroy_subscription(sub)

    def test_markers_are_latched(self):
        got = []
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
        sub = self.node.create_subscription(MarkerArray, '/sync_node/markers', got.append, qos)
        try:
            self.assertTrue(self._spin_until(lambda: bool(got), 30.0))
            self.assertTrue(all(m.header.frame_id == 'world' for m in got[-1].markers))
        finally:
            self.node.destroy_subscription(sub)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """Clean exit of every launched process: shutting the launch down ends sync_node and replay_node with 0."""

    def test_exit_codes(self, proc_info):
        names = proc_info.process_names()  # e.g. sync_node-1, replay_node-2
        for executable in ('sync_node', 'replay_node'):
            self.assertTrue(any(executable in name for name in names), f'{executable} not among {names}')
        launch_testing.asserts.assertExitCodes(proc_info)  # allowable exit codes: 0 only
