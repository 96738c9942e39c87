"""Volumetric multi-view 3D pose (learnable-triangulation, softmax aggregation) with camera-level sync.

Forward pass for B samples of V views (paper Sec. IV-D):

1. 2D backbone per view -> joint heatmaps and stride-4 features (B, V, C, H/4, W/4);
2. reference view per sample = first valid view (view 0, or view 1 when view 0's frame is missing);
3. 'cls_*' methods: the counting model's :class:`~vsync_ros.models.sync.camera_level.CameraLevelSync` (matching
   + coarse-to-fine motion nets) predicts a flow from the reference to each other view, and the
   other views' stride-4 features are backward-warped to the reference time;
4. cube of ``cube_side_m`` around the root: ground truth + jitter in training; at evaluation DLT
   triangulation of the root-joint heatmap argmaxes ('dlt') or the ground truth ('gt');
5. every voxel centre is projected into every view (with distortion) and the features are sampled
   (grid_sample; voxels behind a camera or outside its image are zero);
6. softmax aggregation over the valid views, V2V 3D encoder-decoder, 3D soft-argmax -> joints (m).
"""
from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from vsync_ros.geometry import Camera, cameras_at_resolution
from vsync_ros.models.pose.backbone import PoseBackbone
from vsync_ros.models.pose.config import PoseLossConfig, PoseModelConfig
from vsync_ros.models.pose.geometry import (
    CameraRig,
    aggregate_views,
    dlt_triangulate,
    heatmap_argmax,
    random_yaw,
    soft_argmax_3d,
    unproject,
    volume_grid,
)
from vsync_ros.models.pose.losses import (
    feature_warp_loss,
    heatmap_ce,
    joint_l1,
    volume_similarity_loss,
    volumetric_ce,
)
from vsync_ros.models.pose.v2v import V2VNet
from vsync_ros.models.sync.camera_level import CameraLevelSync
from vsync_ros.models.sync.factory import build_camera_level_sync, camera_pairs
from vsync_ros.models.sync.warp import warp

FEATURE_STRIDE = 4
FALLBACK_ROOT_M = (0.0, 0.0, 0.9)


def reference_views(view_valid: torch.Tensor) -> torch.Tensor:
    """(B, V) bool -> (B,) index of the first valid view (the paper: view 0, else view 1)."""
    v = view_valid.shape[1]
    order = torch.arange(v, 0, -1, device=view_valid.device)
    return torch.argmax(view_valid.long() * order, dim=1)


