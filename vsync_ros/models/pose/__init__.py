"""Volumetric multi-view 3D human pose (learnable triangulation, softmax aggregation) with view sync.

ROS-free. Entry points: :class:`VolumetricPoseModel` (``forward`` / ``loss`` / ``predict``),
:class:`PoseModelConfig`, :class:`PoseLossConfig`; geometry helpers (unprojection, soft-argmax, DLT).
May import: models.sync, geometry, data, the base modules, torch (models layer).
"""
from vsync_ros.models.pose.backbone import PoseBackbone
from vsync_ros.models.pose.config import (
    POSE_METHODS,
    PoseLossConfig,
    PoseModelConfig,
    pose_loss_config_from_dict,
    pose_model_config_from_dict,
)
from vsync_ros.models.pose.geometry import (
    CameraRig,
    aggregate_views,
    dlt_triangulate,
    gaussian_heatmaps,
    heatmap_argmax,
    soft_argmax_3d,
    unproject,
    volume_grid,
    world_to_voxel,
)
from vsync_ros.models.pose.losses import (
    feature_warp_loss,
    heatmap_ce,
    joint_l1,
    mpjpe_mm,
    volume_similarity_loss,
    volumetric_ce,
)
from vsync_ros.models.pose.model import (
    VolumetricPoseModel,
    build_pose_model,
    reference_views,
)
from vsync_ros.models.pose.v2v import V2VNet

__all__ = [
    'POSE_METHODS', 'CameraRig', 'PoseBackbone', 'PoseLossConfig', 'PoseModelConfig', 'V2VNet',
    'VolumetricPoseModel', 'aggregate_views', 'build_pose_model', 'dlt_triangulate', 'feature_warp_loss',
    'gaussian_heatmaps', 'heatmap_argmax', 'heatmap_ce', 'joint_l1', 'mpjpe_mm', 'pose_loss_config_from_dict',
    'pose_model_config_from_dict', 'reference_views', 'soft_argmax_3d', 'unproject', 'volume_grid',
    'volume_similarity_loss', 'volumetric_ce', 'world_to_voxel',
]
