"""Volumetric pose model: geometry (projection, unprojection, soft-argmax, DLT), sync plumbing, training."""
import math

import numpy as np
import pytest
import torch

from vsync_ros.geometry import epipolar_weight_mask
from vsync_ros.geometry.presets import studio_cameras
from vsync_ros.models.pose import (
    CameraRig,
    PoseLossConfig,
    PoseModelConfig,
    VolumetricPoseModel,
    aggregate_views,
    dlt_triangulate,
    gaussian_heatmaps,
    heatmap_argmax,
    pose_model_config_from_dict,
    reference_views,
    soft_argmax_3d,
    unproject,
    volume_grid,
    world_to_voxel,
)
from vsync_ros.yaml_config import ConfigError

pytestmark = pytest.mark.usefixtures('one_torch_thread')  # small CPU tests: 1 thread is fastest here


@pytest.fixture(scope='module')
def cams160():
    return studio_cameras(160, 160)


def tiny_cfg(**kw) -> PoseModelConfig:
    base = dict(image_height=64, image_width=64, backbone_channels=[16, 16, 16], feature_channels=8,
                volume_size=16, v2v_channels=[8, 8, 8, 8], flow_channels=8, flow_width=0.125, rotate_volume=False)
    base.update(kw)
    return PoseModelConfig(**base)


