"""Shared view sync: SyncConfig in both task configs, the CLS factory, CameraLevelSync's coarse-to-fine
composition, and the shipped checkpoints loading strictly into the refactored models."""
from pathlib import Path

import pytest
import torch
from torch import nn

from vsync_ros.engine.checkpoint import load_model
from vsync_ros.engine.config import load_config, load_pose_config, pose_config_from_dict
from vsync_ros.models.counting.config import ModelConfig
from vsync_ros.models.pose.config import PoseModelConfig
from vsync_ros.models.sync.camera_level import CameraLevelSync
from vsync_ros.models.sync.config import SyncConfig
from vsync_ros.models.sync.factory import camera_pairs
from vsync_ros.models.sync.warp import upsample_flow
from vsync_ros.yaml_config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / 'config' / 'train'

torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------------ config
def test_task_configs_inherit_the_sync_fields():
    names = [f.name for f in SyncConfig.__dataclass_fields__.values()]
    assert set(names) == {'flow_width', 'flow_kernel', 'flow_activation', 'corr_levels', 'corr_rescale',
                          'epipolar_sigma', 'epipolar_kernel', 'epipolar_sigma_in_feature_px', 'share_flow_views',
                          'correlation', 'epipolar_rank_tol'}
    for cls in (ModelConfig, PoseModelConfig):
        assert issubclass(cls, SyncConfig) and set(names) <= set(cls.__dataclass_fields__)
    cfg = ModelConfig(flow_width=0.5, corr_levels=[0, 2])
    view = cfg.sync
    assert type(view) is SyncConfig and view.flow_width == 0.5 and view.corr_levels == [0, 2]
    view.corr_levels.append(1)
    assert cfg.corr_levels == [0, 2]                       # a copy


def test_defaults_equal_the_shipped_small_configs():
    assert ModelConfig() == load_config(CONFIG_DIR / 'small.yaml').model
    assert PoseModelConfig() == load_pose_config(CONFIG_DIR / 'pose_small.yaml').model


def test_flat_sync_keys_and_overrides_for_both_tasks():
    pose = pose_config_from_dict({'model': {'method': 'cls_epi', 'flow_width': 0.75, 'share_flow_views': False}})
    assert pose.model.flow_width == 0.75 and not pose.model.share_flow_views
    cfg = load_config(CONFIG_DIR / 'small.yaml', ['model.flow_width=0.5', 'model.epipolar_kernel=laplace'])
    assert cfg.model.flow_width == 0.5 and cfg.model.epipolar_kernel == 'laplace'
    pose = load_pose_config(CONFIG_DIR / 'pose_small.yaml', ['model.corr_levels=[1, 2]'])
    assert pose.model.corr_levels == [1, 2]


@pytest.mark.parametrize('cls,kw,match', [
    (ModelConfig, {'flow_activation': 'gelu'}, r'model\.flow_activation'),
    (PoseModelConfig, {'flow_activation': 'gelu'}, r'model\.flow_activation'),
    (ModelConfig, {'flow_kernel': 4}, r'model\.flow_kernel'),
    (PoseModelConfig, {'flow_kernel': 4}, r'model\.flow_kernel'),
    (ModelConfig, {'epipolar_sigma': 0.0}, r'model\.epipolar_sigma'),
    (PoseModelConfig, {'flow_width': -1.0}, r'model\.flow_width'),
    (ModelConfig, {'corr_levels': [0, 1]}, r'coarsest \(2\)'),
    (ModelConfig, {'num_scales': 2, 'corr_levels': [1]}, None),
    (PoseModelConfig, {'corr_levels': [1]}, r'coarsest \(2\)'),
])
def test_sync_validation_is_shared(cls, kw, match):
    cfg = cls(**kw)
    if match is None:
        cfg.validate()
        return
    with pytest.raises(ConfigError, match=match):
        cfg.validate()


def test_camera_pairs():
    assert camera_pairs(3, [0]) == [(0, 1), (0, 2)]
    assert camera_pairs(3) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]


