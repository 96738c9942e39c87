"""Building blocks the counting and pose tasks share: regime parts, batches, training data, manifests, weight init."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from vsync_ros.geometry import Camera, GroundRegion
from vsync_ros.models.inputs import resize_views

METHOD_NAMES = {'sls': 'SLS', 'cls_cat': 'CLS-cat', 'cls_cor': 'CLS-cor', 'cls_epi': 'CLS-epi'}
SYNC_LOSS_SYMBOLS = {'warp': 'l_W', 'sim': 'l_s'}


def uses_warp_loss(cfg) -> bool:
    """True when the training loss includes the feature-warping term gamma * l_W (a sync method, gamma > 0).

    ``cfg``: a counting ``Config`` or a ``PoseConfig`` (same ``model.method`` / ``loss`` fields).
    """
    return cfg.model.method != 'base' and cfg.loss.sync_loss == 'warp' and cfg.loss.gamma > 0


def needs_sync_frames(cfg) -> bool:
    """True when training reads the synchronized frames (BaseS input or the warping loss l_W)."""
    return cfg.train.input == 'sync' or uses_warp_loss(cfg)


def prepare_batch(batch: Mapping[str, torch.Tensor], image_hw: tuple[int, int], device: torch.device,
                  use_sync_input: bool = False) -> dict[str, torch.Tensor]:
    """Move a collated data-set batch to ``device`` and resize its images to the model input.

    Args:
        batch: 'images' (and 'images_sync') (B, V, 3, H, W) float in [0, 1], 'view_valid' (B, V) bool,
            anything else is moved as it is.
        image_hw: model input (height, width), pixels.
        use_sync_input: the synchronized frames replace the input frames (all views valid), as BaseS
            training and the ``--sync`` evaluation need.

    Returns:
        the batch on ``device`` with images (B, V, 3, *image_hw) (area resize of
        :func:`vsync_ros.models.inputs.resize_views`).

    Raises:
        KeyError: ``use_sync_input`` without 'images_sync' in the batch.
    """
    out = {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    if use_sync_input:
        if 'images_sync' not in out:
            raise KeyError('synchronized input requested but the batch has no images_sync')
        out['images'] = out['images_sync']
        out['view_valid'] = torch.ones_like(out['view_valid'])
    for key in ('images', 'images_sync'):
        if key in out:
            out[key] = resize_views(out[key], image_hw)
    return out


def check_data_task(ckpt, dataset) -> None:
    """Raise ValueError when a checkpoint's task is not the data set's (before any rig comparison).

    ``ckpt``: a :class:`~vsync_ros.engine.checkpoint.Checkpoint`; ``dataset``: a
    :class:`~vsync_ros.data.dataset.SyncDataset`. The message names both and both tasks, e.g.
    "checkpoint a.pt is a pose checkpoint, the data set data/plaza is a counting data set".
    """
    if ckpt.task != dataset.task:
        raise ValueError(f'checkpoint {ckpt.path} is a {ckpt.task} checkpoint, the data set {dataset.root} is a '
                         f'{dataset.task} data set: evaluate a {dataset.task} checkpoint on it, or this '
                         f'checkpoint on a {ckpt.task} data set')


def data_manifest(dataset, split: str) -> dict:
    """What was trained on: root, split, size, the data set's manifest essentials and an index hash.

    ``dataset``: a :class:`~vsync_ros.data.dataset.SyncDataset` of ``split``.
    """
    index_file = Path(dataset.root) / split / 'index.json'
    digest = hashlib.sha256(index_file.read_bytes()).hexdigest()[:16] if index_file.is_file() else ''
    man = dataset.manifest
    return {
        'root': str(Path(dataset.root).resolve()),
        'split': split,
        'n': len(dataset),
        'index_sha256_16': digest,
        'format': man.get('format'),
        'generator': man.get('generator'),
        'seed': man.get('seed'),
        'image_size': man.get('image_size'),
        'desync': man.get('desync'),
        'region': dataset.region.as_dict() if dataset.region is not None else None,
    }


def init_shared_weights(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> int:
    """Copy the tensors of ``state`` whose name and shape exist in ``model``; returns how many.

    Used to start a sync model (CLS / SLS) from a trained base model: the shared parts are copied, the
    sync modules stay freshly initialised.

    Raises:
        ValueError: no tensor fits.
    """
    own = model.state_dict()
    shared = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not shared:
        raise ValueError('init_checkpoint shares no weights with this model')
    model.load_state_dict(shared, strict=False)
    return len(shared)


@dataclass
class TrainingData:
    """The data of one training run, as a task loads it.

    Attributes:
        train: the training samples the loader shuffles (a data set or a concatenation of several).
        val: validation samples (in the form the task's ``evaluate`` takes), or None (no ``data.val_split``).
        cameras: calibration of the views, one per view (the rig the model is built for).
        region: ground region of the counting density map; None for pose.
        manifest: :func:`data_manifest` of the training set (counting), or a list of them, one per
            data set (pose); stored in the checkpoint as meta 'data_manifest'.
    """

    train: Dataset
    val: Dataset | None
    cameras: list[Camera]
    region: GroundRegion | None
    manifest: dict | list[dict] = field(default_factory=dict)
