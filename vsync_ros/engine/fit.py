"""The one training loop of both tasks: :func:`fit` trains a counting or pose model from its config.

What differs between the tasks (data, model, loss of a step, validation metric, checkpoint) comes
from the config's :class:`~vsync_ros.engine.tasks.Task`; the epochs, steps, progress bar, validation,
best-checkpoint saving and metadata are here once.

Reproducibility: :func:`seed_everything` seeds python, numpy and torch before the data sets and the
model are built (model construction draws from the torch RNG), the data order comes from a torch
generator seeded with ``train.seed``, and random choices inside a training step (pose: the model's
generator argument) from a CPU generator seeded with ``train.seed + 1``.
"""
from __future__ import annotations

import math
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from vsync_ros.engine.checkpoint import load_checkpoint
from vsync_ros.engine.config import Config, PoseConfig, TrainConfig
from vsync_ros.engine.device import select_device
from vsync_ros.engine.tasks import describe_regime, task_for

StepCallback = Callable[[int, dict[str, float]], object]


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; returns a torch generator for the data order."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_optimizer(model: torch.nn.Module, t: TrainConfig) -> tuple[torch.optim.Optimizer,
                                                                     torch.optim.lr_scheduler.LambdaLR]:
    """Optimiser (``t.optimizer``) and inverse-time lr schedule ``lr / (1 + lr_decay * step)``."""
    if t.optimizer == 'sgd':
        opt = torch.optim.SGD(model.parameters(), lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1.0 + t.lr_decay * step))
    return opt, sched


def training_schedule(train_ds: Dataset, t: TrainConfig, gen: torch.Generator) -> tuple[DataLoader, int, int]:
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


def optimizer_step(model: torch.nn.Module, opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LambdaLR,
                   losses: dict[str, torch.Tensor], t: TrainConfig, step: int,
                   running: dict[str, float]) -> dict[str, float]:
    """One update from ``losses['total']`` (gradient clipping per ``t``), then update the running loss averages.

    Args:
        losses: scalar loss terms of the step (``'total'`` is optimised); step: 0-based step index.
        running: exponential moving averages (0.98) of every term, updated in place.

    Returns:
        the step's loss terms as floats (same keys as ``losses``).

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
    values = {k: v.item() for k, v in losses.items()}
    for k, x in values.items():
        running[k] = 0.98 * running.get(k, x) + 0.02 * x
    return values


def _improves(value: float, best: float, mode: str) -> bool:
    """True when ``value`` beats ``best`` ('min': lower is better, 'max': higher; NaN never does)."""
    return value < best if mode == 'min' else value > best


def fit(cfg: Config | PoseConfig, progress: bool = True, log: Callable[[str], object] = print,
        on_step: StepCallback | None = None) -> dict:
    """Train according to ``cfg`` (counting ``Config`` or ``PoseConfig``); writes the checkpoint to ``cfg.train.out``.

    Per epoch the running loss averages go to the checkpoint's history; every ``train.val_every``
    epochs (and after the last) the model is validated on ``data.val_split`` if set, and the checkpoint
    is written whenever the task's best metric improves. Without validation (or without a finite
    result) it is written once at the end. A requested CUDA device that is absent falls back to the CPU
    with a logged note (:func:`vsync_ros.engine.device.select_device`).

    Args:
        cfg: the training config; its type selects the task.
        progress: show a tqdm progress bar.
        log: receives the one-line messages (start, init checkpoint, device note, end).
        on_step: called after every optimizer step as ``on_step(step, losses)``, step counted from 1,
            losses the float value of each loss term of that step (e.g. 'total', 'task', 'warp').

    Returns:
        {'checkpoint', 'steps', 'epochs', 'wall_time_s', 'seconds_per_step', 'metrics': {'history', 'best'}}.

    Raises:
        ValueError: wrong kind of data set, nothing to train, unusable init checkpoint.
        CheckpointError: the init checkpoint is unreadable or does not match.
        FloatingPointError: a non-finite loss.
    """
    task = task_for(cfg)
    t = cfg.train
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    device, note = select_device(t.device)
    if note:
        log(note)
    gen = seed_everything(t.seed)
    data = task.load_training_data(cfg)
    model = task.build_model(cfg, data, log)
    model.to(device).train()
    opt, sched = make_optimizer(model, t)
    loader, total_steps, epochs = training_schedule(data.train, t, gen)
    init_regime = load_checkpoint(t.init_checkpoint).meta.get('regime') if t.init_checkpoint else None
    regime = describe_regime(cfg, init_regime)
    log(f'{regime}: {len(data.train)} samples, {total_steps} steps on {device}, '
        f'{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters')
    step_rng = torch.Generator(device='cpu').manual_seed(t.seed + 1)

    key = task.best_metric
    best: dict = {key: math.inf if task.best_mode == 'min' else -math.inf}
    history: list[dict] = []
    running: dict[str, float] = {}
    step, t_steps, t_start = 0, 0.0, time.perf_counter()

    def save(epoch: int) -> None:
        meta = {
            'regime': regime,
            'seed': t.seed,
            'data_manifest': data.manifest,
            'wall_time_s': time.perf_counter() - t_start,
            'seconds_per_step': t_steps / max(step, 1),
            'steps': step,
            'epochs': epoch,
            'metrics': {'history': history, 'best_val': best if math.isfinite(best[key]) else None},
            'init_checkpoint': t.init_checkpoint,
            'torch': torch.__version__,
            'python': platform.python_version(),
            'created_unix_s': time.time(),
        }
        task.save_checkpoint(t.out, model, cfg, data, meta)

    bar = tqdm(total=total_steps, desc=Path(t.out).stem, disable=not progress, dynamic_ncols=True)
    for epoch in range(epochs):
        for batch in loader:
            if step >= total_steps:
                break
            s0 = time.perf_counter()
            losses = task.training_losses(model, batch, cfg, device, step_rng)
            values = optimizer_step(model, opt, sched, losses, t, step, running)
            t_steps += time.perf_counter() - s0
            step += 1
            if on_step is not None:
                on_step(step, values)
            if step % max(1, t.log_every) == 0 or step == total_steps:
                bar.set_postfix({k: f'{v:.4g}' for k, v in running.items()}, refresh=False)
            bar.update(1)
        history.append({'epoch': epoch + 1, 'step': step, **{f'loss_{k}': v for k, v in running.items()}})
        last_epoch = step >= total_steps
        if data.val is not None and t.val_every > 0 and ((epoch + 1) % t.val_every == 0 or last_epoch):
            res = task.evaluate(model, data.val, device, batch_size=t.batch_size)
            history[-1].update(task.validation_record(res))
            bar.write(f'epoch {epoch + 1} step {step}: {task.format_validation(res)}')
            if _improves(res[key], best[key], task.best_mode):
                best = {**task.best_record(res), 'epoch': epoch + 1, 'step': step}
                save(epoch + 1)
        if last_epoch:
            break
    bar.close()
    if not math.isfinite(best[key]):
        save(epochs)
    wall = time.perf_counter() - t_start
    per_step = t_steps / max(step, 1)
    log(f'wrote {t.out} after {step} steps in {wall:.0f} s ({per_step:.3f} s/step)'
        + (f', {task.format_best(best)} at step {best["step"]}' if math.isfinite(best[key]) else ''))
    return {'checkpoint': t.out, 'steps': step, 'epochs': epochs, 'wall_time_s': wall,
            'seconds_per_step': per_step, 'metrics': {'history': history, 'best': best}}
