"""Scores of stamped estimates against a bag's stamped ground truth (ROS-free, numpy only).

Estimates carry the stamp of their reference frame; each is matched to the ground truth with the same
stamp, else to the nearest ground-truth stamp within a tolerance (e.g. after a reference fail-over), and
every ground-truth stamp is used once at most.

Segments (:func:`segment_metrics`): the matched estimates split by what they were made from (each
estimate's :class:`~vsync_ros.runtime.degraded.EstimateStatus`: *nominal* = every view fused around the
configured reference, *degraded* = fewer views and/or a fail-over reference) and, for a bag that records a
camera outage (metadata ``vsync.outages``, :class:`Outage`), before / after the outage, with the transition:
the node only notices a stopped camera when its last frame is older than ``max_frame_age_s``, and
reference times in between get no estimate when the stopped camera is the reference.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vsync_ros.engine.pose_metrics import pose_errors_mm
from vsync_ros.runtime.degraded import EstimateStatus

SEGMENTS = ('nominal', 'degraded', 'unknown', 'before_outage', 'after_outage')
"""Keys of :func:`segment_metrics`' ``segments`` (``unknown``: no status known for the estimate)."""


@dataclass(frozen=True)
class Outage:
    """A camera that stops publishing during a recording (bag metadata ``vsync.outages``, a JSON list of these).

    Attributes:
        view: view index of the camera.
        camera: camera name (e.g. ``cam1``).
        stop_s: seconds from the start of the recording (the schedule clock); frames stamped at or after
            it were not recorded.
        stop_ns: the same instant as a header stamp, integer nanoseconds (comparable with the bag's stamps).
    """

    view: int
    camera: str
    stop_s: float
    stop_ns: int

    @staticmethod
    def list_from_json(text: str) -> list[Outage]:
        """Outages of a ``vsync.outages`` metadata value ('' or missing: none), earliest first.

        Raises:
            ValueError: the text is not a JSON list of outage records (the message quotes the field).
        """
        if not text:
            return []
        try:
            items = json.loads(text)
            out = [Outage(int(o['view']), str(o['camera']), float(o['stop_s']), int(o['stop_ns'])) for o in items]
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f'bag metadata vsync.outages is not a list of outages ({exc}): {text[:200]!r}') from exc
        return sorted(out, key=lambda o: o.stop_ns)

    @staticmethod
    def list_to_json(outages: Sequence[Outage]) -> str:
        """The ``vsync.outages`` metadata value of ``outages``."""
        return json.dumps([asdict(o) for o in outages])


