"""MVMS multi-view counting model with optional view synchronization (base / SLS / CLS-cat|cor|epi).

Pipeline per forward (B = batch, V = views, view 0 = reference, K = pyramid levels):

1. image pyramid (level k = input / 2**k) -> per-view, per-level counting encoder -> features at
   stride 4 of each level, (B, V, C, H/2**(k+2), W/2**(k+2));
2. CLS only: flow encoder + matching + coarse-to-fine motion nets -> per-level flows; views 1..V-1
   are backward-warped at every level;
3. per-level fusion conv, upsampling to level 0, depth-ratio soft scale selection -> (B, V, C, H/4, W/4);
4. projection to the ground plane with precomputed grids -> (B, V, C, rows, cols), masked;
5. SLS only: ground-plane flow + warp of views 1..V-1;
6. decoder on the concatenated views -> density x density_scale, (B, 1, rows, cols).

All geometry (projection grids, masks, depth ratios, epipolar weights) is built once from the cameras
in ``__init__`` and kept in non-persistent buffers.
"""
from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from vsync_ros.geometry import Camera, GroundRegion, cameras_at_resolution
from vsync_ros.models.counting.config import ModelConfig
from vsync_ros.models.counting.decoder import GroundDecoder
from vsync_ros.models.counting.encoder import ConvEncoder, FusionConv, MultiScaleEncoder, PerView, image_pyramid
from vsync_ros.models.counting.projection import GroundProjection, ScaleSelection
from vsync_ros.models.sync.camera_level import CameraLevelSync, SceneLevelSync
from vsync_ros.models.sync.factory import CLS_METHODS, build_camera_level_sync, camera_pairs
from vsync_ros.models.sync.warp import upsample_features, warp


