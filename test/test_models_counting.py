"""The counting model with every sync regime: shapes, gradient flow, losses that decrease."""
import pytest
import torch

from vsync_ros.models.counting.config import LossConfig
from vsync_ros.models.counting.losses import compute_losses, similarity_loss, warp_loss
from vsync_ros.models.counting.model import build_model
from vsync_ros.models.counting.random_inputs import random_batch, tiny_model_config, tiny_rig

torch.set_num_threads(1)
METHODS = ['base', 'sls', 'cls_cat', 'cls_cor', 'cls_epi']


@pytest.fixture(scope='module')
def rig():
    return tiny_rig()


@pytest.mark.parametrize('method', METHODS)
def test_forward_shapes(rig, method):
    torch.manual_seed(0)
    cams, region = rig
    cfg = tiny_model_config(method)
    model = build_model(cfg, cams, region)
    batch = random_batch(cfg, region, batch=2)
    out = model(batch)
    rows, cols = region.shape
    assert out['density'].shape == (2, 1, rows, cols)
    assert torch.allclose(out['count'], out['density'].sum(dim=(1, 2, 3)) / cfg.density_scale)
    assert out['proj'].shape == (2, 3, 8, rows, cols)
    if method == 'base':
        assert 'flows' not in out and 'synced' not in out
        return
    assert len(out['warped']) == len(out['synced']) == len(out['flows'])
    for w, s, f in zip(out['warped'], out['synced'], out['flows']):
        assert w.shape == s.shape and w.shape[:2] == (2, 2)
        assert f.shape == (2, 2, 2, *w.shape[-2:])
        assert s.requires_grad  # targets carry gradient unless detach_sync_target
    if method.startswith('cls'):
        assert [tuple(f.shape[-2:]) for f in out['flows']] == [cfg.feature_hw(k) for k in range(3)]
        # the finest level (no matching) carries exactly the upsampled level-1 flow
        from vsync_ros.models.sync.warp import upsample_flow
        up = upsample_flow(out['flows'][1].flatten(0, 1), cfg.feature_hw(0))
        assert torch.allclose(out['flows'][0].flatten(0, 1), up, atol=1e-6)
    else:
        assert out['flows'][0].shape[-2:] == (rows, cols)
    # no sync targets without images_sync
    assert 'synced' not in model({'images': batch['images']})


def test_invalid_views_contribute_nothing(rig):
    cams, region = rig
    cfg = tiny_model_config('base')
    model = build_model(cfg, cams, region)
    batch = random_batch(cfg, region)
    batch['view_valid'][0, 2] = False
    out = model(batch)
    assert torch.all(out['proj'][0, 2] == 0)
    with pytest.raises(ValueError):
        model({'images': torch.rand(1, 3, 3, 40, 64)})