class VolumetricPoseModel(nn.Module):
    """Multi-view 3D human pose from (possibly unsynchronized) views; see the module docstring.

    Args:
        cfg: :class:`PoseModelConfig`.
        cameras: one calibration per view (any resolution; rescaled to the input size).
    """

    def __init__(self, cfg: PoseModelConfig, cameras: Sequence[Camera]):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.cameras = cameras_at_resolution(cameras, cfg.image_width, cfg.image_height)
        self.num_views = V = len(self.cameras)
        if V < 2:
            raise ValueError(f'the volumetric pose model needs at least 2 views, got {V}')
        self.rig = CameraRig(self.cameras)
        self.backbone = PoseBackbone(cfg.backbone_channels, cfg.num_joints, cfg.feature_channels, cfg.norm)
        self.v2v = V2VNet(cfg.feature_channels, cfg.num_joints, cfg.v2v_channels, cfg.norm)
        self.level_hw = [cfg.level_hw(k) for k in range(3)]
        self.cls: CameraLevelSync | None = None
        self.flow_embed: nn.ModuleDict | None = None
        if cfg.method != 'base':
            levels = sorted(set(cfg.corr_levels))
            self.flow_embed = nn.ModuleDict({
                str(k): nn.Sequential(nn.Conv2d(cfg.backbone_channels[k], cfg.flow_channels, 1), nn.ReLU())
                for k in levels})
            # any view can be the reference: matching (epipolar weights) for every ordered camera pair;
            # motion nets shared, or one set per camera pair (reference, view)
            self.cls = build_camera_level_sync(cfg, cfg.method, cfg.flow_channels, self.cameras, camera_pairs(V),
                                               self.level_hw, [cfg.feature_stride(k) for k in range(3)])

    @property
    def method(self) -> str:
        """'base', 'cls_cat', 'cls_cor' or 'cls_epi'."""
        return self.cfg.method

    # ------------------------------------------------------------------------------------ stages
    def _check_images(self, images: torch.Tensor, key: str) -> None:
        want = (self.num_views, 3, self.cfg.image_height, self.cfg.image_width)
        if images.dim() != 5 or tuple(images.shape[1:]) != want:
            raise ValueError(f'batch[{key!r}] must be (B, {", ".join(map(str, want))}), got {tuple(images.shape)}')

    def encode(self, images: torch.Tensor) -> dict:
        """(B, V, 3, H, W) -> 'heatmaps' (B, V, J, h, w), 'features' (B, V, C, h, w), 'levels' [(B, V, c_k, ...)]."""
        b, v = images.shape[:2]
        out = self.backbone(images.flatten(0, 1))
        return {'heatmaps': out['heatmaps'].unflatten(0, (b, v)), 'features': out['features'].unflatten(0, (b, v)),
                'levels': [x.unflatten(0, (b, v)) for x in out['levels']]}

    def synchronize(self, features: torch.Tensor, levels: Sequence[torch.Tensor], ref: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Warp every non-reference view's stride-4 features to the reference time.

        Args:
            features: (B, V, C, h, w); levels: encoder maps per level (B, V, c_k, h_k, w_k); ref: (B,).

        Returns:
            features (B, V, C, h, w) with non-reference views warped (reference unchanged) and
            flows (B, V, 2, h, w) in stride-4 feature pixels (zero for the reference).
        """
        assert self.cls is not None and self.flow_embed is not None
        b, v = features.shape[:2]
        emb = {k: self.flow_embed[str(k)](levels[k].flatten(0, 1)).unflatten(0, (b, v)) for k in self.cls.corr_levels}
        out = features.clone()
        flows = features.new_zeros(b, v, 2, *features.shape[-2:])
        for r in torch.unique(ref).tolist():
            rows = torch.nonzero(ref == r).squeeze(1)
            others = [j for j in range(v) if j != r]
            level_flows = self.cls({k: e[rows] for k, e in emb.items()}, reference=r, views=others)
            flow0 = level_flows[0]                                                     # (b_r, V-1, 2, h, w)
            idx_others = torch.tensor(others, device=features.device)
            src = features[rows][:, idx_others]
            warped = warp(src.flatten(0, 1), flow0.flatten(0, 1)).unflatten(0, flow0.shape[:2])
            idx_b, idx_v = rows.unsqueeze(1), idx_others.unsqueeze(0)
            out[idx_b, idx_v] = warped
            flows[idx_b, idx_v] = flow0
        return out, flows

    def triangulate_root(self, heatmaps: torch.Tensor, view_valid: torch.Tensor) -> torch.Tensor:
        """(B, 3) root from a confidence-weighted DLT of the root-joint heatmap peaks of the valid views."""
        rj = self.cfg.root_joint
        uv, conf = heatmap_argmax(heatmaps[:, :, rj].detach(), FEATURE_STRIDE)         # (B, V, 2), (B, V)
        ideal = self.rig.ideal_pixels(uv.unsqueeze(2)).squeeze(2)
        weights = conf * view_valid.to(conf.dtype)
        root = dlt_triangulate(self.rig.P, ideal, weights + 1e-6 * view_valid.to(conf.dtype))
        ok = torch.isfinite(root).all(dim=1) & ((weights > 0).sum(dim=1) >= 2)
        fallback = torch.tensor(FALLBACK_ROOT_M, dtype=root.dtype, device=root.device)
        return torch.where(ok.unsqueeze(1), root, fallback)

    def _root(self, batch: Mapping, heatmaps: torch.Tensor, valid: torch.Tensor, root_source: str | None,
              generator: torch.Generator | None) -> tuple[torch.Tensor, str]:
        if 'root' in batch:
            return batch['root'].to(heatmaps.dtype), 'given'
        gt = batch.get('joints_3d')
        gt_root = None if gt is None else gt[:, 0, self.cfg.root_joint].to(heatmaps.dtype)
        if self.training:
            if gt_root is None:
                raise KeyError("training needs batch['joints_3d'] (the cube is centred on the GT root)")
            noise = torch.randn(gt_root.shape, generator=generator, device=gt_root.device, dtype=gt_root.dtype)
            return gt_root + self.cfg.root_jitter_m * noise, 'gt_jitter'
        source = root_source or self.cfg.root_source
        if source == 'gt':
            if gt_root is None:
                raise KeyError("root_source 'gt' needs batch['joints_3d']")
            return gt_root, 'gt'
        return self.triangulate_root(heatmaps, valid), 'dlt'

    # ------------------------------------------------------------------------------------ forward
    def forward(self, batch: Mapping[str, torch.Tensor], images_key: str = 'images', root_source: str | None = None,
                with_sync_targets: bool | None = None, detach_sync_target: bool = True,
                generator: torch.Generator | None = None) -> dict:
        """Predict 3D joints (B = batch, V = views, J = 17, N = volume_size, h, w = H/4, W/4).

        Args:
            batch: ``images_key`` (B, V, 3, H, W) float in [0, 1]; optional 'view_valid' (B, V) bool,
                'ref_view' (B,) int (default: first valid view),
                'joints_3d' (B, P, 17, 3) metres (person 0 is used; needed in training and for
                root_source 'gt'), 'images_sync' (B, V, 3, H, W) (l_W targets), 'root' (B, 3) metres
                (explicit cube centre, overrides everything), 'view_synced' (B, V) bool (views known to
                be at the reference time: extra 2D heatmap supervision).
            images_key: 'images' (unsynchronized input; BaseU and CLS) or 'images_sync' (BaseS).
            root_source: override ``cfg.root_source`` at evaluation ('dlt' | 'gt').
            with_sync_targets: encode batch['images_sync'] for l_W (default: training, a sync method,
                'images_sync' present and not already the input).
            detach_sync_target: compute those targets without gradient.
            generator: RNG for the root jitter and the grid rotation (training).

        Returns:
            dict with 'joints_3d' (B, J, 3) world metres; 'root' (B, 3) cube centre (metres) and
            'root_source' ('gt_jitter' in training, else 'dlt' | 'gt' | 'given'); 'yaw' (B,) grid rotation
            (rad); 'grid' (B, N, N, N, 3) voxel centres; 'volume_logits' (B, J, N, N, N); 'heatmaps'
            (B, V, J, h, w) 2D logits of the input frames (not warped); 'features' (B, V, C, h, w) the
            stride-4 features that were unprojected (non-reference views warped for cls_*); 'flows'
            (B, V, 2, h, w) stride-4 feature pixels, zero for the reference (cls_* only);
            'unprojected' (B, V, C, N**3) and 'voxel_visible' (B, V, N**3) bool; 'ref_view' (B,);
            'view_valid', 'sync_views' (valid non-reference) and 'heatmap_views' (2D-supervised), all
            (B, V) bool; 'images_key'; with sync targets 'synced_features' (B, V, C, h, w).
        """
        cfg = self.cfg
        images = batch[images_key]
        self._check_images(images, images_key)
        b, v = images.shape[:2]
        valid = batch.get('view_valid')
        valid = (torch.ones(b, v, dtype=torch.bool, device=images.device) if valid is None
                 else valid.to(device=images.device, dtype=torch.bool))
        if not bool(valid.any(dim=1).all()):
            raise ValueError('every sample needs at least one valid view')
        if 'ref_view' in batch:
            ref = batch['ref_view'].to(device=images.device, dtype=torch.long).reshape(b)
            if not bool(valid[torch.arange(b, device=images.device), ref].all()):
                raise ValueError("batch['ref_view'] names a missing view")
        else:
            ref = reference_views(valid)
        enc = self.encode(images)
        heatmaps, features = enc['heatmaps'], enc['features']
        out: dict = {'heatmaps': heatmaps, 'ref_view': ref, 'view_valid': valid, 'images_key': images_key}
        if self.cls is not None:
            features, flows = self.synchronize(features, enc['levels'], ref)
            out['flows'] = flows
        out['features'] = features
        view_index = torch.arange(v, device=images.device)
        out['sync_views'] = valid & (view_index.unsqueeze(0) != ref.unsqueeze(1))
        if images_key == 'images_sync':
            hm_views = valid.clone()
        else:
            hm_views = valid & (view_index.unsqueeze(0) == ref.unsqueeze(1))
            if 'view_synced' in batch:
                hm_views = hm_views | (valid & batch['view_synced'].to(device=images.device, dtype=torch.bool))
        out['heatmap_views'] = hm_views

        root, source = self._root(batch, heatmaps, valid, root_source, generator)
        yaw = (random_yaw(b, generator, images.device).to(images.dtype) if self.training and cfg.rotate_volume
               else torch.zeros(b, device=images.device, dtype=images.dtype))
        n = cfg.volume_size
        grid = volume_grid(root, cfg.cube_side_m, n, yaw)
        uv, depth = self.rig.project(grid.reshape(b, -1, 3))
        volumes, visible = unproject(features, uv, depth, FEATURE_STRIDE)
        fused = aggregate_views(volumes, valid, cfg.aggregation).reshape(b, -1, n, n, n)
        logits = self.v2v(fused)
        joints, _ = soft_argmax_3d(logits, grid, cfg.volume_multiplier)
        out.update({'joints_3d': joints, 'root': root, 'root_source': source, 'yaw': yaw, 'grid': grid,
                    'volume_logits': logits, 'unprojected': volumes, 'voxel_visible': visible})

        if with_sync_targets is None:
            with_sync_targets = (self.training and self.cls is not None and 'images_sync' in batch
                                 and images_key != 'images_sync')
        if with_sync_targets:
            if 'images_sync' not in batch:
                raise KeyError("with_sync_targets=True needs batch['images_sync']")
            self._check_images(batch['images_sync'], 'images_sync')
            ctx = torch.no_grad() if detach_sync_target else contextlib.nullcontext()
            with ctx:
                out['synced_features'] = self.encode(batch['images_sync'])['features']
        return out

    # ------------------------------------------------------------------------------------ losses
    def loss(self, out: Mapping, batch: Mapping, cfg: PoseLossConfig | None = None) -> dict[str, torch.Tensor]:
        """Training loss and its parts (scalars): 'total', 'pose', and 'ce', 'heatmap', 'warp' | 'sim' when used.

        ``batch`` needs 'joints_3d' (B, P, 17, 3) (person 0 is the target); optional 'joints_valid' (B, J)
        and 'joints_uv' (B, V, P, 17, 2): per-frame 2D joints (pixels at the input resolution, NaN
        where unknown) of the frames in batch['images'], which then supervise the heatmaps of every
        valid view (else only the views at the reference time, from the projected 3D joints).
        The sync loss is skipped for 'base'; 'warp' needs ``out['synced_features']``.
        """
        cfg = cfg or PoseLossConfig()
        mcfg = self.cfg
        gt = batch['joints_3d'][:, 0].to(out['joints_3d'].dtype)
        jvalid = batch.get('joints_valid')
        parts = {'pose': joint_l1(out['joints_3d'], gt, jvalid, cfg.pose_scale)}
        total = parts['pose']
        if cfg.ce_weight > 0:
            parts['ce'] = volumetric_ce(out['volume_logits'], gt, out['root'], mcfg.cube_side_m, out['yaw'], jvalid,
                                        mcfg.volume_multiplier)
            total = total + cfg.ce_weight * parts['ce']
        if cfg.heatmap_weight > 0:
            h, w = out['heatmaps'].shape[-2:]
            if 'joints_uv' in batch and out.get('images_key') == 'images':
                # per-frame 2D labels of the frames actually input: every valid view is supervised
                uv = batch['joints_uv'][:, :, 0].to(gt.dtype)                           # (B, V, J, 2)
                depth = torch.where(torch.isfinite(uv).all(-1), 1.0, -1.0)
                uv = torch.nan_to_num(uv, nan=-1e4)
                views = out['view_valid']
            else:
                uv, depth = self.rig.project(gt)                                        # (B, V, J, 2)
                views = out['heatmap_views']
            inside = ((uv[..., 0] >= -0.5) & (uv[..., 0] <= FEATURE_STRIDE * w - 0.5)
                      & (uv[..., 1] >= -0.5) & (uv[..., 1] <= FEATURE_STRIDE * h - 0.5) & (depth > 0))
            use = inside & views.unsqueeze(-1)
            if jvalid is not None:
                use = use & jvalid.bool().unsqueeze(1)
            parts['heatmap'] = heatmap_ce(out['heatmaps'], uv, use, FEATURE_STRIDE, cfg.heatmap_sigma_px)
            total = total + cfg.heatmap_weight * parts['heatmap']
        if self.cls is not None and cfg.gamma > 0 and cfg.sync_loss != 'none':
            if cfg.sync_loss == 'warp':
                if 'synced_features' not in out:
                    raise KeyError("sync_loss 'warp' needs batch['images_sync'] passed to the model in training")
                parts['warp'] = feature_warp_loss(out['features'], out['synced_features'], out['sync_views'])
                total = total + cfg.gamma * parts['warp']
            else:
                parts['sim'] = volume_similarity_loss(out['unprojected'], out['voxel_visible'], out['ref_view'],
                                                      out['sync_views'])
                total = total + cfg.gamma * parts['sim']
        parts['total'] = total
        return parts

    @torch.no_grad()
    def predict(self, images: torch.Tensor, view_valid: torch.Tensor | None = None) -> torch.Tensor:
        """(B, V, 3, H, W) -> (B, 17, 3) world joints in metres (eval mode, configured root source)."""
        batch = {'images': images}
        if view_valid is not None:
            batch['view_valid'] = view_valid
        return self.forward(batch, with_sync_targets=False)['joints_3d']


def build_pose_model(cfg: PoseModelConfig, cameras: Sequence[Camera]) -> VolumetricPoseModel:
    """Construct the pose model for ``cfg`` on these cameras."""
    return VolumetricPoseModel(cfg, cameras)