class SyncCountingModel(nn.Module):
    """Multi-view crowd counting (MVMS) with the paper's synchronization modules.

    Args:
        cfg: architecture (``ModelConfig``; ``method`` selects base / sls / cls_*).
        cameras: one calibration per view (any resolution; rescaled to cfg.image_width x image_height).
        region: ground-plane grid of the output density map (``region.shape`` = (rows, cols)).

    Attribute ``zero_flow`` (default False, not saved): sync methods warp with a zero flow instead of
    the predicted one (the same weights without synchronization; ``vsync-eval --zero-flow``).
    """

    def __init__(self, cfg: ModelConfig, cameras: Sequence[Camera], region: GroundRegion):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.region = region
        self.zero_flow = False
        self.cameras = cameras_at_resolution(cameras, cfg.image_width, cfg.image_height)
        self.num_views = V = len(self.cameras)
        if V < 1 or (cfg.method != 'base' and V < 2):
            raise ValueError(f'method {cfg.method!r} needs at least {1 if cfg.method == "base" else 2} views, got {V}')
        K = cfg.num_scales
        C = cfg.encoder_channels[-1]
        self.feat_channels = C
        self.level_hw = [cfg.feature_hw(k) for k in range(K)]

        self.encoder = MultiScaleEncoder(V, K, cfg.in_channels, cfg.encoder_channels, cfg.encoder_kernel, cfg.lrn,
                                         cfg.share_views, cfg.share_scales)

        def fusion_level() -> PerView:
            return PerView(lambda: FusionConv(C, cfg.encoder_kernel), V, cfg.share_views)

        self.fusion = nn.ModuleList([fusion_level()] if cfg.share_scales else [fusion_level() for _ in range(K)])
        self.scale_selection = (ScaleSelection(self.cameras, cfg.feature_stride(0), self.level_hw[0],
                                               cfg.scale_height_m, K) if K > 1 else None)
        self.projection = GroundProjection(self.cameras, region, cfg.feature_stride(0), self.level_hw[0],
                                           cfg.projection_height_m)
        self.decoder = GroundDecoder(V * C, cfg.decoder_channels, cfg.encoder_kernel, cfg.output_activation)

        self.flow_encoder: PerView | None = None
        self.cls: CameraLevelSync | None = None
        self.sls: SceneLevelSync | None = None
        if cfg.method in CLS_METHODS:
            if cfg.flow_features == 'separate':
                chans = cfg.flow_encoder_channels
                self.flow_encoder = PerView(lambda: ConvEncoder(cfg.in_channels, chans, cfg.encoder_kernel, cfg.lrn),
                                            V, cfg.share_views)
                flow_c = chans[-1]
            else:
                flow_c = C
            # reference is always view 0: motion nets keyed (0, i), i.e. nets[i - 1]
            self.cls = build_camera_level_sync(cfg, cfg.method, flow_c, self.cameras, camera_pairs(V, [0]),
                                               self.level_hw, [cfg.feature_stride(k) for k in range(K)])
        elif cfg.method == 'sls':
            self.sls = SceneLevelSync(C, V - 1, cfg.share_flow_views, cfg.flow_width, cfg.flow_kernel,
                                      cfg.flow_activation)

    @property
    def method(self) -> str:
        """The sync method ('base', 'sls', 'cls_cat', 'cls_cor', 'cls_epi')."""
        return self.cfg.method

    @property
    def gp_mask(self) -> torch.Tensor:
        """(V, 1, rows, cols) ground-plane visibility of each view (float 0/1)."""
        return self.projection.mask

    # ------------------------------------------------------------------------------ stages
    def _pyramid(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(B, n, 3, H, W) -> list over k of (B, n, 3, H/2**k, W/2**k)."""
        b, n = images.shape[:2]
        return [p.reshape(b, n, *p.shape[1:]) for p in image_pyramid(images.flatten(0, 1), self.cfg.num_scales)]

    def _fuse_scales(self, feats: list[torch.Tensor], views: Sequence[int]) -> torch.Tensor:
        """Per-level (B, n, C, H_k, W_k) -> fusion conv, upsample to level 0, scale selection -> (B, n, C, H0, W0)."""
        out = []
        for k, f in enumerate(feats):
            fused = self.fusion[0 if self.cfg.share_scales else k](f, views)
            if k > 0:
                b, n = fused.shape[:2]
                fused = upsample_features(fused.flatten(0, 1), self.level_hw[0]).reshape(b, n, -1, *self.level_hw[0])
            out.append(fused)
        if self.scale_selection is None:
            return out[0]
        return self.scale_selection(out, views)

    def _check_images(self, images: torch.Tensor, key: str) -> None:
        cfg = self.cfg
        want = (self.num_views, cfg.in_channels, cfg.image_height, cfg.image_width)
        if images.dim() != 5 or tuple(images.shape[1:]) != want:
            raise ValueError(f'batch[{key!r}] must be (B, {", ".join(map(str, want))}), got {tuple(images.shape)}')

    def _warp_levels(self, feats: list[torch.Tensor], flows: list[torch.Tensor]) -> list[torch.Tensor]:
        """Warp views 1..V-1 of each level: (B, V, C, h, w) x (B, V-1, 2, h, w) -> (B, V-1, C, h, w)."""
        out = []
        for f, w in zip(feats, flows):
            b, n = w.shape[:2]
            warped = warp(f[:, 1:].flatten(0, 1), w.flatten(0, 1))
            out.append(warped.reshape(b, n, *warped.shape[1:]))
        return out

    # ------------------------------------------------------------------------------ forward
    def forward(self, batch: Mapping[str, torch.Tensor], with_sync_targets: bool | None = None,
                detach_sync_target: bool = False) -> dict:
        """Predict the ground-plane density of a batch.

        Args:
            batch: 'images' (B, V, 3, H, W) in [0, 1], view 0 = reference; optional 'view_valid' (B, V) bool
                (invalid views contribute zero features); optional 'images_sync' (B, V, 3, H, W); optional
                'synchronize' (B,) bool: False fuses that sample's views as captured, without warping (the
                sync module does not touch it: the fail-over of :mod:`vsync_ros.inference.pipeline` when
                the reference view 0 has no frame, and view-dropout training). When no sample is
                synchronized the sync module is not run at all (no 'flows' / 'warped' / 'synced' in the
                output), exactly as a model without one.
            with_sync_targets: also encode the synchronized frames of views 1..V-1 for the warping loss
                (default: when 'images_sync' is present and the method synchronizes).
            detach_sync_target: compute those targets without gradient.

        Returns:
            dict with
              'density' (B, 1, rows, cols) predicted density x density_scale;
              'count' (B,) predicted people count (density sum / density_scale);
              'proj' (B, V, C, rows, cols) projected view features fed to the decoder (views >= 1 warped);
              'gp_mask' (V, 1, rows, cols);
              sync methods: 'flows' list of (B, V-1, 2, h, w) per level, finest first (CLS: feature
              pixels of the level; SLS: one entry, GP cells), 'warped' list of (B, V-1, C, h, w) warped
              features (CLS: encoder features per level; SLS: projected features);
              with sync targets: 'synced' list matching 'warped' (features of the synchronized frames).
        """
        images = batch['images']
        self._check_images(images, 'images')
        all_views = list(range(self.num_views))
        pyr = self._pyramid(images)
        feats = self.encoder(pyr)
        out: dict = {'gp_mask': self.projection.mask}
        keep = self._synchronized_samples(batch.get('synchronize'), images.shape[0])
        run_sync = keep is None or bool(keep.any())

        if self.cls is not None and run_sync:
            levels = self.cls.corr_levels
            if self.flow_encoder is not None:
                flow_feats = {k: self.flow_encoder(pyr[k]) for k in levels}
            elif self.cfg.flow_features == 'shared_detached':
                flow_feats = {k: feats[k].detach() for k in levels}
            else:
                flow_feats = {k: feats[k] for k in levels}
            flows = self.cls(flow_feats)
            if self.zero_flow:
                flows = [torch.zeros_like(f) for f in flows]
            warped = self._warp_levels(feats, flows)
            if keep is not None:
                warped = [self._unwarped_where(keep, w, f[:, 1:]) for f, w in zip(feats, warped)]
            feats = [torch.cat([f[:, :1], w], dim=1) for f, w in zip(feats, warped)]
            out['flows'], out['warped'] = flows, warped

        proj = self.projection(self._fuse_scales(feats, all_views))
        if self.sls is not None and run_sync:
            warped_gp, flow_gp = self.sls(proj, self.projection.mask, self.zero_flow)
            if keep is not None:
                warped_gp = self._unwarped_where(keep, warped_gp, proj[:, 1:])
            proj = torch.cat([proj[:, :1], warped_gp], dim=1)
            out['flows'], out['warped'] = [flow_gp], [warped_gp]

        valid = batch.get('view_valid')
        if valid is not None:
            proj = proj * valid.to(proj.dtype).view(*valid.shape, 1, 1, 1)
        out['proj'] = proj
        density = self.decoder(proj.flatten(1, 2))
        out['density'] = density
        out['count'] = density.sum(dim=(1, 2, 3)) / self.cfg.density_scale

        if with_sync_targets is None:
            with_sync_targets = 'images_sync' in batch and self.method != 'base'
        if with_sync_targets and self.method != 'base' and run_sync:
            if 'images_sync' not in batch:
                raise KeyError("with_sync_targets=True needs batch['images_sync']")
            ctx = torch.no_grad() if detach_sync_target else contextlib.nullcontext()
            with ctx:
                out['synced'] = self.sync_targets(batch['images_sync'])
        return out

    @staticmethod
    def _synchronized_samples(synchronize: torch.Tensor | None, batch_size: int) -> torch.Tensor | None:
        """(B,) bool of ``batch['synchronize']``, or None when absent or all True (every sample synchronized)."""
        if synchronize is None:
            return None
        keep = torch.as_tensor(synchronize, dtype=torch.bool).reshape(-1)
        if keep.numel() != batch_size:
            raise ValueError(f"batch['synchronize'] must hold one bool per sample ({batch_size}), "
                             f'got {tuple(synchronize.shape)}')
        return None if bool(keep.all()) else keep

    @staticmethod
    def _unwarped_where(keep: torch.Tensor, warped: torch.Tensor, unwarped: torch.Tensor) -> torch.Tensor:
        """Per sample: ``warped`` where ``keep`` (B,) is True, else the features as captured (exactly)."""
        return torch.where(keep.to(warped.device).view(-1, *([1] * (warped.dim() - 1))), warped, unwarped)

    def sync_targets(self, images_sync: torch.Tensor) -> list[torch.Tensor]:
        """Features of the synchronized frames of views 1..V-1, matching ``out['warped']``.

        CLS: encoder features per level, list over k of (B, V-1, C, H_k, W_k).
        SLS: [projected fused features (B, V-1, C, rows, cols)].
        """
        self._check_images(images_sync, 'images_sync')
        others = list(range(1, self.num_views))
        pyr = self._pyramid(images_sync[:, 1:])
        feats = self.encoder(pyr, others)
        if self.sls is not None:
            return [self.projection(self._fuse_scales(feats, others), others)]
        return feats

    @torch.no_grad()
    def predict_count(self, images: torch.Tensor) -> torch.Tensor:
        """(B, V, 3, H, W) -> (B,) counts (inference helper)."""
        return self.forward({'images': images}, with_sync_targets=False)['count']


def build_model(cfg: ModelConfig, cameras: Sequence[Camera], region: GroundRegion) -> SyncCountingModel:
    """Construct the model for ``cfg`` on these cameras and ground region."""
    return SyncCountingModel(cfg, cameras, region)
