"""``sync_node``: fuse unsynchronized camera streams into a ground-plane density map and a count.

Subscribes (sensor-data QoS, latest frame per view kept):
    <camera_topics[i]>        sensor_msgs/Image (rgb8, bgr8 or mono8)
    <camera_info_topics[i]>   sensor_msgs/CameraInfo (optional; checked against the model's calibration)
Publishes (stamped with the reference frame's stamp, frame ``output_frame_id``):
    ~/density          sensor_msgs/Image 32FC1, people per ground cell (rows +y, columns +x)
    ~/density_color    sensor_msgs/Image rgb8, colour-mapped density for RViz
    ~/count            std_msgs/Float32
    ~/count_stamped    geometry_msgs/PointStamped (point.x = count; for stamp-exact evaluation)
    ~/skeleton         visualization_msgs/MarkerArray (pose task): per person a SPHERE_LIST of the 17 joints
                       (ns skeleton_joints) and a LINE_LIST of the bones (ns skeleton_bones), id = person
    ~/joints           geometry_msgs/PoseArray (pose task): 17 poses per person, person-major in the
                       Human3.6M joint order (vsync_ros.data.skeleton); position = joint in metres in
                       ``output_frame_id``, orientation identity (joints carry no orientation)
    ~/markers          visualization_msgs/MarkerArray, camera frusta and ground region (transient local)
    ~/diagnostics      diagnostic_msgs/DiagnosticArray (remap to /diagnostics for the aggregator)

Fault behaviour is documented in :mod:`vsync_ros.runtime.sync_core`. The ROS-free logic lives in
``SyncCore`` / ``FrameStore``; this module only wires it to rclpy.

A missing checkpoint file does not stop the node: it logs an error saying where it looked and how to get
a model, reports ERROR on ~/diagnostics, looks for the file again every ``model_retry_period_s`` and
starts working as soon as it appears. Any other model problem (corrupt file, calibration mismatch, bad
parameters) stops the node at start-up with the reason.
"""
from __future__ import annotations

import functools
import logging
import re
import time

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped, PoseArray
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32, Header
from visualization_msgs.msg import MarkerArray

from vsync_ros import paths
from vsync_ros.geometry import CalibrationError
from vsync_ros.inference.api import TASKS, FramePipeline
from vsync_ros.inference.loading import open_pipeline
from vsync_ros.reports.colormap import COLORMAPS, colorize_density
from vsync_ros.ros.diagnostics import no_model_status, node_status, to_diagnostic_array, view_status
from vsync_ros.ros.image_conversion import image_to_rgb, make_image_msg
from vsync_ros.ros.joint_messages import joints_to_pose_array
from vsync_ros.ros.markers import build_scene_markers, build_skeleton_markers
from vsync_ros.ros.node_main import run_node
from vsync_ros.ros.parameters import (
    ParameterSpec,
    add_parameter_callbacks,
    check_values,
    declare_parameters,
    parameter_table,
    read_parameters,
)
from vsync_ros.runtime.calibration_check import check_camera_info, load_and_check
from vsync_ros.runtime.frame_store import FrameStore
from vsync_ros.runtime.images import check_image
from vsync_ros.runtime.sync_core import TRIGGERS, LogThrottle, StepOutcome, SyncCore
from vsync_ros.runtime.work_thread import WorkThread

DEVICE_RE = re.compile(r'^(auto|cpu|cuda(:\d+)?)$')
BACKENDS = ('auto', 'numpy', 'cv_bridge')
DEFAULT_TOPICS = ['/cam1/image_raw', '/cam2/image_raw', '/cam3/image_raw']