def match_stamps(pred_stamps, gt_stamps, tolerance_ns: int | None = None) -> list[tuple[int, int]]:
    """(prediction stamp, ground-truth stamp) pairs, ns; ``tolerance_ns`` default: half the median GT period."""
    gt_sorted = np.array(sorted(gt_stamps), dtype=np.int64)
    gt_set = set(int(g) for g in gt_sorted)
    if tolerance_ns is None:
        tolerance_ns = int(np.median(np.diff(gt_sorted)) // 2) if len(gt_sorted) > 1 else 0
    pairs, used = [], set()
    for stamp in sorted(pred_stamps):
        if stamp in gt_set:
            g = int(stamp)
        elif len(gt_sorted):
            i = int(np.searchsorted(gt_sorted, stamp))
            cands = gt_sorted[max(i - 1, 0):i + 1]
            g = int(cands[np.argmin(np.abs(cands - stamp))])
            if abs(g - stamp) > tolerance_ns:
                continue
        else:
            continue
        if g in used:
            continue
        used.add(g)
        pairs.append((int(stamp), g))
    return pairs


def _coverage(n_gt: int, n_pred: int, n_matched: int) -> dict:
    return {'n_ground_truth': n_gt, 'n_predictions': n_pred, 'n_matched': n_matched,
            'coverage': n_matched / n_gt if n_gt else 0.0}


def count_metrics(preds: dict[int, float], gts: dict[int, float], tolerance_ns: int | None = None) -> dict:
    """MAE / NAE of predicted counts ({stamp ns: people}) against ground truth, matched by stamp.

    NAE is the mean of |pred - gt| / gt over frames with gt > 0.
    """
    pairs = [(s, g, preds[s], gts[g]) for s, g in match_stamps(preds, gts, tolerance_ns)]
    err = np.array([abs(p - g) for _, _, p, g in pairs], dtype=np.float64)
    rel = np.array([abs(p - g) / g for _, _, p, g in pairs if g > 0], dtype=np.float64)
    return {
        'task': 'counting',
        'mae': float(err.mean()) if len(err) else math.nan,
        'nae': float(rel.mean()) if len(rel) else math.nan,
        **_coverage(len(gts), len(preds), len(pairs)),
        'frames': [{'stamp_ns': s, 'gt_stamp_ns': g, 'pred': p, 'gt': gt} for s, g, p, gt in pairs],
    }


def pose_metrics(preds: dict[int, np.ndarray], gts: dict[int, np.ndarray], tolerance_ns: int | None = None) -> dict:
    """MPJPE / absolute MPJPE (mm) of person 0 of each estimate against person 0 of the matched ground truth.

    Args:
        preds, gts: {stamp ns: (P, J, 3) joints in metres}; an entry with no person is skipped (counted in
            ``n_empty``).
    """
    pairs = []
    empty = 0
    for s, g in match_stamps(preds, gts, tolerance_ns):
        p, t = np.asarray(preds[s], np.float64), np.asarray(gts[g], np.float64)
        if p.ndim != 3 or t.ndim != 3 or not len(p) or not len(t):
            empty += 1
            continue
        rel, absolute = pose_errors_mm(p[0], t[0])
        pairs.append((s, g, rel, absolute))
    rel = np.array([r for _, _, r, _ in pairs], dtype=np.float64)
    absolute = np.array([a for _, _, _, a in pairs], dtype=np.float64)
    return {
        'task': 'pose',
        'mpjpe_mm': float(rel.mean()) if len(rel) else math.nan,
        'abs_mpjpe_mm': float(absolute.mean()) if len(absolute) else math.nan,
        **_coverage(len(gts), len(preds), len(pairs)), 'n_empty': empty,
        'frames': [{'stamp_ns': s, 'gt_stamp_ns': g, 'mpjpe_mm': r, 'abs_mpjpe_mm': a} for s, g, r, a in pairs],
    }


def _segment_stats(frames: list[dict], task: str) -> dict:
    """Size ``n`` and errors of one segment of matched frames (keys as in :func:`count_metrics` / :func:`pose_metrics`).

    Counting: ``mae``, ``nae`` (over ``n_nae`` frames with GT > 0), ``mean_pred`` and ``mean_gt`` (people).
    Pose: ``mpjpe_mm`` and ``abs_mpjpe_mm``. Means of an empty segment are NaN.
    """
    def mean(values) -> float:
        return float(np.mean(values)) if len(values) else math.nan

    if task == 'pose':
        return {'n': len(frames), 'mpjpe_mm': mean([f['mpjpe_mm'] for f in frames]),
                'abs_mpjpe_mm': mean([f['abs_mpjpe_mm'] for f in frames])}
    rel = [abs(f['pred'] - f['gt']) / f['gt'] for f in frames if f['gt'] > 0]
    return {'n': len(frames), 'mae': mean([abs(f['pred'] - f['gt']) for f in frames]), 'nae': mean(rel),
            'n_nae': len(rel), 'mean_pred': mean([f['pred'] for f in frames]),
            'mean_gt': mean([f['gt'] for f in frames])}


def is_nominal(est: EstimateStatus, n_views: int, reference_view: int) -> bool:
    """True for an estimate of the kind the model was trained for: all views, the configured reference, not flagged."""
    return not est.degraded and est.reference == reference_view and len(est.views) == n_views


def segment_metrics(report: dict, estimates: Mapping[int, EstimateStatus], gt_stamps: Sequence[int], n_views: int,
                    reference_view: int, outages: Sequence[Outage] = (), max_frame_age_s: float = math.nan) -> dict:
    """Split a report's matched frames by what each estimate was made from, and around a camera outage.

    Annotates every ``report['frames']`` entry with ``segment`` (``nominal`` / ``degraded`` / ``unknown``),
    ``reference`` and ``views`` (view indices fused; None when unknown), and returns the keys to add to the
    report:

    * ``segments``: ``nominal`` (all ``n_views`` fused, reference ``reference_view``, not flagged),
      ``degraded`` (the others, with ``n_failover``: another reference, ``n_fewer_views``: fewer views fused),
      ``unknown`` (no status for the estimate); their ``n`` add up to ``n_matched``. With an outage also
      ``before_outage`` / ``after_outage``: ground-truth stamp before / at or after the first outage's stamp.
      Each segment has the statistics of :func:`_segment_stats`.
    * ``outages``: the outages (:class:`Outage` fields), each with its ``transition``: ``gt_after`` (GT times at
      or after the stop), ``nominal_after`` (nominal estimates stamped at or after it: frames still fresh),
      ``first_degraded_s`` (seconds from the stop to the first degraded estimate's stamp, None if none),
      ``gt_without_estimate_before_degraded`` (GT times from the stop to that estimate with no estimate: the
      node waiting ``max_frame_age_s`` before failing over) and ``gt_without_estimate_after`` (all GT times
      after the stop with no estimate).
    * ``reference_view``, ``max_frame_age_s`` (seconds): as given.

    Args:
        report: a :func:`count_metrics` or :func:`pose_metrics` report (its ``frames`` are annotated in place).
        estimates: {estimate stamp ns: status} of the estimates (at least of the matched ones).
        gt_stamps: every ground-truth stamp, ns (matched or not).
        n_views: views of the model.
        reference_view: the configured reference view.
        outages: the bag's recorded outages.
        max_frame_age_s: the staleness limit used (seconds; reported only).
    """
    task = report.get('task', 'counting')
    groups: dict[str, list[dict]] = {name: [] for name in SEGMENTS}
    n_failover = n_fewer = 0
    for f in report['frames']:
        est = estimates.get(f['stamp_ns'])
        if est is None:
            f.update(segment='unknown', reference=None, views=None)
        else:
            nominal = is_nominal(est, n_views, reference_view)
            f.update(segment='nominal' if nominal else 'degraded', reference=est.reference, views=list(est.views))
            if not nominal:
                n_failover += est.reference != reference_view
                n_fewer += len(est.views) < n_views
        groups[f['segment']].append(f)
    first = outages[0] if outages else None
    if first is not None:
        for f in report['frames']:
            groups['before_outage' if f['gt_stamp_ns'] < first.stop_ns else 'after_outage'].append(f)
    segments = {name: _segment_stats(frames, task) for name, frames in groups.items()
                if first is not None or not name.endswith('_outage')}
    segments['degraded'].update(n_failover=n_failover, n_fewer_views=n_fewer)
    return {'segments': segments, 'reference_view': int(reference_view), 'max_frame_age_s': max_frame_age_s,
            'outages': [{**asdict(o), 'transition': _transition(o, report, estimates, gt_stamps, n_views,
                                                                reference_view)} for o in outages]}


def _transition(outage: Outage, report: dict, estimates: Mapping[int, EstimateStatus], gt_stamps: Sequence[int],
                n_views: int, reference_view: int) -> dict:
    """What happened to the estimates from ``outage.stop_ns`` on (see :func:`segment_metrics`)."""
    matched = {f['gt_stamp_ns'] for f in report['frames']}
    after = sorted(s for s in estimates if s >= outage.stop_ns)
    degraded = [s for s in after if not is_nominal(estimates[s], n_views, reference_view)]
    first_ns = degraded[0] if degraded else None
    gt_after = sorted(g for g in gt_stamps if g >= outage.stop_ns)
    missing = [g for g in gt_after if g not in matched]
    return {'gt_after': len(gt_after), 'nominal_after': len(after) - len(degraded),
            'first_degraded_s': (first_ns - outage.stop_ns) * 1e-9 if first_ns is not None else None,
            'gt_without_estimate_before_degraded': sum(1 for g in missing if first_ns is None or g < first_ns),
            'gt_without_estimate_after': len(missing)}


def segment_lines(report: dict) -> list[str]:
    """Readable lines of a report's segments and outage transitions ([] without ``segments``)."""
    segments = report.get('segments')
    if not segments:
        return []
    names = [v['name'] for v in report.get('views', [])]

    def name(view: int) -> str:
        return names[view] if 0 <= view < len(names) else f'view {view}'

    def stats(seg: dict) -> str:
        if seg['n'] == 0:
            return 'n 0'
        if report.get('task') == 'pose':
            return f'n {seg["n"]}  MPJPE {seg["mpjpe_mm"]:.1f} mm  absolute {seg["abs_mpjpe_mm"]:.1f} mm'
        return (f'n {seg["n"]}  MAE {seg["mae"]:.3f}  NAE {seg["nae"]:.3f}  '
                f'mean pred {seg["mean_pred"]:.2f} / GT {seg["mean_gt"]:.2f}')

    ref = report.get('reference_view', 0)
    deg = segments['degraded']
    lines = [f'  nominal (all {len(names) or "the"} views, reference {name(ref)}): {stats(segments["nominal"])}',
             f'  degraded (fewer views and/or fail-over): {stats(deg)}'
             + (f'  [fail-over {deg["n_failover"]}, fewer views {deg["n_fewer_views"]}]' if deg['n'] else '')]
    if segments['unknown']['n']:
        lines.append(f'  status unknown: {stats(segments["unknown"])}')
    outages = report.get('outages') or []
    if outages:
        first = outages[0]
        lines.append(f'  before the outage ({first["camera"]} stopped at {first["stop_s"]:g} s): '
                     f'{stats(segments["before_outage"])}')
        lines.append(f'  after the outage: {stats(segments["after_outage"])}')
    age = report.get('max_frame_age_s', math.nan)
    for o in outages:
        t = o['transition']
        first_s = t['first_degraded_s']
        noticed = (f'first degraded estimate {first_s:.2f} s later' if first_s is not None
                   else 'no degraded estimate after it')
        lines.append(f'  outage {o["camera"]} at {o["stop_s"]:g} s (max_frame_age {age:g} s): {noticed}; '
                     f'reference times after the stop without output: {t["gt_without_estimate_before_degraded"]} '
                     f'of {t["gt_after"]} before that, {t["gt_without_estimate_after"]} in all; nominal estimates '
                     f'after the stop: {t["nominal_after"]}')
    return lines


def summary_line(report: dict) -> str:
    """One line of a bag evaluation report (either task)."""
    cover = (f'over {report["n_matched"]} of {report["n_ground_truth"]} ground-truth frames '
             f'(coverage {report["coverage"]:.0%})')
    if report.get('task') == 'pose':
        return f'MPJPE {report["mpjpe_mm"]:.1f} mm  absolute {report["abs_mpjpe_mm"]:.1f} mm  {cover}'
    return f'MAE {report["mae"]:.3f}  NAE {report["nae"]:.3f}  {cover}'
