"""Checkpoint I/O: model weights + config + calibration + training metadata, with compatibility checks.

File format: a ``torch.save`` dict (loadable with ``weights_only=True``) with keys

* ``format`` = 'vsync_ros.checkpoint', ``version`` = 1;
* ``model_state``: the model's state_dict (geometry buffers are not saved; they are rebuilt from the
  calibration);
* ``config``: the full :class:`vsync_ros.config.Config` as a nested dict;
* ``calibration``: ``{'cameras': [camera_info YAML mapping per view], 'region': GroundRegion fields}``;
* ``meta``: free-form training metadata (seed, data manifest, wall time, metrics, ...);
* ``task``: 'counting' (absent in older files) or 'pose'. Pose checkpoints store a
  :class:`vsync_ros.engine.config.PoseConfig` as ``config`` and no ground region (``region`` is None).

Loading against a config or calibration that differs raises :class:`CheckpointMismatchError` naming the
first differing field; unreadable files raise :class:`CheckpointError`.
"""
from __future__ import annotations

import pickle
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from vsync_ros.engine.config import Config, config_from_dict, pose_config_from_dict
from vsync_ros.geometry import CalibrationError, Camera, GroundRegion
from vsync_ros.geometry.calibration import compare_rigs, rig_region
from vsync_ros.models.counting.config import ModelConfig
from vsync_ros.yaml_config import ConfigError

FORMAT = 'vsync_ros.checkpoint'  # file marker, independent of where this module lives
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt or not a vsync_ros checkpoint."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint does not match the config or calibration it is loaded with."""


class CalibrationMismatchError(CheckpointMismatchError):
    """The given cameras / ground region disagree with the calibration the checkpoint was trained with."""


# ------------------------------------------------------------------------------------ calibration
def camera_to_dict(camera: Camera) -> dict:
    """ROS camera_info mapping (+ extrinsics) of ``camera``, exactly as ``Camera.to_yaml`` writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'camera.yaml'
        camera.to_yaml(path)
        return yaml.safe_load(path.read_text())


def camera_from_dict(doc: dict) -> Camera:
    """Inverse of :func:`camera_to_dict` (validated by ``Camera.from_yaml``)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'camera.yaml'
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return Camera.from_yaml(path)


def calibration_to_dict(cameras: Sequence[Camera], region: GroundRegion | None) -> dict:
    """Plain mapping of the cameras and ground region (stored in checkpoints; region None for pose)."""
    return {'cameras': [camera_to_dict(c) for c in cameras], 'region': None if region is None else region.as_dict()}


def calibration_from_dict(doc: dict) -> tuple[list[Camera], GroundRegion | None]:
    """(cameras, region or None) from :func:`calibration_to_dict` output."""
    try:
        region = None if doc.get('region') is None else GroundRegion(**doc['region'])
        return [camera_from_dict(d) for d in doc['cameras']], region
    except (KeyError, TypeError, CalibrationError) as exc:
        raise CheckpointError(f'checkpoint calibration is malformed: {exc}') from exc


CALIBRATION_TOLERANCE_PX = 0.01  # checkpoint vs data-set calibration: the same rig up to YAML rounding


def compare_calibration(saved_cams: Sequence[Camera], saved_region: GroundRegion | None,
                        cameras: Sequence[Camera] | None,
                        region: GroundRegion | None) -> None:
    """Raise :class:`CheckpointMismatchError` when ``cameras`` / ``region`` are not the checkpoint's rig.

    Uses the package's one calibration comparison (:func:`vsync_ros.geometry.calibration.compare_rigs`):
    both calibrations project points over the checkpoint's ground region (a pose checkpoint: the area
    spanned by its cameras) and must agree within :data:`CALIBRATION_TOLERANCE_PX`; the same cameras
    at another resolution with the same aspect ratio match. The message names the view or region field.
    """
    if region is not None and saved_region is None:
        raise CheckpointMismatchError('calibration mismatch: the checkpoint has no ground region '
                                      '(a pose model), a region was given')
    if cameras is None and region is None:
        return
    probe = saved_region if saved_region is not None else rig_region(saved_cams)
    reason = compare_rigs(saved_cams, saved_cams if cameras is None else cameras, probe,
                          CALIBRATION_TOLERANCE_PX, saved_region, region)
    if reason:
        raise CheckpointMismatchError(f'calibration mismatch: {reason}')


EVALUATION_FIELDS = ('correlation', 'epipolar_rank_tol')
"""``model.*`` fields that choose how the same weights are evaluated (not compared, overridable at load)."""


def compare_model_config(saved, given) -> None:
    """Raise :class:`CheckpointMismatchError` naming the first differing ``model.*`` field."""
    if type(saved) is not type(given):
        raise CheckpointMismatchError(f'config mismatch: checkpoint holds a {type(saved).__name__}, '
                                      f'given a {type(given).__name__}')
    a, b = saved.__dict__, given.__dict__
    for key in a:
        if key not in EVALUATION_FIELDS and a[key] != b.get(key):
            raise CheckpointMismatchError(
                f'config mismatch: model.{key}: checkpoint has {a[key]!r}, given {b.get(key)!r}')


# ------------------------------------------------------------------------------------ save / load
@dataclass
class Checkpoint:
    """A loaded checkpoint (see module docstring)."""

    model_state: dict
    config: Any  # Config (counting) or vsync_ros.engine.config.PoseConfig (pose)
    cameras: list[Camera]
    region: GroundRegion | None
    meta: dict = field(default_factory=dict)
    path: str = ''
    task: str = 'counting'


