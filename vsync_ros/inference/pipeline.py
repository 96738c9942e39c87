"""Inference pipeline: a checkpoint (weights + config + calibration) as a callable on one frame per view.

ROS-free. ``load_pipeline`` returns a :class:`CountingPipeline` that implements
:class:`vsync_ros.inference.api.FramePipeline` (used by the sync node, ``vsync-bag-eval`` and the demo)::

    from vsync_ros.inference.pipeline import load_pipeline
    pipe = load_pipeline('models/plaza_cls_epi.pt', device='auto')
    result = pipe.run([rgb_cam1, rgb_cam2, None], ref_index=0)   # cam3 missing
    result.density   # (rows, cols) float32, people per ground cell on pipe.region
    result.count     # people in the region

Behaviour:

* **Same numbers as** ``vsync-eval``: frames go through :mod:`vsync_ros.models.inputs` (``x / 255``, area
  resize to the model input) exactly as the data set + ``prepare_batch`` path; a missing view (``None``)
  is a zero image with ``view_valid = False``, as in the data set.
* **Geometry is fixed at load time**: the model builds its projection grids, depth ratios and epipolar
  weights once from the checkpoint's calibration. Given ``cameras`` (e.g. the node's calibration files)
  are only *checked* against it (views, aspect ratio, reprojection within ``tolerance_px``), never used to
  rebuild the geometry; a disagreement is refused with the view and the size of the difference.
* **Reference fail-over** (``ref_index`` != the model's reference, view 0). The counting models are trained
  with view 0 as the reference: CLS / SLS warp every other view to view 0's capture time, with motion
  nets and epipolar weights that exist only for the pairs (0, i). When view 0 is stale or missing there is
  nothing to synchronize to, and a warp computed against an empty reference image is arbitrary. With the
  default ``failover='unsynced'`` the sync module is therefore switched off for such a step (the model's
  ``batch['synchronize'] = False``; view-dropout training and ``vsync-eval --drop-view`` use the same switch,
  :func:`vsync_ros.engine.tasks.common.failover_synchronize`): the available
  frames are fused *as captured* (what BaseU does), view 0 (if given) included, and the result carries a
  ``note`` saying so (the sync node logs it; the module logger warns once per episode). The estimate then
  refers to the fail-over reference's time only as well as an unsynchronized model can. Base models are
  unaffected (they never warp). ``failover='as_trained'`` instead runs the model unchanged (view 0 zero and
  invalid, sync on), which is what ``vsync-eval`` does on a data set sample whose reference is missing.
* **Pose** (``task='pose'``, a checkpoint of ``vsync-train`` with ``task: pose``): :class:`PosePipeline`
  returns ``joints`` (1, 17, 3) world metres of the person in the studio, at the time of the reference
  frame. The reference follows the paper's rule: view 0, or the next available view (the node's
  fail-over order, normally view 1) when view 0's frame is missing; the pose model synchronizes to any
  reference (epipolar weights exist for every camera pair), so no fall-back to unsynchronized fusion is
  needed. ``density`` is an all-zero map on a coarse grid over the rig (the FramePipeline contract asks
  for one; pose has no density) and ``count`` is the number of people estimated (1).
* **Devices**: ``auto`` (CUDA when available), ``cpu``, ``cuda`` / ``cuda:N``; CUDA requested but absent
  falls back to the CPU with a warning (``pipeline.device_note``).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vsync_ros.engine.checkpoint import CalibrationMismatchError, Checkpoint, CheckpointMismatchError, load_model
from vsync_ros.engine.device import select_device
from vsync_ros.geometry import Camera, GroundRegion
from vsync_ros.geometry.calibration import compare_rigs, rig_region
from vsync_ros.inference.api import PipelineResult
from vsync_ros.inference.fallback import FALLBACK_WHEN, FallbackPipeline
from vsync_ros.models.inputs import InputImageError, frames_to_batch

__all__ = ['FAILOVER_MODES', 'FALLBACK_WHEN', 'CalibrationMismatchError', 'CountingPipeline', 'FallbackPipeline',
           'InputImageError', 'PosePipeline',
           'check_cameras', 'load_pipeline', 'rig_region', 'select_device']

log = logging.getLogger(__name__)

FAILOVER_MODES = ('unsynced', 'as_trained')
MODEL_REFERENCE_VIEW = 0  # the counting models are trained with view 0 as the reference
POSE_PROBE_REGION = GroundRegion(-1.5, -1.5, 3.0, 3.0, 0.5)  # pose capture area checked against the calibration


def check_frame_set(images: Sequence, ref_index: int, names: Sequence[str]) -> int:
    """Validate one frame per view and a reference view that has a frame; returns ``int(ref_index)``.

    Raises:
        ValueError: wrong number of images, ``ref_index`` out of range, or no frame for the reference.
    """
    n = len(names)
    if len(images) != n:
        raise ValueError(f'expected {n} images ({", ".join(names)}), got {len(images)}')
    if not 0 <= int(ref_index) < n:
        raise ValueError(f'ref_index {ref_index} is out of range for {n} views')
    ref_index = int(ref_index)
    if images[ref_index] is None:
        raise ValueError(f'the reference view {ref_index} ({names[ref_index]}) has no frame')
    return ref_index

# ---------------------------------------------------------------------------------------- calibration
def check_cameras(model_cameras: Sequence[Camera], model_region: GroundRegion, cameras: Sequence[Camera] | None,
                  region: GroundRegion | None = None, tolerance_px: float = 2.0, source: str = 'checkpoint') -> None:
    """Refuse deployment cameras / region that disagree with the ones a model was trained with.

    Args:
        model_cameras: the model's calibration (any resolution). model_region: its ground grid.
        cameras: deployment calibration per view, same order (any resolution with the same aspect ratio).
        region: deployment ground grid (optional).
        tolerance_px: largest accepted reprojection difference of region points, in model-camera pixels.
        source: name of the model (for messages).

    Raises:
        CalibrationMismatchError: naming the view and the difference.
    """
    if cameras is None and region is None:
        return
    reason = compare_rigs(model_cameras, model_cameras if cameras is None else cameras, model_region, tolerance_px,
                          model_region, region)
    if reason:
        raise CalibrationMismatchError(
            f'{source} does not match the calibration the model was trained with: {reason}. Fix the '
            'calibration files or retrain on this camera rig.')


# ---------------------------------------------------------------------------------------- pipeline
class CountingPipeline:
    """A loaded counting model with fixed calibration (a :class:`~vsync_ros.inference.api.FramePipeline`).

    Attributes:
        cameras: calibration per view at the model input size (``run`` accepts other sizes with the same
            aspect ratio and resizes them).
        region: ground grid of the output density, ``region.shape`` = (rows, cols).
        task: 'counting'. method: 'base' | 'sls' | 'cls_cat' | 'cls_cor' | 'cls_epi'.
        reference_view: the view the model synchronizes to (0).
        image_hw: (height, width) of the network input, pixels.
        device: torch device; device_note: why it differs from the requested one ('' if it does not).
        failover: 'unsynced' or 'as_trained' (see the module docstring).
        checkpoint: path of the checkpoint; meta: its training metadata.
    """

    task = 'counting'
    reference_view = MODEL_REFERENCE_VIEW

    def __init__(self, model: torch.nn.Module, ckpt: Checkpoint, device: torch.device, failover: str = 'unsynced',
                 device_note: str = '') -> None:
        if failover not in FAILOVER_MODES:
            raise ValueError(f'failover must be one of {FAILOVER_MODES}, got {failover!r}')
        self.model = model.eval()
        self.cfg = model.cfg
        self.method: str = model.method
        self.cameras: list[Camera] = list(model.cameras)
        self.region: GroundRegion = model.region
        self.names = [c.name for c in self.cameras]
        self.image_hw = (self.cfg.image_height, self.cfg.image_width)
        self.device, self.device_note = device, device_note
        self.failover = failover
        self.checkpoint, self.meta = ckpt.path, dict(ckpt.meta)
        self._lock = threading.Lock()
        self._in_failover = False

    @property
    def synchronizes(self) -> bool:
        """True for methods that warp the other views to the reference (SLS, CLS)."""
        return self.method != 'base'

    def describe(self) -> str:
        """One line: method, views, input size, output grid, device."""
        rows, cols = self.region.shape
        return (f'{self.method} from {self.checkpoint}: {len(self.cameras)} views ({", ".join(self.names)}) at '
                f'{self.image_hw[1]}x{self.image_hw[0]}, reference {self.names[self.reference_view]}, ground grid '
                f'{rows}x{cols} of {self.region.cell_m:g} m, device {self.device}')

    def _failover_note(self, ref_index: int) -> str:
        """Describe a step whose reference is not the model's (logged once per fail-over episode)."""
        active = ref_index != self.reference_view
        note = ''
        if active and self.synchronizes:
            ref_name, model_ref = self.names[ref_index], self.names[self.reference_view]
            if self.failover == 'unsynced':
                note = (f'{self.method} synchronizes to {model_ref} (its training reference), not to {ref_name}: '
                        'fusing the available views as captured, without synchronization')
            else:
                note = (f'{self.method} ran as trained although the reference is {ref_name}: the views are warped '
                        f'towards {model_ref}, which has no frame')
        if active != self._in_failover:
            if active and note:
                log.warning(note)
            elif not active:
                log.info(f'reference back to {self.names[self.reference_view]}: synchronized fusion again')
            self._in_failover = active
        return note

    def run(self, images: list[np.ndarray | None], ref_index: int) -> PipelineResult:
        """Fuse one frame per view into a ground-plane density at the time of view ``ref_index``.

        Args:
            images: per view, (H, W, 3) uint8 RGB (the model size or any size with its aspect ratio), or None
                for a missing / stale view.
            ref_index: the view whose frame time the estimate refers to (must have a frame).

        Returns:
            :class:`PipelineResult`: density (rows, cols) float32 people per cell, count (people in the
            region), inference_ms (wall time of this call), note ('' or the fail-over behaviour).

        Raises:
            ValueError: wrong number of views, bad ``ref_index``, no reference frame.
            InputImageError: a malformed frame (dtype, channels, aspect ratio).
        """
        t0 = time.perf_counter()
        ref_index = check_frame_set(images, ref_index, self.names)
        batch, valid = frames_to_batch(images, self.image_hw, self.names)
        with self._lock:
            note = self._failover_note(ref_index)
            unsynced = bool(note) and self.failover == 'unsynced'
            with torch.inference_mode():
                out = self.model({'images': batch.to(self.device), 'view_valid': valid.to(self.device),
                                  'synchronize': torch.tensor([not unsynced], device=self.device)},
                                 with_sync_targets=False)
            density = (out['density'][0, 0] / self.cfg.density_scale).float().cpu().numpy()
            count = float(out['count'][0])
        return PipelineResult(density.astype(np.float32, copy=False), count, None,
                              (time.perf_counter() - t0) * 1e3, note)