PARAMETERS = parameter_table(
    ParameterSpec('task', Parameter.Type.STRING, 'counting', 'Task of the model: counting or pose.',
                  choices=TASKS),
    ParameterSpec('camera_topics', Parameter.Type.STRING_ARRAY, DEFAULT_TOPICS,
                  'Image topic per view, in the order of the model\'s cameras.'),
    ParameterSpec('camera_info_topics', Parameter.Type.STRING_ARRAY, [],
                  'Optional CameraInfo topic per view (empty: not used). Each CameraInfo is checked '
                  'against the model calibration; a malformed or disagreeing one disables the view.'),
    ParameterSpec('calibration_files', Parameter.Type.STRING_ARRAY, [],
                  'Optional calibration YAML per view (camera_info + extrinsics; absolute, relative to '
                  'the package share dir, or package://vsync_ros/...). Checked against the model.'),
    ParameterSpec('reference_view', Parameter.Type.INTEGER, 0, 'Index of the reference view (0-based).',
                  value_range=(0, 63)),
    ParameterSpec('failover_order', Parameter.Type.INTEGER_ARRAY, [],
                  'View indices to try, in order, when the reference is stale (default: the others in '
                  'index order).'),
    ParameterSpec('checkpoint', Parameter.Type.STRING, '',
                  'Model checkpoint (absolute, relative to the share dir, or package://vsync_ros/...); empty = the '
                  'shipped model (counting: models/plaza_cls_epi.pt). While the file is missing the node stays up, '
                  'reports it and looks again every model_retry_period_s.'),
    ParameterSpec('model_retry_period_s', Parameter.Type.DOUBLE, 5.0,
                  'While the checkpoint file is missing, look for it again at this period.',
                  value_range=(0.1, 3600.0)),
    ParameterSpec('device', Parameter.Type.STRING, 'auto', 'Inference device: auto, cpu, cuda or cuda:N.'),
    ParameterSpec('max_frame_age_s', Parameter.Type.DOUBLE, 1.0,
                  'A view whose latest frame arrived longer ago than this is stale (not used; a stale '
                  'reference fails over).', dynamic=True, value_range=(0.01, 3600.0)),
    ParameterSpec('min_views', Parameter.Type.INTEGER, 1, 'Fewest usable views needed to publish an estimate.',
                  dynamic=True, value_range=(1, 64)),
    ParameterSpec('trigger', Parameter.Type.STRING, 'reference',
                  'reference: run on each new reference frame; timer: run at timer_rate_hz on the newest '
                  'reference frame.', choices=TRIGGERS),
    ParameterSpec('timer_rate_hz', Parameter.Type.DOUBLE, 5.0, 'Inference rate when trigger is timer.',
                  value_range=(0.01, 1000.0)),
    ParameterSpec('output_frame_id', Parameter.Type.STRING, 'world',
                  'frame_id of all outputs (the ground plane frame).'),
    ParameterSpec('resize_input', Parameter.Type.BOOL, True,
                  'Resize images of another size but the same aspect ratio to the model size '
                  '(otherwise they are rejected).', dynamic=True),
    ParameterSpec('image_backend', Parameter.Type.STRING, 'auto',
                  'Image conversion: auto (cv_bridge if usable), numpy or cv_bridge.', choices=BACKENDS),
    ParameterSpec('calibration_tolerance_px', Parameter.Type.DOUBLE, 2.0,
                  'Largest reprojection difference accepted between a supplied calibration '
                  'and the model\'s, pixels.', value_range=(0.0, 10000.0)),
    ParameterSpec('colormap', Parameter.Type.STRING, 'turbo', 'Colour map of ~/density_color.', dynamic=True,
                  choices=tuple(COLORMAPS)),
    ParameterSpec('color_max', Parameter.Type.DOUBLE, 0.0,
                  'Density (people per cell) shown at the top colour; 0 = per-map maximum.',
                  dynamic=True, value_range=(0.0, 1.0e6)),
    ParameterSpec('diagnostics_period_s', Parameter.Type.DOUBLE, 1.0, 'Period of ~/diagnostics.',
                  value_range=(0.05, 60.0)),
    ParameterSpec('marker_range_m', Parameter.Type.DOUBLE, 30.0, 'Longest frustum edge drawn in ~/markers, metres.',
                  value_range=(0.1, 10000.0)),
)
"""The sync node's parameters (``config/counting.yaml``, ``config/pose.yaml``)."""


