"""``replay_node``: publish unsynchronized camera streams (and ground truth) from a frame source.

Publishes, per camera, ``/<camera>/image_raw`` (sensor_msgs/Image) and ``/<camera>/camera_info``
(sensor_msgs/CameraInfo) with the latency, jitter, drops, content offsets and outages (``stop_s``: a camera
stops for good) of a desync profile (see :mod:`vsync_ros.runtime.schedules`), and at every reference time
``ground_truth/count`` (geometry_msgs/PointStamped, point.x = people in the region) and ``ground_truth/density``
(sensor_msgs/Image 32FC1), plus ``ground_truth/joints`` (geometry_msgs/PoseArray, the sync node's ``~/joints``
layout) for sources with 3D joints (pose worlds and data sets), all in the node's namespace. Camera
topics are RELIABLE with a shallow queue, so both sensor-data (best-effort) and default (reliable)
subscribers match. Stamps are ``start + stamp_s`` on the node clock (so ``use_sim_time`` works): with
``stamp: reference`` (default) every view's frame k carries the reference tick, with ``stamp: capture`` the
time the frame was taken (``start + capture_s``: the tick plus the view's content offset, as a camera with its
own clock would stamp it). The publishing thread sleeps on the node clock.
"""
from __future__ import annotations

import math
import threading

import numpy as np
from geometry_msgs.msg import PointStamped, PoseArray
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from vsync_ros.ros.image_conversion import make_image_msg
from vsync_ros.ros.joint_messages import joints_to_pose_array
from vsync_ros.ros.node_main import run_node
from vsync_ros.ros.parameters import ParameterSpec, check_values, declare_parameters, parameter_table, read_parameters
from vsync_ros.ros.sync_node import ns_to_stamp
from vsync_ros.runtime.messages import (
    GT_COUNT_TOPIC,
    GT_DENSITY_TOPIC,
    GT_JOINTS_TOPIC,
    IMAGE_TOPIC_FORMAT,
    INFO_TOPIC_FORMAT,
    camera_info_fields,
    encode_rgb,
    topic_for,
)
from vsync_ros.runtime.rig_folder import rig_spec
from vsync_ros.runtime.schedules import DATA_PRESETS, PRESETS, desync_profile, schedule, with_stops
from vsync_ros.runtime.sources import DATASET_FRAMES, SOURCES, FrameSource, make_source

STAMP_MODES = ('reference', 'capture')
"""Values of the ``stamp`` parameter."""

