"""Pose task: volumetric multi-view 3D pose, BaseS / BaseU / CLS.

A pose config is a YAML file with ``task: pose`` at the top level and the sections ``model``
(:class:`~vsync_ros.models.pose.PoseModelConfig`), ``loss`` (:class:`~vsync_ros.models.pose.PoseLossConfig`),
``train`` (:class:`vsync_ros.engine.config.TrainConfig`, same keys as counting) and ``data``
(:class:`vsync_ros.engine.config.DataConfig`; ``gp_cell_m`` is unused; ``root`` may list several data
sets separated by commas, e.g. one per world seed, trained on together). ``inherit:`` and dotted
overrides work as for counting. Regimes (paper Sec. IV-D, Table IV):

* BaseS: ``model.method: base``, ``train.input: sync`` (all views at the reference time);
* BaseU: ``model.method: base``, ``train.input: unsync``;
* CLS-cor / CLS-epi: ``model.method: cls_cor | cls_epi``, unsynchronized input, loss
  ``l_p + gamma * l_s`` (``loss.sync_loss: sim``, paper gamma 0.01) or ``l_p + gamma * l_W`` (``warp``,
  needs the synchronized frames) or ``l_p`` alone (``none``, the paper's CLS-cor(gamma = 0)).

Metrics (:func:`evaluate_pose_model`; definitions in :mod:`vsync_ros.engine.pose_metrics`), person 0,
millimetres: MPJPE (pelvis-aligned) and absolute MPJPE, over all frames and per motion type;
validation keeps the checkpoint of the lowest MPJPE.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset
from tqdm import tqdm

from vsync_ros.data.dataset import SyncDataset
from vsync_ros.data.skeleton import PELVIS
from vsync_ros.engine.checkpoint import (
    Checkpoint,
    CheckpointMismatchError,
    compare_calibration,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from vsync_ros.engine.config import PoseConfig
from vsync_ros.engine.pose_metrics import MOTION_NAMES, format_pose_summary, pose_errors_mm, summarize_pose_rows
from vsync_ros.engine.tasks.common import (
    TrainingData,
    check_data_task,
    data_manifest,
    init_shared_weights,
    needs_sync_frames,
    prepare_batch,
    uses_warp_loss,
)
from vsync_ros.models.pose import build_pose_model, reference_views

METRIC_DEFINITION = ("mpjpe_mm: mean joint error after subtracting each pose's pelvis (joint 6); "
                     'abs_mpjpe_mm: mean joint error in world coordinates; person 0, millimetres')


# ---------------------------------------------------------------------------------------- data
def data_roots(root: str) -> list[str]:
    """Folders named by ``data.root`` of a pose config (one, or several separated by commas).

    Several data sets (e.g. one per world seed, all on the same camera rig) are trained on together.

    Raises:
        ValueError: ``root`` names no folder.
    """
    roots = [r.strip() for r in str(root).split(',') if r.strip()]
    if not roots:
        raise ValueError('data.root is empty')
    return roots


class PoseSamples(Dataset):
    """A pose :class:`~vsync_ros.data.dataset.SyncDataset` plus per-frame 2D joints at the model input size.

    Adds ``joints_uv`` float32 (V, P, 17, 2): pixels of the input frame of each view at the model input
    resolution (NaN for missing views), and ``view_synced`` bool (V,): valid views with zero offset.

    Args:
        dataset: a pose ``SyncDataset``; image_hw: model input (height, width), pixels.

    Raises:
        ValueError: ``dataset`` is not a pose data set.
    """

    def __init__(self, dataset: SyncDataset, image_hw: tuple[int, int]):
        if dataset.task != 'pose':
            raise ValueError(f'{dataset.root} is a {dataset.task!r} data set, not a pose data set '
                             '(make one with vsync-synth --world pose)')
        self.ds = dataset
        self.sx = image_hw[1] / dataset.width
        self.sy = image_hw[0] / dataset.height

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, k: int) -> dict:
        sample = self.ds[k]
        gt = self.ds.raw_gt(k)
        p = sample['joints_3d'].shape[0]
        uv = np.full((self.ds.n_views, p, 17, 2), np.nan, np.float32)
        for v in range(self.ds.n_views):
            key = f'v{v}_joints_uv'
            if bool(sample['view_valid'][v]) and key in gt:
                raw = np.asarray(gt[key], np.float32)
                uv[v, :, :, 0] = (raw[..., 0] + 0.5) * self.sx - 0.5
                uv[v, :, :, 1] = (raw[..., 1] + 0.5) * self.sy - 0.5
        sample['joints_uv'] = torch.from_numpy(uv)
        sample['view_synced'] = sample['view_valid'] & (sample['offsets_s'] == 0)
        return sample


def prepare_pose_batch(batch: dict, image_hw: tuple[int, int], device: torch.device, sync_input: bool = False
                       ) -> tuple[dict, str]:
    """Move a collated batch to ``device``, resize images; returns (batch, images_key for the model).

    With ``sync_input`` (BaseS training, ``vsync-eval --sync``) the synchronized frames are the input:
    every view valid, reference view 0, images_key 'images_sync'.

    Raises:
        KeyError: ``sync_input`` without 'images_sync' in the batch.
    """
    b = prepare_batch(batch, image_hw, device)
    if sync_input:
        if 'images_sync' not in b:
            raise KeyError('synchronized input requested but the batch has no images_sync')
        b['view_valid'] = torch.ones_like(b['view_valid'])
        b['ref_view'] = reference_views(b['view_valid'])
        b.pop('joints_uv', None)
        return b, 'images_sync'
    return b, 'images'


# ---------------------------------------------------------------------------------------- metrics
@torch.no_grad()
def evaluate_pose_model(model: torch.nn.Module, dataset, device: torch.device, sync_input: bool = False,
                        batch_size: int = 1, progress: bool = False, desc: str = 'eval',
                        root_source: str | None = None) -> dict:
    """Run a pose model over a pose data set split; MPJPE / absolute MPJPE of person 0 (mm).

    Args:
        model: a ``VolumetricPoseModel``; dataset: a pose ``SyncDataset`` (or :class:`PoseSamples`).
        sync_input: feed the synchronized frames (all views at the reference time).
        root_source: override the model's cube-centre source ('dlt' | 'gt'); default the config's.

    Returns:
        {'n', 'mpjpe_mm', 'abs_mpjpe_mm', 'per_motion': {motion: {'n', 'mpjpe_mm', 'abs_mpjpe_mm'}},
        'per_frame': [{'index', 'time_s', 'motion', 'mpjpe_mm', 'abs_mpjpe_mm', 'root_err_mm' (predicted
        pelvis), 'cube_center_err_mm' (volume centre: DLT root or GT), 'offsets_s', 'view_valid', 'ref_view',
        'pred_m' (17x3), 'gt_m' (17x3)}]}.
    """
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    image_hw = (model.cfg.image_height, model.cfg.image_width)
    rows = []
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        b, key = prepare_pose_batch(batch, image_hw, device, sync_input)
        feed = {key: b[key], 'view_valid': b['view_valid'], 'ref_view': b['ref_view']}
        if root_source == 'gt':
            feed['joints_3d'] = b['joints_3d']
        out = model(feed, images_key=key, root_source=root_source, with_sync_targets=False)
        pred = out['joints_3d'].float().cpu().numpy()
        centre = out['root'].double().cpu().numpy()
        gts = batch['joints_3d'][:, 0].numpy().astype(np.float64)
        for i in range(pred.shape[0]):
            rel, absolute = pose_errors_mm(pred[i], gts[i])
            code = int(batch['motion'][i][0]) if 'motion' in batch else -1
            rows.append({
                'index': int(batch['index'][i]), 'time_s': float(batch['time_s'][i]),
                'motion': MOTION_NAMES[code] if 0 <= code < len(MOTION_NAMES) else 'unknown',
                'mpjpe_mm': rel, 'abs_mpjpe_mm': absolute,
                'root_err_mm': float(np.linalg.norm(pred[i, PELVIS] - gts[i, PELVIS]) * 1000.0),
                'cube_center_err_mm': float(np.linalg.norm(centre[i] - gts[i, PELVIS]) * 1000.0),
                'offsets_s': [float(x) for x in batch['offsets_s'][i]],
                'view_valid': [bool(x) for x in b['view_valid'][i]], 'ref_view': int(b['ref_view'][i]),
                'pred_m': np.round(pred[i], 5).tolist(), 'gt_m': np.round(gts[i], 5).tolist()})
    model.train(was_training)
    return {**summarize_pose_rows(rows), 'per_frame': rows}


# ---------------------------------------------------------------------------------------- task
class PoseTask:
    """The pose :class:`~vsync_ros.engine.tasks.Task` (config :class:`~vsync_ros.engine.config.PoseConfig`)."""

    name = 'pose'
    best_metric = 'mpjpe_mm'
    best_mode = 'min'
    fine_tune_regime: str | None = None        # a base model trained on from a checkpoint stays BaseU
    plain_loss_tag: str | None = '(gamma=0)'   # l_p only (sync_loss 'none' or gamma 0): the paper's CLS-x(gamma=0)

    # ------------------------------------------------------------------------------------ training
    def load_training_data(self, cfg: PoseConfig) -> TrainingData:
        """Every data set of ``data.root`` (same cameras) as :class:`PoseSamples`; validation on the first.

        Raises:
            ValueError: not a pose data set, or data sets on different camera rigs.
        """
        image_hw = (cfg.model.image_height, cfg.model.image_width)
        roots = data_roots(cfg.data.root)
        split = cfg.data.train_split
        bases = [SyncDataset(r, split, load_sync=needs_sync_frames(cfg)) for r in roots]
        cameras = bases[0].cameras
        for other in bases[1:]:
            try:
                compare_calibration(cameras, None, other.cameras, None)
            except CheckpointMismatchError as exc:
                raise ValueError(f'{other.root} and {bases[0].root} use different cameras: {exc}') from None
        train_ds = ConcatDataset([PoseSamples(b, image_hw) for b in bases])
        val_ds = (PoseSamples(SyncDataset(roots[0], cfg.data.val_split, load_sync=False), image_hw)
                  if cfg.data.val_split else None)
        return TrainingData(train_ds, val_ds, cameras, None, [data_manifest(b, split) for b in bases])

    def build_model(self, cfg: PoseConfig, data: TrainingData, log: Callable[[str], object]) -> torch.nn.Module:
        """A fresh pose model for the rig, initialised from ``train.init_checkpoint`` (shared tensors) if set.

        Raises:
            ValueError: the init checkpoint is not a pose model or shares no tensor.
            CheckpointError: it is unreadable or on another camera rig.
        """
        model = build_pose_model(cfg.model, data.cameras)
        init = cfg.train.init_checkpoint
        if init:
            task = load_checkpoint(init).task  # the task first, then the rig
            if task != 'pose':
                raise ValueError(f'init_checkpoint {init} is a {task} checkpoint, this is a pose training run: '
                                 'it needs a pose checkpoint')
            ckpt = load_checkpoint(init, None, data.cameras)
            loaded = init_shared_weights(model, ckpt.model_state)
            log(f'initialised {loaded} tensors from {init} ({ckpt.meta.get("regime", "?")})')
        return model

    def training_losses(self, model: torch.nn.Module, batch: dict, cfg: PoseConfig, device: torch.device,
                        generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Forward one collated batch; loss terms 'total', 'pose', and 'ce', 'heatmap', 'warp' | 'sim' when used.

        ``generator`` draws the model's random choices of the step (CPU generator of the run).
        """
        sync_input = cfg.train.input == 'sync'
        b, key = prepare_pose_batch(batch, (cfg.model.image_height, cfg.model.image_width), device, sync_input)
        out = model(b, images_key=key, with_sync_targets=not sync_input and uses_warp_loss(cfg),
                    detach_sync_target=cfg.loss.detach_sync_target, generator=generator)
        return model.loss(out, b, cfg.loss)

    def save_checkpoint(self, path: str | Path, model: torch.nn.Module, cfg: PoseConfig, data: TrainingData,
                        meta: dict) -> None:
        """Write weights, config, the rig's calibration (no ground region) and ``meta`` tagged ``task: pose``."""
        meta = {'regime': meta.get('regime'), 'task': 'pose', **meta}
        save_checkpoint(path, model, cfg, data.cameras, None, meta, task='pose')

    # ------------------------------------------------------------------------------------ evaluation
    def evaluate(self, model: torch.nn.Module, dataset, device: torch.device, sync_input: bool = False,
                 batch_size: int = 1, progress: bool = False, desc: str = 'eval',
                 root_source: str | None = None) -> dict:
        """:func:`evaluate_pose_model`."""
        return evaluate_pose_model(model, dataset, device, sync_input, batch_size, progress, desc, root_source)

    def validation_record(self, res: dict) -> dict:
        """History entries of a validation run (mm)."""
        return {'val_mpjpe_mm': res['mpjpe_mm'], 'val_abs_mpjpe_mm': res['abs_mpjpe_mm']}

    def best_record(self, res: dict) -> dict:
        """The metrics kept as 'best_val' (plus epoch and step, added by the loop)."""
        return {'mpjpe_mm': res['mpjpe_mm'], 'abs_mpjpe_mm': res['abs_mpjpe_mm']}

    def format_validation(self, res: dict) -> str:
        """One-line validation result."""
        return f'val MPJPE {res["mpjpe_mm"]:.1f} mm, absolute {res["abs_mpjpe_mm"]:.1f} mm'

    def format_best(self, best: dict) -> str:
        """The best validation metric of a run, for the closing log line."""
        return f'best val MPJPE {best["mpjpe_mm"]:.1f} mm'

    def open_evaluation(self, ckpt: Checkpoint, root: str | Path, split: str, sync_input: bool,
                        device: torch.device) -> tuple[torch.nn.Module, Checkpoint, PoseSamples]:
        """(model on ``device``, its checkpoint, the split as :class:`PoseSamples`) for ``vsync-eval``.

        The data set's cameras must match the checkpoint's (CheckpointMismatchError names the field); a
        counting data set is a ValueError naming both tasks.
        """
        dataset = SyncDataset(root, split, load_sync=sync_input)
        check_data_task(ckpt, dataset)
        model, ckpt = load_model(ckpt.path, cameras=dataset.cameras, map_location=device)
        return model, ckpt, PoseSamples(dataset, (model.cfg.image_height, model.cfg.image_width))

    def eval_summary(self, head: dict, ckpt: Checkpoint, dataset: PoseSamples, result: dict, wall_time_s: float,
                     root_source: str | None = None) -> dict:
        """The ``vsync-eval --json`` document.

        ``head`` (checkpoint, data, split, sync_input), task, method, regime, cube-centre source, the data's
        desync settings, time, metric definition and ``result``.
        """
        return {'checkpoint': head.get('checkpoint'), 'task': 'pose', **head, 'method': ckpt.config.model.method,
                'regime': ckpt.meta.get('regime'), 'root_source': root_source or ckpt.config.model.root_source,
                'desync': dataset.ds.manifest.get('desync'), 'wall_time_s': wall_time_s,
                'metric_definition': METRIC_DEFINITION, **result}

    def eval_line(self, ckpt: Checkpoint, where: str, result: dict, wall_time_s: float) -> str:
        """What ``vsync-eval`` prints; ``where`` names the data set and split."""
        return (f'{ckpt.meta.get("regime", ckpt.config.model.method)} on {where} in {wall_time_s:.1f} s: '
                f'{format_pose_summary(result)}')