class PosePipeline:
    """A loaded volumetric 3D pose model with fixed calibration (a FramePipeline, ``task = 'pose'``).

    Attributes:
        cameras: calibration per view at the model input size; region: nominal ground grid over the rig
            (:func:`rig_region`; markers and the empty density map use it).
        task: 'pose'. method: 'base' | 'cls_cat' | 'cls_cor' | 'cls_epi'. reference_view: 0.
        image_hw: (height, width) of the network input, pixels. device, device_note, checkpoint, meta: as
            :class:`CountingPipeline`.
    """

    task = 'pose'
    reference_view = MODEL_REFERENCE_VIEW

    def __init__(self, model: torch.nn.Module, ckpt: Checkpoint, device: torch.device, device_note: str = '') -> None:
        self.model = model.eval()
        self.cfg = model.cfg
        self.method: str = model.method
        self.cameras: list[Camera] = list(model.cameras)
        self.region: GroundRegion = rig_region(self.cameras)
        self.names = [c.name for c in self.cameras]
        self.image_hw = (self.cfg.image_height, self.cfg.image_width)
        self.device, self.device_note = device, device_note
        self.checkpoint, self.meta = ckpt.path, dict(ckpt.meta)
        self._lock = threading.Lock()

    def describe(self) -> str:
        """One line: method, views, input size, volume, device."""
        return (f'pose {self.method} from {self.checkpoint}: {len(self.cameras)} views ({", ".join(self.names)}) at '
                f'{self.image_hw[1]}x{self.image_hw[0]}, {self.cfg.volume_size}^3 volume of '
                f'{self.cfg.cube_side_m:g} m, '
                f'reference {self.names[self.reference_view]} (else the next available view), device {self.device}')

    def run(self, images: list[np.ndarray | None], ref_index: int) -> PipelineResult:
        """3D joints of the person at the time of view ``ref_index``'s frame.

        Args:
            images: per view, (H, W, 3) uint8 RGB (model size or same aspect ratio) or None (missing / stale).
            ref_index: the reference view (must have a frame); the other views are synchronized to it.

        Returns:
            :class:`PipelineResult` with joints (1, 17, 3) float64 world metres, density zeros
            ``region.shape`` float32, count 1.0, inference_ms; note '' or why the reference is not view 0.

        Raises:
            ValueError: wrong number of views, bad ``ref_index``, no reference frame, fewer than 2 frames.
            InputImageError: a malformed frame.
        """
        t0 = time.perf_counter()
        ref_index = check_frame_set(images, ref_index, self.names)
        batch, valid = frames_to_batch(images, self.image_hw, self.names)
        if int(valid.sum()) < 2:
            raise ValueError('3D pose needs frames from at least 2 views')
        with self._lock, torch.inference_mode():
            out = self.model({'images': batch.to(self.device), 'view_valid': valid.to(self.device),
                              'ref_view': torch.tensor([ref_index], device=self.device)}, with_sync_targets=False)
            joints = out['joints_3d'][0].double().cpu().numpy()
        note = '' if ref_index == self.reference_view else (
            f'reference {self.names[ref_index]} ({self.names[self.reference_view]} has no frame)')
        density = np.zeros(self.region.shape, np.float32)
        return PipelineResult(density, 1.0, joints[None], (time.perf_counter() - t0) * 1e3, note)