# ------------------------------------------------------------------------------------------------ CLS
class StubMatching(nn.Module):
    """Matching stub: a 1-channel map filled with ``10 * level + 1`` (records the camera pairs it sees)."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[tuple[int, int], int]] = []

    def out_channels(self, level_hw):
        return 1

    def forward(self, f_ref, f_other, pair, level):
        self.calls.append((pair, level))
        return torch.full((f_ref.shape[0], 1, *f_other.shape[-2:]), 10.0 * level + 1.0)


class ConstantResidual(nn.Module):
    """Motion-net stub: a constant residual flow (x, y) in feature pixels; ignores its input."""

    def __init__(self, value):
        super().__init__()
        self.value = torch.tensor(value, dtype=torch.float32)

    def forward(self, m):
        return self.value.view(1, 2, 1, 1).expand(m.shape[0], 2, *m.shape[-2:]).clone()


def _stub_cls(corr_levels, residuals, level_hw=((8, 12), (4, 6), (2, 3))):
    cls = CameraLevelSync(StubMatching(), level_hw, corr_levels, camera_pairs(3, [0]), width_factor=0.125)
    for n, per_level in enumerate(residuals):           # replace the motion nets of pair n
        for k, value in per_level.items():
            cls.nets[n][str(k)] = ConstantResidual(value)
    return cls


def test_coarse_to_fine_composition_at_matched_levels():
    r2 = {0: (1.0, -2.0), 1: (0.25, 0.5)}              # pair (0, 1) / (0, 2) at level 2
    r1 = {0: (0.5, 0.25), 1: (-1.0, 3.0)}
    r0 = {0: (-0.125, 1.0), 1: (2.0, 0.0)}
    cls = _stub_cls([0, 1, 2], [{2: r2[p], 1: r1[p], 0: r0[p]} for p in (0, 1)])
    feats = {k: torch.rand(2, 3, 4, *hw) for k, hw in enumerate(cls.level_hw)}
    flows = cls(feats)
    assert [tuple(f.shape) for f in flows] == [(2, 2, 2, 8, 12), (2, 2, 2, 4, 6), (2, 2, 2, 2, 3)]
    for p in (0, 1):
        w2 = flows[2][:, p]
        assert torch.equal(w2, torch.tensor(r2[p]).view(1, 2, 1, 1).expand_as(w2))
        # finer matched level = x2 bilinear upsample of the coarser flow (pixel values x2) + its residual
        want1 = upsample_flow(w2, (4, 6)) + torch.tensor(r1[p]).view(1, 2, 1, 1)
        assert torch.allclose(flows[1][:, p], want1)
        want0 = upsample_flow(flows[1][:, p], (8, 12)) + torch.tensor(r0[p]).view(1, 2, 1, 1)
        assert torch.allclose(flows[0][:, p], want0)
        # constant flows: numbers are known exactly
        assert torch.allclose(flows[0][:, p, 0], torch.tensor(4 * r2[p][0] + 2 * r1[p][0] + r0[p][0]).expand(2, 8, 12))
        assert torch.allclose(flows[0][:, p, 1], torch.tensor(4 * r2[p][1] + 2 * r1[p][1] + r0[p][1]).expand(2, 8, 12))
    # matching runs per camera pair (0, i), level by level (every pair of a level, then the next finer level,
    # whose motion nets run at once); finer levels also match the upsampled coarser features
    assert cls.matching.calls == [((0, 1), 2), ((0, 2), 2), ((0, 1), 1), ((0, 1), 1), ((0, 2), 1), ((0, 2), 1),
                                  ((0, 1), 0), ((0, 1), 0), ((0, 2), 0), ((0, 2), 0)]


def test_unmatched_level_gets_the_upsampled_flow():
    cls = _stub_cls([1, 2], [{2: (1.5, -0.5), 1: (0.25, 1.0)}, {2: (0.0, 2.0), 1: (-1.0, 0.0)}])
    feats = {k: torch.rand(1, 3, 4, *cls.level_hw[k]) for k in (1, 2)}   # level 0 has no features
    flows = cls(feats)
    for p in (0, 1):
        assert torch.equal(flows[0][:, p], upsample_flow(flows[1][:, p], (8, 12)))
    assert torch.allclose(flows[0][0, 0, 0], torch.full((8, 12), 2 * (2 * 1.5 + 0.25)))
    assert torch.allclose(flows[0][0, 1, 1], torch.full((8, 12), 2 * (2 * 2.0 + 0.0)))


def test_reference_and_views_select_the_camera_pairs():
    level_hw = [(4, 4), (2, 2)]
    cls = CameraLevelSync(StubMatching(), level_hw, [1], camera_pairs(3), width_factor=0.125)
    assert len(cls.nets) == 6 and cls.net((0, 1), 1) is not cls.net((1, 0), 1)
    feats = {1: torch.rand(1, 3, 2, 2, 2)}
    flows = cls(feats, reference=1)
    assert flows[0].shape == (1, 2, 2, 4, 4)
    assert [pair for pair, _ in cls.matching.calls] == [(1, 0), (1, 2)]
    with pytest.raises(KeyError):
        cls.net((0, 0), 1)
    shared = CameraLevelSync(StubMatching(), level_hw, [1], camera_pairs(3), shared_pairs=True, width_factor=0.125)
    assert len(shared.nets) == 1 and shared.net((0, 1), 1) is shared.net((1, 0), 1)


# ------------------------------------------------------------------------------------------------ shipped
@pytest.mark.parametrize('path', sorted((ROOT / 'models').glob('*.pt')), ids=lambda p: p.name)
def test_shipped_checkpoints_load_strictly(path):
    model, ckpt = load_model(path)                      # load_state_dict(strict=True) inside
    assert set(model.state_dict()) == set(ckpt.model_state)
