"""``vsync-train``: train a counting model (BaseS / BaseSU / BaseU or a synchronization method).

Examples::

    vsync-train --config config/train/small_base_s.yaml                 # BaseS: synchronized frames only
    vsync-train --config config/train/small_base_su.yaml                # BaseSU: fine-tune BaseS on unsynced
    vsync-train --config config/train/small_base_u.yaml                 # BaseU: unsynchronized frames only
    vsync-train --config config/train/small_cls_epi.yaml                # (a) synced pairs + l_W
    vsync-train --config config/train/small_cls_epi.yaml loss.sync_loss=sim loss.gamma=10   # (b) l_s
    vsync-train --config config/train/small_cls_epi.yaml loss.sync_loss=none                  # (c) l_p only
    vsync-train --config config/train/small_cls_cor.yaml data.root=data/plaza_const train.max_steps=50

Pose (``task: pose`` in the YAML; see :mod:`vsync_ros.engine.pose_train`)::

    vsync-train --config config/train/pose_small_base_u.yaml         # BaseU
    vsync-train --config config/train/pose_small_cls_epi.yaml        # CLS-epi, l_p + 0.01 l_s

Overrides are ``section.key=value`` (sections model, loss, train, data). The checkpoint written to
``train.out`` holds the weights, the full config, the calibration, the seed, a manifest of the data
used, the wall time and the metrics.
"""
from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads make
# torch 5-10x slower as soon as another process runs. Set before torch loads; OMP_WAIT_POLICY=ACTIVE
# in the environment restores the default.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import argparse
import hashlib
import math
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from vsync_ros.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from vsync_ros.engine.config import Config, load_config
from vsync_ros.engine.evaluate import evaluate_model, prepare_batch, resolve_device
from vsync_ros.models.counting.losses import compute_losses
from vsync_ros.models.counting.model import build_model
from vsync_ros.yaml_config import ConfigError


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; returns a torch generator for the data order."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def data_manifest(dataset, split: str) -> dict:
    """What was trained on: root, split, size, the data set's manifest essentials and an index hash."""
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


def make_optimizer(model: torch.nn.Module, cfg: Config) -> tuple[torch.optim.Optimizer, object]:
    """Optimiser and inverse-time lr schedule ``lr / (1 + lr_decay * step)``."""
    t = cfg.train
    if t.optimizer == 'sgd':
        opt = torch.optim.SGD(model.parameters(), lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1.0 + t.lr_decay * step))
    return opt, sched


def init_shared_weights(model: torch.nn.Module, state: dict) -> int:
    """Copy the tensors of ``state`` whose name and shape exist in ``model``; returns how many.

    Used to start a sync model (CLS / SLS) from a trained counting model: the shared MVMS parts are
    copied, the sync modules stay freshly initialised.
    """
    own = model.state_dict()
    shared = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not shared:
        raise ValueError('init_checkpoint shares no weights with this model')
    model.load_state_dict(shared, strict=False)
    return len(shared)


def training_schedule(train_ds, t, gen: torch.Generator) -> tuple[DataLoader, int, int]:
    """(shuffled loader, total steps, epochs) of a training run from ``train.epochs`` / ``train.max_steps``.

    Raises:
        ValueError: the settings give no step at all.
    """
    loader = DataLoader(train_ds, batch_size=t.batch_size, shuffle=True, num_workers=t.num_workers,
                        generator=gen, drop_last=len(train_ds) >= t.batch_size)
    steps_per_epoch = len(loader)
    total_steps = t.epochs * steps_per_epoch
    if t.max_steps:
        total_steps = min(total_steps, t.max_steps) if t.epochs else t.max_steps
    if total_steps <= 0:
        raise ValueError('nothing to train: train.epochs and train.max_steps give 0 steps')
    return loader, total_steps, math.ceil(total_steps / steps_per_epoch)