def load_pipeline(checkpoint: str | Path, device: str = 'auto', task: str = 'counting',
                  cameras: Sequence[Camera] | None = None, region: GroundRegion | None = None,
                  tolerance_px: float = 2.0, failover: str = 'unsynced', fallback_checkpoint: str | Path | None = None,
                  fallback_when: str = 'reference') -> CountingPipeline | PosePipeline | FallbackPipeline:
    """Load a checkpoint written by ``vsync-train`` as a :class:`CountingPipeline` or :class:`PosePipeline`.

    With ``fallback_checkpoint`` (counting) the result is a :class:`~vsync_ros.inference.fallback.FallbackPipeline`:
    this checkpoint on complete frame sets, the fallback one (same rig and ground grid) on degraded ones.

    Args:
        checkpoint: path of the ``.pt`` file.
        device: 'auto' | 'cpu' | 'cuda' | 'cuda:N' (CUDA absent: CPU with a warning).
        task: 'counting' or 'pose'; must match the checkpoint's task.
        cameras: deployment calibration per view to check against the checkpoint's (None: not checked).
        region: deployment ground grid to check (None: not checked; counting only).
        tolerance_px: largest accepted reprojection difference, model pixels.
        failover: counting: behaviour when the reference is not view 0 (see the module docstring).
        fallback_checkpoint: counting: a second checkpoint for degraded frame sets (None / '': none).
        fallback_when: 'reference' (the model's reference view has no frame) or 'any_missing' (any view).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown task, device or fail-over mode.
        vsync_ros.engine.checkpoint.CheckpointError: unreadable / foreign checkpoint, weights that do not fit, or
            (:class:`CalibrationMismatchError`) a calibration mismatch.
    """
    if task not in ('counting', 'pose'):
        raise ValueError(f"unknown task {task!r}: use 'counting' or 'pose'")
    if failover not in FAILOVER_MODES:
        raise ValueError(f'failover must be one of {FAILOVER_MODES}, got {failover!r}')
    if fallback_when not in FALLBACK_WHEN:
        raise ValueError(f'fallback_when must be one of {FALLBACK_WHEN}, got {fallback_when!r}')
    if fallback_checkpoint and task != 'counting':
        raise ValueError(f'fallback_checkpoint serves counting models; task {task!r} has none (leave it empty)')
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    dev, note = select_device(device)
    if note:
        log.warning(note)
    model, ckpt = load_model(path, map_location=dev)
    if ckpt.task != task:
        raise ValueError(f'{path} is a {ckpt.task} checkpoint, task {task!r} was requested')
    if task == 'pose':
        # calibration probes over the capture area (3 m square around the origin, feet and head height)
        check_cameras(model.cameras, POSE_PROBE_REGION, cameras, None, tolerance_px, source=str(path))
        pipe: CountingPipeline | PosePipeline = PosePipeline(model, ckpt, dev, note)
        log.info(pipe.describe())
        return pipe
    check_cameras(model.cameras, model.region, cameras, region, tolerance_px, source=str(path))
    pipe = CountingPipeline(model, ckpt, dev, failover, note)
    if fallback_checkpoint:
        try:
            backup = load_pipeline(fallback_checkpoint, device, 'counting', cameras, region, tolerance_px, failover)
        except (OSError, ValueError, CheckpointMismatchError) as exc:
            raise type(exc)(f'fallback_checkpoint: {exc}') from exc
        combined = FallbackPipeline(pipe, backup, fallback_when)
        log.info(combined.describe())
        return combined
    log.info(pipe.describe())
    return pipe
