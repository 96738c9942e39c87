"""rosbag2 files of unsynchronized camera streams: write them, read them, evaluate offline (no ROS needed).

Bags are written with the pure-Python ``rosbags`` library (mcap or sqlite3, rosbag2 format 9):

* ``/<camera>/image_raw`` (sensor_msgs/Image) and ``/<camera>/camera_info`` (sensor_msgs/CameraInfo)
  per published frame, logged at the frame's publication time (stamp + latency + jitter);
* ``/ground_truth/count`` (geometry_msgs/PointStamped, point.x = people) and ``/ground_truth/density``
  (sensor_msgs/Image 32FC1) at each reference time; for pose worlds and data sets also
  ``/ground_truth/joints`` (geometry_msgs/PoseArray, 17 joints per person, person-major: the layout of
  the sync node's ``~/joints``);
* metadata ``custom_data`` ``vsync.*`` keys: camera topics and names, reference view, rate, profile, and
  ``vsync.outages`` when a camera stops during the recording (a view's ``stop_s``: a JSON list of
  :class:`~vsync_ros.runtime.bag_metrics.Outage`; not written without outages).

Metadata ``vsync.task`` is ``pose`` when the bag has joint ground truth, else ``counting``.
The offline evaluation reads the bag in log-time order and drives the same ``FrameStore`` /
``SyncCore`` as the node, with the bag log time as the clock: deterministic, and identical choices
(staleness, fail-over) to a live replay at rate 1 with instantaneous inference. Its report splits the
estimates into nominal / degraded and before / after an outage
(:func:`~vsync_ros.runtime.bag_metrics.segment_metrics`).
"""
from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from vsync_ros.inference.api import FramePipeline
from vsync_ros.runtime.bag_metrics import Outage, count_metrics, pose_metrics, segment_metrics
from vsync_ros.runtime.frame_store import FrameStore
from vsync_ros.runtime.images import check_image, fill_image_msg, image_to_rgb
from vsync_ros.runtime.messages import (
    GT_COUNT_TOPIC,
    GT_DENSITY_TOPIC,
    GT_JOINTS_TOPIC,
    IMAGE_TOPIC_FORMAT,
    INFO_TOPIC_FORMAT,
    camera_info_fields,
    encode_rgb,
    joint_positions,
    positions_to_joints,
    topic_for,
)
from vsync_ros.runtime.schedules import DesyncProfile, schedule
from vsync_ros.runtime.sources import FrameSource
from vsync_ros.runtime.sync_core import SyncCore

STORAGES = ('mcap', 'sqlite3')
IMAGE_TYPE = 'sensor_msgs/msg/Image'
INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
POINT_TYPE = 'geometry_msgs/msg/PointStamped'
POSE_ARRAY_TYPE = 'geometry_msgs/msg/PoseArray'


@lru_cache(maxsize=1)
def typestore():
    """The rosbags type store used for all bags (ROS 2 Kilted definitions)."""
    from rosbags.typesys import Stores, get_typestore
    return get_typestore(Stores.ROS2_KILTED)


