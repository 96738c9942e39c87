"""Pose task of ``vsync-train`` / ``vsync-eval``: volumetric multi-view 3D pose, BaseS / BaseU / CLS.

A pose config is a YAML file with ``task: pose`` at the top level and the sections ``model``
(:class:`~vsync_ros.models.pose.PoseModelConfig`), ``loss`` (:class:`~vsync_ros.models.pose.PoseLossConfig`),
``train`` (:class:`vsync_ros.config.TrainConfig`, same keys as counting) and ``data``
(:class:`vsync_ros.config.DataConfig`; ``gp_cell_m`` is unused; ``root`` may list several data sets
separated by commas, e.g. one per world seed, trained on together). ``inherit:`` and dotted overrides
work as for counting. Regimes (paper Sec. IV-D, Table IV):

* BaseS: ``model.method: base``, ``train.input: sync`` (all views at the reference time);
* BaseU: ``model.method: base``, ``train.input: unsync``;
* CLS-cor / CLS-epi: ``model.method: cls_cor | cls_epi``, unsynchronized input, loss
  ``l_p + gamma * l_s`` (``loss.sync_loss: sim``, paper gamma 0.01) or ``l_p + gamma * l_W`` (``warp``,
  needs the synchronized frames) or ``l_p`` alone (``none``, the paper's CLS-cor(gamma = 0)).

Metrics (:func:`evaluate_pose_model`), person 0, millimetres:

* MPJPE: mean over the 17 joints of the Euclidean error after subtracting each pose's pelvis (joint 6)
  from itself (root-relative, "MPJPE" of Table IV, left);
* absolute MPJPE: the same without alignment, in world coordinates (Table IV, right);

reported over all test frames and per motion type of the frame (idle / walk / turn / wave / sit; the
Tables V-VII breakdown by action).
"""
from __future__ import annotations

import math
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset
from tqdm import tqdm

from vsync_ros.engine.config import PoseConfig
from vsync_ros.engine.pose_metrics import PELVIS, pose_errors_mm
from vsync_ros.models.pose import build_pose_model, reference_views

MOTION_NAMES = ('idle', 'walk', 'turn', 'wave', 'sit')


def describe_pose_regime(cfg: PoseConfig) -> str:
    """BaseS / BaseU / CLS-x (loss) -- the names of Table IV."""
    m, t = cfg.model, cfg.train
    if m.method == 'base':
        return 'BaseS' if t.input == 'sync' else 'BaseU'
    name = {'cls_cat': 'CLS-cat', 'cls_cor': 'CLS-cor', 'cls_epi': 'CLS-epi'}[m.method]
    if cfg.loss.sync_loss == 'none' or cfg.loss.gamma == 0:
        return f'{name}(gamma=0) (l_p, {t.input} input)'
    sym = {'warp': 'l_W', 'sim': 'l_s'}[cfg.loss.sync_loss]
    return f'{name} (l_p + {cfg.loss.gamma:g} {sym}, {t.input} input)'


def needs_sync_frames(cfg: PoseConfig) -> bool:
    """True when training reads the synchronized frames (BaseS input or l_W)."""
    warp = cfg.model.method != 'base' and cfg.loss.sync_loss == 'warp' and cfg.loss.gamma > 0
    return cfg.train.input == 'sync' or warp


# ---------------------------------------------------------------------------------------- data
def data_roots(root: str) -> list[str]:
    """Folders named by ``data.root`` of a pose config (one, or several separated by commas).

    Several data sets (e.g. one per world seed, all on the same camera rig) are trained on together.
    """
    roots = [r.strip() for r in str(root).split(',') if r.strip()]
    if not roots:
        raise ValueError('data.root is empty')
    return roots


