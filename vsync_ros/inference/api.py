"""The contract between the ROS layer and the (ROS-free) inference pipeline.

Both sides import this module: ``vsync_ros.inference.pipeline`` implements :class:`FramePipeline`, the sync
node, the offline bag evaluator and the tests consume it. Nothing here imports rclpy or torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from vsync_ros.geometry import Camera, GroundRegion

TASKS = ('counting', 'pose')


@dataclass
class PipelineResult:
    """One fused multi-view estimate, referring to the time of the reference view's frame.

    Attributes:
        density: (rows, cols) float32 ground-plane density, people per cell, on ``FramePipeline.region``.
        count: estimated number of people in the region (normally ``density.sum()``).
        joints: (P, 17, 3) 3D joints in metres (world frame) for the pose task, else None.
        inference_ms: wall time spent in ``run``, milliseconds.
        note: '' normally; otherwise how this estimate was degraded (e.g. fused without synchronization
            because the reference is not the model's), for the caller to log.
    """

    density: np.ndarray
    count: float
    joints: np.ndarray | None = None
    inference_ms: float = 0.0
    note: str = ''


@runtime_checkable
class FramePipeline(Protocol):
    """A callable multi-view model with fixed calibration.

    Attributes:
        cameras: calibration per view, at the input image size the model expects.
        region: ground grid of the output density map.
        task: ``'counting'`` or ``'pose'``.
    """

    cameras: list[Camera]
    region: GroundRegion
    task: str

    def run(self, images: list[np.ndarray | None], ref_index: int) -> PipelineResult:
        """Fuse one frame per view into an estimate at the time of view ``ref_index``.

        Args:
            images: per view, (H, W, 3) uint8 RGB at the camera size, or None when missing / stale.
            ref_index: index of the view whose time the estimate refers to (never None in ``images``).
        """
        ...


class PipelineOutputError(ValueError):
    """A pipeline returned something that breaks the :class:`PipelineResult` contract."""


def check_result(result: PipelineResult, region: GroundRegion, task: str = 'counting') -> PipelineResult:
    """Validate a pipeline result against the contract; return it with ``density`` as float32.

    Raises:
        PipelineOutputError: wrong type or shape, or non-finite values.
    """
    if not isinstance(result, PipelineResult):
        raise PipelineOutputError(f'pipeline returned {type(result).__name__}, expected PipelineResult')
    density = np.asarray(result.density, dtype=np.float32)
    if density.shape != region.shape:
        raise PipelineOutputError(f'density has shape {density.shape}, the ground region is {region.shape}')
    if not np.all(np.isfinite(density)):
        raise PipelineOutputError('density contains NaN or inf')
    if not math.isfinite(float(result.count)):
        raise PipelineOutputError(f'count is not finite ({result.count})')
    joints = result.joints
    if joints is not None:
        joints = np.asarray(joints, dtype=np.float64)
        if joints.ndim != 3 or joints.shape[2] != 3 or not np.all(np.isfinite(joints)):
            raise PipelineOutputError(f'joints must be a finite (P, J, 3) array, got shape {joints.shape}')
    elif task == 'pose':
        raise PipelineOutputError('the pose task needs joints in the result')
    return PipelineResult(density, float(result.count), joints, float(result.inference_ms),
                          str(getattr(result, 'note', '') or ''))
