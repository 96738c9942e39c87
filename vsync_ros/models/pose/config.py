"""Configuration of the volumetric multi-view 3D pose model and its losses.

Same conventions as :mod:`vsync_ros.yaml_config` (dataclasses, :class:`~vsync_ros.yaml_config.ConfigError`
naming the bad key). Defaults are the CPU budget configuration: 4 views at 160 x 160, stride-4
features (40 x 40), a 32^3 volume over a 2.5 m cube.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from vsync_ros.models.sync.config import SyncConfig
from vsync_ros.yaml_config import ConfigError, choice, section_from_dict

POSE_METHODS = ('base', 'cls_cat', 'cls_cor', 'cls_epi')
ROOT_SOURCES = ('dlt', 'gt')
NUM_LEVELS = 3  # backbone feature levels: strides 4, 8, 16


@dataclass
class PoseModelConfig(SyncConfig):
    """Architecture of :class:`~vsync_ros.models.pose.model.VolumetricPoseModel`.

    Attributes:
        method: 'base' (no sync: BaseS / BaseU differ only in training data) or camera-level sync
            'cls_cat' | 'cls_cor' | 'cls_epi' (the counting model's CameraLevelSync + matching).
        image_height, image_width: input size in pixels (cameras are rescaled to it); multiples of 16.
        num_joints: 17 (Human3.6M order, :mod:`vsync_ros.data.skeleton`).
        root_joint: joint the cube is centred on (6 = pelvis).
        backbone_channels: widths of the 2D backbone at strides 4, 8, 16.
        feature_channels: channels of the unprojected features (learnable-triangulation: 32).
        volume_size: voxels per cube side N (the grid includes both faces: pitch = side / (N - 1)).
        cube_side_m: cube side in metres (learnable-triangulation: 2.5 m).
        v2v_channels: widths of the 3D encoder-decoder at N, N/2, N/4, N/8.
        norm: 'group' (GroupNorm, default: batch-size independent, so batch-1 CPU training evaluates
            like it trains) or 'batch' (BatchNorm as learnable-triangulation; needs larger batches).
        aggregation: 'softmax' (softmax over views per voxel and channel, the paper's choice) or 'mean'.
        volume_multiplier: logits scale before the 3D soft-argmax (learnable-triangulation: 1).
        rotate_volume: random yaw of the voxel grid about the vertical through the root in training.
        root_source: cube centre at evaluation: 'dlt' (DLT triangulation of the 2D heatmap argmaxes of
            the root joint, confidence weighted) or 'gt' (ground-truth root; needs batch['joints_3d']).
            Training always uses the ground-truth root plus ``root_jitter_m`` noise.
        root_jitter_m: std of the Gaussian jitter of the training cube centre, metres.
        flow_channels: channels of the per-level 1x1 matching embeddings (cls_* only).

    The sync fields are inherited from :class:`~vsync_ros.models.sync.config.SyncConfig` (flat in the
    ``model:`` section); ``corr_levels`` are feature levels (0 = stride 4, 1 = stride 8, 2 = stride 16)
    and must contain 2. Redeclared here with the defaults of ``config/train/pose_small.yaml``:
    flow_width 0.5, corr_levels [2], epipolar_sigma 2 stride-16 feature pixels, share_flow_views true.
    Without sharing, every camera pair (reference, view) has its own motion nets, so (0, 1) and
    (1, 0) differ.
    """

    method: str = 'base'
    image_height: int = 160
    image_width: int = 160
    num_joints: int = 17
    root_joint: int = 6
    backbone_channels: list[int] = field(default_factory=lambda: [32, 64, 96])
    feature_channels: int = 32
    volume_size: int = 32
    cube_side_m: float = 2.5
    v2v_channels: list[int] = field(default_factory=lambda: [16, 24, 48, 64])
    norm: str = 'group'
    aggregation: str = 'softmax'
    volume_multiplier: float = 1.0
    rotate_volume: bool = True
    root_source: str = 'dlt'
    root_jitter_m: float = 0.05
    flow_channels: int = 32
    # SyncConfig fields with pose defaults
    corr_levels: list[int] = field(default_factory=lambda: [2])
    flow_width: float = 0.5
    epipolar_sigma: float = 2.0
    epipolar_sigma_in_feature_px: bool = True
    share_flow_views: bool = True

    def validate(self) -> PoseModelConfig:
        """Raise :class:`ConfigError` naming the first invalid field; returns self."""
        choice('model.method', self.method, POSE_METHODS)
        choice('model.aggregation', self.aggregation, ('softmax', 'mean'))
        choice('model.norm', self.norm, ('batch', 'group'))
        choice('model.root_source', self.root_source, ROOT_SOURCES)
        if self.image_height % 16 or self.image_width % 16 or min(self.image_height, self.image_width) <= 0:
            raise ConfigError(f'model.image_height/image_width must be positive multiples of 16, '
                              f'got {self.image_height}x{self.image_width}')
        if len(self.backbone_channels) != 3 or min(self.backbone_channels) < 1:
            raise ConfigError(f'model.backbone_channels needs 3 positive widths, got {self.backbone_channels}')
        if len(self.v2v_channels) != 4 or min(self.v2v_channels) < 1:
            raise ConfigError(f'model.v2v_channels needs 4 positive widths, got {self.v2v_channels}')
        if self.volume_size < 8 or self.volume_size % 8:
            raise ConfigError(f'model.volume_size must be a multiple of 8 (>= 8), got {self.volume_size}')
        if not self.cube_side_m > 0:
            raise ConfigError(f'model.cube_side_m must be positive, got {self.cube_side_m}')
        if not 0 <= self.root_joint < self.num_joints:
            raise ConfigError(f'model.root_joint must be in [0, {self.num_joints}), got {self.root_joint}')
        if self.root_jitter_m < 0 or self.feature_channels < 1 or self.flow_channels < 1:
            raise ConfigError('model.root_jitter_m must be >= 0, feature/flow channels >= 1')
        self.validate_sync(NUM_LEVELS)
        return self

    @property
    def feature_hw(self) -> tuple[int, int]:
        """(height, width) of the stride-4 feature / heatmap maps."""
        return self.image_height // 4, self.image_width // 4

    def level_hw(self, level: int) -> tuple[int, int]:
        """Feature size at level ``level`` (stride 4 * 2 ** level)."""
        return self.image_height // (4 << level), self.image_width // (4 << level)

    @staticmethod
    def feature_stride(level: int) -> int:
        """Stride of level ``level`` in input pixels."""
        return 4 << level

    @property
    def voxel_size_m(self) -> float:
        """Distance between neighbouring voxel centres, metres."""
        return self.cube_side_m / (self.volume_size - 1)


@dataclass
class PoseLossConfig:
    """Training loss ``l = l_p + ce_weight * l_ce + heatmap_weight * l_hm + gamma * l_sync``.

    Attributes:
        pose_scale: factor on metres before the joint L1 (learnable-triangulation computes the MAE on
            mm x 0.1, i.e. centimetres: 100). l_p = mean over joints and xyz of |pred - gt| x pose_scale.
        ce_weight: weight of the volumetric cross-entropy at the voxel nearest each GT joint
            (learnable-triangulation: 0.01); 0 disables.
        heatmap_weight: 2D heatmap loss (softmax cross-entropy against a Gaussian at the projected GT
            joint) on the frames taken at the reference time; it trains the heatmap head that the
            DLT root uses (the original starts from a pretrained 2D network instead).
        heatmap_sigma_px: std of the 2D target Gaussians in feature pixels.
        sync_loss: 'warp' (l_W, MSE of warped to synced stride-4 features; needs 'images_sync'),
            'sim' (l_s, mean(1 - cos) between the unprojected reference and warped view volumes),
            'none'.
        gamma: sync-loss weight (paper, pose: 0.01).
        detach_sync_target: no gradient into the synced-frame features of l_W.
    """

    pose_scale: float = 100.0
    ce_weight: float = 0.01
    heatmap_weight: float = 0.1
    heatmap_sigma_px: float = 1.0
    sync_loss: str = 'warp'
    gamma: float = 0.01
    detach_sync_target: bool = True

    def validate(self) -> PoseLossConfig:
        """Raise :class:`ConfigError` naming the first invalid field; returns self."""
        choice('loss.sync_loss', self.sync_loss, ('warp', 'sim', 'none'))
        for name in ('pose_scale', 'ce_weight', 'heatmap_weight', 'gamma'):
            if getattr(self, name) < 0:
                raise ConfigError(f'loss.{name} must be >= 0, got {getattr(self, name)}')
        if not self.heatmap_sigma_px > 0:
            raise ConfigError(f'loss.heatmap_sigma_px must be positive, got {self.heatmap_sigma_px}')
        return self


def pose_model_config_from_dict(data: dict | None) -> PoseModelConfig:
    """Build and validate a :class:`PoseModelConfig` (unknown keys raise ConfigError)."""
    return section_from_dict(PoseModelConfig, data or {}, 'model').validate()


def pose_loss_config_from_dict(data: dict | None) -> PoseLossConfig:
    """Build and validate a :class:`PoseLossConfig`."""
    return section_from_dict(PoseLossConfig, data or {}, 'loss').validate()


def as_dict(cfg) -> dict:
    """Plain dict of a config dataclass (checkpoint / YAML friendly)."""
    return dataclasses.asdict(cfg)
