"""View dropout in counting training (``train.view_dropout``): the draw, the fail-over of a lost reference, training."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from pipeline_support import SMALL_CONFIG, plaza_calibration

from vsync_ros.engine.config import load_any_config, load_config
from vsync_ros.engine.tasks.common import (
    drop_views,
    failover_synchronize,
    mark_missing,
    view_dropout_probs,
)
from vsync_ros.engine.tasks.counting import CountingTask
from vsync_ros.models.counting.model import build_model
from vsync_ros.yaml_config import ConfigError

CPU = torch.device('cpu')


# ------------------------------------------------------------------------------------ config
def test_config_accepts_one_probability_or_one_per_view():
    assert load_config(SMALL_CONFIG).train.view_dropout == 0.0  # off by default
    assert not load_config(SMALL_CONFIG).train.view_dropout_enabled
    one = load_config(SMALL_CONFIG, ['train.view_dropout=0.2'])
    assert one.train.view_dropout == 0.2 and one.train.view_dropout_enabled
    per_view = load_config(SMALL_CONFIG, ['train.view_dropout=[0.1, 0.3, 0]'])
    assert per_view.train.view_dropout == [0.1, 0.3, 0.0]
    assert view_dropout_probs(0.2, 3) == [0.2, 0.2, 0.2]
    assert view_dropout_probs([0.1, 0.3, 0.0], 3) == [0.1, 0.3, 0.0]


def test_bad_view_dropout_is_refused_with_the_field_named():
    with pytest.raises(ConfigError, match='train.view_dropout'):
        load_config(SMALL_CONFIG, ['train.view_dropout=1.5'])
    with pytest.raises(ConfigError, match='train.view_dropout'):
        load_config(SMALL_CONFIG, ['train.view_dropout=[0.1, -0.2]'])
    with pytest.raises(ConfigError, match='train.view_dropout'):
        load_config(SMALL_CONFIG, ['train.view_dropout=often'])
    with pytest.raises(ValueError, match='train.view_dropout lists 2 probabilities.*3 views'):
        view_dropout_probs([0.1, 0.2], 3)
    with pytest.raises(ConfigError, match='counting option'):
        load_any_config(SMALL_CONFIG.parent / 'pose_small.yaml', ['train.view_dropout=0.1'])


# ------------------------------------------------------------------------------------ the draw
def test_dropout_rate_is_respected_and_never_every_view():
    gen = torch.Generator().manual_seed(123)
    p, n_views, n = 0.4, 3, 20000
    valid = torch.ones(n, n_views, dtype=torch.bool)
    drop = drop_views(valid, [p] * n_views, gen)
    assert not bool(drop.all(dim=1).any())  # never all views of a sample
    # a sample that drew all views keeps one of them at random: rate p - p**V / V per view
    expected = p - p ** n_views / n_views
    sd = math.sqrt(expected * (1 - expected) / n)
    rates = drop.float().mean(dim=0)
    assert torch.all((rates - expected).abs() < 5 * sd), rates
    # every view is equally often the one kept
    kept_one = drop.sum(dim=1) == n_views - 1
    assert torch.all(((~drop[kept_one]).float().mean(dim=0) - 1 / 3).abs() < 0.03)


def test_per_view_probabilities_and_already_missing_views():
    gen = torch.Generator().manual_seed(7)
    n = 20000
    valid = torch.ones(n, 3, dtype=torch.bool)
    valid[: n // 2, 2] = False  # view 2 has no frame in half the samples
    drop = drop_views(valid, [0.1, 0.5, 0.0], gen)
    assert not bool((drop & ~valid).any())  # a view without a frame is not 'dropped' again
    assert not bool(drop[:, 2].any())       # p = 0: never
    # with view 2 present nothing empties a sample; without it both others go with p 0.1 * 0.5 and one
    # of them (at random) stays: rates 0.1 - 0.025 and 0.5 - 0.025 in that half
    for view, expected in ((0, (0.1 + 0.075) / 2), (1, (0.5 + 0.475) / 2)):
        sd = math.sqrt(expected * (1 - expected) / n)
        assert abs(drop[:, view].float().mean().item() - expected) < 5 * sd
    left = valid & ~drop
    assert bool(left.any(dim=1).all())
    # p = 1 for every view: exactly one view is left in each sample
    all_gone = drop_views(torch.ones(500, 3, dtype=torch.bool), [1.0, 1.0, 1.0], gen)
    assert torch.equal(all_gone.sum(dim=1), torch.full((500,), 2))


def test_the_draw_is_reproducible_from_the_generator():
    valid = torch.ones(64, 3, dtype=torch.bool)
    a = drop_views(valid, [0.3] * 3, torch.Generator().manual_seed(5))
    b = drop_views(valid, [0.3] * 3, torch.Generator().manual_seed(5))
    c = drop_views(valid, [0.3] * 3, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_mark_missing_zeroes_like_the_data_set_and_leaves_the_input_alone():
    batch = {'images': torch.rand(2, 3, 3, 8, 8), 'view_valid': torch.ones(2, 3, dtype=torch.bool),
             'view_density': torch.rand(2, 3, 1, 8, 8), 'images_sync': torch.rand(2, 3, 3, 8, 8)}
    before = {k: v.clone() for k, v in batch.items()}
    missing = torch.tensor([[True, False, False], [False, False, True]])
    out = mark_missing(batch, missing)
    for k in batch:
        assert torch.equal(batch[k], before[k])
    assert out['images'][0, 0].abs().sum() == 0 and out['images'][1, 2].abs().sum() == 0
    assert torch.equal(out['images'][0, 1], before['images'][0, 1])
    assert out['view_density'][0, 0].sum() == 0 and out['view_valid'].tolist() == [[False, True, True],
                                                                                    [True, True, False]]
    assert torch.equal(out['images_sync'], before['images_sync'])
    assert failover_synchronize(out['view_valid']).tolist() == [False, True]


# ------------------------------------------------------------------------------------ model and loss
@pytest.fixture(scope='module')
def small_model(one_torch_thread):
    """An untrained small CLS-epi model on the plaza rig (non-zero flows), and its config."""
    cameras, region = plaza_calibration()
    cfg = load_config(SMALL_CONFIG, ['model.method=cls_epi'])
    torch.manual_seed(3)
    model = build_model(cfg.model, cameras, region)
    with torch.no_grad():
        for m in model.cls.modules():
            if isinstance(m, torch.nn.Conv2d) and m.out_channels == 2 and m.bias is not None:
                m.bias.uniform_(-1.0, 1.0)
    return model.eval(), cfg


def _batch(n: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {'images': torch.rand(n, 3, 3, 144, 192, generator=g), 'view_valid': torch.ones(n, 3, dtype=torch.bool),
            'images_sync': torch.rand(n, 3, 3, 144, 192, generator=g),
            'gp_density': torch.rand(n, 1, 60, 50, generator=g) * 0.01}


def test_unsynchronized_samples_are_fused_as_captured(small_model):
    """synchronize False in a batch = the same sample through the model without its sync module (the fail-over)."""
    model, _ = small_model
    b = mark_missing(_batch(2, 1), torch.tensor([[False, False, False], [True, False, False]]))
    plain = copy.deepcopy(model)
    plain.cls = None
    with torch.no_grad():
        mixed = model({**b, 'synchronize': failover_synchronize(b['view_valid'])}, with_sync_targets=False)
        synced = model(b, with_sync_targets=False)
        unsynced = plain(b, with_sync_targets=False)
        none = model({**b, 'synchronize': torch.tensor([False, False])}, with_sync_targets=False)
    assert torch.allclose(mixed['count'][0], synced['count'][0], rtol=1e-5)
    assert torch.allclose(mixed['count'][1], unsynced['count'][1], rtol=1e-5)
    assert not torch.allclose(synced['count'][1], unsynced['count'][1], rtol=1e-4)  # the warp matters
    assert 'warped' not in none and torch.allclose(none['count'], unsynced['count'], rtol=1e-5)
    with pytest.raises(ValueError, match='synchronize'):
        model({**b, 'synchronize': torch.tensor([True])})


def test_training_loss_treats_a_lost_reference_as_the_node_does(small_model):
    """Reference always dropped (p_ref = 1): task loss of the unsynchronized fusion, no warping term."""
    model, cfg = small_model
    task = CountingTask()
    b = _batch(2, 2)
    lost_ref = copy.deepcopy(cfg)
    lost_ref.train.view_dropout = [1.0, 0.0, 0.0]
    losses = task.training_losses(model, b, lost_ref, CPU, torch.Generator().manual_seed(0))
    plain = copy.deepcopy(model)
    plain.cls = None
    want = mark_missing(b, torch.tensor([[True, False, False]] * 2))
    out = plain(want, with_sync_targets=False)
    expected = torch.nn.functional.mse_loss(out['density'], b['gp_density'] * cfg.model.density_scale)
    assert losses['warp'].item() == 0.0 and losses['task'].item() == pytest.approx(expected.item(), rel=1e-5)
    assert losses['total'].item() == pytest.approx(expected.item(), rel=1e-5)
    # dropout off: the generator is not touched and the warping loss is there
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    off = task.training_losses(model, b, cfg, CPU, gen)
    assert torch.equal(gen.get_state(), state) and off['warp'].item() > 0


@pytest.mark.slow  # synthesizes a tiny data set and trains
def test_training_with_view_dropout_runs_and_is_reproducible(tmp_path, one_torch_thread):
    from vsync_ros.data.crowd_world import CrowdWorldConfig
    from vsync_ros.data.desync import pets
    from vsync_ros.data.generate import generate_dataset
    from vsync_ros.engine.fit import fit
    generate_dataset(tmp_path / 'data', CrowdWorldConfig(image_size=(192, 144), seed=4), pets(), n_train=4,
                     n_test=1, progress=False)

    def run(name: str) -> list[dict]:
        cfg = load_config(SMALL_CONFIG, [f'data.root={tmp_path / "data"}', 'train.max_steps=4', 'train.batch_size=2',
                                         'train.view_dropout=[0.5, 0.3, 0.3]', 'train.threads=1',
                                         f'train.out={tmp_path / name}'])
        curve: list[dict] = []
        fit(cfg, progress=False, log=lambda *a: None, on_step=lambda step, losses: curve.append(dict(losses)))
        return curve

    first = run('a.pt')
    assert len(first) == 4
    for losses in first:
        assert set(losses) == {'total', 'task', 'warp'} and all(math.isfinite(v) for v in losses.values())
    assert run('b.pt') == first  # the step generator makes the drops reproducible
    with pytest.raises(ValueError, match='train.view_dropout lists 2'):
        fit(load_config(SMALL_CONFIG, [f'data.root={tmp_path / "data"}', 'train.view_dropout=[0.5, 0.3]',
                                       'train.max_steps=1', f'train.out={tmp_path / "c.pt"}']),
            progress=False, log=lambda *a: None)
