"""Building blocks the counting and pose tasks share: regime parts, batches, training data, manifests, weight init."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
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


MODEL_REFERENCE_VIEW = 0  # counting models synchronize every other view to view 0


def failover_synchronize(view_valid: torch.Tensor) -> torch.Tensor:
    """(B,) bool: which samples a counting sync model warps when it is run the way the node runs it.

    The node's reference is view 0 while view 0 has a frame; otherwise it fails over to the next view of
    its ``failover_order``, and :class:`vsync_ros.inference.pipeline.CountingPipeline` (``failover=
    'unsynced'``) fuses the available views as captured, because the models only learned to warp towards
    view 0. So a sample is synchronized exactly when its view 0 is valid; the result is the model's
    ``batch['synchronize']``.

    Args:
        view_valid: (B, V) bool, after any dropped views were marked missing.
    """
    return view_valid[:, MODEL_REFERENCE_VIEW].to(torch.bool)


def view_dropout_probs(setting: float | Sequence[float], n_views: int) -> list[float]:
    """Per-view drop probabilities of ``train.view_dropout`` (one value for every view, or one per view).

    Raises:
        ValueError: a list whose length is not ``n_views`` or a value outside [0, 1] (names the field).
    """
    probs = [float(x) for x in setting] if isinstance(setting, (list, tuple)) else [float(setting)] * n_views
    if len(probs) != n_views:
        raise ValueError(f'train.view_dropout lists {len(probs)} probabilities, the data set has {n_views} views '
                         f'(give one per view, reference first, or a single value for all)')
    if any(not 0.0 <= x <= 1.0 for x in probs):
        raise ValueError(f'train.view_dropout values must lie in [0, 1], got {probs}')
    return probs


def drop_views(view_valid: torch.Tensor, probs: Sequence[float], generator: torch.Generator) -> torch.Tensor:
    """Draw which valid views of each sample view dropout marks missing; never every view of a sample.

    Each valid view ``v`` is dropped independently with probability ``probs[v]``. A sample that would be
    left without any view keeps one of its valid views, chosen uniformly, so with one probability p for
    all V views the rate at which a view is dropped is p - p**V / V (each view equally often the kept
    one). Two (B, V) uniform draws per call come from ``generator`` (CPU), whatever the outcome, so a
    run's random stream does not depend on what was dropped.

    Args:
        view_valid: (B, V) bool, views that have a frame.
        probs: V probabilities in [0, 1].
        generator: the training step generator (``fit`` seeds it with ``train.seed + 1``).

    Returns:
        (B, V) bool on ``view_valid``'s device: True where a valid view is to be marked missing.
    """
    valid = view_valid.detach().to('cpu', torch.bool)
    b, v = valid.shape
    if len(probs) != v:
        raise ValueError(f'{len(probs)} drop probabilities for {v} views')
    u = torch.rand((b, v), generator=generator)
    pick = torch.rand((b, v), generator=generator)
    drop = (u < torch.tensor(probs, dtype=u.dtype)) & valid
    emptied = valid.any(dim=1) & ~(valid & ~drop).any(dim=1)
    if bool(emptied.any()):
        keep = torch.where(valid, pick, torch.full_like(pick, -1.0)).argmax(dim=1)
        rows = torch.nonzero(emptied).flatten()
        drop[rows, keep[rows]] = False
    return drop.to(view_valid.device)


def mark_missing(batch: dict[str, torch.Tensor], missing: torch.Tensor) -> dict[str, torch.Tensor]:
    """The batch with the views ``missing`` (B, V) bool marked as the data set marks a view without a frame.

    ``images`` of those views are zeroed, ``view_valid`` set False and ``view_density`` (the head density of
    the input frames, when present) zeroed; ``images_sync`` (the warping-loss targets) is kept, the loss
    leaves invalid views out. The given tensors are not modified (new ones are returned).
    """
    out = dict(batch)
    if not bool(missing.any()):
        return out
    for key in ('images', 'view_density'):
        if key in out:
            shape = (*missing.shape, *([1] * (out[key].dim() - 2)))
            out[key] = out[key].masked_fill(missing.view(shape).to(out[key].device), 0.0)
    out['view_valid'] = out['view_valid'].to(torch.bool) & ~missing.to(out['view_valid'].device)
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