def optimizer_step(model: torch.nn.Module, opt: torch.optim.Optimizer, sched, losses: dict, t, step: int,
                   running: dict) -> None:
    """One update from ``losses['total']`` (gradient clipping per ``t``), then update the running loss averages.

    Raises:
        FloatingPointError: a non-finite loss (the message lists every loss term).
    """
    if not torch.isfinite(losses['total']):
        raise FloatingPointError(f'non-finite loss at step {step}: {({k: float(v) for k, v in losses.items()})}')
    opt.zero_grad(set_to_none=True)
    losses['total'].backward()
    if t.grad_clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip_norm)
    if t.grad_clip_value > 0:
        torch.nn.utils.clip_grad_value_(model.parameters(), t.grad_clip_value)
    opt.step()
    sched.step()
    for k, value in losses.items():
        x = value.item()
        running[k] = 0.98 * running.get(k, x) + 0.02 * x


def needs_sync_frames(cfg: Config) -> bool:
    """True when training reads the synchronized frames (BaseS input or the warping loss)."""
    warp = cfg.model.method != 'base' and cfg.loss.sync_loss == 'warp' and cfg.loss.gamma > 0
    return cfg.train.input == 'sync' or warp


def train(cfg: Config, progress: bool = True, log=print) -> dict:
    """Train according to ``cfg``; writes the checkpoint to ``cfg.train.out``.

    Returns:
        {'checkpoint', 'steps', 'epochs', 'wall_time_s', 'seconds_per_step', 'metrics'}.
    """
    from vsync_ros.data.dataset import SyncDataset

    t = cfg.train
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    device = resolve_device(t.device)
    gen = seed_everything(t.seed)
    load_sync = needs_sync_frames(cfg)
    train_ds = SyncDataset(cfg.data.root, cfg.data.train_split, gp_cell_m=cfg.data.gp_cell_m, load_sync=load_sync)
    if train_ds.task != 'counting':
        raise ValueError(f'{cfg.data.root} is a {train_ds.task!r} data set; vsync-train trains counting models')
    val_ds = (SyncDataset(cfg.data.root, cfg.data.val_split, gp_cell_m=cfg.data.gp_cell_m, load_sync=False)
              if cfg.data.val_split else None)
    cameras, region = train_ds.cameras, train_ds.region
    model = build_model(cfg.model, cameras, region)
    if t.init_checkpoint:
        ckpt = load_checkpoint(t.init_checkpoint, None, cameras, region)
        if ckpt.config.model.method == cfg.model.method:
            load_checkpoint(t.init_checkpoint, cfg.model)  # same architecture: every field must match
            model.load_state_dict(ckpt.model_state)
            loaded = len(ckpt.model_state)
        else:
            loaded = init_shared_weights(model, ckpt.model_state)
        log(f'initialised {loaded} tensors from {t.init_checkpoint} ({ckpt.config.model.method}, '
            f'trained on {ckpt.meta.get("regime", "?")})')
    model.to(device).train()
    opt, sched = make_optimizer(model, cfg)
    loader, total_steps, epochs = training_schedule(train_ds, t, gen)
    with_targets = cfg.model.method != 'base' and cfg.loss.sync_loss == 'warp' and cfg.loss.gamma > 0
    image_hw = cfg.model.image_hw
    regime = describe_regime(cfg)
    log(f'{regime}: {len(train_ds)} samples, {total_steps} steps on {device}, '
        f'{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters')

    best = {'mae': float('inf')}
    history: list[dict] = []
    running: dict[str, float] = {}
    step = 0
    t_start = time.perf_counter()
    t_steps = 0.0
    bar = tqdm(total=total_steps, desc=Path(t.out).stem, disable=not progress, dynamic_ncols=True)
    for epoch in range(epochs):
        for batch in loader:
            if step >= total_steps:
                break
            s0 = time.perf_counter()
            b = prepare_batch(batch, image_hw, device, use_sync_input=t.input == 'sync')
            out = model(b, with_sync_targets=with_targets, detach_sync_target=cfg.loss.detach_sync_target)
            losses = compute_losses(out, b, cfg.loss, cfg.model.density_scale)
            optimizer_step(model, opt, sched, losses, t, step, running)
            t_steps += time.perf_counter() - s0
            step += 1
            if step % max(1, t.log_every) == 0 or step == total_steps:
                bar.set_postfix({k: f'{v:.4g}' for k, v in running.items()}, refresh=False)
            bar.update(1)
        history.append({'epoch': epoch + 1, 'step': step, **{f'loss_{k}': v for k, v in running.items()}})
        last_epoch = step >= total_steps
        if val_ds is not None and t.val_every > 0 and ((epoch + 1) % t.val_every == 0 or last_epoch):
            res = evaluate_model(model, val_ds, device, batch_size=t.batch_size)
            history[-1].update({'val_mae': res['mae'], 'val_nae': res['nae']})
            bar.write(f'epoch {epoch + 1} step {step}: val MAE {res["mae"]:.3f} NAE {res["nae"]:.4f}')
            if res['mae'] < best['mae']:
                best = {'mae': res['mae'], 'nae': res['nae'], 'epoch': epoch + 1, 'step': step}
                _save(cfg, model, cameras, region, train_ds, t_start, step, epoch + 1, t_steps, history, best,
                      regime)
        if last_epoch:
            break
    bar.close()
    if val_ds is None or not math.isfinite(best['mae']):
        _save(cfg, model, cameras, region, train_ds, t_start, step, epochs, t_steps, history, best, regime)
    wall = time.perf_counter() - t_start
    log(f'wrote {t.out} after {step} steps in {wall:.0f} s ({t_steps / max(step, 1):.3f} s/step)'
        + (f', best val MAE {best["mae"]:.3f} at step {best["step"]}' if math.isfinite(best['mae']) else ''))
    return {'checkpoint': t.out, 'steps': step, 'epochs': epochs, 'wall_time_s': wall,
            'seconds_per_step': t_steps / max(step, 1), 'metrics': {'history': history, 'best': best}}


