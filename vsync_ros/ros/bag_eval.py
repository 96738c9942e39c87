"""``vsync-bag-eval``: score the sync node on a rosbag2 with ground truth.

Counting bags: count MAE / NAE. Pose bags (``/ground_truth/joints``): MPJPE / absolute MPJPE in mm.

Online (default): the bag's camera streams are replayed over real ROS 2 topics (publishing the recorded
CDR bytes with their recorded relative timing, scaled by ``--rate``) into a ``SyncNode`` running the
model; the estimates (``~/count_stamped``, or ``~/joints`` for pose) are matched by stamp with the bag's
ground truth. The task is the bag's (metadata ``vsync.task``) unless ``--task`` says otherwise.
Offline (``--offline``): the bag is read in code and fed to the same frame logic with the log time as
the clock (deterministic; see :func:`vsync_ros.runtime.bags.offline_eval`).

Besides the overall metrics the report splits the matched estimates by what they were made from: *nominal*
(all views fused around the configured reference) and *degraded* (fewer views and/or fail-over; offline
from the frame logic's own assessment, online from the node's ``~/estimate_status``), each with n, MAE, NAE
and mean prediction / mean GT. For a bag that records a camera outage (``vsync-bag-write --stop-camera``;
metadata ``vsync.outages``) it also splits them before / after the (first) outage and reports the transition:
the node notices a stopped camera only once its last frame is older than ``--max-frame-age``, so a stopped
reference leaves the reference times in between without output, then fails over (degraded).
See :func:`vsync_ros.runtime.bag_metrics.segment_metrics`.

Writes a JSON report (``--json``, default ``<bag>_eval_<online|offline>.json``: metrics, ``segments``,
``outages`` with their ``transition``, per-frame ``segment`` / ``reference`` / ``views``) and prints a summary.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from pathlib import Path

from vsync_ros import paths
from vsync_ros.engine.fallback_rule import FALLBACK_WHEN
from vsync_ros.inference.api import FramePipeline
from vsync_ros.inference.loading import open_pipeline
from vsync_ros.process import set_process_defaults
from vsync_ros.runtime.bag_metrics import segment_lines, segment_metrics, summary_line
from vsync_ros.runtime.bags import IMAGE_TYPE, INFO_TYPE, bag_info, evaluation_inputs, iter_raw, offline_eval


def _progress_bar(total: int | None, enabled: bool, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, disable=not enabled, desc=desc, unit='msg', file=sys.stderr)


def _message_count(bag: str | Path, topics: list[str]) -> int:
    from rosbags.rosbag2 import Reader
    with Reader(Path(bag)) as reader:
        return sum(c.msgcount for c in reader.connections if c.topic in topics)


def run_online(bag: str | Path, pipeline: FramePipeline, rate: float = 1.0, camera_topics: list[str] | None = None,
               reference_view: int | None = None, max_frame_age_s: float = 1.0, min_views: int = 1,
               progress: bool = True, discovery_timeout_s: float = 30.0, drain_timeout_s: float = 30.0) -> dict:
    """Replay ``bag`` through a :class:`~vsync_ros.ros.sync_node.SyncNode` over ROS 2 topics; return metrics.

    Runs in its own rclpy context (honours ``ROS_DOMAIN_ID`` / ``ROS_AUTOMATIC_DISCOVERY_RANGE``).
    ``max_frame_age_s`` is in bag time (divided by ``rate`` for the node). Raises ``RuntimeError`` when
    the node's subscriptions are not matched within ``discovery_timeout_s``. The report has the
    :func:`~vsync_ros.runtime.bag_metrics.segment_metrics` keys, from the node's ``~/estimate_status``.
    """
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PointStamped, PoseArray
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import CameraInfo, Image

    from vsync_ros.ros.diagnostics import parse_estimate_status
    from vsync_ros.ros.joint_messages import pose_array_to_joints
    from vsync_ros.ros.sync_node import SyncNode, stamp_to_ns

    if not rate > 0:
        raise ValueError(f'rate must be positive, got {rate}')
    info, gts, metrics, topics = evaluation_inputs(bag, pipeline, camera_topics)
    n = len(topics)
    ref = info.reference_view if reference_view is None else reference_view
    info_topics = [t.rsplit('/', 1)[0] + '/camera_info' for t in topics]
    info_topics = [t for t in info_topics if info.topics.get(t) == INFO_TYPE]
    replayed = topics + info_topics
    ctx = Context()
    rclpy.init(context=ctx)
    nodes, executor, spinner = [], None, None
    preds: dict = {}
    statuses: dict = {}  # stamp ns -> EstimateStatus, from ~/estimate_status
    lock = threading.Lock()
    try:
        sync = SyncNode(pipeline, context=ctx, parameter_overrides=[
            Parameter('task', value=pipeline.task), Parameter('camera_topics', value=list(topics)),
            Parameter('camera_info_topics', value=info_topics if len(info_topics) == n else []),
            Parameter('reference_view', value=int(ref or 0)),
            Parameter('max_frame_age_s', value=float(max_frame_age_s) / rate),
            Parameter('min_views', value=int(min_views))])
        nodes.append(sync)
        player = Node('vsync_bag_player', context=ctx)
        nodes.append(player)
        pubs = {t: player.create_publisher(Image if info.topics[t] == IMAGE_TYPE else CameraInfo, t,
                                           QoSProfile(depth=10)) for t in replayed}

        def on_count(msg: PointStamped) -> None:
            with lock:
                preds[stamp_to_ns(msg.header.stamp)] = float(msg.point.x)

        def on_joints(msg: PoseArray) -> None:
            joints = pose_array_to_joints(msg)
            with lock:
                preds[stamp_to_ns(msg.header.stamp)] = joints

        def on_status(msg: DiagnosticArray) -> None:
            for st in msg.status:
                est = parse_estimate_status({kv.key: kv.value for kv in st.values}, sync.names,
                                            stamp_to_ns(msg.header.stamp))
                if est is not None:
                    with lock:
                        statuses[est.stamp_ns] = est

        player.create_subscription(DiagnosticArray, f'{sync.get_fully_qualified_name()}/estimate_status', on_status,
                                   QoSProfile(depth=100))
        pose = pipeline.task == 'pose'
        estimates = sync.pub_joints if pose else sync.pub_count_stamped
        player.create_subscription(PoseArray if pose else PointStamped,
                                   f'{sync.get_fully_qualified_name()}/{"joints" if pose else "count_stamped"}',
                                   on_joints if pose else on_count, QoSProfile(depth=100))
        executor = SingleThreadedExecutor(context=ctx)  # the sync node infers in its own thread
        for nd in nodes:
            executor.add_node(nd)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        deadline = time.monotonic() + discovery_timeout_s
        while not (all(pubs[t].get_subscription_count() > 0 for t in topics)
                   and estimates.get_subscription_count() > 0):
            if time.monotonic() > deadline:
                raise RuntimeError(f'the sync node did not match the replayed topics within {discovery_timeout_s} s')
            time.sleep(0.02)
        total = _message_count(bag, replayed)
        t0_wall, t0_log = None, None
        with _progress_bar(total, progress, 'replay') as bar:
            for log_ns, topic, _, raw in iter_raw(bag, replayed):
                if t0_wall is None:
                    t0_wall, t0_log = time.monotonic(), log_ns
                delay = t0_wall + (log_ns - t0_log) * 1e-9 / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pubs[topic].publish(raw)
                bar.update(1)
        # drain: wait until no new estimate arrived for a while (the last reference frame is processed)
        deadline = time.monotonic() + drain_timeout_s
        last, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with lock:
                k = len(preds)
            if k != last:
                last, stable_since = k, time.monotonic()
            mean_ms = sync.core.stats.mean_inference_ms
            quiet = max(1.0, 3e-3 * (mean_ms if math.isfinite(mean_ms) else 0.0))
            if time.monotonic() - stable_since > quiet:
                break
            time.sleep(0.05)
        stats = sync.core.stats
        views = sync.store.states()
    finally:
        if executor is not None:
            executor.shutdown()
        for nd in nodes:
            nd.destroy_node()
        rclpy.try_shutdown(context=ctx)
        if spinner is not None:
            spinner.join(timeout=5.0)
    from vsync_ros.runtime.bags import view_summary
    with lock:
        report = metrics(dict(preds), gts)
        report.update(segment_metrics(report, dict(statuses), list(gts), n, int(ref or 0), info.outages,
                                      max_frame_age_s))
    report.update(mode='online', bag=str(bag), rate=rate, mean_inference_ms=stats.mean_inference_ms,
                  pipeline_errors=stats.errors, failovers=stats.failovers, views=[view_summary(s) for s in views])
    return report


def _json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def default_max_frame_age(info) -> float:
    """1 s, or 1.5 frame periods of the bag (metadata ``vsync.rate_hz``) when that is longer; seconds."""
    try:
        rate = float(info.custom.get('vsync.rate_hz', 'nan'))
    except ValueError:
        rate = math.nan
    return max(1.0, 1.5 / rate) if math.isfinite(rate) and rate > 0 else 1.0


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of ``vsync-bag-eval``."""
    ap = argparse.ArgumentParser(prog='vsync-bag-eval', description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--bag', required=True, help='rosbag2 folder (mcap or sqlite3) with camera topics and GT')
    ap.add_argument('--checkpoint', default='',
                    help='model checkpoint (default: the shipped models/plaza_cls_epi.pt, or '
                         'models/studio_pose_cls_epi.pt for a pose bag)')
    ap.add_argument('--fallback-checkpoint', default='',
                    help='counting: a second checkpoint of the same rig for degraded frame sets, as the node\'s '
                         'fallback_checkpoint parameter (default: none)')
    ap.add_argument('--fallback-when', default='reference', choices=FALLBACK_WHEN,
                    help='with --fallback-checkpoint: reference (the model\'s reference view has no frame) or '
                         'any_missing (any view has no frame)')
    ap.add_argument('--task', default='auto', choices=('auto', 'counting', 'pose'),
                    help="task to score (default auto: the bag's, from its vsync.task metadata)")
    ap.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N')
    ap.add_argument('--offline', action='store_true', help='read the bag in code instead of replaying over ROS 2')
    ap.add_argument('--rate', type=float, default=1.0, help='replay speed factor (online)')
    ap.add_argument('--max-frame-age', type=float, default=None,
                    help='staleness limit, seconds of bag time (default: 1 s, or 1.5 frame periods of the bag when '
                         'that is longer, so a slow bag\'s views are not stale between frames)')
    ap.add_argument('--reference-view', type=int, default=None, help='reference view (default: from the bag)')
    ap.add_argument('--min-views', type=int, default=None,
                    help='fewest usable views to produce an estimate (default 1 for counting, 2 for pose, as the '
                         "node's config/counting.yaml and config/pose.yaml)")
    ap.add_argument('--json', default='', help='report path (default: <bag>_eval_<online|offline>.json)')
    ap.add_argument('--no-progress', action='store_true', help='no progress bar')
    return ap


def main(argv: list[str] | None = None, pipeline: FramePipeline | None = None) -> int:
    """Entry point; ``pipeline`` may be injected (tests), otherwise it is loaded from ``--checkpoint``."""
    set_process_defaults()  # before the model (torch) loads
    args = build_parser().parse_args(argv)
    bag = Path(args.bag)
    if not bag.exists():
        print(f'vsync-bag-eval: no bag at {bag}', file=sys.stderr)
        return 2
    try:
        info = bag_info(bag)
    except Exception as exc:  # noqa: BLE001 - rosbags raises its own types for unreadable bags
        print(f'vsync-bag-eval: cannot read bag {bag}: {exc}', file=sys.stderr)
        return 2
    task = info.task if args.task == 'auto' else args.task
    if args.max_frame_age is None:
        args.max_frame_age = default_max_frame_age(info)
    if args.min_views is None:
        args.min_views = 2 if task == 'pose' else 1
    if pipeline is None:
        ckpt = str(paths.resolve(args.checkpoint)) if args.checkpoint else str(paths.default_checkpoint(task))
        backup = {}
        if args.fallback_checkpoint:
            backup = {'fallback_checkpoint': str(paths.resolve(args.fallback_checkpoint)),
                      'fallback_when': args.fallback_when}
        try:
            pipeline = open_pipeline(ckpt, device=args.device, task=task, **backup)
        except RuntimeError as exc:
            print(f'vsync-bag-eval: {exc}', file=sys.stderr)
            return 1
    try:
        if args.offline:
            from tqdm import tqdm
            total = _message_count(bag, info.camera_topics)
            with tqdm(total=total, disable=args.no_progress, desc='offline', unit='msg', file=sys.stderr) as bar:
                ref = args.reference_view
                order = None if ref is None else [ref] + [v for v in range(len(pipeline.cameras)) if v != ref]
                report = offline_eval(bag, pipeline, reference_order=order, max_frame_age_s=args.max_frame_age,
                                      min_views=args.min_views, progress=lambda i: bar.update(1))
        else:
            report = run_online(bag, pipeline, args.rate, reference_view=args.reference_view,
                                max_frame_age_s=args.max_frame_age, min_views=args.min_views,
                                progress=not args.no_progress)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f'vsync-bag-eval: {exc}', file=sys.stderr)
        return 1
    out = Path(args.json) if args.json else Path(f'{str(bag).rstrip("/")}_eval_{report["mode"]}.json')
    out.write_text(json.dumps(_json_safe(report), indent=2))
    print(f'{report["mode"]}: {summary_line(report)}; report: {out}')
    for line in segment_lines(report):
        print(line)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
