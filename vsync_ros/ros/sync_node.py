"""``sync_node``: fuse unsynchronized camera streams into a ground-plane density map and a count.

Subscribes (QoS ``image_qos``: sensor_data by default; latest frame per view kept):
    <camera_topics[i]>        sensor_msgs/Image (rgb8, bgr8 or mono8)
    <camera_info_topics[i]>   sensor_msgs/CameraInfo (optional; checked against the model's calibration)
Publishes (stamped with the reference frame's stamp, frame ``output_frame_id``):
    ~/density          sensor_msgs/Image 32FC1, people per ground cell (rows +y, columns +x)
    ~/density_color    sensor_msgs/Image rgb8, colour-mapped density for RViz; a degraded estimate has a
                       magenta border and hatching
    ~/count            std_msgs/Float32
    ~/count_stamped    geometry_msgs/PointStamped (point.x = count; for stamp-exact evaluation)
    ~/estimate_status  diagnostic_msgs/DiagnosticArray, one per estimate, header = the outputs' header;
                       one status (level ERROR when degraded) with values degraded (true/false), reason,
                       reference, model_reference, views_fused, views_missing, published
    ~/skeleton         visualization_msgs/MarkerArray (pose task): per person a SPHERE_LIST of the 17 joints
                       (ns skeleton_joints) and a LINE_LIST of the bones (ns skeleton_bones), id = person
    ~/joints           geometry_msgs/PoseArray (pose task): 17 poses per person, person-major in the
                       Human3.6M joint order (vsync_ros.data.skeleton); position = joint in metres in
                       ``output_frame_id``, orientation identity (joints carry no orientation)
    ~/markers          visualization_msgs/MarkerArray, camera frusta and ground region (transient local)
    /diagnostics       diagnostic_msgs/DiagnosticArray for the aggregator (also on ~/diagnostics); status
                       names '<node>: camera <cam>', '<node>: model', '<node>: estimate'

Lifecycle (managed node, standard lifecycle services: ``ros2 lifecycle get/set /sync_node``):
configure loads the checkpoint and calibration (a bad file or inconsistent parameters leave the node
unconfigured, the reason logged and on /diagnostics), activate subscribes and publishes, deactivate
stops the subscriptions and outputs, cleanup releases the model. With ``autostart`` (default) the node
configures and activates itself at start-up, so ``ros2 run`` just runs.

Fault behaviour is documented in :mod:`vsync_ros.runtime.sync_core` (degraded estimates:
:mod:`vsync_ros.runtime.degraded`). The ROS-free logic lives in ``SyncCore`` / ``FrameStore``; this
module only wires it to rclpy.

A missing checkpoint file does not stop the node: configure succeeds without a model, logs an error
saying where it looked and how to get a model, reports ERROR on /diagnostics, looks for the file again
every ``model_retry_period_s`` and starts working as soon as it appears.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import re
import time

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped, PoseArray
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_policy_name_from_kind
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32, Header
from visualization_msgs.msg import MarkerArray

from vsync_ros import paths
from vsync_ros.engine.fallback_rule import FALLBACK_WHEN
from vsync_ros.geometry import CalibrationError
from vsync_ros.inference.api import TASKS, FramePipeline
from vsync_ros.inference.loading import open_pipeline
from vsync_ros.reports.colormap import COLORMAPS, colorize_density
from vsync_ros.ros.diagnostics import (
    estimate_status,
    lifecycle_status,
    no_model_status,
    node_status,
    to_diagnostic_array,
    view_status,
)
from vsync_ros.ros.image_conversion import image_to_rgb, make_image_msg
from vsync_ros.ros.image_qos import IMAGE_QOS, SYNC_POLICIES, image_qos_profile, incompatible_qos_text, no_frame_hint
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
from vsync_ros.runtime.calibration_check import check_calibration, check_camera_info, load_and_check, rig_region_problem
from vsync_ros.runtime.degraded import DEGRADED_OUTPUTS, mark_degraded
from vsync_ros.runtime.frame_store import FrameStore
from vsync_ros.runtime.images import check_image
from vsync_ros.runtime.rig_folder import deployment_rig
from vsync_ros.runtime.sync_core import TRIGGERS, LogThrottle, StepOutcome, SyncCore
from vsync_ros.runtime.work_thread import WorkThread

DEVICE_RE = re.compile(r'^(auto|cpu|cuda(:\d+)?)$')
BACKENDS = ('auto', 'numpy', 'cv_bridge')
DEFAULT_TOPICS = ['/cam1/image_raw', '/cam2/image_raw', '/cam3/image_raw']

PARAMETERS = parameter_table(
    ParameterSpec('autostart', Parameter.Type.BOOL, True,
                  'Configure and activate at start-up (true: ros2 run just runs); false: wait for lifecycle '
                  'transitions (ros2 lifecycle set <node> configure / activate).'),
    ParameterSpec('task', Parameter.Type.STRING, 'counting', 'Task of the model: counting or pose.',
                  choices=TASKS),
    ParameterSpec('camera_topics', Parameter.Type.STRING_ARRAY, DEFAULT_TOPICS,
                  'Image topic per view, in the order of the model\'s cameras.'),
    ParameterSpec('image_qos', Parameter.Type.STRING, 'sensor_data',
                  'QoS of the image and CameraInfo subscriptions: sensor_data (best effort), reliable (needs a '
                  'reliable publisher; use it for large frames) or system_default.', choices=IMAGE_QOS),
    ParameterSpec('image_qos_depth', Parameter.Type.INTEGER, 5, 'History depth (keep last) of image_qos.',
                  value_range=(1, 1000)),
    ParameterSpec('no_frame_warn_s', Parameter.Type.DOUBLE, 5.0,
                  'After activation, a camera topic with publishers but no frame for this long (seconds) is '
                  'reported with what to try (QoS, large-frame transport).', value_range=(0.1, 3600.0)),
    ParameterSpec('sync_policy', Parameter.Type.STRING, 'latest',
                  'latest: keep the latest frame per view (unsynchronized cameras); approximate: '
                  'message_filters ApproximateTimeSynchronizer on the header stamps (queue 10, slop_s; needs '
                  'message_filters and trustworthy stamps; no output while any camera is missing).',
                  choices=SYNC_POLICIES),
    ParameterSpec('slop_s', Parameter.Type.DOUBLE, 0.05,
                  'sync_policy approximate: largest stamp difference within a set, seconds.',
                  value_range=(0.0, 60.0)),
    ParameterSpec('camera_info_topics', Parameter.Type.STRING_ARRAY, [],
                  'Optional CameraInfo topic per view (empty: not used). Each CameraInfo is checked '
                  'against the model calibration; a malformed or disagreeing one disables the view.'),
    ParameterSpec('calibration_files', Parameter.Type.STRING_ARRAY, [],
                  'Optional calibration YAML per view (camera_info + extrinsics; absolute, relative to '
                  'the package share dir, or package://vsync_ros/...). Checked against the model.'),
    ParameterSpec('rig', Parameter.Type.STRING, '',
                  'Optional rig folder (rig.yaml + cameras/, from vsync-rig import; absolute, relative to the '
                  'working or share directory, or package://vsync_ros/...) or preset (plaza, studio): its cameras, '
                  'in view order, are the deployment calibration, checked against the model as calibration_files '
                  '(which are then ignored), and its ground region must be the model\'s (counting). '
                  'counting.launch.py rig:=DIR also sets camera_topics and camera_info_topics to '
                  '/<camera>/image_raw and /<camera>/camera_info. Empty: not used.'),
    ParameterSpec('reference_view', Parameter.Type.INTEGER, 0, 'Index of the reference view (0-based).',
                  value_range=(0, 63)),
    ParameterSpec('failover_order', Parameter.Type.INTEGER_ARRAY, [],
                  'View indices to try, in order, when the reference is stale (default: the others in '
                  'index order).'),
    ParameterSpec('checkpoint', Parameter.Type.STRING, '',
                  'Model checkpoint (absolute, relative to the share dir, or package://vsync_ros/...); empty = the '
                  'shipped model (counting: models/plaza_cls_epi.pt). While the file is missing the node stays up, '
                  'reports it and looks again every model_retry_period_s.'),
    ParameterSpec('fallback_checkpoint', Parameter.Type.STRING, '',
                  'Counting: a second checkpoint of the same rig and ground grid (e.g. models/plaza_base_u.pt, a base '
                  'model trained with view dropout) that estimates the frame sets fallback_when selects; such '
                  'estimates are flagged degraded and their note names the fallback model. Empty: none.'),
    ParameterSpec('fallback_when', Parameter.Type.STRING, 'reference',
                  'With fallback_checkpoint: reference = while the model\'s reference view has no usable frame '
                  '(fail-over); any_missing = while any view has no usable frame.', choices=FALLBACK_WHEN),
    ParameterSpec('model_retry_period_s', Parameter.Type.DOUBLE, 5.0,
                  'While the checkpoint file is missing, look for it again at this period.',
                  value_range=(0.1, 3600.0)),
    ParameterSpec('device', Parameter.Type.STRING, 'auto', 'Inference device: auto, cpu, cuda or cuda:N.'),
    ParameterSpec('max_frame_age_s', Parameter.Type.DOUBLE, 1.0,
                  'A view whose latest frame arrived longer ago than this is stale (not used; a stale '
                  'reference fails over).', dynamic=True, value_range=(0.01, 3600.0)),
    ParameterSpec('reference_grace_s', Parameter.Type.DOUBLE, 3.0,
                  'After activation, wait this long (seconds) for the reference view\'s first frame before '
                  'failing over to another view (cameras start in any order).', value_range=(0.0, 3600.0)),
    ParameterSpec('degraded_output', Parameter.Type.STRING, 'mark',
                  'Estimates the model was not trained for (a view missing or stale, or a fail-over '
                  'reference): mark = publish flagged on ~/estimate_status with a marked colour image; '
                  'suppress = do not publish density / count while degraded.', choices=DEGRADED_OUTPUTS),
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
    ParameterSpec('diagnostics_period_s', Parameter.Type.DOUBLE, 1.0, 'Period of /diagnostics, seconds.',
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


def message_filters_available() -> bool:
    """True when the ``message_filters`` Python package can be imported (needed by sync_policy approximate)."""
    return importlib.util.find_spec('message_filters') is not None


SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class SyncNode(LifecycleNode):
    """The sync node around a :class:`SyncCore`, as a managed (lifecycle) node.

    Pass ``pipeline`` to inject a model (tests, bag evaluation); otherwise configure loads it from the
    ``checkpoint`` / ``device`` parameters.

    Raises (from the constructor, after logging): ``ValueError`` for parameters that are invalid in
    themselves (device, choices, sync_policy approximate without message_filters) or inconsistent with
    an injected ``pipeline``. A checkpoint or calibration that cannot be used is not raised: configure
    fails and the node stays unconfigured (``configure_problem`` says why). A checkpoint file that does
    not exist yet is waited for (``core`` and the outputs exist once the model is loaded).
    """

    def __init__(self, pipeline: FramePipeline | None = None, node_name: str = 'sync_node', **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._destroying = False
        self._worker: WorkThread | None = None
        self._throttle = LogThrottle(5.0)
        try:
            self._setup(pipeline)
        except Exception:
            self.destroy_node()
            raise
        if self._initial_params['autostart'] and self.trigger_configure() == SUCCESS:
            self.trigger_activate()

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
        if pipeline is not None:
            self._check_pipeline(pipeline, p)
        self._initial_params = p
        self._injected = pipeline
        self.task = p['task']
        self.device = p['device']
        self.device_used = p['device']
        self.pipeline: FramePipeline | None = None
        self.core: SyncCore | None = None
        self.store: FrameStore | None = None
        self.outputs = 0
        self.lifecycle_state = 'unconfigured'
        self.configure_problem = ''
        self._active = False
        self._activated_at = time.monotonic()
        self._retry_timer = None
        self._waiting = False
        self._model_problem = ''
        self._failed_mtime: float | None = None
        self._io: list = []  # subscriptions and timers of the active state
        self._out_pubs: list = []  # lifecycle publishers of the configured state
        self._mf_sync = None
        self.image_subs: list = []
        self.info_subs: list = []
        self._hints: dict[int, str] = {}
        self._qos_problems: dict[int, str] = {}
        self.checkpoint_path = self._checkpoint_path(p)
        diag_qos = QoSProfile(depth=10)
        self.pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', diag_qos)
        self.pub_diag_local = self.create_publisher(DiagnosticArray, '~/diagnostics', diag_qos)
        add_parameter_callbacks(self, PARAMETERS, self._apply_parameters)
        self.create_timer(p['diagnostics_period_s'], self._on_diagnostics_timer)

    def _checkpoint_path(self, p: dict):
        return paths.resolve(p['checkpoint']) if p['checkpoint'] else paths.default_checkpoint(p['task'])

    def _params(self) -> dict:
        """Parameter values: the start-up ones, with the dynamic ones as they are now.

        (Dynamic parameters may change while the node waits for its model or a lifecycle transition.)
        """
        p = dict(self._initial_params)
        p.update(read_parameters(self, (spec for spec in PARAMETERS.values() if spec.dynamic)))
        return p

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
        if p['sync_policy'] == 'approximate' and not message_filters_available():
            raise ValueError('sync_policy approximate needs the message_filters package (ApproximateTimeSynchronizer), '
                             'which cannot be imported here (install ros-<distro>-message-filters or source a ROS '
                             'installation that has it); use sync_policy latest (the default)')

    def _check_pipeline(self, pipeline: FramePipeline, p: dict) -> list[int]:
        """Check the parameters against the model; returns the reference order. Raises ValueError."""
        if pipeline.task != p['task']:
            raise ValueError(f'parameter task is {p["task"]!r} but the model does {pipeline.task!r}')
        n = len(pipeline.cameras)
        topics = list(p['camera_topics'])
        if len(topics) != n:
            raise ValueError(f'camera_topics lists {len(topics)} topics but the model has {n} cameras '
                             f'({", ".join(c.name for c in pipeline.cameras)})')
        for key in ('camera_info_topics',) if p['rig'] else ('camera_info_topics', 'calibration_files'):
            if p[key] and len(p[key]) != n:
                raise ValueError(f'{key} must be empty or list one entry per camera ({n}), got {len(p[key])}')
        ref = int(p['reference_view'])
        if ref >= n:
            raise ValueError(f'reference_view {ref} is out of range for {n} cameras')
        others = [int(v) for v in p['failover_order']] or [v for v in range(n) if v != ref]
        bad = [v for v in others if not 0 <= v < n]
        if bad:
            raise ValueError(f'failover_order lists views {bad} out of range for {n} cameras')
        return [ref] + [v for v in others if v != ref]

    # ------------------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model (injected, or checkpoint + calibration files); failure leaves the node unconfigured."""
        self.configure_problem = ''
        try:
            p = self._params()
            if self._injected is not None:
                self._build(self._injected)
            elif not self.checkpoint_path.is_file():
                self._wait_for_model(p)
            else:
                self._build(self._load_pipeline(p))
        except Exception as exc:  # noqa: BLE001 - any problem: stay unconfigured, alive, with the reason
            self.configure_problem = str(exc) if isinstance(exc, (ValueError, RuntimeError)) else \
                f'{type(exc).__name__}: {exc}'
            self._release()
            self.get_logger().error(f'configure failed, the node stays unconfigured: {self.configure_problem}. '
                                    'Fix it and configure again (ros2 lifecycle set <node> configure).')
            return FAILURE
        ret = super().on_configure(state)
        if ret == SUCCESS:
            self.lifecycle_state = 'inactive'
        return ret

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Enable the outputs and subscribe to the cameras (once the model is loaded)."""
        ret = super().on_activate(state)
        if ret != SUCCESS:
            return ret
        self._active = True
        self.lifecycle_state = 'active'
        if self.core is not None:
            self._start_io()
        return SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop publishing (the model stays loaded)."""
        self._active = False
        self._stop_io()
        self.lifecycle_state = 'inactive'
        self.get_logger().info('deactivated: no subscriptions, no output')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the model, the inference thread and the outputs."""
        self._release()
        self.lifecycle_state = 'unconfigured'
        self.get_logger().info('cleaned up: model released')
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything (from any primary state)."""
        self._active = False
        self._release()
        self.lifecycle_state = 'finalized'
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: release everything and go back to unconfigured."""
        self._active = False
        self._release()
        self.lifecycle_state = 'unconfigured'
        return SUCCESS

    def _release(self) -> None:
        """Undo configure (and activate): subscriptions, timers, inference thread, publishers, model."""
        self._stop_io()
        if self._worker is not None:
            if not self._worker.stop(10.0):
                self.get_logger().warning('the inference thread did not stop within 10 s')
            self._worker = None
        for pub in self._out_pubs:
            self.destroy_lifecycle_publisher(pub)
        self._out_pubs = []
        if self._retry_timer is not None:
            self.destroy_timer(self._retry_timer)
            self._retry_timer = None
        self._waiting = False
        self.core, self.store, self.pipeline = None, None, None

    # ------------------------------------------------------------------------------ model
    def _wait_for_model(self, p: dict) -> None:
        """Stay up without a model: log how to get one, report on /diagnostics, look for the file periodically."""
        self._model_problem = f'no model: checkpoint {self.checkpoint_path} does not exist'
        hint = ('train one with vsync-train (README: Training; e.g. vsync-train --config '
                'config/train/small_cls_epi.yaml train.out=models/plaza_cls_epi.pt) or set the checkpoint parameter'
                if self.task == 'counting' else 'set the checkpoint parameter')
        self.get_logger().error(f'{self._model_problem}; {hint}. Waiting for it (checking every '
                                f'{p["model_retry_period_s"]:g} s); no output until then.')
        self._waiting = True
        self._failed_mtime = None
        self._retry_timer = self.create_timer(float(p['model_retry_period_s']), self._on_retry_model)

    @_guarded
    def _on_retry_model(self) -> None:
        if self.core is not None or not self._waiting:
            return
        path = self.checkpoint_path
        if not path.is_file():
            return
        mtime = path.stat().st_mtime
        if mtime == self._failed_mtime:
            return  # this version of the file was refused already; wait for a new one
        try:
            self._build(self._load_pipeline(self._params()))
        except (ValueError, RuntimeError) as exc:
            self._failed_mtime = mtime
            self._model_problem = f'cannot use checkpoint {path}: {exc}'
            self.get_logger().error(f'{self._model_problem}; waiting for another version of the file')
            return
        if self._retry_timer is not None:
            self.destroy_timer(self._retry_timer)
            self._retry_timer = None
        self._waiting = False
        self._model_problem = ''
        if self._active:
            for pub in self._out_pubs:
                pub.on_activate(None)  # created after activation: enable them as activate would have
            self._start_io()
        self.get_logger().info(f'checkpoint {path} appeared: model loaded, '
                               + ('running' if self._active else 'waiting for activation'))

    def _load_pipeline(self, p: dict) -> FramePipeline:
        ckpt = str(self._checkpoint_path(p))
        cameras = None
        if p['rig']:
            try:
                cameras, region, label = deployment_rig(p['rig'])
            except ValueError as exc:  # CalibrationError included: names the file and the field
                raise RuntimeError(f'rig not usable: {exc}') from exc
            if p['calibration_files']:
                self.get_logger().info(f'calibration from rig {label}; calibration_files ignored')
            self.get_logger().info(f'loading {ckpt} on device {p["device"]} for rig {label} '
                                   f'({", ".join(c.name for c in cameras)})')
            pipeline = open_pipeline(ckpt, device=p['device'], task=p['task'], cameras=cameras,
                                     tolerance_px=float(p['calibration_tolerance_px']))
            problem = rig_region_problem(pipeline, region)
            if problem:
                raise RuntimeError(f'rig {label} does not match checkpoint {ckpt}: {problem}. Retrain on this rig '
                                   'or give the ground region the model was trained with (vsync-rig import --region)')
            return self._with_fallback(pipeline, p)
        if p['calibration_files']:
            from vsync_ros.geometry import load_cameras
            try:
                cameras = load_cameras([paths.resolve(f) for f in p['calibration_files']])
            except CalibrationError as exc:
                raise RuntimeError(f'calibration files not usable: {exc}') from exc
        self.get_logger().info(f'loading {ckpt} on device {p["device"]}')
        return self._with_fallback(open_pipeline(ckpt, device=p['device'], task=p['task'], cameras=cameras,
                                                 tolerance_px=float(p['calibration_tolerance_px'])), p)

    def _with_fallback(self, primary: FramePipeline, p: dict) -> FramePipeline:
        """``primary`` paired with the fallback_checkpoint model, or ``primary`` alone.

        A fallback that cannot serve (missing or unreadable file, another rig or ground grid, a pose node) is
        not used: an error names the file and the reason, the node runs the primary model alone, and
        /diagnostics shows it (``fallback_model``).
        """
        self.fallback_problem = ''
        if not p['fallback_checkpoint']:
            return primary
        path = str(paths.resolve(p['fallback_checkpoint']))
        try:
            if p['task'] != 'counting':
                raise ValueError(f'it serves counting models and the task is {p["task"]!r}')
            self.get_logger().info(f'loading fallback model {path} (fallback_when {p["fallback_when"]})')
            backup = open_pipeline(path, device=p['device'], task='counting')
            from vsync_ros.inference.fallback import FallbackPipeline  # torch is loaded by now
            return FallbackPipeline(primary, backup, p['fallback_when'])
        except Exception as exc:  # noqa: BLE001 - the primary model still runs
            self.fallback_problem = f'fallback_checkpoint {path} not used: {exc}'
            self.get_logger().error(f'{self.fallback_problem}; running without a fallback model (frame sets with a '
                                    'camera missing are estimated by the primary model, flagged degraded)')
            return primary

    def _build(self, pipeline: FramePipeline) -> None:
        """Everything that needs the model but no traffic: frame store, core, inference thread, publishers."""
        p = self._params()
        order = self._check_pipeline(pipeline, p)
        self.pipeline = pipeline
        n = len(pipeline.cameras)
        self.topics = list(p['camera_topics'])
        self.names = [c.name for c in pipeline.cameras]
        self.store = FrameStore(self.names, p['max_frame_age_s'], order, self.topics,
                                grace_s=float(p['reference_grace_s']))
        self.store.note_time(self._now())
        self.backend = p['image_backend']
        self.resize_input = bool(p['resize_input'])
        self.frame_id = p['output_frame_id']
        self.colormap, self.color_max = p['colormap'], float(p['color_max'])
        self.marker_range_m = float(p['marker_range_m'])
        self.tolerance_px = float(p['calibration_tolerance_px'])
        self.image_qos = p['image_qos']
        # the device the model really runs on (the pipeline resolves 'auto' and CUDA fall-backs)
        self.device_used = str(getattr(pipeline, 'device', 'unknown (injected pipeline without a device)'))
        self._last_drop_counts = [(0, 0)] * n
        self._markers_ref: int | None = -1
        self._skeleton_count = 0
        self._info_seen: list[tuple | None] = [None] * n

        out_qos = QoSProfile(depth=5)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        make = self.create_lifecycle_publisher
        self.pub_density = make(Image, '~/density', out_qos)
        self.pub_color = make(Image, '~/density_color', out_qos)
        self.pub_count = make(Float32, '~/count', out_qos)
        self.pub_count_stamped = make(PointStamped, '~/count_stamped', out_qos)
        self.pub_estimate = make(DiagnosticArray, '~/estimate_status', QoSProfile(depth=10))
        self.pub_markers = make(MarkerArray, '~/markers', latched)
        self._out_pubs = [self.pub_density, self.pub_color, self.pub_count, self.pub_count_stamped,
                          self.pub_estimate, self.pub_markers]
        self.pub_skeleton = self.pub_joints = None
        if self.task == 'pose':
            self.pub_skeleton = make(MarkerArray, '~/skeleton', out_qos)
            self.pub_joints = make(PoseArray, '~/joints', out_qos)
            self._out_pubs += [self.pub_skeleton, self.pub_joints]

        # the core last: callbacks (parameters, retry timer, diagnostics) treat core != None as "configured"
        core = SyncCore(pipeline, self.store, self._convert, self._check, int(p['min_views']), p['trigger'],
                        p['degraded_output'])
        self._worker = WorkThread({'work': self._on_work, 'diagnostics': self._on_diagnostics},
                                  name=f'{self.get_name()}_inference')
        self.core = core
        self._check_calibration_files(p['calibration_files'], p['rig'])
        describe = getattr(pipeline, 'describe', None)
        if callable(describe):
            self.get_logger().info(f'model: {describe()}')
        if getattr(pipeline, 'device_note', ''):
            self.get_logger().warning(pipeline.device_note)
        ref = order[0]
        if core.model_reference != ref:
            self.get_logger().warning(
                f'reference_view is {self.names[ref]} but the model was trained with reference '
                f'{self.names[core.model_reference]}: every estimate around {self.names[ref]} is degraded')
        self.get_logger().info(
            f'{self.task}: {n} views ({", ".join(f"{nm} <- {t}" for nm, t in zip(self.names, self.topics))}), '
            f'reference order {[self.names[v] for v in order]}, trigger {p["trigger"]}, sync_policy '
            f'{p["sync_policy"]}, image_qos {p["image_qos"]}, max frame age {p["max_frame_age_s"]:g} s, '
            f'reference grace {p["reference_grace_s"]:g} s, degraded_output {p["degraded_output"]}, '
            f'device {self.device_used}, output frame {self.frame_id!r}')

    def _check_calibration_files(self, files: list[str], rig_value: str = '') -> None:
        """Disable the views whose deployment calibration (rig folder, else calibration files) disagrees.

        A rig whose camera count or ground region is not the model's raises ValueError (configure fails).
        """
        if rig_value:
            cameras, region, label = deployment_rig(rig_value)
            if len(cameras) != len(self.pipeline.cameras):
                raise ValueError(f'rig {label} has {len(cameras)} cameras ({", ".join(c.name for c in cameras)}), '
                                 f'the model {len(self.pipeline.cameras)}')
            problem = rig_region_problem(self.pipeline, region)
            if problem:
                raise ValueError(f'rig {label}: {problem}')
            for v, cam in enumerate(cameras):
                reason = check_calibration(cam, self.pipeline.cameras[v], self.pipeline.region, self.tolerance_px)
                if reason:
                    self.core.set_view_enabled(v, False, f'rig {label} camera {cam.name}: {reason}')
            self._log_events()
            return
        for v, f in enumerate(files):
            path = paths.resolve(f)
            _, reason = load_and_check(path, self.pipeline.cameras[v], self.pipeline.region, self.tolerance_px)
            if reason:
                self.core.set_view_enabled(v, False, f'calibration {path}: {reason}')
        self._log_events()

    # ------------------------------------------------------------------------------ active state
    def _start_io(self) -> None:
        """Subscribe to the cameras, start the trigger timer, publish the scene markers (activate)."""
        p = self._params()
        qos = image_qos_profile(p['image_qos'], p['image_qos_depth'])
        self.store.restart_grace(self._now())  # the reference's start-up grace counts from activation
        self._activated_at = time.monotonic()
        self._hints, self._qos_problems = {}, {}

        def events(view: int, topic: str) -> SubscriptionEventCallbacks:
            on_qos = functools.partial(self._on_incompatible_qos, view, topic)
            return SubscriptionEventCallbacks(incompatible_qos=on_qos)

        if p['sync_policy'] == 'approximate':
            import message_filters  # checked at construction (message_filters_available)
            subs = [message_filters.Subscriber(self, Image, t, qos_profile=qos, event_callbacks=events(v, t))
                    for v, t in enumerate(self.topics)]
            self._mf_sync = message_filters.ApproximateTimeSynchronizer(subs, 10, float(p['slop_s']))
            self._mf_sync.registerCallback(self._on_image_set)
            self.image_subs = [s.sub for s in subs]
        else:
            self.image_subs = [self.create_subscription(Image, t, functools.partial(self._on_image, v), qos,
                                                        event_callbacks=events(v, t))
                               for v, t in enumerate(self.topics)]
        self.info_subs = [self.create_subscription(CameraInfo, t, functools.partial(self._on_camera_info, v), qos)
                          for v, t in enumerate(p['camera_info_topics'])]
        self._io += self.image_subs + self.info_subs
        if p['trigger'] == 'timer':
            request = functools.partial(self._worker.request, 'work')
            self._io.append(self.create_timer(1.0 / p['timer_rate_hz'], request))
        self._publish_scene_markers(None)
        self.get_logger().info(f'active: subscribed to {len(self.topics)} camera topics (image_qos {p["image_qos"]})')

    def _stop_io(self) -> None:
        for entity in self._io:
            if isinstance(entity, Timer):
                self.destroy_timer(entity)
            else:
                self.destroy_subscription(entity)
        self._io, self.image_subs, self.info_subs = [], [], []
        self._mf_sync = None

    # ------------------------------------------------------------------------------ callbacks
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _check(self, msg, size_wh) -> None:
        check_image(msg, size_wh, self.resize_input)

    def _convert(self, msg, size_wh):
        return image_to_rgb(msg, size_wh, self.backend)

    @_guarded
    def _on_image(self, view: int, msg: Image, info) -> None:
        core = self.core
        if core is None or not self._active:
            return
        seq = None
        if info is not None:
            s = info.get('publication_sequence_number') if isinstance(info, dict) else None
            seq = int(s) if s is not None and 0 < int(s) < 2 ** 63 else None
        trigger = core.accept(view, msg, stamp_to_ns(msg.header.stamp), self._now(), seq)
        self._log_events()
        if trigger:
            self._worker.request('work')

    @_guarded
    def _on_image_set(self, *msgs: Image) -> None:
        """sync_policy approximate: one frame per view with matching stamps (ApproximateTimeSynchronizer)."""
        core = self.core
        if core is None or not self._active:
            return
        now = self._now()
        trigger = False
        for view, msg in enumerate(msgs):
            trigger |= core.accept(view, msg, stamp_to_ns(msg.header.stamp), now)
        self._log_events()
        if trigger:
            self._worker.request('work')

    @_guarded
    def _on_incompatible_qos(self, view: int, topic: str, event) -> None:
        policy = qos_policy_name_from_kind(event.last_policy_kind)
        text = incompatible_qos_text(topic, policy, self.image_qos)
        self._qos_problems[view] = text
        if self._throttle.check(f'qos{view}:{policy}', time.monotonic(), 30.0)[0]:
            self.get_logger().error(f'camera {self.names[view]}: {text}')

    @_guarded
    def _on_camera_info(self, view: int, msg: CameraInfo) -> None:
        if self.core is None:
            return
        sig = (msg.width, msg.height, msg.distortion_model, tuple(msg.k), tuple(msg.d))
        if sig == self._info_seen[view]:
            return
        self._info_seen[view] = sig
        reason = check_camera_info(msg, self.pipeline.cameras[view], self.pipeline.region, self.tolerance_px)
        self.core.set_view_enabled(view, not reason, f'CameraInfo: {reason}' if reason else '')
        self._log_events()

    @_guarded
    def _on_work(self) -> None:
        core = self.core
        if core is None or not self._active:
            return
        outcome = core.step(self._now(), require_new=True)
        if outcome.status == 'ok':
            self._publish(outcome)
        self._log_events()
        if core.active_ref != self._markers_ref:
            self._publish_scene_markers(core.active_ref)

    def _update_hints(self) -> None:
        """(Executor thread: graph queries.) Explain camera topics that have publishers but deliver nothing."""
        waited = time.monotonic() - self._activated_at
        limit = float(self.get_parameter('no_frame_warn_s').value)
        for v, st in enumerate(self.store.states()):
            problem = self._qos_problems.get(v, '')
            if st.received or st.rejected:
                self._hints[v] = ''
                continue
            if waited < limit and not problem:
                continue
            infos = self.get_publishers_info_by_topic(self.topics[v])
            reliable = [i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos]
            hint = no_frame_hint(self.topics[v], waited, reliable, self.image_qos, problem)
            self._hints[v] = hint
            if infos and self._throttle.check(f'noframe{v}', time.monotonic(), 30.0)[0]:
                self.get_logger().warning(f'camera {self.names[v]}: {hint}')

    @_guarded
    def _on_diagnostics_timer(self) -> None:
        """Executor thread: hints (graph queries), then the diagnostics job (or the not-running status)."""
        if self.core is not None and self._active:
            self._update_hints()
            self._worker.request('diagnostics')
            return
        if self._waiting:
            status = no_model_status(self.get_name(), self._model_problem, str(self.checkpoint_path),
                                     float(self.get_parameter('model_retry_period_s').value))
            status.values['lifecycle_state'] = self.lifecycle_state
        else:
            status = lifecycle_status(self.get_name(), self.lifecycle_state, self.configure_problem)
        self._publish_diagnostics([status])

    def _publish_diagnostics(self, statuses: list) -> None:
        arr = to_diagnostic_array(statuses, Header(stamp=self.get_clock().now().to_msg()))
        self.pub_diag.publish(arr)
        self.pub_diag_local.publish(arr)

    @_guarded
    def _on_diagnostics(self) -> None:
        core, store = self.core, self.store
        if core is None or not self._active:
            return
        now = self._now()
        core.update_state(now)
        self._log_drops()
        self._log_events()
        states = store.states()
        ref = core.active_ref
        ref_stamp = store.latest(ref).stamp_ns if ref is not None and store.latest(ref) else None
        statuses = [view_status(st, now, store.max_age_s, ref_stamp, self.get_name(), v == ref,
                                self._hints.get(v, ''))
                    for v, st in enumerate(states)]
        model = node_status(core.stats, ref, store.reference_order[0], self.names, self.get_name(), core.trigger,
                            self.device_used, self.outputs, core.last_note, self.lifecycle_state)
        fallback = getattr(self.pipeline, 'fallback', None)
        if fallback is not None:
            model.values['fallback_model'] = f'{fallback.method} ({fallback.checkpoint}) when {self.pipeline.when}'
            model.values['fallback_runs'] = str(self.pipeline.fallback_runs)
        elif getattr(self, 'fallback_problem', ''):
            model.values['fallback_model'] = f'none: {self.fallback_problem}'
        statuses.append(model)
        statuses.append(estimate_status(core.stats.last_estimate, self.names, self.get_name(),
                                        core.degraded_output, core.stats.degraded_estimates,
                                        core.stats.suppressed_estimates))
        self._publish_diagnostics(statuses)
        if core.active_ref != self._markers_ref:
            self._publish_scene_markers(core.active_ref)

    def _apply_parameters(self, changed: dict) -> None:
        """Post-set callback: make the dynamic parameters just stored by rclpy take effect.

        Validation happened in the on-set callback (:func:`vsync_ros.ros.parameters.validate_change`), so
        the values are allowed. Without a model nothing is applied: :meth:`_params` reads them at configure.
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
        est = outcome.estimate
        header = self._header(outcome.stamp_ns)
        if est is not None:
            status = estimate_status(est, self.names, self.get_name(), self.core.degraded_output)
            self.pub_estimate.publish(to_diagnostic_array([status], header))
            if not est.published:
                return
        degraded = est is not None and est.degraded
        self.pub_density.publish(make_image_msg(res.density, '32FC1', header))
        color = colorize_density(res.density, self.color_max, self.colormap)
        self.pub_color.publish(make_image_msg(mark_degraded(color) if degraded else color, 'rgb8', header))
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
        core = self.core
        if core is None:
            return
        now = time.monotonic()
        log = self.get_logger()
        for ev in core.drain_events():
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
