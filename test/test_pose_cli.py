"""vsync-synth --world pose --segment-s, vsync-train with task: pose configs, vsync-eval on pose checkpoints."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vsync_ros.data import cli as synth_cli
from vsync_ros.data.dataset import SyncDataset
from vsync_ros.engine.checkpoint import load_checkpoint
from vsync_ros.engine.config import PoseConfig, config_task, load_pose_config
from vsync_ros.engine.evaluate import main as eval_main
from vsync_ros.engine.pose_metrics import pose_errors_mm, summarize_pose_rows
from vsync_ros.engine.tasks import describe_regime
from vsync_ros.engine.tasks.pose import PoseSamples
from vsync_ros.engine.train import main as train_main
from vsync_ros.yaml_config import ConfigError

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('one_torch_thread')]  # synthesizes pose worlds and trains

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'config' / 'train'
TINY = ['model.image_height=64', 'model.image_width=64', 'model.backbone_channels=[16,16,16]',
        'model.feature_channels=8', 'model.volume_size=16', 'model.v2v_channels=[8,8,8,8]',
        'model.flow_channels=8', 'model.flow_width=0.125', 'train.threads=1', 'train.log_every=1']


@pytest.fixture(scope='module')
def pose_data(tmp_path_factory) -> tuple[Path, Path]:
    """(train set of world seed 1, held-out test set of world seed 2 at kappa 32/50 s), 64x64."""
    root = tmp_path_factory.mktemp('pose_cli')
    common = ['--world', 'pose', '--segment-s', '6', '--size', '64x64', '--no-progress', '--no-sheet']
    assert synth_cli.main([str(root / 'train'), *common, '--preset', 'h36m_train', '--kappa', '0.64',
                           '--n-train', '4', '--n-test', '0', '--seed', '1']) == 0
    assert synth_cli.main([str(root / 'test'), *common, '--preset', 'h36m_test', '--kappa', '0.64',
                           '--n-train', '0', '--n-test', '3', '--seed', '2']) == 0
    return root / 'train', root / 'test'


def test_synth_segment_s_reaches_the_world(pose_data):
    train, test = pose_data
    man = json.loads((train / 'manifest.json').read_text())
    assert man['task'] == 'pose' and man['world']['segment_s'] == 6.0 and man['image_size'] == [64, 64]
    assert json.loads((test / 'manifest.json').read_text())['world']['seed'] == 2
    ds = SyncDataset(train, 'train')
    s = PoseSamples(ds, (64, 64))[0]
    assert s['joints_uv'].shape == (4, 1, 17, 2) and s['view_synced'][0]
    assert torch.isfinite(s['joints_uv'][s['view_valid']]).any()


def test_pose_configs_load_and_name_their_regime():
    names = {}
    for name in ('base_u', 'base_s', 'cls_epi', 'cls_cor'):
        path = CONFIGS / f'pose_small_{name}.yaml'
        assert config_task(path) == 'pose'
        cfg = load_pose_config(path)
        assert isinstance(cfg, PoseConfig) and cfg.model.image_height == 160
        names[name] = describe_regime(cfg)
    assert names['base_u'] == 'BaseU' and names['base_s'] == 'BaseS'
    assert names['cls_epi'].startswith('CLS-epi (l_p + 0.01 l_s') and names['cls_cor'].startswith('CLS-cor')
    assert config_task(CONFIGS / 'small_cls_epi.yaml') == 'counting'
    with pytest.raises(ConfigError, match='model.nope'):
        load_pose_config(CONFIGS / 'pose_small_base_u.yaml', ['model.nope=1'])
    with pytest.raises(ConfigError, match='model.method'):
        load_pose_config(CONFIGS / 'pose_small_base_u.yaml', ['model.method=sls'])


def test_metrics_definitions():
    gt = np.zeros((17, 3))
    pred = gt + [0.1, 0.0, 0.0]                           # a pure 10 cm shift
    rel, absolute = pose_errors_mm(pred, gt)
    assert rel == pytest.approx(0.0) and absolute == pytest.approx(100.0)
    s = summarize_pose_rows([{'motion': 'walk', 'mpjpe_mm': 10.0, 'abs_mpjpe_mm': 20.0},
                             {'motion': 'sit', 'mpjpe_mm': 30.0, 'abs_mpjpe_mm': 40.0}])
    assert s['mpjpe_mm'] == 20.0 and s['per_motion']['walk']['abs_mpjpe_mm'] == 20.0
    assert s['per_motion']['idle'] == {'n': 0, 'mpjpe_mm': None, 'abs_mpjpe_mm': None}


@pytest.mark.parametrize('name, extra', [
    ('base_u', []),
    ('base_s', []),
    ('cls_epi', []),                                          # l_p + gamma l_s
    ('cls_cor', ['loss.sync_loss=warp', 'loss.gamma=1.0']),   # l_p + gamma l_W (needs the synced frames)
])
def test_train_and_eval_pose_regimes(pose_data, tmp_path, name, extra, capsys):
    train, test = pose_data
    out = tmp_path / f'{name}.pt'
    rc = train_main(['--config', str(CONFIGS / f'pose_small_{name}.yaml'), '--no-progress', *TINY, *extra,
                     f'data.root={train}', 'train.max_steps=2', f'train.out={out}'])
    assert rc == 0
    ckpt = load_checkpoint(out)
    assert ckpt.task == 'pose' and ckpt.meta['steps'] == 2 and ckpt.meta['task'] == 'pose'
    assert ckpt.meta['data_manifest'][0]['n'] == 4
    js = tmp_path / f'{name}.json'
    assert eval_main(['--checkpoint', str(out), '--data', str(test), '--no-progress', '--threads', '1',
                      '--json', str(js)]) == 0
    res = json.loads(js.read_text())
    assert res['task'] == 'pose' and res['n'] == 3 and len(res['per_frame']) == 3
    assert res['mpjpe_mm'] > 0 and res['abs_mpjpe_mm'] > 0 and set(res['per_motion']) == {
        'idle', 'walk', 'turn', 'wave', 'sit'}
    assert sum(m['n'] for m in res['per_motion'].values()) == 3
    row = res['per_frame'][0]
    assert np.array(row['pred_m']).shape == (17, 3) and np.array(row['gt_m']).shape == (17, 3)
    assert 'MPJPE' in capsys.readouterr().out


def test_train_on_several_roots_and_gt_root_eval(pose_data, tmp_path):
    train, test = pose_data
    out = tmp_path / 'two.pt'
    assert train_main(['--config', str(CONFIGS / 'pose_small_base_u.yaml'), '--no-progress', *TINY,
                       f'data.root={train},{train}', 'train.max_steps=1', f'train.out={out}']) == 0
    assert load_checkpoint(out).meta['data_manifest'][1]['n'] == 4
    js = tmp_path / 'gt.json'
    assert eval_main(['--checkpoint', str(out), '--data', str(test), '--no-progress', '--sync', '--root-source', 'gt',
                      '--json', str(js)]) == 0
    res = json.loads(js.read_text())
    assert res['root_source'] == 'gt' and res['sync_input'] is True
    assert all(r['cube_center_err_mm'] < 1e-3 for r in res['per_frame'])  # cube centred on the GT pelvis


def test_train_refuses_a_counting_data_set_and_eval_names_the_task_mismatch(pose_data, tmp_path, capsys):
    from vsync_ros.data.crowd_world import CrowdWorldConfig
    from vsync_ros.data.generate import generate_dataset
    crowd = tmp_path / 'crowd'
    generate_dataset(crowd, CrowdWorldConfig(image_size=(64, 48)), n_train=1, n_test=1, progress=False)
    rc = train_main(['--config', str(CONFIGS / 'pose_small_base_u.yaml'), '--no-progress', *TINY,
                     f'data.root={crowd}', 'train.max_steps=1', f'train.out={tmp_path / "x.pt"}'])
    assert rc == 2 and 'not a pose data set' in capsys.readouterr().err
    train, _ = pose_data
    ok = tmp_path / 'ok.pt'
    assert train_main(['--config', str(CONFIGS / 'pose_small_base_u.yaml'), '--no-progress', *TINY,
                       f'data.root={train}', 'train.max_steps=1', f'train.out={ok}']) == 0
    assert eval_main(['--checkpoint', str(ok), '--data', str(crowd), '--no-progress']) == 2
    err = capsys.readouterr().err  # the task mismatch is named before any rig comparison
    assert f'checkpoint {ok} is a pose checkpoint, the data set {crowd} is a counting data set' in err
    assert 'calibration mismatch' not in err
    rc = train_main(['--config', str(CONFIGS / 'small_cls_epi.yaml'), '--no-progress', f'data.root={crowd}',
                     f'train.init_checkpoint={ok}', 'train.max_steps=1', f'train.out={tmp_path / "y.pt"}'])
    assert rc == 2 and f'init_checkpoint {ok} is a pose checkpoint' in capsys.readouterr().err


def test_report_and_figure_from_eval_json(pose_data, tmp_path):
    from vsync_ros.reports.pose_figures import main as figure_main
    from vsync_ros.reports.pose_results import main as report_main

    train, test = pose_data
    ck = tmp_path / 'u.pt'
    assert train_main(['--config', str(CONFIGS / 'pose_small_base_u.yaml'), '--no-progress', *TINY,
                       f'data.root={train}', 'train.max_steps=1', f'train.out={ck}']) == 0
    js = tmp_path / 'u.json'
    assert eval_main(['--checkpoint', str(ck), '--data', str(test), '--no-progress', '--json', str(js)]) == 0
    md, rj = tmp_path / 'r.md', tmp_path / 'r.json'
    assert report_main(['--eval', f'BaseU:8:{js}', '--eval', f'BaseU:64:{js}', '--eval', f'CLS-epi:64:{js}',
                        '--out', str(md), '--json', str(rj)]) == 0
    text = md.read_text()
    assert '| latency | BaseU | CLS-epi |' in text and '| 8/50 s |' in text and '| 64/50 s |' in text
    assert '| 8/50 s | ' in text and ' | - |' in text                    # CLS-epi has no kappa 8 entry
    assert 'kappa = 64/50 s' in text and '| sit |' in text
    rep = json.loads(rj.read_text())
    assert rep['kappas'] == [8, 64] and rep['training']['BaseU']['steps'] == 1
    png = tmp_path / 'fig.png'
    assert figure_main(['--data', str(test), '--eval', f'BaseU:{js}', '--eval', f'CLS-epi:{js}', '--panel', '64',
                        '--out', str(png)]) == 0
    from vsync_ros.data import storage
    img = storage.read_image(png)
    assert img.shape == (3 * 64, 4 * 64, 3)