def _guarded(callback):
    """Log (throttled) instead of losing an unexpected exception of a callback or an inference-thread job."""
    @functools.wraps(callback)
    def wrapper(self, *args, **kwargs):
        try:
            return callback(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the node must stay up
            if getattr(self, '_destroying', False) or not self.context.ok():
                return None  # a callback still in flight while the node is destroyed or rclpy shut down
            if self._throttle.check(f'crash:{callback.__name__}', time.monotonic(), 5.0)[0]:
                self.get_logger().error(f'{callback.__name__} failed: {type(exc).__name__}: {exc}')
    return wrapper


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time (exact)."""
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


class SyncNode(Node):
    """The sync node around a :class:`SyncCore`.

    Pass ``pipeline`` to inject a model (tests, bag evaluation); otherwise it is loaded from the
    ``checkpoint`` / ``device`` parameters.

    Raises (from the constructor, after logging): ``ValueError`` for inconsistent parameters and
    ``RuntimeError`` when the model cannot be loaded. A checkpoint file that does not exist is not an
    error: the node waits for it (``core`` and the outputs exist once the model is loaded; see the module
    docstring).
    """

    def __init__(self, pipeline: FramePipeline | None = None, node_name: str = 'sync_node', **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._destroying = False
        try:
            self._setup(pipeline)
        except Exception:
            self.destroy_node()
            raise

    def destroy_node(self) -> None:
        """Stop the inference thread, then destroy the node (callbacks still in flight end quietly)."""
        self._destroying = True
        worker = getattr(self, '_worker', None)
        if worker is not None and not worker.stop(10.0):
            self.get_logger().warning('the inference thread did not stop within 10 s')
        super().destroy_node()

    # ------------------------------------------------------------------------------ set-up
    def _setup(self, pipeline: FramePipeline | None) -> None:
        declare_parameters(self, PARAMETERS.values())
        p = read_parameters(self, PARAMETERS.values())
        self._validate_static(p)
        self._initial_params = p
        self.task = p['task']
        self.device = p['device']
        self.pipeline: FramePipeline | None = None
        self.core: SyncCore | None = None
        self.outputs = 0
        self._throttle = LogThrottle(5.0)
        self._retry_timer = None
        self._model_problem = ''
        self._failed_mtime: float | None = None
        self.checkpoint_path = self._checkpoint_path(p)
        self.pub_diag = self.create_publisher(DiagnosticArray, '~/diagnostics', QoSProfile(depth=10))
        add_parameter_callbacks(self, PARAMETERS, self._apply_parameters)
        if pipeline is None:
            if not self.checkpoint_path.is_file():
                self._wait_for_model(p)
                return
            pipeline = self._load_pipeline(p)
        self._start(pipeline)

    def _checkpoint_path(self, p: dict):
        return paths.resolve(p['checkpoint']) if p['checkpoint'] else paths.default_checkpoint(p['task'])

    def _params(self) -> dict:
        """Parameter values: the start-up ones, with the dynamic ones as they are now.

        (Dynamic parameters may change while the node waits for its model.)
        """
        p = dict(self._initial_params)
        p.update(read_parameters(self, (spec for spec in PARAMETERS.values() if spec.dynamic)))
        return p

    def _wait_for_model(self, p: dict) -> None:
        """Stay up without a model: log how to get one, report on ~/diagnostics, look for the file periodically."""
        self._model_problem = f'no model: checkpoint {self.checkpoint_path} does not exist'
        hint = ('train one with vsync-train (README: Training; e.g. vsync-train --config '
                'config/train/small_cls_epi.yaml train.out=models/plaza_cls_epi.pt) or set the checkpoint parameter'
                if self.task == 'counting' else 'set the checkpoint parameter')
        self.get_logger().error(f'{self._model_problem}; {hint}. Waiting for it (checking every '
                                f'{p["model_retry_period_s"]:g} s); no output until then.')
        period = float(p['model_retry_period_s'])
        self._retry_timer = self.create_timer(period, self._on_retry_model)
        self._waiting_diag_timer = self.create_timer(p['diagnostics_period_s'], self._on_waiting_diagnostics)

    @_guarded
    def _on_retry_model(self) -> None:
        if self.core is not None:
            return
        path = self.checkpoint_path
        if not path.is_file():
            return
        mtime = path.stat().st_mtime
        if mtime == self._failed_mtime:
            return  # this version of the file was refused already; wait for a new one
        try:
            pipeline = self._load_pipeline(self._params())
            self._start(pipeline)
        except (ValueError, RuntimeError) as exc:
            self._failed_mtime = mtime
            self._model_problem = f'cannot use checkpoint {path}: {exc}'
            self.get_logger().error(f'{self._model_problem}; waiting for another version of the file')
            return
        for name in ('_retry_timer', '_waiting_diag_timer'):
            timer = getattr(self, name, None)
            if timer is not None:
                self.destroy_timer(timer)
                setattr(self, name, None)
        self._model_problem = ''
        self.get_logger().info(f'checkpoint {path} appeared: model loaded, running')

    @_guarded
    def _on_waiting_diagnostics(self) -> None:
        if self.core is not None:
            return
        status = no_model_status(self.get_name(), self._model_problem, str(self.checkpoint_path),
                                 float(self.get_parameter('model_retry_period_s').value))
        self.pub_diag.publish(to_diagnostic_array([status], Header(stamp=self.get_clock().now().to_msg())))

    def _start(self, pipeline: FramePipeline) -> None:
        """Everything that needs the model: frame store, core, publishers, subscriptions, timers."""
        p = self._params()
        if pipeline.task != self.task:
            raise ValueError(f'parameter task is {self.task!r} but the model does {pipeline.task!r}')
        self.pipeline = pipeline
        topics = list(p['camera_topics'])
        n = len(pipeline.cameras)
        if len(topics) != n:
            raise ValueError(f'camera_topics lists {len(topics)} topics but the model has {n} cameras '
                             f'({", ".join(c.name for c in pipeline.cameras)})')
        for key in ('camera_info_topics', 'calibration_files'):
            if p[key] and len(p[key]) != n:
                raise ValueError(f'{key} must be empty or list one entry per camera ({n}), got {len(p[key])}')
        ref = int(p['reference_view'])
        if ref >= n:
            raise ValueError(f'reference_view {ref} is out of range for {n} cameras')
        others = [int(v) for v in p['failover_order']] or [v for v in range(n) if v != ref]
        order = [ref] + [v for v in others if v != ref]
        self.names = [c.name for c in pipeline.cameras]
        self.store = FrameStore(self.names, p['max_frame_age_s'], order, topics)
        self.store.note_time(self._now())  # starts the start-up grace period
        self.backend = p['image_backend']
        self.resize_input = bool(p['resize_input'])
        self.frame_id = p['output_frame_id']
        self.colormap, self.color_max = p['colormap'], float(p['color_max'])
        self.marker_range_m = float(p['marker_range_m'])
        self.tolerance_px = float(p['calibration_tolerance_px'])
        self._last_drop_counts = [(0, 0)] * n
        self._markers_ref: int | None = -1
        self._skeleton_count = 0
        self._info_seen: list[tuple | None] = [None] * n

        out_qos = QoSProfile(depth=5)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        self.pub_density = self.create_publisher(Image, '~/density', out_qos)
        self.pub_color = self.create_publisher(Image, '~/density_color', out_qos)
        self.pub_count = self.create_publisher(Float32, '~/count', out_qos)
        self.pub_count_stamped = self.create_publisher(PointStamped, '~/count_stamped', out_qos)
        self.pub_markers = self.create_publisher(MarkerArray, '~/markers', latched)
        self.pub_skeleton = (self.create_publisher(MarkerArray, '~/skeleton', out_qos)
                             if self.task == 'pose' else None)
        self.pub_joints = (self.create_publisher(PoseArray, '~/joints', out_qos)
                           if self.task == 'pose' else None)

        # the core last: callbacks (parameters, retry timer) treat core != None as "running"
        self.core = SyncCore(pipeline, self.store, self._convert, self._check, int(p['min_views']), p['trigger'])
        self._check_calibration_files(p['calibration_files'])
        # inference, diagnostics and scene markers run in one thread of their own (see work_thread); the
        # executor's callbacks only store frames and request work, so any executor keeps up with the cameras
        self._publish_scene_markers(None)
        self._worker = WorkThread({'work': self._on_work, 'diagnostics': self._on_diagnostics},
                                  name=f'{self.get_name()}_inference')
        self.image_subs = [
            self.create_subscription(Image, topic, functools.partial(self._on_image, v), qos_profile_sensor_data)
            for v, topic in enumerate(topics)]
        self.info_subs = [
            self.create_subscription(CameraInfo, topic, functools.partial(self._on_camera_info, v),
                                     qos_profile_sensor_data)
            for v, topic in enumerate(p['camera_info_topics'])]
        if p['trigger'] == 'timer':
            self.create_timer(1.0 / p['timer_rate_hz'], functools.partial(self._worker.request, 'work'))
        self.create_timer(p['diagnostics_period_s'], functools.partial(self._worker.request, 'diagnostics'))
        describe = getattr(pipeline, 'describe', None)
        if callable(describe):
            self.get_logger().info(f'model: {describe()}')
        if getattr(pipeline, 'device_note', ''):
            self.get_logger().warning(pipeline.device_note)
        model_ref = getattr(pipeline, 'reference_view', None)
        if model_ref is not None and ref != model_ref and getattr(pipeline, 'synchronizes', False):
            self.get_logger().warning(
                f'reference_view is {self.names[ref]} but the model synchronizes the views to '
                f'{self.names[model_ref]} (its training reference): estimates are fused without synchronization '
                f'whenever the reference is not {self.names[model_ref]}')
        self.get_logger().info(
            f'{self.task}: {n} views ({", ".join(f"{nm} <- {t}" for nm, t in zip(self.names, topics))}), '
            f'reference order {[self.names[v] for v in order]}, trigger {p["trigger"]}, '
            f'max frame age {p["max_frame_age_s"]:g} s, output frame {self.frame_id!r}')

    def _validate_static(self, p: dict) -> None:
        problem = check_values(PARAMETERS, p)
        if problem:
            raise ValueError(problem)
        if not DEVICE_RE.match(p['device']):
            raise ValueError(f'parameter device is {p["device"]!r}; use auto, cpu, cuda or cuda:N')
        if not p['camera_topics']:
            raise ValueError('parameter camera_topics is empty')
        if not p['output_frame_id'] or p['output_frame_id'].startswith('/'):
            raise ValueError(f'output_frame_id {p["output_frame_id"]!r} must be a non-empty tf2 frame name '
                             '(no leading slash)')

    def _load_pipeline(self, p: dict) -> FramePipeline:
        ckpt = str(self._checkpoint_path(p))
        cameras = None
        if p['calibration_files']:
            try:
                from vsync_ros.geometry import load_cameras
                cameras = load_cameras([paths.resolve(f) for f in p['calibration_files']])
            except CalibrationError as exc:
                self.get_logger().error(f'calibration files not usable, loading the model with its own: {exc}')
        self.get_logger().info(f'loading {ckpt} on device {p["device"]}')
        return open_pipeline(ckpt, device=p['device'], task=p['task'], cameras=cameras,
                             tolerance_px=float(p['calibration_tolerance_px']))

    def _check_calibration_files(self, files: list[str]) -> None:
        for v, f in enumerate(files):
            path = paths.resolve(f)
            _, reason = load_and_check(path, self.pipeline.cameras[v], self.pipeline.region, self.tolerance_px)
            if reason:
                self.core.set_view_enabled(v, False, f'calibration {path}: {reason}')
        self._log_events()

    # ------------------------------------------------------------------------------ callbacks
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _check(self, msg, size_wh) -> None:
        check_image(msg, size_wh, self.resize_input)

    def _convert(self, msg, size_wh):
        return image_to_rgb(msg, size_wh, self.backend)

    @_guarded
    def _on_image(self, view: int, msg: Image, info) -> None:
        seq = None
        if info is not None:
            s = info.get('publication_sequence_number') if isinstance(info, dict) else None
            seq = int(s) if s is not None and 0 < int(s) < 2 ** 63 else None
        trigger = self.core.accept(view, msg, stamp_to_ns(msg.header.stamp), self._now(), seq)
        self._log_events()
        if trigger:
            self._worker.request('work')

    @_guarded
    def _on_camera_info(self, view: int, msg: CameraInfo) -> None:
        sig = (msg.width, msg.height, msg.distortion_model, tuple(msg.k), tuple(msg.d))
        if sig == self._info_seen[view]:
            return
        self._info_seen[view] = sig
        reason = check_camera_info(msg, self.pipeline.cameras[view], self.pipeline.region, self.tolerance_px)
        self.core.set_view_enabled(view, not reason, f'CameraInfo: {reason}' if reason else '')
        self._log_events()

    @_guarded
    def _on_work(self) -> None:
        outcome = self.core.step(self._now(), require_new=True)
        if outcome.status == 'ok':
            self._publish(outcome)
        self._log_events()
        if self.core.active_ref != self._markers_ref:
            self._publish_scene_markers(self.core.active_ref)

    @_guarded
    def _on_diagnostics(self) -> None:
        now = self._now()
        self.core.update_state(now)
        self._log_drops()
        self._log_events()
        states = self.store.states()
        ref = self.core.active_ref
        ref_stamp = self.store.latest(ref).stamp_ns if ref is not None and self.store.latest(ref) else None
        statuses = [view_status(st, now, self.store.max_age_s, ref_stamp, self.get_name(), v == ref)
                    for v, st in enumerate(states)]
        statuses.append(node_status(self.core.stats, ref, self.store.reference_order[0], self.names,
                                    self.get_name(), self.core.trigger, self.device, self.outputs,
                                    self.core.last_note))
        self.pub_diag.publish(to_diagnostic_array(statuses, Header(stamp=self.get_clock().now().to_msg())))
        if self.core.active_ref != self._markers_ref:
            self._publish_scene_markers(self.core.active_ref)

    def _apply_parameters(self, changed: dict) -> None:
        """Post-set callback: make the dynamic parameters just stored by rclpy take effect.

        Validation happened in the on-set callback (:func:`vsync_ros.ros.parameters.validate_change`), so
        the values are allowed. Without a model nothing is applied: :meth:`_params` reads them at load time.
        """
        if self.core is None:
            return
        for name, value in changed.items():
            if name == 'max_frame_age_s':
                self.store.set_max_age(float(value))
            elif name == 'min_views':
                self.core.min_views = int(value)
            elif name == 'resize_input':
                self.resize_input = bool(value)
            elif name == 'colormap':
                self.colormap = value
            elif name == 'color_max':
                self.color_max = float(value)

    # ------------------------------------------------------------------------------ outputs
    def _header(self, stamp_ns: int) -> Header:
        return Header(stamp=ns_to_stamp(stamp_ns), frame_id=self.frame_id)

    def _publish(self, outcome: StepOutcome) -> None:
        res = outcome.result
        header = self._header(outcome.stamp_ns)
        self.pub_density.publish(make_image_msg(res.density, '32FC1', header))
        self.pub_color.publish(make_image_msg(colorize_density(res.density, self.color_max, self.colormap),
                                              'rgb8', header))
        self.pub_count.publish(Float32(data=float(res.count)))
        cs = PointStamped(header=header)
        cs.point.x = float(res.count)
        self.pub_count_stamped.publish(cs)
        if self.pub_skeleton is not None:
            self.pub_skeleton.publish(build_skeleton_markers(res.joints, header, self._skeleton_count))
            self._skeleton_count = 0 if res.joints is None else len(res.joints)
        if self.pub_joints is not None:
            self.pub_joints.publish(joints_to_pose_array(res.joints, header))
        self.outputs += 1

    def _publish_scene_markers(self, ref: int | None) -> None:
        disabled = {v for v, st in enumerate(self.store.states()) if not st.enabled}
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)
        self.pub_markers.publish(build_scene_markers(self.pipeline.cameras, self.pipeline.region, header, ref,
                                                     self.marker_range_m, disabled))
        self._markers_ref = ref

    # ------------------------------------------------------------------------------ logging
    def _log_events(self) -> None:
        now = time.monotonic()
        log = self.get_logger()
        for ev in self.core.drain_events():
            ok, suppressed = self._throttle.check(ev.key, now, 1.0 if ev.level in ('info', 'warn') else 5.0)
            if not ok:
                continue
            text = ev.text + (f' ({suppressed} similar messages suppressed)' if suppressed else '')
            # one call site per severity: rclpy refuses a severity change at the same call site
            if ev.level == 'error':
                log.error(text)
            elif ev.level == 'warn':
                log.warning(text)
            elif ev.level == 'info':
                log.info(text)
            else:
                log.debug(text)

    def _log_drops(self) -> None:
        """Log (throttled) how many frames were superseded or lost since the last such line."""
        now = time.monotonic()
        for v, st in enumerate(self.store.states()):
            last_sup, last_lost = self._last_drop_counts[v]
            d_sup, d_lost = st.superseded - last_sup, st.lost - last_lost
            if (d_sup or d_lost) and self._throttle.check(f'drops{v}', now, 10.0)[0]:
                parts = []
                if d_sup and not st.enabled:
                    parts.append(f'{d_sup} frame(s) ignored (view disabled: {st.disabled_reason})')
                elif d_sup:
                    parts.append(f'{d_sup} frame(s) dropped unused (only the latest frame is kept; input is '
                                 'faster than inference)')
                if d_lost:
                    parts.append(f'{d_lost} frame(s) lost in transport (publisher sequence gaps)')
                if d_lost:
                    self.get_logger().warning(f'camera {st.name}: ' + '; '.join(parts))
                else:
                    self.get_logger().info(f'camera {st.name}: ' + '; '.join(parts))
                self._last_drop_counts[v] = (st.superseded, st.lost)


def main(args=None) -> int:
    """Entry point of the ``sync_node`` executable (console script and ``python -m vsync_ros.ros.sync_node``)."""
    # the node logs the pipeline's warnings itself (device fall-back, fail-over notes) through rclpy
    logging.getLogger('vsync_ros.inference.pipeline').setLevel(logging.ERROR)
    return run_node('sync_node', SyncNode, args, description=__doc__.split('\n\n')[0], parameters=PARAMETERS.values())


if __name__ == '__main__':
    raise SystemExit(main())