def describe_regime(cfg: Config) -> str:
    """Human-readable training regime (BaseS / BaseSU / BaseU / method + sync loss)."""
    m, t = cfg.model, cfg.train
    if m.method == 'base':
        if t.input == 'sync':
            return 'BaseS'
        return 'BaseSU' if t.init_checkpoint else 'BaseU'
    name = {'sls': 'SLS', 'cls_cat': 'CLS-cat', 'cls_cor': 'CLS-cor', 'cls_epi': 'CLS-epi'}[m.method]
    loss = {'warp': 'l_p + gamma l_W', 'sim': 'l_p + gamma l_s', 'none': 'l_p'}[cfg.loss.sync_loss]
    if cfg.loss.sync_loss != 'none':
        loss = loss.replace('gamma', f'{cfg.loss.gamma:g}')
    return f'{name} ({loss}, {t.input} input)'


def _save(cfg, model, cameras, region, train_ds, t_start, step, epoch, t_steps, history, best, regime) -> None:
    meta = {
        'regime': regime,
        'seed': cfg.train.seed,
        'data_manifest': data_manifest(train_ds, cfg.data.train_split),
        'wall_time_s': time.perf_counter() - t_start,
        'seconds_per_step': t_steps / max(step, 1),
        'steps': step,
        'epochs': epoch,
        'metrics': {'history': history, 'best_val': best if math.isfinite(best.get('mae', math.inf)) else None},
        'init_checkpoint': cfg.train.init_checkpoint,
        'torch': torch.__version__,
        'python': platform.python_version(),
        'created_unix_s': time.time(),
    }
    save_checkpoint(cfg.train.out, model, cfg, model.cameras, region, meta)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog='vsync-train', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', type=Path, required=True, help='YAML config (config/train/*.yaml)')
    p.add_argument('overrides', nargs='*', help='section.key=value overrides, e.g. train.max_steps=20')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.add_argument('--print-config', action='store_true', help='print the resolved config and exit')
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vsync-train``."""
    args = build_parser().parse_args(argv)
    from vsync_ros.engine.config import config_task, load_pose_config
    from vsync_ros.engine.pose_train import train_pose
    try:
        task = config_task(args.config)
        if task not in ('counting', 'pose'):
            raise ConfigError(f"{args.config}: task must be 'counting' or 'pose', got {task!r}")
        cfg = load_pose_config(args.config, args.overrides) if task == 'pose' else load_config(args.config,
                                                                                               args.overrides)
    except ConfigError as exc:
        print(f'vsync-train: {exc}', file=sys.stderr)
        return 2
    if args.print_config:
        import yaml
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None))
        return 0
    try:
        if task == 'pose':
            train_pose(cfg, progress=not args.no_progress)
        else:
            train(cfg, progress=not args.no_progress)
    except (CheckpointError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f'vsync-train: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