@pytest.mark.parametrize('method', ['sls', 'cls_cor', 'cls_epi'])
@pytest.mark.parametrize('loss_name', ['warp', 'sim'])
def test_gradients_reach_flow_net(rig, method, loss_name):
    torch.manual_seed(1)
    cams, region = rig
    cfg = tiny_model_config(method)
    model = build_model(cfg, cams, region)
    batch = random_batch(cfg, region)
    out = model(batch)
    if loss_name == 'warp':
        loss = warp_loss(out['warped'], out['synced'], batch['view_valid'])
    else:
        loss = similarity_loss(out['proj'], out['gp_mask'], batch['view_valid'])
    loss.backward()
    sync = model.cls if model.cls is not None else model.sls
    convs = [m for m in sync.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs
    for conv in (convs[0], convs[-1]):  # first and output layer of a motion net
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    if model.flow_encoder is not None:
        enc_grads = [p.grad for p in model.flow_encoder.parameters() if p.grad is not None]
        assert enc_grads and sum(float(g.abs().sum()) for g in enc_grads) > 0


def _run(model, batch, loss_fn, steps=20, lr=3e-3, with_sync=True):
    opt = torch.optim.Adam(model.parameters(), lr)
    history = []
    for _ in range(steps):
        losses = loss_fn(model(batch, with_sync_targets=with_sync), batch)
        history.append({k: float(v.detach()) for k, v in losses.items()})
        opt.zero_grad()
        losses['total'].backward()
        opt.step()
    return history[0], history[-1]


@pytest.mark.slow  # trains
@pytest.mark.parametrize('method', ['base', 'cls_epi'])
def test_task_loss_decreases_on_tiny_overfit(rig, method):
    torch.manual_seed(2)
    cams, region = rig
    cfg = tiny_model_config(method)
    model = build_model(cfg, cams, region)
    batch = random_batch(cfg, region, seed=3)
    loss_cfg = LossConfig(sync_loss='none')
    first, last = _run(model, batch, lambda out, b: compute_losses(out, b, loss_cfg, cfg.density_scale),
                       with_sync=False)
    assert last['task'] < 0.7 * first['task'], (first, last)


@pytest.mark.slow  # trains
@pytest.mark.parametrize('method,sync_loss', [('cls_epi', 'warp'), ('sls', 'warp'), ('cls_cat', 'sim'),
                                              ('sls', 'sim')])
def test_sync_losses_decrease_on_tiny_overfit(rig, method, sync_loss):
    torch.manual_seed(4)
    cams, region = rig
    cfg = tiny_model_config(method)
    model = build_model(cfg, cams, region)
    batch = random_batch(cfg, region, seed=5)

    def only_sync(out, b):
        if sync_loss == 'warp':
            value = warp_loss(out['warped'], out['synced'], b['view_valid'])
        else:
            value = similarity_loss(out['proj'], out['gp_mask'], b['view_valid'])
        return {'total': value}

    first, last = _run(model, batch, only_sync, with_sync=sync_loss == 'warp')
    assert last['total'] < 0.8 * first['total'], (first, last)


@pytest.mark.slow  # trains
@pytest.mark.parametrize('method,sync_loss,gamma', [('cls_epi', 'warp', 1.0), ('cls_cor', 'sim', 1000.0)])
def test_total_loss_decreases_on_tiny_overfit(rig, method, sync_loss, gamma):
    torch.manual_seed(6)
    cams, region = rig
    cfg = tiny_model_config(method)
    model = build_model(cfg, cams, region)
    batch = random_batch(cfg, region, seed=7)
    loss_cfg = LossConfig(sync_loss=sync_loss, gamma=gamma)
    first, last = _run(model, batch, lambda out, b: compute_losses(out, b, loss_cfg, cfg.density_scale),
                       with_sync=sync_loss == 'warp')
    assert set(first) == {'task', sync_loss, 'total'}
    assert last['total'] < 0.7 * first['total'] and last['task'] < first['task'], (first, last)


def test_compute_losses_requires_sync_frames_for_warp(rig):
    cams, region = rig
    cfg = tiny_model_config('cls_cor')
    model = build_model(cfg, cams, region)
    batch = random_batch(cfg, region)
    out = model({'images': batch['images']})
    with pytest.raises(KeyError, match='images_sync'):
        compute_losses(out, batch, LossConfig(sync_loss='warp'), cfg.density_scale)
    losses = compute_losses(out, batch, LossConfig(sync_loss='none'), cfg.density_scale)
    assert set(losses) == {'task', 'total'}


def test_detached_sync_targets(rig):
    cams, region = rig
    cfg = tiny_model_config('cls_cor')
    model = build_model(cfg, cams, region)
    out = model(random_batch(cfg, region), detach_sync_target=True)
    assert all(not s.requires_grad for s in out['synced'])


def test_shared_weights_variants(rig):
    cams, region = rig
    cfg = tiny_model_config('cls_cor', share_views=True, share_scales=True, flow_features='shared',
                            share_flow_views=True, corr_levels=[0, 1, 2], num_scales=3)
    model = build_model(cfg, cams, region)
    assert len(model.encoder.levels) == 1 and len(model.encoder.level(0).mods) == 1
    assert model.flow_encoder is None and len(model.cls.nets) == 1
    out = model(random_batch(cfg, region))
    assert [tuple(f.shape[-2:]) for f in out['flows']] == [cfg.feature_hw(k) for k in range(3)]
    single = build_model(tiny_model_config('base', num_scales=1, corr_levels=[0]), cams, region)
    assert single.scale_selection is None
    assert single(random_batch(single.cfg, region))['density'].shape == (1, 1, *region.shape)
