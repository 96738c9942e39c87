"""Typed configuration for models, losses and training, loaded from YAML with dotted overrides.

A config file is a YAML mapping with up to four sections, ``model``, ``loss``, ``train`` and
``data``, each matching one dataclass below. A file may start from another one with
``inherit: other.yaml`` (path relative to the file); its sections are merged key by key, the
inheriting file winning. Command-line overrides use dotted keys, ``model.flow_width=0.5``, with
values parsed as YAML (``model.corr_levels=[1,2]``, ``train.init_checkpoint=null``).

Unknown keys and values of the wrong type raise :class:`ConfigError` naming the key.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METHODS = ('base', 'sls', 'cls_cat', 'cls_cor', 'cls_epi')
SYNC_LOSSES = ('warp', 'sim', 'none')
ACTIVATIONS = ('relu', 'leaky_relu', 'tanh')


class ConfigError(ValueError):
    """A configuration file, section, key or value is invalid."""


@dataclass
class ModelConfig:
    """Architecture of the MVMS counting model and its synchronization module.

    Attributes:
        method: 'base' (no sync; BaseS / BaseSU / BaseU differ only in training data), 'sls'
            (scene-level sync on the ground plane), 'cls_cat' | 'cls_cor' | 'cls_epi' (camera-level sync
            with concatenation / global correlation / correlation x epipolar weights).
        image_height, image_width: network input size in pixels (cameras are rescaled to it). Both must
            be divisible by 2 ** (num_scales + 1) so every pyramid level has an integer stride-4 map.
        in_channels: image channels (3 = RGB in [0, 1]).
        num_scales: image-pyramid levels; level k is the input downsampled by 2 ** k.
        encoder_channels: output channels of the four 5x5 convs of the per-view counting encoder
            (pool /2 after the 2nd and 4th), giving features at stride 4 of each level's image.
        encoder_kernel: conv kernel size of the encoders and the per-level fusion conv.
        lrn: local response normalisation after each encoder block (as MVMS; costly on CPU).
        share_views: one counting encoder / fusion conv for all views (MVMS: separate per view).
        share_scales: one counting encoder / fusion conv for all pyramid levels (MVMS: separate).
        decoder_channels: widths of the two 5x5 ground-plane decoder convs (MVMS: 64, 32).
        output_activation: 'relu' (MVMS) or 'none' on the density output.
        projection_height_m: height of the plane the view features are projected to (MVMS 1.75 m).
        scale_height_m: plane height for the depth-ratio map of the scale selection (MVMS 0.875 m).
        density_scale: the network predicts density x density_scale (authors: 1000); counts divide it out.
        flow_width: factor on the motion-net widths of Table I (128, 128, 64, 64, 32); 1.0 = paper.
        flow_kernel: motion-net conv kernel (paper 5).
        flow_activation: hidden activation of the motion net ('relu' | 'leaky_relu' | 'tanh'); the
            2-channel output is linear.
        flow_features: 'separate' = a per-view flow encoder shared over levels (authors' code),
            'shared' = match the counting features themselves (cheaper).
        flow_encoder_channels: widths of the flow encoder (same layout as the counting encoder).
        corr_levels: pyramid levels where matching + a motion net run (must contain the coarsest level
            num_scales - 1); finer levels without matching get the upsampled flow.
        corr_rescale: multiply the sum-normalised correlation by the number of view-i locations so a
            uniform correlation is 1 (a constant factor; the normalisation itself is the authors').
        epipolar_sigma, epipolar_kernel, epipolar_sigma_in_feature_px: epipolar weight fall-off
            ('gauss' = paper, 'laplace' = authors' code with sigma 128 feature px).
        share_flow_views: one motion net per level for all view pairs (authors: one per pair and level).
    """

    method: str = 'cls_epi'
    image_height: int = 288
    image_width: int = 384
    in_channels: int = 3
    num_scales: int = 3
    encoder_channels: list[int] = field(default_factory=lambda: [16, 16, 32, 32])
    encoder_kernel: int = 5
    lrn: bool = True
    share_views: bool = False
    share_scales: bool = False
    decoder_channels: list[int] = field(default_factory=lambda: [64, 32])
    output_activation: str = 'relu'
    projection_height_m: float = 1.75
    scale_height_m: float = 0.875
    density_scale: float = 1000.0
    flow_width: float = 1.0
    flow_kernel: int = 5
    flow_activation: str = 'tanh'
    flow_features: str = 'separate'
    flow_encoder_channels: list[int] = field(default_factory=lambda: [16, 16, 32, 32])
    corr_levels: list[int] = field(default_factory=lambda: [0, 1, 2])
    corr_rescale: bool = True
    epipolar_sigma: float = 128.0
    epipolar_kernel: str = 'laplace'
    epipolar_sigma_in_feature_px: bool = True
    share_flow_views: bool = False

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        _choice('model.method', self.method, METHODS)
        _choice('model.output_activation', self.output_activation, ('relu', 'none'))
        _choice('model.flow_activation', self.flow_activation, ACTIVATIONS)
        _choice('model.flow_features', self.flow_features, ('separate', 'shared'))
        _choice('model.epipolar_kernel', self.epipolar_kernel, ('gauss', 'laplace'))
        if self.num_scales < 1:
            raise ConfigError(f'model.num_scales must be >= 1, got {self.num_scales}')
        div = 2 ** (self.num_scales + 1)
        if self.image_height % div or self.image_width % div or min(self.image_height, self.image_width) <= 0:
            raise ConfigError(f'model.image_height/image_width ({self.image_height}x{self.image_width}) must be '
                              f'positive multiples of 2**(num_scales+1) = {div}')
        for name in ('encoder_channels', 'flow_encoder_channels'):
            chans = getattr(self, name)
            if len(chans) != 4 or min(chans) < 1:
                raise ConfigError(f'model.{name} needs 4 positive widths, got {chans}')
        if len(self.decoder_channels) != 2 or min(self.decoder_channels) < 1:
            raise ConfigError(f'model.decoder_channels needs 2 positive widths, got {self.decoder_channels}')
        if self.encoder_kernel % 2 == 0 or self.flow_kernel % 2 == 0:
            raise ConfigError('model.encoder_kernel and model.flow_kernel must be odd')
        if not (self.flow_width > 0 and math.isfinite(self.flow_width)):
            raise ConfigError(f'model.flow_width must be positive, got {self.flow_width}')
        if self.density_scale <= 0:
            raise ConfigError(f'model.density_scale must be positive, got {self.density_scale}')
        if self.epipolar_sigma <= 0:
            raise ConfigError(f'model.epipolar_sigma must be positive, got {self.epipolar_sigma}')
        levels = list(self.corr_levels)
        if (not levels or len(set(levels)) != len(levels) or min(levels) < 0
                or max(levels) != self.num_scales - 1):
            raise ConfigError(f'model.corr_levels must be distinct levels in [0, {self.num_scales - 1}] '
                              f'including the coarsest ({self.num_scales - 1}), got {levels}')

    @property
    def image_hw(self) -> tuple[int, int]:
        """(height, width) of the network input, pixels."""
        return self.image_height, self.image_width

    def level_hw(self, level: int) -> tuple[int, int]:
        """(height, width) of pyramid level ``level``'s image, pixels."""
        return self.image_height >> level, self.image_width >> level

    def feature_hw(self, level: int) -> tuple[int, int]:
        """(height, width) of the stride-4 feature map of pyramid level ``level``."""
        h, w = self.level_hw(level)
        return h // 4, w // 4

    def feature_stride(self, level: int) -> int:
        """Stride of level ``level``'s feature map in input-image pixels (4 * 2 ** level)."""
        return 4 << level


@dataclass
class LossConfig:
    """Training loss ``l = l_p + gamma * l_sync`` (paper Eqs. 2, 4, 5).

    Attributes:
        sync_loss: 'warp' (l_W: MSE between warped unsynced and synced features, needs synced frames),
            'sim' (l_s: mean(1 - cos) between projected reference and warped projected views), 'none'.
        gamma: weight of the sync loss (paper: 1 for l_W, 1000 for l_s).
        detach_sync_target: stop gradients into the synced-frame features used as l_W target (cheaper,
            but l_W then chases a moving target through the shared encoder and is not a true descent
            direction; the authors do not detach).
    """

    sync_loss: str = 'warp'
    gamma: float = 1.0
    detach_sync_target: bool = False

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        _choice('loss.sync_loss', self.sync_loss, SYNC_LOSSES)
        if self.gamma < 0:
            raise ConfigError(f'loss.gamma must be >= 0, got {self.gamma}')


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

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        _choice('train.input', self.input, ('sync', 'unsync'))
        _choice('train.optimizer', self.optimizer, ('adam', 'sgd'))
        _choice('train.device', self.device, ('auto', 'cpu', 'cuda'))
        if self.lr <= 0:
            raise ConfigError(f'train.lr must be positive, got {self.lr}')
        if self.batch_size < 1 or self.epochs < 0 or self.max_steps < 0:
            raise ConfigError('train.batch_size must be >= 1, train.epochs and train.max_steps >= 0')


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


@dataclass
class Config:
    """Top-level configuration: one section per dataclass."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def validate(self) -> Config:
        """Validate every section; returns self."""
        for section in (self.model, self.loss, self.train, self.data):
            section.validate()
        return self

    def to_dict(self) -> dict:
        """Plain nested dict (YAML / checkpoint friendly)."""
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------- parsing
def _choice(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f'{key} must be one of {list(allowed)}, got {value!r}')


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check / convert ``value`` to the dataclass field type ``annotation``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(key, value, inner[0])
    if origin is list:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ConfigError(f'{key} must be a list, got {value!r}')
        return [_coerce(f'{key}[{i}]', v, args[0]) for i, v in enumerate(value)]
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f'{key} must be true or false, got {value!r}')
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'{key} must be an integer, got {value!r}')
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads '1e-4' (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f'{key} must be a number, got {value!r}')
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f'{key} must be a string, got {value!r}')
        return value
    return value


def _section_from_dict(cls: type, data: dict, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f'section {prefix!r} must be a mapping, got {type(data).__name__}')
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f'unknown key {prefix}.{unknown[0]} (known: {", ".join(sorted(names))})')
    kwargs = {k: _coerce(f'{prefix}.{k}', v, hints[k]) for k, v in data.items()}
    return cls(**kwargs)


_SECTIONS = {'model': ModelConfig, 'loss': LossConfig, 'train': TrainConfig, 'data': DataConfig}


def config_from_dict(data: dict) -> Config:
    """Build and validate a :class:`Config` from a nested mapping (missing keys take defaults)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f'config must be a mapping, got {type(data).__name__}')
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f'unknown config section {unknown[0]!r} (known: {", ".join(_SECTIONS)})')
    parts = {name: _section_from_dict(cls, data.get(name) or {}, name) for name, cls in _SECTIONS.items()}
    return Config(**parts).validate()


def model_config_from_dict(data: dict) -> ModelConfig:
    """Build and validate a :class:`ModelConfig` alone."""
    cfg = _section_from_dict(ModelConfig, data, 'model')
    cfg.validate()
    return cfg


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml_tree(path: Path, seen: tuple = ()) -> dict:
    path = Path(path)
    if path.resolve() in seen:
        raise ConfigError(f'config inheritance loop at {path}')
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f'cannot read config {path}: {exc}') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'config {path} is not valid YAML: {exc}') from exc
    doc = doc or {}
    if not isinstance(doc, dict):
        raise ConfigError(f'config {path} must be a YAML mapping')
    parent = doc.pop('inherit', None)
    if parent:
        base = _read_yaml_tree(path.parent / parent, seen + (path.resolve(),))
        doc = _deep_merge(base, doc)
    return doc


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'model.flow_width=0.5'`` -> (['model', 'flow_width'], 0.5); the value is parsed as YAML."""
    if '=' not in text:
        raise ConfigError(f'override {text!r} must look like section.key=value')
    key, raw = text.split('=', 1)
    parts = [p for p in key.strip().split('.') if p]
    if len(parts) != 2:
        raise ConfigError(f'override key {key!r} must be section.key (e.g. train.lr=1e-3)')
    try:
        value = yaml.safe_load(raw) if raw.strip() else ''
    except yaml.YAMLError as exc:
        raise ConfigError(f'override {text!r}: value is not valid YAML: {exc}') from exc
    return parts, value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Return ``data`` with every ``section.key=value`` override applied."""
    data = _deep_merge({}, data)
    for text in overrides or []:
        (section, key), value = parse_override(text)
        if section not in _SECTIONS:
            raise ConfigError(f'override {text!r}: unknown section {section!r} (known: {", ".join(_SECTIONS)})')
        data.setdefault(section, {})
        data[section] = dict(data[section] or {})
        data[section][key] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (with ``inherit``), apply dotted overrides, validate."""
    data = _read_yaml_tree(Path(path)) if path else {}
    return config_from_dict(apply_overrides(data, overrides or []))


def dump_config(cfg: Config, path: str | Path) -> None:
    """Write ``cfg`` as YAML."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None))
