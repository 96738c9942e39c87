"""engine.fit: one training loop for both tasks (per-step losses, history, validation, device fall-back, CLI)."""
from __future__ import annotations

import math

import pytest
import torch

from vsync_ros.data import cli as synth_cli
from vsync_ros.data.generate import generate_dataset
from vsync_ros.engine import train
from vsync_ros.engine.checkpoint import load_checkpoint
from vsync_ros.engine.config import Config, PoseConfig, load_any_config
from vsync_ros.engine.fit import fit

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('one_torch_thread')]  # every test here trains

COUNT_TINY = ['model.image_height=48', 'model.image_width=64', 'model.encoder_channels=[4,4,8,8]',
              'model.flow_encoder_channels=[4,4,8,8]', 'model.decoder_channels=[8,8]', 'model.flow_width=0.125',
              'data.gp_cell_m=1.0', 'train.threads=1']
POSE_TINY = ['model.image_height=64', 'model.image_width=64', 'model.backbone_channels=[16,16,16]',
             'model.feature_channels=8', 'model.volume_size=16', 'model.v2v_channels=[8,8,8,8]',
             'model.flow_channels=8', 'model.flow_width=0.125', 'train.threads=1']


@pytest.fixture(scope='module')
def count_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('fit') / 'plaza'
    generate_dataset(root, n_train=3, n_test=2, image_size=(96, 72), progress=False)
    return root


@pytest.fixture(scope='module')
def pose_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('fit') / 'studio'
    assert synth_cli.main([str(root), '--world', 'pose', '--segment-s', '6', '--size', '64x64', '--no-progress',
                           '--no-sheet', '--preset', 'h36m_train', '--kappa', '0.64', '--n-train', '3',
                           '--n-test', '2', '--seed', '1']) == 0
    return root


def _running_average(curve: list[dict[str, float]]) -> dict[str, float]:
    """The loop's 0.98 / 0.02 moving average of every loss term, from the per-step values."""
    avg: dict[str, float] = {}
    for losses in curve:
        for k, x in losses.items():
            avg[k] = 0.98 * avg.get(k, x) + 0.02 * x
    return avg


@pytest.mark.parametrize('task, config, extra, terms', [
    ('counting', 'small_cls_epi.yaml', COUNT_TINY, {'total', 'task', 'warp'}),
    ('pose', 'pose_small_cls_epi.yaml', POSE_TINY, {'total', 'pose', 'sim'}),
])
def test_fit_trains_both_tasks_and_reports_every_step(task, config, extra, terms, count_data, pose_data, tmp_path,
                                                      repo_root):
    data = count_data if task == 'counting' else pose_data
    out = tmp_path / 'model.pt'
    cfg = load_any_config(repo_root / 'config' / 'train' / config,
                          [*extra, f'data.root={data}', 'data.val_split=test', 'train.val_every=1', 'train.max_steps=4',
                           'train.epochs=2', f'train.out={out}'])
    assert isinstance(cfg, PoseConfig if task == 'pose' else Config)
    steps: list[int] = []
    curve: list[dict[str, float]] = []

    def on_step(step: int, losses: dict[str, float]) -> None:
        steps.append(step)
        curve.append(losses)

    res = fit(cfg, progress=False, log=lambda *_: None, on_step=on_step)
    # 3 training samples, batch 1: 2 epochs of 3 steps capped at 4 steps
    assert steps == [1, 2, 3, 4] and res['steps'] == 4 and res['epochs'] == 2
    assert all(terms <= set(losses) and all(type(v) is float and math.isfinite(v) for v in losses.values())
               for losses in curve)
    ckpt = load_checkpoint(out)
    assert ckpt.task == task and ckpt.meta['steps'] == 4
    history = ckpt.meta['metrics']['history']
    assert [h['step'] for h in history] == [3, 4]
    # the history's losses are the running averages of exactly the values on_step received
    for k, v in _running_average(curve).items():
        assert history[-1][f'loss_{k}'] == pytest.approx(v, rel=1e-12)
    best = ckpt.meta['metrics']['best_val']
    metric = 'mpjpe_mm' if task == 'pose' else 'mae'
    assert best[metric] == min(h[f'val_{metric}'] for h in history) and best['step'] in (3, 4)
    assert res['metrics']['best'] == best


def test_fit_falls_back_to_the_cpu_with_a_note(count_data, tmp_path, repo_root):
    if torch.cuda.is_available():
        pytest.skip('CUDA present: the fall-back cannot be exercised')
    cfg = load_any_config(repo_root / 'config' / 'train' / 'small_base_u.yaml',
                          [*COUNT_TINY, f'data.root={count_data}', 'train.max_steps=1', 'train.device=cuda',
                           f'train.out={tmp_path / "m.pt"}'])
    messages: list[str] = []
    fit(cfg, progress=False, log=messages.append)
    assert any('running on the CPU' in m for m in messages)
    assert any('steps on cpu' in m for m in messages)


def test_vsync_train_runs_both_tasks_through_fit(monkeypatch, tmp_path, repo_root):
    seen = []
    monkeypatch.setattr('vsync_ros.engine.fit.fit', lambda cfg, progress=True, **_: seen.append((cfg, progress)))
    cfg_dir = repo_root / 'config' / 'train'
    assert train.main(['--config', str(cfg_dir / 'small_cls_cor.yaml'), '--no-progress']) == 0
    assert train.main(['--config', str(cfg_dir / 'pose_small_base_u.yaml')]) == 0
    assert [type(c) for c, _ in seen] == [Config, PoseConfig] and [p for _, p in seen] == [False, True]
