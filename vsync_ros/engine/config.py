"""Training configurations of both tasks, loaded from YAML (see :mod:`vsync_ros.yaml_config`).

A counting config has the sections ``model`` (:class:`~vsync_ros.models.counting.config.ModelConfig`),
``loss`` (:class:`~vsync_ros.models.counting.config.LossConfig`), ``train`` (:class:`TrainConfig`) and
``data`` (:class:`DataConfig`). A pose config says ``task: pose`` at the top level and has the same
sections with the pose model and loss (:class:`~vsync_ros.models.pose.config.PoseModelConfig`,
:class:`~vsync_ros.models.pose.config.PoseLossConfig`); its ``data.root`` may list several data sets
separated by commas (``gp_cell_m`` is unused). :func:`load_any_config` reads either.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vsync_ros.models.counting.config import LossConfig, ModelConfig
from vsync_ros.models.pose.config import PoseLossConfig, PoseModelConfig
from vsync_ros.yaml_config import ConfigError, apply_overrides, choice, read_yaml_tree, section_from_dict

TASKS = ('counting', 'pose')


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping.

    Attributes:
        input: which frames feed the model: 'unsync' (view 0 at t_ref, others unsynchronized) or
            'sync' (all views at t_ref; BaseS).
        init_checkpoint: start from these weights (BaseSU fine-tunes BaseS); null = from scratch.
        optimizer: 'adam' or 'sgd' (authors: SGD, momentum 0.9, lr 1e-4, batch 1).
        lr, momentum, weight_decay: optimiser settings; lr_decay: inverse-time decay lr / (1 + d * step).
        grad_clip_norm, grad_clip_value: global-norm clip then element clip (authors: 5 and 1); 0 = off.
        epochs, max_steps: stop after whichever comes first (max_steps 0 = no step limit).
        batch_size, num_workers, seed, device ('auto' | 'cpu' | 'cuda'), threads (0 = torch default).
        val_every: validate every this many epochs (0 = never); log_every: progress-bar refresh in steps.
        out: checkpoint path written at the end (and on improvement of the validation MAE).
        view_dropout: counting only: probability that a training sample's view is marked missing
            (image zeroed, ``view_valid`` False), one value for every view or a list [p_ref, p_1, ...] with
            one per view; never all views of a sample. 0 = off (the default). A sample left without its
            reference view 0 is fused unsynchronized, as the node's fail-over does
            (:func:`vsync_ros.engine.tasks.common.drop_views`).
    """

    input: str = 'unsync'
    init_checkpoint: str | None = None
    optimizer: str = 'adam'
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_decay: float = 0.0
    grad_clip_norm: float = 5.0
    grad_clip_value: float = 0.0
    epochs: int = 10
    max_steps: int = 0
    batch_size: int = 1
    num_workers: int = 0
    seed: int = 0
    device: str = 'auto'
    threads: int = 0
    val_every: int = 1
    log_every: int = 10
    out: str = 'runs/model.pt'
    view_dropout: float | list[float] = 0.0

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        probs = self.view_dropout if isinstance(self.view_dropout, list) else [self.view_dropout]
        if not probs or any(not 0.0 <= float(p) <= 1.0 for p in probs):
            raise ConfigError(f'train.view_dropout must be a probability in [0, 1] or a list of them (one per view), '
                              f'got {self.view_dropout!r}')
        choice('train.input', self.input, ('sync', 'unsync'))
        choice('train.optimizer', self.optimizer, ('adam', 'sgd'))
        choice('train.device', self.device, ('auto', 'cpu', 'cuda'))
        if self.lr <= 0:
            raise ConfigError(f'train.lr must be positive, got {self.lr}')
        if self.batch_size < 1 or self.epochs < 0 or self.max_steps < 0:
            raise ConfigError('train.batch_size must be >= 1, train.epochs and train.max_steps >= 0')

    @property
    def view_dropout_enabled(self) -> bool:
        """True when ``view_dropout`` drops some view with a probability above 0."""
        probs = self.view_dropout if isinstance(self.view_dropout, list) else [self.view_dropout]
        return any(float(p) > 0.0 for p in probs)


