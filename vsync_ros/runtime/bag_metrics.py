"""Scores of stamped estimates against a bag's stamped ground truth (ROS-free, numpy only).

Estimates carry the stamp of their reference frame; each is matched to the ground truth with the same
stamp, else to the nearest ground-truth stamp within a tolerance (e.g. after a reference fail-over), and
every ground-truth stamp is used once at most.
"""
from __future__ import annotations

import math

import numpy as np

from vsync_ros.engine.pose_metrics import pose_errors_mm


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


def summary_line(report: dict) -> str:
    """One line of a bag evaluation report (either task)."""
    cover = (f'over {report["n_matched"]} of {report["n_ground_truth"]} ground-truth frames '
             f'(coverage {report["coverage"]:.0%})')
    if report.get('task') == 'pose':
        return f'MPJPE {report["mpjpe_mm"]:.1f} mm  absolute {report["abs_mpjpe_mm"]:.1f} mm  {cover}'
    return f'MAE {report["mae"]:.3f}  NAE {report["nae"]:.3f}  {cover}'
