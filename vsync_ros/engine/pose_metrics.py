"""3D pose errors and their summaries (ROS-free, numpy only): MPJPE after root alignment and absolute MPJPE, mm.

* MPJPE: mean over the 17 joints of the Euclidean error after subtracting each pose's pelvis (joint 6)
  from itself (root-relative, "MPJPE" of the paper's Table IV, left);
* absolute MPJPE: the same without alignment, in world coordinates (Table IV, right);

reported over all test frames and per motion type of the frame (:data:`MOTION_NAMES`; the Tables V-VII
breakdown by action).
"""
from __future__ import annotations

import numpy as np

from vsync_ros.data.motion_world import MOTIONS
from vsync_ros.data.skeleton import PELVIS  # root joint of the Human3.6M-ordered 17-joint skeleton

MOTION_NAMES: tuple[str, ...] = MOTIONS  # index = the per-frame 'motion' code stored by the pose world


def pose_errors_mm(pred: np.ndarray, gt: np.ndarray, root: int = PELVIS) -> tuple[float, float]:
    """(MPJPE, absolute MPJPE) in mm of one (17, 3) prediction against (17, 3) GT, metres.

    MPJPE aligns both poses at their own ``root`` joint (pelvis) first; the absolute one does not.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != 3:
        raise ValueError(f'pose_errors_mm needs two (J, 3) arrays of one shape, got {pred.shape} and {gt.shape}')
    absolute = float(np.linalg.norm(pred - gt, axis=-1).mean() * 1000.0)
    rel = float(np.linalg.norm((pred - pred[root]) - (gt - gt[root]), axis=-1).mean() * 1000.0)
    return rel, absolute


def summarize_pose_rows(rows: list[dict]) -> dict:
    """Overall and per-motion means of the per-frame 'mpjpe_mm' / 'abs_mpjpe_mm' (mm; None where no frames).

    Args:
        rows: one dict per frame with 'motion' (a name of :data:`MOTION_NAMES` or 'unknown'), 'mpjpe_mm'
            and 'abs_mpjpe_mm'.

    Returns:
        {'n', 'mpjpe_mm', 'abs_mpjpe_mm', 'per_motion': {motion: {'n', 'mpjpe_mm', 'abs_mpjpe_mm'}}}.
    """
    def mean(vals: list[float]) -> float | None:
        return float(np.mean(vals)) if vals else None
    out = {'n': len(rows), 'mpjpe_mm': mean([r['mpjpe_mm'] for r in rows]),
           'abs_mpjpe_mm': mean([r['abs_mpjpe_mm'] for r in rows]), 'per_motion': {}}
    for name in MOTION_NAMES:
        sel = [r for r in rows if r['motion'] == name]
        out['per_motion'][name] = {'n': len(sel), 'mpjpe_mm': mean([r['mpjpe_mm'] for r in sel]),
                                   'abs_mpjpe_mm': mean([r['abs_mpjpe_mm'] for r in sel])}
    return out


def format_pose_summary(res: dict) -> str:
    """One line overall + one per motion type of a :func:`summarize_pose_rows` result."""
    if not res['n']:
        return 'no frames'
    lines = [f'MPJPE {res["mpjpe_mm"]:.1f} mm / absolute {res["abs_mpjpe_mm"]:.1f} mm (n={res["n"]})']
    for name, m in res['per_motion'].items():
        if m['n']:
            lines.append(f'  {name:5s} n={m["n"]:4d}  MPJPE {m["mpjpe_mm"]:7.1f}  abs {m["abs_mpjpe_mm"]:7.1f}')
    return '\n'.join(lines)
