"""Tiny configurations and random batches for fast model tests (CPU, well under a second per step)."""
from __future__ import annotations

import torch

from vsync_ros.geometry import GroundRegion
from vsync_ros.geometry.presets import PLAZA_REGION, plaza_cameras
from vsync_ros.models.counting.config import ModelConfig

TINY_HW = (48, 64)


def tiny_model_config(method: str = 'cls_epi', **overrides) -> ModelConfig:
    """A 64x48-input, 3-scale model with minimal widths (matching at levels 1 and 2)."""
    kw = dict(method=method, image_height=TINY_HW[0], image_width=TINY_HW[1], encoder_channels=[4, 4, 8, 8],
              flow_encoder_channels=[4, 4, 8, 8], lrn=False, decoder_channels=[8, 8], flow_width=0.125,
              corr_levels=[1, 2], epipolar_kernel='gauss', epipolar_sigma=16.0, epipolar_sigma_in_feature_px=False)
    kw.update(overrides)
    cfg = ModelConfig(**kw)
    cfg.validate()
    return cfg


def tiny_rig(cell_m: float = 1.0) -> tuple[list, GroundRegion]:
    """(plaza cameras at the tiny input size, plaza region with ``cell_m`` cells)."""
    return plaza_cameras(TINY_HW[1], TINY_HW[0]), PLAZA_REGION.with_cell(cell_m)


def random_batch(cfg: ModelConfig, region: GroundRegion, num_views: int = 3, batch: int = 1,
                 seed: int = 0) -> dict[str, torch.Tensor]:
    """A batch following the data contract (random images, a few Gaussian blobs of ground density)."""
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.image_height, cfg.image_width
    rows, cols = region.shape
    # smooth random images; the unsynchronized views are the synchronized ones moved by a few pixels
    images_sync = torch.rand(batch, num_views, cfg.in_channels, h // 4, w // 4, generator=g)
    images_sync = torch.nn.functional.interpolate(images_sync.flatten(0, 1), size=(h, w), mode='bilinear',
                                                  align_corners=False).reshape(batch, num_views, -1, h, w)
    images = images_sync.clone()
    for v in range(1, num_views):
        images[:, v] = torch.roll(images_sync[:, v], shifts=(2 * v, -3 * v), dims=(-2, -1))
    yy, xx = torch.meshgrid(torch.arange(rows, dtype=torch.float32), torch.arange(cols, dtype=torch.float32),
                            indexing='ij')
    dens = torch.zeros(batch, 1, rows, cols)
    for b in range(batch):
        for _ in range(4):
            cy = float(torch.rand(1, generator=g)) * rows
            cx = float(torch.rand(1, generator=g)) * cols
            blob = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2.0)
            dens[b, 0] += blob / blob.sum()
    return {
        'images': images,
        'images_sync': images_sync,
        'offsets_s': torch.zeros(batch, num_views),
        'view_valid': torch.ones(batch, num_views, dtype=torch.bool),
        'gp_density': dens,
        'view_density': torch.zeros(batch, num_views, 1, h, w),
        'count': dens.sum(dim=(1, 2, 3)),
    }