def pose_batch(cams, b=1, seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    joints = torch.tensor([0.1, -0.2, 1.0]) + 0.4 * torch.rand(b, 1, 17, 3, generator=g) - 0.2
    return {'images': torch.rand(b, len(cams), 3, size, size, generator=g),
            'images_sync': torch.rand(b, len(cams), 3, size, size, generator=g),
            'view_valid': torch.ones(b, len(cams), dtype=torch.bool), 'joints_3d': joints}


# ------------------------------------------------------------------------------------------------ geometry
def test_rig_projection_matches_camera(cams160):
    rig = CameraRig(cams160)
    pts = np.random.default_rng(0).uniform([-1, -1, 0], [1, 1, 2], size=(50, 3))
    uv, depth = rig.project(torch.tensor(pts, dtype=torch.float32)[None])
    ideal = rig.ideal_pixels(uv)
    for v, cam in enumerate(cams160):
        ref_uv, ref_d = cam.project(pts)
        assert np.abs(uv[0, v].numpy() - ref_uv).max() < 2e-3
        assert np.abs(depth[0, v].numpy() - ref_d).max() < 1e-4
        assert np.abs(ideal[0, v].numpy() - cam.ideal_pixels(ref_uv)).max() < 2e-3


def test_rig_projection_matches_rational_polynomial_cameras(cams160):
    from vsync_ros.geometry import Camera

    c = cams160[2]
    rational = Camera(c.name, c.width, c.height, c.K, np.array([0.2, 0.05, 1e-3, -5e-4, 0.01, 0.25, 0.04, 0.01]),
                      c.R, c.t)
    cams = [cams160[0], cams160[1], rational, cams160[3]]
    rig = CameraRig(cams)
    assert tuple(rig.dist.shape) == (4, 8)
    pts = np.random.default_rng(0).uniform([-1, -1, 0], [1, 1, 2], size=(50, 3))
    uv, _ = rig.project(torch.tensor(pts, dtype=torch.float32)[None])
    ideal = rig.ideal_pixels(uv, iterations=20)
    for v, cam in enumerate(cams):
        ref_uv, _ = cam.project(pts)
        assert np.abs(uv[0, v].numpy() - ref_uv).max() < 2e-3
        assert np.abs(ideal[0, v].numpy() - cam.ideal_pixels(ref_uv)).max() < 2e-3
    assert tuple(CameraRig(cams160).dist.shape) == (4, 5)  # plumb_bob rigs as before


def test_volume_grid_and_world_to_voxel_are_inverse():
    center = torch.tensor([[0.3, -0.2, 1.0], [0.0, 0.0, 0.9]])
    yaw = torch.tensor([0.0, 1.1])
    grid = volume_grid(center, 2.5, 8, yaw)
    assert grid.shape == (2, 8, 8, 8, 3)
    assert torch.allclose(grid[0, 0, 0, 0], center[0] - 1.25)
    idx = world_to_voxel(grid[:, 2, 5, 7].unsqueeze(1), center, 2.5, 8, yaw)
    assert torch.allclose(idx, torch.tensor([[[2.0, 5.0, 7.0]]] * 2), atol=1e-4)


def test_soft_argmax_of_one_hot_volume_returns_its_centre():
    n = 16
    grid = volume_grid(torch.tensor([[0.2, 0.1, 1.0]]), 2.5, n, torch.tensor([0.4]))
    logits = torch.zeros(1, 2, n, n, n)
    logits[0, 0, 3, 9, 14] = 1e4
    logits[0, 1, 12, 0, 5] = 1e4
    pts, probs = soft_argmax_3d(logits, grid)
    assert torch.allclose(pts[0, 0], grid[0, 3, 9, 14], atol=1e-5)
    assert torch.allclose(pts[0, 1], grid[0, 12, 0, 5], atol=1e-5)
    assert torch.allclose(probs.sum(dim=(2, 3, 4)), torch.ones(1, 2))


@pytest.mark.parametrize('aggregation', ['mean', 'softmax'])
def test_unprojected_heatmap_peaks_triangulate_to_the_point(cams160, aggregation):
    rig = CameraRig(cams160)
    point = torch.tensor([[0.37, -0.21, 1.13]])
    uv, _ = rig.project(point.unsqueeze(1))                                        # (1, V, 1, 2)
    heat = gaussian_heatmaps(uv[:, :, 0], 4, (40, 40), sigma_px=1.0).unsqueeze(2)   # (1, V, 1, 40, 40)
    n, side = 32, 2.5
    center = point + torch.tensor([[0.11, -0.07, 0.05]])                             # off the voxel lattice
    grid = volume_grid(center, side, n)
    vuv, vdepth = rig.project(grid.reshape(1, -1, 3))
    vols, visible = unproject(heat, vuv, vdepth, 4)
    assert visible.float().mean() > 0.5
    fused = aggregate_views(vols, torch.ones(1, 4, dtype=torch.bool), aggregation).reshape(1, 1, n, n, n)
    best = grid.reshape(-1, 3)[fused.flatten().argmax()]
    assert torch.linalg.norm(best - point[0]) < side / (n - 1)                      # within one voxel
    est, _ = soft_argmax_3d(torch.log(fused.clamp_min(1e-12)), grid, multiplier=4.0)
    assert torch.linalg.norm(est[0, 0] - point[0]) < side / (n - 1)


def test_unprojection_zeroes_voxels_behind_the_camera():
    feats = torch.ones(1, 1, 2, 10, 10)
    uv = torch.full((1, 1, 3, 2), 20.0)
    depth = torch.tensor([[[2.0, -1.0, 0.0]]])
    vols, visible = unproject(feats, uv, depth, 4)
    assert vols[0, 0, :, 0].tolist() == [1.0, 1.0]
    assert vols[0, 0, :, 1:].abs().sum() == 0
    assert visible.tolist() == [[[True, False, False]]]
    far = torch.tensor([[[[500.0, 20.0]]]])
    assert unproject(feats, far, torch.ones(1, 1, 1), 4)[0].abs().sum() == 0       # outside the image


def test_softmax_aggregation_ignores_invalid_views():
    vols = torch.tensor([[[[1.0]], [[5.0]], [[-2.0]]]])                             # (1, 3, 1, 1)
    out = aggregate_views(vols, torch.tensor([[True, False, True]]))
    w = torch.softmax(torch.tensor([1.0, -2.0]), 0)
    assert torch.allclose(out, (w * torch.tensor([1.0, -2.0])).sum().view(1, 1, 1))


def test_dlt_recovers_a_point_from_projections(cams160):
    rig = CameraRig(cams160)
    pts = torch.tensor([[0.2, 0.4, 1.5], [-0.8, 0.3, 0.2]])
    uv, _ = rig.project(pts.unsqueeze(1))
    ideal = rig.ideal_pixels(uv)[:, :, 0]                                            # (2, V, 2)
    est = dlt_triangulate(rig.P, ideal)
    assert torch.allclose(est, pts, atol=2e-3)
    # a corrupted view with zero weight is ignored
    bad = ideal.clone()
    bad[:, 2] += 40.0
    w = torch.tensor([[1.0, 0.5, 0.0, 1.0]] * 2)
    assert torch.allclose(dlt_triangulate(rig.P, bad, w), pts, atol=2e-3)
    assert not torch.allclose(dlt_triangulate(rig.P, bad), pts, atol=2e-2)


def test_heatmap_argmax_finds_the_peak():
    uv = torch.tensor([[[57.0, 101.0], [3.0, 150.0]]])
    maps = 10 * gaussian_heatmaps(uv, 4, (40, 40), 1.0)
    est, conf = heatmap_argmax(maps, 4)
    assert (est - uv).abs().max() <= 2.0
    assert conf.shape == (1, 2) and bool((conf > 0).all())


def test_reference_view_rule():
    valid = torch.tensor([[True, True, True], [False, True, True], [False, False, True]])
    assert reference_views(valid).tolist() == [0, 1, 2]


def test_config_validation():
    with pytest.raises(ConfigError):
        pose_model_config_from_dict({'method': 'sls'})
    with pytest.raises(ConfigError):
        pose_model_config_from_dict({'volume_size': 20})
    with pytest.raises(ConfigError):
        pose_model_config_from_dict({'cube_sid_m': 2.0})
    assert pose_model_config_from_dict({'method': 'cls_epi'}).voxel_size_m == pytest.approx(2.5 / 31)


# ------------------------------------------------------------------------------------------------ model
def test_dlt_root_from_heatmaps(cams160):
    model = VolumetricPoseModel(PoseModelConfig(), cams160).eval()
    pelvis = torch.tensor([[0.3, -0.4, 0.95]])
    uv, _ = model.rig.project(pelvis.unsqueeze(1))
    maps = torch.zeros(1, 4, 17, 40, 40)
    maps[:, :, 6] = 8.0 * gaussian_heatmaps(uv[:, :, 0], 4, (40, 40), 1.0)
    root = model.triangulate_root(maps, torch.ones(1, 4, dtype=torch.bool))
    assert torch.linalg.norm(root - pelvis) < 0.05


@pytest.mark.parametrize('method,sync_loss', [('base', 'none'), ('cls_cor', 'sim'), ('cls_epi', 'warp'),
                                              ('cls_cat', 'warp')])
def test_forward_shapes_and_gradients_flow(method, sync_loss):
    cams = studio_cameras(64, 64)
    model = VolumetricPoseModel(tiny_cfg(method=method), cams).train()
    batch = pose_batch(cams, b=2)
    if sync_loss != 'warp':
        del batch['images_sync']                      # l_s needs no synchronized frames
    out = model(batch, generator=torch.Generator().manual_seed(0))
    assert out['joints_3d'].shape == (2, 17, 3)
    assert out['heatmaps'].shape == (2, 4, 17, 16, 16) and out['features'].shape == (2, 4, 8, 16, 16)
    assert out['volume_logits'].shape == (2, 17, 16, 16, 16) and out['root_source'] == 'gt_jitter'
    losses = model.loss(out, batch, PoseLossConfig(sync_loss=sync_loss, gamma=1.0))
    assert {'total', 'pose', 'ce', 'heatmap'} <= set(losses)
    if method != 'base':
        assert sync_loss in losses and out['flows'].shape == (2, 4, 2, 16, 16)
        assert ('synced_features' in out) == (sync_loss == 'warp')
    losses['total'].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.backbone.stem[0][0].weight.grad.abs().sum() > 0
    assert model.v2v.output.weight.grad.abs().sum() > 0
    if method != 'base':
        first_flow_layer = next(model.cls.nets.parameters())
        assert first_flow_layer.grad.abs().sum() > 0


def test_heatmap_loss_uses_per_frame_2d_labels_when_given():
    cams = studio_cameras(64, 64)
    model = VolumetricPoseModel(tiny_cfg(), cams).train()
    batch = pose_batch(cams)
    out = model(batch)
    # a freshly initialised head can emit flat heatmaps (CE = log(h*w) whatever the labels): use random ones
    out['heatmaps'] = torch.randn_like(out['heatmaps'], generator=torch.Generator().manual_seed(0))
    cfg = PoseLossConfig(sync_loss='none', ce_weight=0.0)
    ref_only = model.loss(out, batch, cfg)['heatmap']
    uv, _ = model.rig.project(batch['joints_3d'][:, 0])
    uv[:, 2] += 12.0                                    # other frames, other 2D poses
    all_views = model.loss(out, {**batch, 'joints_uv': uv.unsqueeze(2)}, cfg)['heatmap']
    assert torch.isfinite(all_views) and not torch.isclose(all_views, ref_only)
    uv_ref = uv.clone()
    uv_ref[:, 1:] = float('nan')                        # unknown labels are skipped
    same = model.loss(out, {**batch, 'joints_uv': uv_ref.unsqueeze(2)}, cfg)['heatmap']
    assert torch.isclose(same, ref_only)


def test_sync_keeps_reference_and_uses_view1_when_view0_missing():
    cams = studio_cameras(64, 64)
    model = VolumetricPoseModel(tiny_cfg(method='cls_epi'), cams).eval()
    batch = pose_batch(cams, b=2)
    batch['view_valid'][1, 0] = False
    out = model(batch, root_source='gt')
    assert out['ref_view'].tolist() == [0, 1]
    raw = model.encode(batch['images'])['features']
    assert torch.equal(out['features'][0, 0], raw[0, 0]) and torch.equal(out['features'][1, 1], raw[1, 1])
    assert out['flows'][0, 0].abs().sum() == 0 and out['flows'][1, 1].abs().sum() == 0
    assert out['flows'][1, 0].abs().sum() > 0
    assert out['sync_views'].tolist() == [[False, True, True, True], [False, False, True, True]]
    # an explicit reference (the data set's 'ref_view') is used as given; a missing one is refused
    out2 = model({**batch, 'ref_view': torch.tensor([2, 1])}, root_source='gt')
    assert out2['ref_view'].tolist() == [2, 1] and out2['flows'][0, 2].abs().sum() == 0
    with pytest.raises(ValueError):
        model({**batch, 'ref_view': torch.tensor([0, 0])}, root_source='gt')
    # under reference 1, view 0 is matched with the epipolar weights of the camera pair (1, 0)
    matching = model.cls.matching
    want = epipolar_weight_mask(model.cameras[1], model.cameras[0], stride=16, sigma=2.0, kernel='gauss',
                                ref_hw=(4, 4), other_hw=(4, 4))
    assert np.allclose(matching.weights((1, 0), 2).numpy(), want)
    assert not np.allclose(matching.weights((0, 1), 2).numpy(), want)


def test_eval_root_sources():
    cams = studio_cameras(64, 64)
    model = VolumetricPoseModel(tiny_cfg(), cams).eval()
    batch = pose_batch(cams)
    out = model(batch, root_source='gt')
    assert out['root_source'] == 'gt' and torch.allclose(out['root'], batch['joints_3d'][:, 0, 6])
    out = model({'images': batch['images']})
    assert out['root_source'] == 'dlt' and torch.isfinite(out['root']).all()
    out = model({'images': batch['images'], 'root': torch.tensor([[0.0, 0.0, 1.0]])})
    assert out['root_source'] == 'given'
    assert model.predict(batch['images']).shape == (1, 17, 3)


@pytest.mark.slow  # trains
def test_tiny_overfit_lowers_the_loss():
    torch.manual_seed(0)
    cams = studio_cameras(64, 64)
    model = VolumetricPoseModel(tiny_cfg(root_jitter_m=0.0), cams).train()
    batch = pose_batch(cams, b=2, seed=3)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    cfg = PoseLossConfig(sync_loss='none')
    first = last = None
    for step in range(40):
        out = model(batch, generator=torch.Generator().manual_seed(step))
        losses = model.loss(out, batch, cfg)
        opt.zero_grad()
        losses['total'].backward()
        opt.step()
        first = float(losses['pose'].detach()) if first is None else first
        last = float(losses['pose'].detach())
    assert math.isfinite(last) and last < 0.6 * first, (first, last)


def test_unshared_motion_nets_are_keyed_by_camera_pair():
    """share_flow_views false: (0, 1) and (1, 0) have their own nets, whichever slot the view takes."""
    cams = studio_cameras(64, 64)
    model = VolumetricPoseModel(tiny_cfg(method='cls_cor', share_flow_views=False), cams).eval()
    assert len(model.cls.nets) == 12 and model.cls.pairs[:3] == [(0, 1), (0, 2), (0, 3)]
    net01, net10 = model.cls.net((0, 1), 2), model.cls.net((1, 0), 2)
    assert net01 is not net10
    batch = pose_batch(cams, b=2)
    batch['ref_view'] = torch.tensor([0, 1])            # sample 1: camera 1 is the reference
    before = model(batch, root_source='gt')['flows']
    with torch.no_grad():
        net10.net[-1].bias.add_(torch.tensor([3.0, -2.0]))
    after = model(batch, root_source='gt')['flows']
    assert torch.equal(after[0], before[0])             # reference 0: (0, 1) untouched
    assert torch.equal(after[1, 2:], before[1, 2:])     # reference 1: views 2, 3 untouched
    # level-2 bias, upsampled x4 (pixel values x2 per octave) to the stride-4 flow
    assert torch.allclose(after[1, 0] - before[1, 0], torch.tensor([12.0, -8.0]).view(2, 1, 1), atol=1e-4)
    with torch.no_grad():
        net01.net[-1].bias.add_(torch.tensor([1.0, 1.0]))
    again = model(batch, root_source='gt')['flows']
    assert torch.equal(again[1], after[1]) and not torch.equal(again[0, 1], after[0, 1])
    shared = VolumetricPoseModel(tiny_cfg(method='cls_cor'), cams)
    assert len(shared.cls.nets) == 1 and shared.cls.net((0, 1), 2) is shared.cls.net((1, 0), 2)