@dataclass
class DataConfig:
    """Where the data set lives (written by ``vsync-synth``, read by ``vsync_ros.data.dataset``).

    Attributes:
        root: data set folder; relative paths are taken from the working directory.
        train_split: split used for training; val_split: split used for validation ('' = none).
        gp_cell_m: ground-plane cell size of the density map the model predicts (null = the stored one).
    """

    root: str = 'data/plaza'
    train_split: str = 'train'
    val_split: str = ''
    gp_cell_m: float | None = None

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a non-positive cell size."""
        if self.gp_cell_m is not None and self.gp_cell_m <= 0:
            raise ConfigError(f'data.gp_cell_m must be positive, got {self.gp_cell_m}')


class _Sections:
    """validate / to_dict of a top-level config made of model, loss, train and data sections."""

    def validate(self):
        """Validate every section; returns self."""
        for section in (self.model, self.loss, self.train, self.data):
            section.validate()
        return self

    def to_dict(self) -> dict:
        """Plain nested dict (YAML / checkpoint friendly; a pose config includes ``task: pose``)."""
        return dataclasses.asdict(self)


@dataclass
class Config(_Sections):
    """Top-level counting configuration: one section per dataclass (no ``task`` key: counting is the default)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)


@dataclass
class PoseConfig(_Sections):
    """Top-level pose configuration (``task: pose``): the pose model and loss sections."""

    model: PoseModelConfig = field(default_factory=PoseModelConfig)
    loss: PoseLossConfig = field(default_factory=PoseLossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    task: str = 'pose'

    def validate(self):
        """Validate every section (view dropout is a counting option); returns self."""
        super().validate()
        if self.train.view_dropout_enabled:
            raise ConfigError(f'train.view_dropout is a counting option (pose training does not drop views), '
                              f'got {self.train.view_dropout!r}: leave it 0')
        return self


_SECTIONS = {'counting': {'model': ModelConfig, 'loss': LossConfig, 'train': TrainConfig, 'data': DataConfig},
             'pose': {'model': PoseModelConfig, 'loss': PoseLossConfig, 'train': TrainConfig, 'data': DataConfig}}
_TOP = {'counting': Config, 'pose': PoseConfig}


def _from_dict(data: dict | None, task: str) -> Config | PoseConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f'config must be a mapping, got {type(data).__name__}')
    data = dict(data)
    given = data.pop('task', task)
    if given != task:
        raise ConfigError(f'task must be {task!r} for a {task} config, got {given!r}')
    sections = _SECTIONS[task]
    unknown = sorted(set(data) - set(sections))
    if unknown:
        known = ('task, ' if task == 'pose' else '') + ', '.join(sections)
        raise ConfigError(f'unknown config section {unknown[0]!r} (known: {known})')
    parts = {name: section_from_dict(cls, data.get(name) or {}, name) for name, cls in sections.items()}
    return _TOP[task](**parts).validate()


def config_from_dict(data: dict | None) -> Config:
    """Build and validate a counting :class:`Config` from a nested mapping (missing keys take defaults)."""
    return _from_dict(data, 'counting')


def pose_config_from_dict(data: dict | None) -> PoseConfig:
    """Build and validate a :class:`PoseConfig` (unknown sections / keys raise ConfigError)."""
    return _from_dict(data, 'pose')


def task_config_from_dict(data: dict | None, task: str) -> Config | PoseConfig:
    """The config of ``task`` ('counting' or 'pose') from a nested mapping."""
    if task not in TASKS:
        raise ConfigError(f"task must be one of {list(TASKS)}, got {task!r}")
    return _from_dict(data, task)


def config_task(path: str | Path) -> str:
    """'pose' when the YAML file (after ``inherit``) says ``task: pose``, else 'counting'."""
    return str(read_yaml_tree(Path(path)).get('task', 'counting'))


def load_any_config(path: str | Path | None = None, overrides: list[str] | None = None,
                    task: str | None = None) -> Config | PoseConfig:
    """Load a YAML config of either task (with ``inherit``), apply dotted overrides, validate.

    The task is the file's ``task:`` key (default 'counting') unless ``task`` is given.
    """
    data = read_yaml_tree(Path(path)) if path else {}
    task = task or str(data.get('task', 'counting'))
    if task not in TASKS:
        raise ConfigError(f"{path}: task must be one of {list(TASKS)}, got {task!r}")
    data.pop('task', None)
    data = apply_overrides(data, overrides or [], _SECTIONS[task])
    return _from_dict(data, task)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a counting YAML config (with ``inherit``), apply dotted overrides, validate."""
    return load_any_config(path, overrides, 'counting')


def load_pose_config(path: str | Path | None = None, overrides: list[str] | None = None) -> PoseConfig:
    """Load a pose YAML config (with ``inherit``), apply ``section.key=value`` overrides, validate."""
    return load_any_config(path, overrides, 'pose')


def dump_config(cfg: Config | PoseConfig, path: str | Path) -> None:
    """Write ``cfg`` as YAML."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None))