class PoseSamples(Dataset):
    """A pose :class:`~vsync_ros.data.dataset.SyncDataset` plus per-frame 2D joints at the model input size.

    Adds ``joints_uv`` float32 (V, P, 17, 2): pixels of the input frame of each view at the model input
    resolution (NaN for missing views), and ``view_synced`` bool (V,): valid views with zero offset.
    """

    def __init__(self, dataset, image_hw: tuple[int, int]):
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
    """
    from vsync_ros.engine.evaluate import prepare_batch

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
def summarize_pose_rows(rows: list[dict]) -> dict:
    """Overall and per-motion means of the per-frame 'mpjpe_mm' / 'abs_mpjpe_mm' (None where no frames)."""
    def mean(vals):
        return float(np.mean(vals)) if vals else None
    out = {'n': len(rows), 'mpjpe_mm': mean([r['mpjpe_mm'] for r in rows]),
           'abs_mpjpe_mm': mean([r['abs_mpjpe_mm'] for r in rows]), 'per_motion': {}}
    for name in MOTION_NAMES:
        sel = [r for r in rows if r['motion'] == name]
        out['per_motion'][name] = {'n': len(sel), 'mpjpe_mm': mean([r['mpjpe_mm'] for r in sel]),
                                   'abs_mpjpe_mm': mean([r['abs_mpjpe_mm'] for r in sel])}
    return out


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


def format_pose_summary(res: dict) -> str:
    """One line overall + one per motion type."""
    if not res['n']:
        return 'no frames'
    lines = [f'MPJPE {res["mpjpe_mm"]:.1f} mm / absolute {res["abs_mpjpe_mm"]:.1f} mm (n={res["n"]})']
    for name, m in res['per_motion'].items():
        if m['n']:
            lines.append(f'  {name:5s} n={m["n"]:4d}  MPJPE {m["mpjpe_mm"]:7.1f}  abs {m["abs_mpjpe_mm"]:7.1f}')
    return '\n'.join(lines)


# ---------------------------------------------------------------------------------------- training
def train_pose(cfg: PoseConfig, progress: bool = True, log=print) -> dict:
    """Train a pose model according to ``cfg``; writes the checkpoint to ``cfg.train.out``.

    Returns:
        {'checkpoint', 'steps', 'wall_time_s', 'seconds_per_step', 'metrics'}.
    """
    from vsync_ros.data.dataset import SyncDataset
    from vsync_ros.engine.checkpoint import (
        CheckpointMismatchError,
        compare_calibration,
        load_checkpoint,
        save_checkpoint,
    )
    from vsync_ros.engine.evaluate import resolve_device
    from vsync_ros.engine.train import (
        data_manifest,
        init_shared_weights,
        make_optimizer,
        optimizer_step,
        seed_everything,
        training_schedule,
    )

    t = cfg.train
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    device = resolve_device(t.device)
    gen = seed_everything(t.seed)
    image_hw = (cfg.model.image_height, cfg.model.image_width)
    roots = data_roots(cfg.data.root)
    bases = [SyncDataset(r, cfg.data.train_split, load_sync=needs_sync_frames(cfg)) for r in roots]
    cameras = bases[0].cameras
    for other in bases[1:]:
        try:
            compare_calibration(cameras, None, other.cameras, None)
        except CheckpointMismatchError as exc:
            raise ValueError(f'{other.root} and {bases[0].root} use different cameras: {exc}') from None
    train_ds = ConcatDataset([PoseSamples(b, image_hw) for b in bases])
    val_ds = (PoseSamples(SyncDataset(roots[0], cfg.data.val_split, load_sync=False), image_hw)
              if cfg.data.val_split else None)
    model = build_pose_model(cfg.model, cameras)
    if t.init_checkpoint:
        ckpt = load_checkpoint(t.init_checkpoint, None, cameras)
        if ckpt.task != 'pose':
            raise ValueError(f'init_checkpoint {t.init_checkpoint} is a {ckpt.task} model, not a pose model')
        loaded = init_shared_weights(model, ckpt.model_state)
        log(f'initialised {loaded} tensors from {t.init_checkpoint} ({ckpt.meta.get("regime", "?")})')
    model.to(device).train()
    opt, sched = make_optimizer(model, cfg)
    loader, total, epochs = training_schedule(train_ds, t, gen)
    sync_input = t.input == 'sync'
    with_targets = not sync_input and cfg.model.method != 'base' and cfg.loss.sync_loss == 'warp' \
        and cfg.loss.gamma > 0
    regime = describe_pose_regime(cfg)
    log(f'{regime}: {len(train_ds)} samples, {total} steps on {device}, '
        f'{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters')
    rng = torch.Generator(device='cpu').manual_seed(t.seed + 1)
    history: list[dict] = []
    best: dict = {'mpjpe_mm': math.inf}
    running: dict[str, float] = {}
    step, t_steps, t0 = 0, 0.0, time.perf_counter()
    bar = tqdm(total=total, desc=Path(t.out).stem, disable=not progress, dynamic_ncols=True)

    def save(epoch: int) -> None:
        meta = {'regime': regime, 'task': 'pose', 'seed': t.seed,
                'data_manifest': [data_manifest(b, cfg.data.train_split) for b in bases],
                'wall_time_s': time.perf_counter() - t0, 'seconds_per_step': t_steps / max(step, 1),
                'steps': step, 'epochs': epoch,
                'metrics': {'history': history, 'best_val': best if math.isfinite(best['mpjpe_mm']) else None},
                'init_checkpoint': t.init_checkpoint, 'torch': torch.__version__,
                'python': platform.python_version(), 'created_unix_s': time.time()}
        save_checkpoint(t.out, model, cfg, cameras, None, meta, task='pose')

    for epoch in range(epochs):
        for batch in loader:
            if step >= total:
                break
            s0 = time.perf_counter()
            b, key = prepare_pose_batch(batch, image_hw, device, sync_input)
            out = model(b, images_key=key, with_sync_targets=with_targets,
                        detach_sync_target=cfg.loss.detach_sync_target, generator=rng)
            losses = model.loss(out, b, cfg.loss)
            optimizer_step(model, opt, sched, losses, t, step, running)
            t_steps += time.perf_counter() - s0
            step += 1
            if step % max(1, t.log_every) == 0 or step == total:
                bar.set_postfix({k: f'{v:.4g}' for k, v in running.items()}, refresh=False)
            bar.update(1)
        history.append({'epoch': epoch + 1, 'step': step, **{f'loss_{k}': v for k, v in running.items()}})
        last = step >= total
        if val_ds is not None and t.val_every > 0 and ((epoch + 1) % t.val_every == 0 or last):
            res = evaluate_pose_model(model, val_ds, device, batch_size=t.batch_size)
            history[-1].update({'val_mpjpe_mm': res['mpjpe_mm'], 'val_abs_mpjpe_mm': res['abs_mpjpe_mm']})
            bar.write(f'epoch {epoch + 1} step {step}: val MPJPE {res["mpjpe_mm"]:.1f} mm, '
                      f'absolute {res["abs_mpjpe_mm"]:.1f} mm')
            if res['mpjpe_mm'] < best['mpjpe_mm']:
                best = {'mpjpe_mm': res['mpjpe_mm'], 'abs_mpjpe_mm': res['abs_mpjpe_mm'], 'epoch': epoch + 1,
                        'step': step}
                save(epoch + 1)
        if last:
            break
    bar.close()
    if not math.isfinite(best['mpjpe_mm']):
        save(epochs)
    wall = time.perf_counter() - t0
    log(f'wrote {t.out} after {step} steps in {wall:.0f} s ({t_steps / max(step, 1):.3f} s/step)')
    return {'checkpoint': t.out, 'steps': step, 'wall_time_s': wall, 'seconds_per_step': t_steps / max(step, 1),
            'metrics': {'history': history, 'best': best}}
