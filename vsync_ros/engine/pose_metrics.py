"""3D pose errors (ROS-free, numpy only): MPJPE after root alignment and absolute MPJPE, millimetres."""
from __future__ import annotations

import numpy as np

from vsync_ros.data.skeleton import PELVIS  # root joint of the Human3.6M-ordered 17-joint skeleton


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
