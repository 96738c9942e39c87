"""Tasks of the engine: what differs between counting and pose training / evaluation, behind one interface.

:func:`vsync_ros.engine.fit.fit` (the one training loop) and ``vsync-eval`` talk to a :class:`Task`;
:mod:`.counting` and :mod:`.pose` implement it. :func:`task_for` gives the task of a config,
:func:`task_named` the task of a checkpoint's ``task`` field; :func:`describe_regime` names a training
regime for both.

May import: models, data, geometry, the base modules and the rest of engine (not inference, reports,
runtime or ros).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch

from vsync_ros.engine.checkpoint import Checkpoint
from vsync_ros.engine.config import Config, PoseConfig
from vsync_ros.engine.tasks.common import (
    METHOD_NAMES,
    SYNC_LOSS_SYMBOLS,
    TrainingData,
    needs_sync_frames,
    uses_warp_loss,
)
from vsync_ros.engine.tasks.counting import CountingTask
from vsync_ros.engine.tasks.pose import PoseTask

__all__ = ['CountingTask', 'PoseTask', 'Task', 'TrainingData', 'describe_regime', 'needs_sync_frames',
           'task_for', 'task_named', 'uses_warp_loss']


class Task(Protocol):
    """What the training loop and ``vsync-eval`` need from a task (``cfg``: the task's config type).

    Attributes:
        name: 'counting' | 'pose' (the checkpoint's ``task``).
        best_metric: key of the ``evaluate`` result that ranks validation runs (e.g. 'mae', 'mpjpe_mm').
        best_mode: 'min' (lower is better) or 'max'.
        fine_tune_regime: regime name of a base model trained on unsynchronized frames from an
            ``init_checkpoint`` (counting: 'BaseSU'); None = it stays 'BaseU'.
        plain_loss_tag: None = a sync model is 'l_p' only when ``loss.sync_loss`` is 'none'; a tag (pose:
            '(gamma=0)') = also with gamma 0, and the tag follows the method name.
    """

    name: str
    best_metric: str
    best_mode: str
    fine_tune_regime: str | None
    plain_loss_tag: str | None

    def load_training_data(self, cfg) -> TrainingData:
        """Training and validation data of ``cfg.data`` (with synchronized frames when training needs them)."""
        ...

    def build_model(self, cfg, data: TrainingData, log: Callable[[str], object]) -> torch.nn.Module:
        """A fresh model for ``data``'s rig (consumes the torch RNG), initialised from ``train.init_checkpoint``."""
        ...

    def training_losses(self, model: torch.nn.Module, batch: dict, cfg, device: torch.device,
                        generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Prepare a collated batch, forward it and return the scalar loss terms; 'total' is optimised."""
        ...

    def save_checkpoint(self, path: str | Path, model: torch.nn.Module, cfg, data: TrainingData, meta: dict) -> None:
        """Write the checkpoint (weights, config, calibration, ``meta``)."""
        ...

    def evaluate(self, model: torch.nn.Module, dataset, device: torch.device, sync_input: bool = False,
                 batch_size: int = 1, progress: bool = False, desc: str = 'eval',
                 root_source: str | None = None) -> dict:
        """Metrics over a data set split, with 'n', ``best_metric`` and 'per_frame'."""
        ...

    def validation_record(self, res: dict) -> dict:
        """The entries a validation result adds to the epoch's history entry."""
        ...

    def best_record(self, res: dict) -> dict:
        """The metrics of a validation result kept as the run's best."""
        ...

    def format_validation(self, res: dict) -> str:
        """One-line validation result."""
        ...

    def format_best(self, best: dict) -> str:
        """The best validation metric, for the closing log line."""
        ...

    def open_evaluation(self, ckpt: Checkpoint, root: str | Path, split: str, sync_input: bool,
                        device: torch.device) -> tuple[torch.nn.Module, Checkpoint, object]:
        """(model, checkpoint, data set to evaluate) for ``vsync-eval``; the calibration must match."""
        ...

    def eval_summary(self, head: dict, ckpt: Checkpoint, dataset, result: dict, wall_time_s: float,
                     root_source: str | None = None) -> dict:
        """The ``vsync-eval --json`` document."""
        ...

    def eval_line(self, ckpt: Checkpoint, where: str, result: dict, wall_time_s: float) -> str:
        """What ``vsync-eval`` prints."""
        ...


def task_named(name: str) -> Task:
    """The task called ``name`` ('counting' or 'pose', as stored in checkpoints).

    Raises:
        ValueError: an unknown task.
    """
    if name == 'counting':
        return CountingTask()
    if name == 'pose':
        return PoseTask()
    raise ValueError(f"unknown task {name!r}: use 'counting' or 'pose'")


def task_for(cfg: Config | PoseConfig) -> Task:
    """The task of a training config: :class:`PoseTask` for a ``PoseConfig``, :class:`CountingTask` for a ``Config``.

    Raises:
        TypeError: any other object.
    """
    if isinstance(cfg, PoseConfig):
        return task_named(cfg.task)
    if isinstance(cfg, Config):
        return task_named('counting')
    raise TypeError(f'expected a Config or PoseConfig, got {type(cfg).__name__}')


def describe_regime(cfg: Config | PoseConfig, init_regime: str | None = None) -> str:
    """Human-readable training regime, as stored in checkpoints (meta 'regime') and the paper's tables.

    Base models: 'BaseS' (synchronized input), 'BaseU', or the task's fine-tune name ('BaseSU' for
    counting) when trained on unsynchronized frames from an ``train.init_checkpoint`` that was trained on
    synchronized ones. ``init_regime`` is that checkpoint's regime: a base model trained on from a BaseU
    checkpoint stays 'BaseU'; None (unknown) counts as synchronized, the paper's BaseSU recipe. Sync
    methods: the method and loss, e.g. 'CLS-epi (l_p + 10 l_W, unsync input)', 'CLS-cor (l_p, unsync
    input)' and for pose 'CLS-cor(gamma=0) (l_p, unsync input)'.
    """
    task = task_for(cfg)
    m, t, loss = cfg.model, cfg.train, cfg.loss
    if m.method == 'base':
        if t.input == 'sync':
            return 'BaseS'
        from_sync = bool(t.init_checkpoint) and init_regime not in ('BaseU',)
        return task.fine_tune_regime if from_sync and task.fine_tune_regime else 'BaseU'
    name = METHOD_NAMES[m.method]
    tag = task.plain_loss_tag
    if loss.sync_loss == 'none' or (tag is not None and loss.gamma == 0):
        return f'{name}{tag or ""} (l_p, {t.input} input)'
    return f'{name} (l_p + {loss.gamma:g} {SYNC_LOSS_SYMBOLS[loss.sync_loss]}, {t.input} input)'