PARAMETERS = parameter_table(
    ParameterSpec('source', Parameter.Type.STRING, 'toy',
                  'Frame source: toy (built-in), world (vsync_ros.data synthetic world) or dataset.', choices=SOURCES),
    ParameterSpec('rig', Parameter.Type.STRING, 'plaza',
                  'Camera rig of the toy / synthetic world: plaza, studio, or a rig folder (rig.yaml, from '
                  'vsync-rig import; absolute, relative to the working or share directory, or '
                  'package://vsync_ros/...): its cameras, published as /<camera>/image_raw, and its ground region.'),
    ParameterSpec('dataset_root', Parameter.Type.STRING, '', 'Data set folder (source dataset).'),
    ParameterSpec('dataset_split', Parameter.Type.STRING, 'test', 'Data set split (source dataset).'),
    ParameterSpec('dataset_frames', Parameter.Type.STRING, 'input',
                  'Data set frames: input (its own desynchronization; use desync_preset sync) '
                  'or sync (synchronized frames, desynchronized by the preset).', choices=DATASET_FRAMES),
    ParameterSpec('n_people', Parameter.Type.INTEGER, 8, 'People in the toy / synthetic world.',
                  value_range=(0, 10000)),
    ParameterSpec('image_scale', Parameter.Type.DOUBLE, 1.0,
                  'Scale of the rendered images relative to the rig calibration.',
                  value_range=(0.05, 8.0)),
    ParameterSpec('seed', Parameter.Type.INTEGER, 0, 'Seed of the world and of the random timing.',
                  value_range=(0, 2**31 - 1)),
    ParameterSpec('rate_hz', Parameter.Type.DOUBLE, 7.0, 'Frame rate of every camera (PETS2009: 7 fps).',
                  value_range=(0.01, 1000.0)),
    ParameterSpec('desync_preset', Parameter.Type.STRING, 'constant',
                  'Content offsets: sync, constant (tau = +-desync_s), random '
                  '(kappa = desync_s), or a data preset (pets, citystreet, h36m_train, h36m_test: these '
                  'also set the frame rate).', choices=PRESETS),
    ParameterSpec('desync_s', Parameter.Type.DOUBLE, 1.0,
                  'Magnitude of the content offsets, seconds (PETS2009 uses 5).',
                  value_range=(0.0, 3600.0)),
    ParameterSpec('reference_view', Parameter.Type.INTEGER, 0, 'View the ground truth refers to (no content offset).',
                  value_range=(0, 63)),
    ParameterSpec('latency_s', Parameter.Type.DOUBLE, 0.0, 'Transport latency of every camera, seconds.',
                  value_range=(0.0, 60.0)),
    ParameterSpec('jitter_s', Parameter.Type.DOUBLE, 0.0, 'Extra uniform transport delay in [0, jitter_s], seconds.',
                  value_range=(0.0, 60.0)),
    ParameterSpec('drop_prob', Parameter.Type.DOUBLE, 0.0, 'Probability that a frame is dropped.',
                  value_range=(0.0, 1.0)),
    ParameterSpec('stop_s', Parameter.Type.DOUBLE_ARRAY, [],
                  'Camera outages: camera i publishes no frame stamped stop_s[i] seconds or later after the start '
                  '(the stamp clock; .inf = never stops, 0 = never publishes). Empty (default): no outage; else '
                  'one value per camera, e.g. [5.0, .inf, .inf] stops the reference cam1 after 5 s.'),
    ParameterSpec('phase_spread', Parameter.Type.BOOL, False,
                  'Spread the capture ticks of the cameras over one frame period.'),
    ParameterSpec('duration_s', Parameter.Type.DOUBLE, 0.0,
                  'Stop after this many seconds of stamps (0: run until the source ends / forever).',
                  value_range=(0.0, 1.0e7)),
    ParameterSpec('encoding', Parameter.Type.STRING, 'rgb8', 'Published image encoding.',
                  choices=('rgb8', 'bgr8', 'mono8')),
    ParameterSpec('stamp', Parameter.Type.STRING, 'reference',
                  'Image / CameraInfo stamps: reference (every view stamped with the reference tick) or capture '
                  '(the time the view\'s frame was taken: tick + content offset, as a camera with its own clock).',
                  choices=STAMP_MODES),
    ParameterSpec('publish_camera_info', Parameter.Type.BOOL, True, 'Publish CameraInfo alongside each image.'),
    ParameterSpec('world_frame', Parameter.Type.STRING, 'world', 'frame_id of the ground truth.'),
    ParameterSpec('wait_for_subscribers', Parameter.Type.INTEGER, 0,
                  'Before starting, wait until every image topic has this many subscribers.', value_range=(0, 100)),
    ParameterSpec('start_delay_s', Parameter.Type.DOUBLE, 0.0, 'Delay before the first frame, seconds.',
                  value_range=(0.0, 3600.0)),
)
"""The replay node's parameters (all read-only: the replay is set up once; ``launch/replay.launch.py``)."""


