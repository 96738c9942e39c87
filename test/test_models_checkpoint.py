"""Checkpoint round trip, mismatch refusal and corrupt files."""
import dataclasses

import pytest
import torch

from vsync_ros.engine.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from vsync_ros.engine.config import Config
from vsync_ros.geometry import Camera
from vsync_ros.models.counting.model import build_model
from vsync_ros.models.counting.random_inputs import random_batch, tiny_model_config, tiny_rig

torch.set_num_threads(1)


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    cams, region = tiny_rig()
    cfg = Config(model=tiny_model_config('cls_epi')).validate()
    model = build_model(cfg.model, cams, region)
    meta = {'seed': 3, 'data_manifest': {'root': 'x', 'files': 12}, 'wall_time_s': 1.5, 'metrics': {'mae': 2.0}}
    path = save_checkpoint(tmp_path / 'm.pt', model, cfg, cams, region, meta)
    return path, model, cfg, cams, region, meta


def test_round_trip(saved):
    path, model, cfg, cams, region, meta = saved
    ckpt = load_checkpoint(path, cfg, cams, region)
    assert ckpt.config.to_dict() == cfg.to_dict()
    assert ckpt.meta == meta
    assert ckpt.region == region
    assert [c.fingerprint() for c in ckpt.cameras] == [c.fingerprint() for c in cams]
    assert not any('epipolar' in k or k.endswith('.grid') for k in ckpt.model_state)  # geometry is rebuilt
    loaded, _ = load_model(path)
    batch = random_batch(cfg.model, region)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(batch)['density'], model(batch)['density'])


def test_refuses_mismatched_config(saved):
    path, _, cfg, cams, region, _ = saved
    other = dataclasses.replace(cfg.model, flow_width=0.5)
    with pytest.raises(CheckpointMismatchError, match=r'model\.flow_width'):
        load_checkpoint(path, other)
    with pytest.raises(CheckpointMismatchError, match=r'model\.method.*cls_epi.*cls_cor'):
        load_model(path, dataclasses.replace(cfg.model, method='cls_cor'))


def test_refuses_mismatched_calibration(saved):
    path, _, cfg, cams, region, _ = saved
    moved = Camera(cams[1].name, cams[1].width, cams[1].height, cams[1].K, cams[1].dist, cams[1].R,
                   cams[1].t + [0.0, 0.2, 0.0])
    with pytest.raises(CheckpointMismatchError, match=r'view 1 \(cam2\): calibration differs'):
        load_checkpoint(path, cameras=[cams[0], moved, cams[2]])
    with pytest.raises(CheckpointMismatchError, match='3 views expected'):
        load_checkpoint(path, cameras=cams[:2])
    with pytest.raises(CheckpointMismatchError, match='ground region cell_m'):
        load_checkpoint(path, region=region.with_cell(0.5))
    # the same cameras at another resolution are accepted
    load_checkpoint(path, cameras=[c.scaled(128, 96) for c in cams])


def test_corrupt_and_foreign_files(saved, tmp_path):
    path = saved[0]
    data = path.read_bytes()
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='corrupt'):
        load_checkpoint(truncated)
    garbage = tmp_path / 'garbage.pt'
    garbage.write_bytes(b'not a checkpoint at all')
    with pytest.raises(CheckpointError, match='corrupt'):
        load_checkpoint(garbage)
    foreign = tmp_path / 'foreign.pt'
    torch.save({'state_dict': {}}, foreign)
    with pytest.raises(CheckpointError, match='not a vsync_ros checkpoint'):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match='does not exist'):
        load_checkpoint(tmp_path / 'missing.pt')


def test_meta_is_made_plain_or_refused(tmp_path):
    import numpy as np

    cams, region = tiny_rig()
    cfg = Config(model=tiny_model_config('base')).validate()
    model = build_model(cfg.model, cams, region)
    meta = {'torch': torch.__version__, 'arr': np.arange(3), 'x': np.float32(1.5), 'path': tmp_path, 't': (1, 2)}
    ckpt = load_checkpoint(save_checkpoint(tmp_path / 'a.pt', model, cfg, cams, region, meta))
    assert ckpt.meta == {'torch': str(torch.__version__), 'arr': [0, 1, 2], 'x': 1.5, 'path': str(tmp_path),
                         't': [1, 2]}
    with pytest.raises(TypeError, match=r'meta\.bad'):
        save_checkpoint(tmp_path / 'b.pt', model, cfg, cams, region, {'bad': object()})


def test_shipped_plumb_bob_checkpoints_load_unchanged(repo_root):
    from vsync_ros.engine.checkpoint import camera_to_dict

    for name in ('plaza_base_s.pt', 'studio_pose_base_u.pt'):
        path = repo_root / 'models' / name
        stored = torch.load(path, map_location='cpu', weights_only=True)['calibration']['cameras']
        assert all(d['distortion_model'] == 'plumb_bob' and len(d['distortion_coefficients']['data']) == 5
                   for d in stored)
        ckpt = load_checkpoint(path)
        assert all(c.distortion_model == 'plumb_bob' and c.dist.shape == (5,) for c in ckpt.cameras)
        assert [camera_to_dict(c) for c in ckpt.cameras] == stored  # written back exactly as stored


def test_rational_cameras_round_trip_and_are_compared(tmp_path):
    import numpy as np

    torch.manual_seed(0)
    cams, region = tiny_rig()
    c = cams[1]
    rational = Camera(c.name, c.width, c.height, c.K, np.array([2.1, 0.85, 5e-4, -3e-4, 0.04, 2.47, 1.35, 0.12]),
                      c.R, c.t)
    cams = [cams[0], rational, cams[2]]
    cfg = Config(model=tiny_model_config('base')).validate()
    model = build_model(cfg.model, cams, region)
    path = save_checkpoint(tmp_path / 'r.pt', model, cfg, cams, region, {})
    ckpt = load_checkpoint(path, cfg, cams, region)
    assert [c.distortion_model for c in ckpt.cameras] == ['plumb_bob', 'rational_polynomial', 'plumb_bob']
    assert [c.fingerprint() for c in ckpt.cameras] == [c.fingerprint() for c in cams]
    assert np.array_equal(ckpt.cameras[1].dist, rational.dist)
    plumb = Camera(c.name, c.width, c.height, c.K, rational.dist[:5], c.R, c.t)  # the denominator dropped
    with pytest.raises(CheckpointMismatchError, match=r'view 1 \(cam2\): calibration differs'):
        load_checkpoint(path, cameras=[cams[0], plumb, cams[2]])
    load_checkpoint(path, cameras=[c.scaled(128, 96) for c in cams])