def save_checkpoint(path: str | Path, model: torch.nn.Module, config, cameras: Sequence[Camera],
                    region: GroundRegion | None, meta: dict | None = None, task: str = 'counting') -> Path:
    """Write model weights, config, calibration and metadata atomically (temp file + rename).

    ``config`` is a :class:`Config` (counting) or a ``PoseConfig`` (``task='pose'``, ``region`` None).
    ``meta`` must hold plain Python values (numbers, strings, lists, dicts, None).
    """
    if task not in ('counting', 'pose'):
        raise ValueError(f"task must be 'counting' or 'pose', got {task!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        'format': FORMAT,
        'version': VERSION,
        'model_state': {k: v.detach().cpu() for k, v in model.state_dict().items()},
        'config': config.to_dict(),
        'calibration': calibration_to_dict(cameras, region),
        'meta': _plain(meta or {}),
        'task': task,
    }
    tmp = path.with_name(path.name + '.tmp')
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def _plain(obj: Any, key: str = 'meta') -> Any:
    """Convert metadata to plain Python (loadable with ``weights_only=True``); TypeError names a bad key."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, dict):
        return {str(k): _plain(v, f'{key}.{k}') for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f'{key}[{i}]') for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, (str, Path)):  # str subclasses such as torch.__version__ included
        return str(obj)
    raise TypeError(f'checkpoint {key} has a value of type {type(obj).__name__}; use plain Python values')


def load_checkpoint(path: str | Path, config: Config | ModelConfig | None = None,
                    cameras: Sequence[Camera] | None = None, region: GroundRegion | None = None,
                    map_location: str | torch.device = 'cpu') -> Checkpoint:
    """Read a checkpoint; when ``config`` / ``cameras`` / ``region`` are given they must match it.

    Raises:
        CheckpointError: missing, truncated, corrupt or foreign file.
        CheckpointMismatchError: the model config or calibration differs (message names the field).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint {path} does not exist')
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError,
            AttributeError, KeyError, IndexError) as exc:
        raise CheckpointError(f'checkpoint {path} is corrupt or not a torch file: {type(exc).__name__}: '
                              f'{str(exc).splitlines()[0] if str(exc) else ""}') from exc
    if not isinstance(payload, dict) or payload.get('format') != FORMAT:
        raise CheckpointError(f'{path} is not a vsync_ros checkpoint (no format={FORMAT!r} marker)')
    if payload.get('version') != VERSION:
        raise CheckpointError(f'{path}: unsupported checkpoint version {payload.get("version")} (expected {VERSION})')
    for key in ('model_state', 'config', 'calibration'):
        if key not in payload:
            raise CheckpointError(f'{path}: checkpoint lacks {key!r}')
    task = payload.get('task', 'counting')
    try:
        if task == 'pose':
            saved_cfg = pose_config_from_dict(payload['config'])
        elif task == 'counting':
            saved_cfg = config_from_dict(payload['config'])
        else:
            raise CheckpointError(f'{path}: unknown task {task!r} in checkpoint')
    except ConfigError as exc:
        raise CheckpointError(f'{path}: stored config is invalid: {exc}') from exc
    saved_cams, saved_region = calibration_from_dict(payload['calibration'])
    if config is not None:
        given = config.model if hasattr(config, 'model') else config
        try:
            compare_model_config(saved_cfg.model, given)
        except CheckpointMismatchError as exc:
            raise CheckpointMismatchError(f'{path}: {exc}') from None
    try:
        compare_calibration(saved_cams, saved_region, cameras, region)
    except CheckpointMismatchError as exc:
        raise CheckpointMismatchError(f'{path}: {exc}') from None
    return Checkpoint(payload['model_state'], saved_cfg, saved_cams, saved_region, payload.get('meta', {}), str(path),
                      task)


def load_model(path: str | Path, config: Config | ModelConfig | None = None, cameras: Sequence[Camera] | None = None,
               region: GroundRegion | None = None, map_location: str | torch.device = 'cpu',
               correlation: str | None = None, epipolar_rank_tol: float | None = None):
    """Build the model stored in ``path`` (with its own calibration) and load its weights.

    Counting checkpoints give the counting model, pose checkpoints a ``VolumetricPoseModel``
    (``ckpt.task`` says which). ``correlation`` / ``epipolar_rank_tol`` override how CLS-cor / CLS-epi
    evaluate the correlation (:class:`~vsync_ros.models.sync.config.SyncConfig`; same weights); by default
    the checkpoint's config (or ``config``, when given) decides.

    Returns:
        (model in eval mode, :class:`Checkpoint`).
    """
    from vsync_ros.models.counting.model import build_model  # local import keeps checkpoint inspection torch-model free

    ckpt = load_checkpoint(path, config, cameras, region, map_location)
    given = None if config is None else (config.model if hasattr(config, 'model') else config)
    for key, value in (('correlation', correlation), ('epipolar_rank_tol', epipolar_rank_tol)):
        if value is None and given is not None:
            value = getattr(given, key)
        if value is not None:
            setattr(ckpt.config.model, key, value)
    if ckpt.task == 'pose':
        from vsync_ros.models.pose import build_pose_model
        model = build_pose_model(ckpt.config.model, ckpt.cameras)
    else:
        model = build_model(ckpt.config.model, ckpt.cameras, ckpt.region)
    try:
        model.load_state_dict(ckpt.model_state, strict=True)
    except RuntimeError as exc:
        raise CheckpointMismatchError(
            f'{path}: weights do not fit the stored config: {str(exc).splitlines()[0]}') from exc
    model.to(map_location)
    return model.eval(), ckpt
