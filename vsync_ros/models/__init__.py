"""ROS-free PyTorch models: MVMS counting, motion nets, matching, warping, SLS / CLS sync, losses."""
from vsync_ros.models.counting import CLS_METHODS, SyncCountingModel, build_model, cameras_at_resolution
from vsync_ros.models.decoder import GroundDecoder
from vsync_ros.models.encoder import ConvEncoder, FusionConv, MultiScaleEncoder, PerView, image_pyramid
from vsync_ros.models.losses import compute_losses, similarity_loss, task_loss, warp_loss
from vsync_ros.models.matching import (
    ConcatMatching,
    CorrelationMatching,
    global_correlation,
    normalize_correlation,
)
from vsync_ros.models.motion import MotionNet, scaled_widths
from vsync_ros.models.projection import GroundProjection, ScaleSelection, reference_distance
from vsync_ros.models.sync import CameraLevelSync, SceneLevelSync
from vsync_ros.models.warp import pixel_grid, upsample_features, upsample_flow, warp

__all__ = [
    'CLS_METHODS', 'CameraLevelSync', 'ConcatMatching', 'ConvEncoder', 'CorrelationMatching', 'FusionConv',
    'GroundDecoder', 'GroundProjection', 'MotionNet', 'MultiScaleEncoder', 'PerView', 'ScaleSelection',
    'SceneLevelSync', 'SyncCountingModel', 'build_model', 'cameras_at_resolution', 'compute_losses',
    'global_correlation', 'image_pyramid', 'normalize_correlation', 'pixel_grid', 'reference_distance',
    'scaled_widths', 'similarity_loss', 'task_loss', 'upsample_features', 'upsample_flow', 'warp', 'warp_loss',
]