def _header(stamp_ns: int, frame_id: str):
    t = typestore().types
    return t['std_msgs/msg/Header'](stamp=t['builtin_interfaces/msg/Time'](sec=int(stamp_ns // 10**9),
                                                                           nanosec=int(stamp_ns % 10**9)),
                                    frame_id=frame_id)


class _Msg:
    """Plain attribute holder used to fill a rosbags Image through :func:`fill_image_msg`."""


def _image(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
    tmp = fill_image_msg(_Msg(), array, encoding)
    return typestore().types[IMAGE_TYPE](header=_header(stamp_ns, frame_id), height=tmp.height, width=tmp.width,
                                         encoding=tmp.encoding, is_bigendian=tmp.is_bigendian, step=tmp.step,
                                         data=np.frombuffer(tmp.data, np.uint8))


def _camera_info(cam, stamp_ns: int):
    t = typestore().types
    f = camera_info_fields(cam)
    roi = t['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return t[INFO_TYPE](header=_header(stamp_ns, cam.frame_id), height=f['height'], width=f['width'],
                        distortion_model=f['distortion_model'], d=np.array(f['d']), k=np.array(f['k']),
                        r=np.array(f['r']), p=np.array(f['p']), binning_x=0, binning_y=0, roi=roi)


def _point(value: float, stamp_ns: int, frame_id: str):
    t = typestore().types
    return t[POINT_TYPE](header=_header(stamp_ns, frame_id), point=t['geometry_msgs/msg/Point'](x=float(value), y=0.0,
                                                                                             z=0.0))


def _pose_array(joints, stamp_ns: int, frame_id: str):
    t = typestore().types
    point, quat, pose = t['geometry_msgs/msg/Point'], t['geometry_msgs/msg/Quaternion'], t['geometry_msgs/msg/Pose']
    poses = [pose(position=point(x=float(x), y=float(y), z=float(z)), orientation=quat(x=0.0, y=0.0, z=0.0, w=1.0))
             for x, y, z in joint_positions(joints)]
    return t[POSE_ARRAY_TYPE](header=_header(stamp_ns, frame_id), poses=poses)


@dataclass
class BagSummary:
    """What :func:`write_bag` wrote.

    ``dropped``: frames not written because of a random drop or because the source had none; ``stopped``: frames
    withheld by a camera outage (``stop_s``), described by ``outages``.
    """

    path: str
    storage: str
    frames: int = 0
    dropped: int = 0
    ground_truth: int = 0
    camera_topics: list[str] = field(default_factory=list)
    task: str = 'counting'
    stopped: int = 0
    outages: list[Outage] = field(default_factory=list)


def write_bag(path: str | Path, source: FrameSource, profile: DesyncProfile, duration_s: float,
              storage: str = 'mcap', encoding: str = 'rgb8', start_ns: int = 1_700_000_000 * 10**9,
              world_frame: str = 'world', progress: Callable[[int], None] | None = None) -> BagSummary:
    """Write ``duration_s`` seconds of desynchronized streams from ``source`` to a new rosbag2 at ``path``.

    Args:
        profile: timing of every view (must have one entry per source camera).
        storage: ``mcap`` or ``sqlite3``.
        encoding: image encoding written (rgb8, bgr8, mono8).
        start_ns: stamp / log time of t = 0.
        progress: called with the number of events handled so far (e.g. a tqdm update).

    Raises:
        FileExistsError: ``path`` exists (nothing is touched).
        Any error of the source (e.g. a missing image of a data set): the partly written bag folder is
        removed first, so that the same command can be run again.
    """
    if storage not in STORAGES:
        raise ValueError(f'storage must be one of {STORAGES}, got {storage!r}')
    if len(profile.views) != len(source.cameras):
        raise ValueError(f'profile has {len(profile.views)} views, the source {len(source.cameras)} cameras')
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise FileExistsError(f'{path} exists; a bag is written to a new folder')
    try:
        return _write_bag(path, source, profile, duration_s, storage, encoding, start_ns, world_frame, progress)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # the folder did not exist before: all of it is this run's
        raise


def _write_bag(path: Path, source: FrameSource, profile: DesyncProfile, duration_s: float, storage: str,
               encoding: str, start_ns: int, world_frame: str, progress: Callable[[int], None] | None) -> BagSummary:
    """The body of :func:`write_bag` (arguments checked, ``path`` does not exist yet)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    ts = typestore()
    cams = source.cameras
    img_topics = [topic_for(IMAGE_TOPIC_FORMAT, c) for c in cams]
    has_joints = 'joints_3d' in source.ground_truth(0.0)
    outages = [Outage(v, cams[v].name, stop_s, start_ns + round(stop_s * 1e9)) for v, stop_s in profile.stops.items()]
    summary = BagSummary(str(path), storage, camera_topics=img_topics, task='pose' if has_joints else 'counting',
                         outages=sorted(outages, key=lambda o: o.stop_ns))
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        img_conns = [writer.add_connection(t, IMAGE_TYPE, typestore=ts) for t in img_topics]
        info_conns = [writer.add_connection(topic_for(INFO_TOPIC_FORMAT, c), INFO_TYPE, typestore=ts) for c in cams]
        gt_count = writer.add_connection('/' + GT_COUNT_TOPIC, POINT_TYPE, typestore=ts)
        gt_density = writer.add_connection('/' + GT_DENSITY_TOPIC, IMAGE_TYPE, typestore=ts)
        gt_joints = writer.add_connection('/' + GT_JOINTS_TOPIC, POSE_ARRAY_TYPE, typestore=ts) if has_joints else None
        custom = {
            'task': summary.task, 'gt_joints_topic': '/' + GT_JOINTS_TOPIC if has_joints else '',
            'camera_topics': ','.join(img_topics), 'camera_names': ','.join(c.name for c in cams),
            'reference_view': str(profile.reference_view), 'rate_hz': repr(profile.rate_hz),
            'gt_count_topic': '/' + GT_COUNT_TOPIC, 'gt_density_topic': '/' + GT_DENSITY_TOPIC,
            'profile': json.dumps(profile.as_dict()),
            'region': json.dumps(source.region.as_dict()) if source.region is not None else '',  # pose: none
            'outages': Outage.list_to_json(summary.outages) if summary.outages else '',
        }
        for key, value in custom.items():
            if value:
                writer.set_custom_data(f'vsync.{key}', value)
        for n, ev in enumerate(schedule(profile, duration_s), 1):
            log_ns = start_ns + round(ev.publish_s * 1e9)
            stamp_ns = start_ns + round(ev.stamp_s * 1e9)
            if ev.view < 0:
                gt = source.ground_truth(ev.content_s)
                writer.write(gt_count, log_ns, ts.serialize_cdr(_point(gt['count'], stamp_ns, world_frame), POINT_TYPE))
                if gt.get('gp_density') is not None:
                    writer.write(gt_density, log_ns, ts.serialize_cdr(
                        _image(np.asarray(gt['gp_density'], np.float32), '32FC1', stamp_ns, world_frame), IMAGE_TYPE))
                if gt_joints is not None:
                    writer.write(gt_joints, log_ns, ts.serialize_cdr(
                        _pose_array(gt['joints_3d'], stamp_ns, world_frame), POSE_ARRAY_TYPE))
                summary.ground_truth += 1
            elif ev.stopped:
                summary.stopped += 1  # the camera's outage: nothing from stop_s on
            elif (rgb := None if ev.dropped else source.frame(ev.view, ev.content_s)) is None:
                summary.dropped += 1  # dropped on purpose, or the source has no frame of this view then
            else:
                cam = cams[ev.view]
                img = encode_rgb(rgb, encoding)
                writer.write(img_conns[ev.view], log_ns,
                             ts.serialize_cdr(_image(img, encoding, stamp_ns, cam.frame_id), IMAGE_TYPE))
                writer.write(info_conns[ev.view], log_ns, ts.serialize_cdr(_camera_info(cam, stamp_ns), INFO_TYPE))
                summary.frames += 1
            if progress is not None:
                progress(n)
    return summary


# ---------------------------------------------------------------------------------------- reading
@dataclass
class BagInfo:
    """Topics and vsync metadata of a bag."""

    path: str
    camera_topics: list[str]
    reference_view: int | None
    gt_count_topic: str
    message_count: int
    topics: dict[str, str]
    custom: dict[str, str]
    gt_joints_topic: str = ''
    task: str = 'counting'
    outages: list[Outage] = field(default_factory=list)


def bag_info(path: str | Path) -> BagInfo:
    """Read the metadata of a bag written by :func:`write_bag` (or any bag with Image topics).

    Raises:
        ValueError: the ``vsync.outages`` metadata is malformed.
    """
    from rosbags.rosbag2 import Reader
    with Reader(Path(path)) as reader:
        meta = getattr(getattr(reader, 'storage', None), 'metadata', None)  # rosbags 0.11: DirectoryReader
        custom = dict(getattr(meta, 'custom', None) or {})
        topics = {c.topic: c.msgtype for c in reader.connections}
        count = reader.message_count
    cam_topics = [t for t in custom.get('vsync.camera_topics', '').split(',') if t] or sorted(
        t for t, ty in topics.items() if ty == IMAGE_TYPE and not t.startswith('/ground_truth'))
    ref = custom.get('vsync.reference_view')
    joints_topic = custom.get('vsync.gt_joints_topic') or (
        '/' + GT_JOINTS_TOPIC if topics.get('/' + GT_JOINTS_TOPIC) == POSE_ARRAY_TYPE else '')
    task = custom.get('vsync.task') or ('pose' if joints_topic else 'counting')
    return BagInfo(str(path), cam_topics, int(ref) if ref is not None else None,
                   custom.get('vsync.gt_count_topic', '/' + GT_COUNT_TOPIC), count, topics, custom, joints_topic, task,
                   Outage.list_from_json(custom.get('vsync.outages', '')))


def iter_raw(path: str | Path, topics: list[str] | None = None) -> Iterator[tuple[int, str, str, bytes]]:
    """(log time ns, topic, msgtype, CDR bytes) for the messages of ``topics`` (all if None), in log order."""
    from rosbags.rosbag2 import Reader
    with Reader(Path(path)) as reader:
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        for conn, log_ns, raw in reader.messages(connections=conns):
            yield log_ns, conn.topic, conn.msgtype, bytes(raw)


def read_ground_truth(path: str | Path, topic: str = '/' + GT_COUNT_TOPIC) -> dict[int, float]:
    """{stamp ns: GT count} from a bag's PointStamped ground-truth topic."""
    ts = typestore()
    out = {}
    for _, _, msgtype, raw in iter_raw(path, [topic]):
        msg = ts.deserialize_cdr(raw, msgtype)
        out[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = float(msg.point.x)
    return out


def read_ground_truth_joints(path: str | Path, topic: str = '/' + GT_JOINTS_TOPIC,
                             num_joints: int = 17) -> dict[int, np.ndarray]:
    """{stamp ns: (P, J, 3) joints, metres} from a bag's PoseArray ground-truth topic."""
    ts = typestore()
    out = {}
    for _, _, msgtype, raw in iter_raw(path, [topic]):
        msg = ts.deserialize_cdr(raw, msgtype)
        xyz = [(p.position.x, p.position.y, p.position.z) for p in msg.poses]
        out[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = positions_to_joints(xyz, num_joints)
    return out


def ground_truth_and_metrics(path: str | Path, info: BagInfo, task: str):
    """(ground truth by stamp, metric function) of ``task`` for a bag; ValueError if the bag lacks it."""
    if task == 'pose':
        if not info.gt_joints_topic:
            raise ValueError(f'bag {path} has no joint ground truth (/{GT_JOINTS_TOPIC}): it is not a pose bag')
        return read_ground_truth_joints(path, info.gt_joints_topic), pose_metrics
    return read_ground_truth(path, info.gt_count_topic), count_metrics


# ---------------------------------------------------------------------------------------- offline
def view_summary(st) -> dict:
    """JSON-friendly counters of one view (a :class:`~vsync_ros.runtime.frame_store.ViewState`)."""
    return {'name': st.name, 'topic': st.topic, 'received': st.received, 'used': st.used,
            'dropped_superseded': st.superseded, 'rejected': st.rejected, 'lost': st.lost,
            'enabled': st.enabled, 'last_error': st.last_error}


class InferenceThread:
    """A :class:`~vsync_ros.inference.api.FramePipeline` whose ``run`` executes on one dedicated thread.

    The sync node runs its model on a work thread (:mod:`vsync_ros.runtime.work_thread`), not on the
    thread that loaded it; the offline evaluation does the same through this wrapper, so both have the
    same OpenMP thread teams. That matters for speed: libgomp (torch's OpenMP on Linux) lets idle
    worker threads spin (busy-wait) unless it manages more threads than there are CPUs. Inference on
    the loading thread keeps one team of as many threads as CPUs, which spins; under load from other
    processes (or with ``OMP_WAIT_POLICY=ACTIVE``, or without ``PASSIVE`` when the library is used
    without :func:`vsync_ros.process.set_process_defaults`) the spinning threads take the CPU from
    the work, and inference became 5-15x slower than in the node. A second team on this thread makes
    libgomp throttle the spinning, as in the node. Results are identical (same operations).

    Every other attribute (``cameras``, ``region``, ``task``, ...) is the wrapped pipeline's. Use it
    as a context manager, or call :meth:`close`.
    """

    def __init__(self, pipeline: FramePipeline, name: str = 'vsync-inference') -> None:
        self.pipeline = pipeline
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def __getattr__(self, name: str):
        return getattr(self.pipeline, name)

    def run(self, images: list[np.ndarray | None], ref_index: int):
        """``pipeline.run(images, ref_index)`` on the inference thread (its exceptions are re-raised here)."""
        return self._pool.submit(self.pipeline.run, images, ref_index).result()

    def close(self) -> None:
        """Stop the inference thread (after the call in progress)."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> InferenceThread:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def evaluation_inputs(bag: str | Path, pipeline: FramePipeline, camera_topics: list[str] | None = None):
    """(BagInfo, ground truth, metrics function, camera topics) for evaluating ``pipeline`` on ``bag``.

    Raises:
        ValueError: the number of camera topics differs from the pipeline's cameras.
    """
    info = bag_info(bag)
    gts, metrics = ground_truth_and_metrics(bag, info, pipeline.task)
    topics = camera_topics or info.camera_topics
    n = len(pipeline.cameras)
    if len(topics) != n:
        raise ValueError(f'{len(topics)} camera topics for a pipeline with {n} cameras: {topics}')
    return info, gts, metrics, topics


def offline_eval(bag: str | Path, pipeline: FramePipeline, camera_topics: list[str] | None = None,
                 reference_order: list[int] | None = None, max_frame_age_s: float = 1.0, min_views: int = 1,
                 log: Callable[[str, str], None] | None = None,
                 progress: Callable[[int], None] | None = None, inference_thread: bool = True) -> dict:
    """Evaluate ``pipeline`` on a bag deterministically, with the node's frame logic and the log time as clock.

    Args:
        camera_topics: image topic per pipeline camera (default: the bag's ``vsync.camera_topics``).
        reference_order: fail-over order (default: the bag's reference view, then the others).
        log: called with (level, text) for every event the core reports.
        inference_thread: run the model on its own thread as the node does (:class:`InferenceThread`;
            False: on the calling thread, which can be several times slower on a busy machine).

    Returns:
        the :func:`~vsync_ros.runtime.bag_metrics.count_metrics` dict (counting pipeline) or the
        :func:`~vsync_ros.runtime.bag_metrics.pose_metrics` dict (pose pipeline; needs a pose bag), plus the
        :func:`~vsync_ros.runtime.bag_metrics.segment_metrics` keys (``segments``, ``outages``, ...), ``mode``,
        ``bag``, ``mean_inference_ms``, ``events``, ``failovers`` and ``views``.
    """
    info, gts, metrics, topics = evaluation_inputs(bag, pipeline, camera_topics)
    n = len(topics)
    if reference_order is None:
        ref = info.reference_view or 0
        reference_order = [ref] + [v for v in range(n) if v != ref]
    if inference_thread:
        with InferenceThread(pipeline) as threaded:
            return _offline_eval(bag, threaded, info, gts, metrics, topics, reference_order, max_frame_age_s,
                                 min_views, log, progress)
    return _offline_eval(bag, pipeline, info, gts, metrics, topics, reference_order, max_frame_age_s, min_views,
                         log, progress)


def _offline_eval(bag: str | Path, pipeline: FramePipeline, info: BagInfo, gts: dict, metrics: Callable,
                  topics: list[str], reference_order: list[int], max_frame_age_s: float, min_views: int,
                  log: Callable[[str, str], None] | None, progress: Callable[[int], None] | None) -> dict:
    """The loop of :func:`offline_eval` (arguments resolved)."""
    store = FrameStore([c.name for c in pipeline.cameras], max_frame_age_s, reference_order, topics)
    core = SyncCore(pipeline, store, image_to_rgb,
                    lambda m, wh: check_image(m, wh, True), min_views, 'reference')
    view_of = {t: v for v, t in enumerate(topics)}
    ts = typestore()
    preds: dict = {}
    estimates: dict = {}  # stamp ns -> EstimateStatus: views fused, reference, degraded
    inference_ms = []
    events = 0
    for i, (log_ns, topic, msgtype, raw) in enumerate(iter_raw(bag, topics), 1):
        msg = ts.deserialize_cdr(raw, msgtype)
        now = log_ns * 1e-9
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        if core.accept(view_of[topic], msg, stamp, now):
            out = core.step(now)
            if out.status == 'ok':
                preds[out.stamp_ns] = out.result.joints if pipeline.task == 'pose' else out.result.count
                estimates[out.stamp_ns] = out.estimate
                inference_ms.append(out.result.inference_ms)
        for ev in core.drain_events():
            events += 1
            if log is not None:
                log(ev.level, ev.text)
        if progress is not None:
            progress(i)
    report = metrics(preds, gts)
    report.update(segment_metrics(report, estimates, list(gts), store.n_views, reference_order[0], info.outages,
                                  max_frame_age_s))
    report.update(mode='offline', bag=str(bag), mean_inference_ms=float(np.mean(inference_ms)) if inference_ms
                  else math.nan, events=events, failovers=core.stats.failovers,
                  views=[view_summary(s) for s in store.states()])
    return report