class ReplayNode(Node):
    """Camera replay. Pass ``source`` to inject a frame source (tests); otherwise it is built from parameters.

    Call :meth:`start` (``main`` does) to begin publishing in a background thread; ``done`` is set at the end.
    """

    def __init__(self, source: FrameSource | None = None, node_name: str = 'replay_node', **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        declare_parameters(self, PARAMETERS.values())
        p = read_parameters(self, PARAMETERS.values())
        problem = check_values(PARAMETERS, p)
        if problem:
            self.destroy_node()
            raise ValueError(problem)
        try:
            if source is None:
                source = make_source(p['source'], rig_spec(p['rig']), p['seed'], p['n_people'], p['image_scale'],
                                     p['dataset_root'], p['dataset_split'], p['dataset_frames'])
            self.source = source
            cams = self.source.cameras
            self.profile = desync_profile(p['desync_preset'], len(cams), p['rate_hz'], p['desync_s'],
                                          p['reference_view'], p['latency_s'], p['jitter_s'], p['drop_prob'],
                                          p['phase_spread'], p['seed'])
            self.profile = with_stops(self.profile, stop_times(p['stop_s'], [c.name for c in cams]))
        except (RuntimeError, ValueError) as exc:
            self.destroy_node()
            raise RuntimeError(f'cannot set up the replay: {exc}') from exc
        self.p = p
        duration = p['duration_s'] or self.source.duration_s
        self.duration_s = float(duration) if duration else None
        self.encoding = p['encoding']
        # RELIABLE, shallow: matches both sensor-data (best-effort) and default (reliable) subscribers
        cam_qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pubs = [self.create_publisher(Image, topic_for(IMAGE_TOPIC_FORMAT, c), cam_qos) for c in cams]
        self.info_pubs = ([self.create_publisher(CameraInfo, topic_for(INFO_TOPIC_FORMAT, c), cam_qos)
                           for c in cams] if p['publish_camera_info'] else [])
        reliable = QoSProfile(depth=50)
        self.gt_count_pub = self.create_publisher(PointStamped, GT_COUNT_TOPIC, reliable)
        self.gt_density_pub = self.create_publisher(Image, GT_DENSITY_TOPIC, reliable)
        self.gt_joints_pub = (self.create_publisher(PoseArray, GT_JOINTS_TOPIC, reliable)
                              if 'joints_3d' in self.source.ground_truth(0.0) else None)  # pose worlds only
        self.infos = [camera_info_fields(c) for c in cams]
        self.published = [0] * len(cams)
        self.dropped = [0] * len(cams)
        self.stopped = [0] * len(cams)  # frames withheld by an outage (stop_s)
        self.ground_truth = 0
        self.capture_stamps = p['stamp'] == 'capture'
        self.get_logger().info(f'{type(self.source).__name__}: {len(cams)} cameras at {self.describe_timing()}')

    def describe_timing(self) -> str:
        """The timing actually published (a data preset's own rate and offsets replace rate_hz / desync_s)."""
        p, prof = self.p, self.profile
        if p['desync_preset'] in DATA_PRESETS:
            desync = f'desync preset {p["desync_preset"]} (sets the rate and offsets; rate_hz, desync_s ignored)'
        else:
            desync = f'desync {p["desync_preset"]} ({p["desync_s"]:g} s)'
        stops = ''.join(f', {self.source.cameras[v].name} stops at {t:g} s' for v, t in prof.stops.items())
        return (f'{prof.rate_hz:g} Hz, {desync}, latency {p["latency_s"]:g} s, jitter {p["jitter_s"]:g} s, '
                f'drop {p["drop_prob"]:g}{stops}, {p["stamp"]} stamps, duration {self.duration_s or "unbounded"}')

    def start(self) -> None:
        """Start publishing in a background thread."""
        self._thread = threading.Thread(target=self._run, name='replay', daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the publishing thread (returns when it has ended)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def destroy_node(self) -> None:
        """Stop publishing, then destroy the node."""
        self.stop()
        super().destroy_node()

    # ------------------------------------------------------------------------------ publishing
    def _sleep_until(self, target: Time) -> bool:
        clock = self.get_clock()
        while not self._stop.is_set():
            now = clock.now()
            if now >= target:
                return True
            step = min(target - now, Duration(seconds=0.1))
            try:
                clock.sleep_for(step, context=self.context)
            except Exception:  # noqa: BLE001 - context shut down
                return False
        return False

    def _wait_for_subscribers(self, n: int) -> bool:
        while not self._stop.is_set():
            if all(pub.get_subscription_count() >= n for pub in self.image_pubs):
                return True
            if self._stop.wait(0.05):
                break
        return False

    def _run(self) -> None:
        try:
            if self.p['wait_for_subscribers'] and not self._wait_for_subscribers(self.p['wait_for_subscribers']):
                return
            start = self.get_clock().now() + Duration(seconds=self.p['start_delay_s'])
            if self.capture_stamps and start.nanoseconds < self.profile.t_base * 1e9:
                # a simulated clock near 0: keep capture stamps (tick + offset, offset >= -t_base) non-negative
                start = Time(nanoseconds=round(self.profile.t_base * 1e9), clock_type=start.clock_type)
            start_ns = start.nanoseconds
            for ev in schedule(self.profile, self.duration_s):
                if not self._sleep_until(start + Duration(nanoseconds=round(ev.publish_s * 1e9))):
                    return
                stamp_s = ev.capture_s if self.capture_stamps else ev.stamp_s
                stamp = ns_to_stamp(start_ns + round(stamp_s * 1e9))
                if ev.view < 0:
                    self._publish_ground_truth(ev.content_s, stamp)
                elif ev.stopped:
                    if not self.stopped[ev.view]:
                        self.get_logger().info(f'camera {self.source.cameras[ev.view].name} stops (outage, stop_s '
                                               f'{self.profile.views[ev.view].stop_s:g} s): no more frames')
                    self.stopped[ev.view] += 1
                elif ev.dropped:
                    self.dropped[ev.view] += 1
                    self.get_logger().debug(f'dropping frame {ev.k} of view {ev.view} (drop_prob)')
                else:
                    self._publish_frame(ev.view, ev.content_s, stamp)
            self.get_logger().info(f'replay finished: published {sum(self.published)} frames, dropped '
                                   f'{sum(self.dropped)} on purpose, withheld {sum(self.stopped)} by outages, '
                                   f'{self.ground_truth} ground-truth messages')
        except Exception as exc:  # noqa: BLE001 - report instead of dying silently in a thread
            if self.context.ok():
                self.get_logger().error(f'replay stopped: {type(exc).__name__}: {exc}')
        finally:
            self.done.set()

    def _publish_frame(self, view: int, content_s: float, stamp) -> None:
        cam = self.source.cameras[view]
        header = Header(stamp=stamp, frame_id=cam.frame_id)
        rgb = self.source.frame(view, content_s)
        if rgb is None:  # the source has no frame of this view then (e.g. missing in the data set)
            self.dropped[view] += 1
            self.get_logger().debug(f'view {view} has no frame at t = {content_s:.3f} s: not published')
            return
        self.image_pubs[view].publish(make_image_msg(encode_rgb(rgb, self.encoding), self.encoding, header))
        if self.info_pubs:
            self.info_pubs[view].publish(CameraInfo(header=header, **self.infos[view]))
        self.published[view] += 1

    def _publish_ground_truth(self, content_s: float, stamp) -> None:
        gt = self.source.ground_truth(content_s)
        header = Header(stamp=stamp, frame_id=self.p['world_frame'])
        msg = PointStamped(header=header)
        msg.point.x = float(gt['count'])
        self.gt_count_pub.publish(msg)
        if gt.get('gp_density') is not None:
            self.gt_density_pub.publish(make_image_msg(np.asarray(gt['gp_density'], np.float32), '32FC1', header))
        if self.gt_joints_pub is not None and gt.get('joints_3d') is not None:
            self.gt_joints_pub.publish(joints_to_pose_array(gt['joints_3d'], header))
        self.ground_truth += 1


def stop_times(values: list[float], names: list[str]) -> dict[int, float]:
    """{view: stop_s} of the ``stop_s`` parameter for cameras ``names`` (empty list, or ``inf`` values: no outage).

    Raises:
        ValueError: neither empty nor one value per camera, or a NaN / ``-inf`` value (naming the parameter).
    """
    if values and len(values) != len(names):
        raise ValueError(f'parameter stop_s has {len(values)} values for {len(names)} cameras '
                         f'({", ".join(names)}): give one per camera (.inf = never stops) or none')
    for name, t in zip(names, values):
        if math.isnan(t) or t == -math.inf:
            raise ValueError(f'parameter stop_s: camera {name} has {t}; give seconds, or .inf for never')
    return {v: float(t) for v, t in enumerate(values) if t != math.inf}


def main(args=None) -> int:
    """Entry point of the ``replay_node`` executable (console script and ``python -m vsync_ros.ros.replay_node``)."""
    return run_node('replay_node', ReplayNode, args, description=__doc__.split('\n\n')[0],
                    parameters=PARAMETERS.values(), finished=lambda node: node.done.is_set(),
                    on_ready=lambda node: node.start())


if __name__ == '__main__':
    raise SystemExit(main())
