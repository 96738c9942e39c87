"""Shared helpers of the pipeline / ROS / demo tests (no tests here): tiny real checkpoints made at test time.

The checkpoints are freshly initialised models of the small CPU configuration (``config/train/small.yaml``),
seeded, saved with ``vsync_ros.engine.checkpoint.save_checkpoint`` exactly as ``vsync-train`` saves them: real
weights, config and calibration, just untrained. No shipped model is needed.
"""
from __future__ import annotations

from pathlib import Path

import torch

from vsync_ros.engine.checkpoint import save_checkpoint
from vsync_ros.engine.config import load_config
from vsync_ros.geometry import Camera, GroundRegion

ROOT = Path(__file__).resolve().parents[1]
SMALL_CONFIG = ROOT / 'config' / 'train' / 'small.yaml'


def plaza_calibration(image_size: tuple[int, int] = (192, 144)) -> tuple[list[Camera], GroundRegion]:
    """Cameras (at ``image_size`` = (W, H)) and 0.4 m ground region of the synthetic plaza world."""
    from vsync_ros.geometry.presets import PLAZA_REGION, plaza_cameras
    return plaza_cameras(*image_size), PLAZA_REGION.with_cell(0.4)


def make_checkpoint(path: str | Path, method: str = 'cls_epi', cameras: list[Camera] | None = None,
                    region: GroundRegion | None = None, seed: int = 0, overrides: list[str] | None = None,
                    flow_bias_px: float = 1.0) -> Path:
    """Save a freshly initialised small model of ``method`` for ``cameras`` / ``region`` (default: the plaza).

    A fresh motion net outputs an almost zero flow (identity warp); ``flow_bias_px`` sets its output bias to
    random values in +-flow_bias_px feature pixels so that the warping visibly changes the estimate.
    """
    from vsync_ros.models.counting.model import build_model
    if cameras is None or region is None:
        cameras, region = plaza_calibration()
    cfg = load_config(SMALL_CONFIG, [f'model.method={method}', *(overrides or [])])
    torch.manual_seed(seed)
    model = build_model(cfg.model, cameras, region)
    sync = model.cls if model.cls is not None else model.sls
    if sync is not None and flow_bias_px:
        with torch.no_grad():
            for m in sync.modules():
                if isinstance(m, torch.nn.Conv2d) and m.out_channels == 2 and m.bias is not None:
                    m.bias.uniform_(-flow_bias_px, flow_bias_px)
    return save_checkpoint(path, model, cfg, model.cameras, region, {'note': 'untrained test model', 'seed': seed})


def tiny_test_split(root: str | Path, world_seed: int):
    """A 4-frame-set PETS-like test split at 192x144 synthesized into ``root``/data; returns its SyncDataset."""
    from vsync_ros.data.crowd_world import CrowdWorldConfig
    from vsync_ros.data.dataset import SyncDataset
    from vsync_ros.data.desync import pets
    from vsync_ros.data.generate import generate_dataset
    generate_dataset(Path(root) / 'data', CrowdWorldConfig(image_size=(192, 144), seed=world_seed), pets(),
                     n_train=1, n_test=4, progress=False)
    return SyncDataset(Path(root) / 'data', 'test', gp_cell_m=0.4, load_sync=False)
