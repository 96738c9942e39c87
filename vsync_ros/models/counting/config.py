"""Configuration of the MVMS counting model and its training loss (dataclasses, see :mod:`vsync_ros.yaml_config`)."""
from __future__ import annotations

from dataclasses import dataclass, field

from vsync_ros.models.sync.config import SyncConfig
from vsync_ros.yaml_config import ConfigError, choice, section_from_dict

METHODS = ('base', 'sls', 'cls_cat', 'cls_cor', 'cls_epi')
SYNC_LOSSES = ('warp', 'sim', 'none')


@dataclass
class ModelConfig(SyncConfig):
    """Architecture of the MVMS counting model and its synchronization module.

    Defaults are the shipped CPU configuration, ``config/train/small.yaml`` (``paper.yaml`` sets every
    field to the paper-size model). ``corr_levels`` is redeclared with the counting default [2] (matching
    at the coarsest level only; until issue 12 [1, 2], with ``flow_features`` 'separate'). The sync fields
    (flow_width, flow_kernel, flow_activation, corr_levels, corr_rescale, epipolar_*, share_flow_views) are
    inherited from
    :class:`~vsync_ros.models.sync.config.SyncConfig` and live flat in the ``model:`` section;
    ``corr_levels`` are pyramid levels here (must contain the coarsest, num_scales - 1).

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
        flow_features: 'separate' = a per-view flow encoder shared over levels (authors' code),
            'shared' = match the counting features themselves (cheaper), 'shared_detached' = the same with the
            gradient stopped on the matching path (the sync loss trains the motion nets and the warped
            features, never the counting encoder through the correlation).
        flow_encoder_channels: widths of the flow encoder (same layout as the counting encoder).
    """

    method: str = 'cls_epi'
    image_height: int = 144
    image_width: int = 192
    in_channels: int = 3
    num_scales: int = 3
    encoder_channels: list[int] = field(default_factory=lambda: [8, 8, 16, 16])
    encoder_kernel: int = 5
    lrn: bool = False
    share_views: bool = False
    share_scales: bool = False
    decoder_channels: list[int] = field(default_factory=lambda: [32, 16])
    output_activation: str = 'relu'
    projection_height_m: float = 1.75
    scale_height_m: float = 0.875
    density_scale: float = 1000.0
    corr_levels: list[int] = field(default_factory=lambda: [2])
    flow_features: str = 'shared_detached'
    flow_encoder_channels: list[int] = field(default_factory=lambda: [8, 8, 16, 16])

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        choice('model.method', self.method, METHODS)
        choice('model.output_activation', self.output_activation, ('relu', 'none'))
        choice('model.flow_features', self.flow_features, ('separate', 'shared', 'shared_detached'))
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
        if self.encoder_kernel % 2 == 0:
            raise ConfigError('model.encoder_kernel must be odd')
        if self.density_scale <= 0:
            raise ConfigError(f'model.density_scale must be positive, got {self.density_scale}')
        self.validate_sync(self.num_scales)

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
        choice('loss.sync_loss', self.sync_loss, SYNC_LOSSES)
        if self.gamma < 0:
            raise ConfigError(f'loss.gamma must be >= 0, got {self.gamma}')



def model_config_from_dict(data: dict) -> ModelConfig:
    """Build and validate a :class:`ModelConfig` alone."""
    cfg = section_from_dict(ModelConfig, data, 'model')
    cfg.validate()
    return cfg
