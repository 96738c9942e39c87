"""vsync-train / vsync-eval / vsync-bench end to end on a tiny generated data set (a few steps)."""
import json

import pytest
import torch

from vsync_ros.data.generate import generate_dataset
from vsync_ros.engine import evaluate, train
from vsync_ros.engine.checkpoint import load_checkpoint
from vsync_ros.reports import bench

torch.set_num_threads(1)

TINY = ['model.image_height=48', 'model.image_width=64', 'model.encoder_channels=[4,4,8,8]',
        'model.flow_encoder_channels=[4,4,8,8]', 'model.decoder_channels=[8,8]', 'model.flow_width=0.125',
        'data.gp_cell_m=1.0', 'train.max_steps=2', 'train.threads=1', 'train.log_every=1']


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('data') / 'plaza'
    generate_dataset(root, n_train=3, n_test=2, image_size=(96, 72), progress=False)
    return root


@pytest.mark.slow  # trains
def test_train_regimes_and_evaluate(data_dir, tmp_path, repo_root, capsys):
    cfg_dir = repo_root / 'config' / 'train'
    base = [f'data.root={data_dir}'] + TINY
    s_out, su_out, epi_out = tmp_path / 's.pt', tmp_path / 'su.pt', tmp_path / 'epi.pt'
    assert train.main(['--config', str(cfg_dir / 'small_base_s.yaml'), *base, f'train.out={s_out}',
                       '--no-progress']) == 0
    assert train.main(['--config', str(cfg_dir / 'small_base_su.yaml'), *base, f'train.out={su_out}',
                       f'train.init_checkpoint={s_out}', '--no-progress']) == 0
    assert train.main(['--config', str(cfg_dir / 'small_cls_epi.yaml'), *base, f'train.out={epi_out}',
                       'data.val_split=test', '--no-progress']) == 0
    ckpt = load_checkpoint(epi_out)
    assert ckpt.meta['seed'] == 0 and ckpt.meta['steps'] == 2 and ckpt.meta['wall_time_s'] > 0
    assert ckpt.meta['data_manifest']['n'] == 3 and ckpt.meta['data_manifest']['split'] == 'train'
    assert ckpt.meta['regime'].startswith('CLS-epi') and ckpt.meta['metrics']['best_val']['step'] == 2
    assert load_checkpoint(su_out).meta['regime'] == 'BaseSU'
    # BaseU trained on from a BaseU checkpoint stays BaseU (regime read from the init checkpoint)
    u_out, u2_out = tmp_path / 'u.pt', tmp_path / 'u2.pt'
    for out, init in ((u_out, 'null'), (u2_out, str(u_out))):
        assert train.main(['--config', str(cfg_dir / 'small_base_u.yaml'), *base, f'train.out={out}',
                           f'train.init_checkpoint={init}', '--no-progress']) == 0
    assert [load_checkpoint(p).meta['regime'] for p in (u_out, u2_out)] == ['BaseU', 'BaseU']
    # an init checkpoint of the same method but another architecture is refused, naming the field
    assert train.main(['--config', str(cfg_dir / 'small_base_su.yaml'), *base, f'train.out={tmp_path / "x.pt"}',
                       f'train.init_checkpoint={s_out}', 'model.decoder_channels=[8,4]', '--no-progress']) == 2
    assert 'model.decoder_channels' in capsys.readouterr().err

    out_json = tmp_path / 'eval.json'
    assert evaluate.main(['--checkpoint', str(epi_out), '--data', str(data_dir), '--json', str(out_json),
                          '--no-progress', '--threads', '1']) == 0
    res = json.loads(out_json.read_text())
    assert res['n'] == 2 and len(res['per_frame']) == 2 and res['mae'] >= 0 and res['split'] == 'test'
    assert evaluate.main(['--checkpoint', str(s_out), '--data', str(data_dir), '--sync', '--no-progress']) == 0


def test_bad_config_is_reported(tmp_path, repo_root, capsys):
    cfg = repo_root / 'config' / 'train' / 'small_cls_cor.yaml'
    assert train.main(['--config', str(cfg), 'model.flow_widht=2']) == 2
    assert 'model.flow_widht' in capsys.readouterr().err


@pytest.mark.slow  # times models
def test_bench_table(repo_root):
    res = bench.run_bench(str(repo_root / 'config' / 'train' / 'small.yaml'), ['base', 'cls_cor'], ['cpu'], 1, 2, 1,
                          True, TINY[:6], views=[4], correlations=['direct', 'factorized'])
    assert all('error' not in r for r in res), res
    assert [(r['method'], r['correlation'], r['views']) for r in res] == [
        ('base', '-', 4), ('cls_cor', 'direct', 4), ('cls_cor', 'factorized', 4)]
    assert res[1]['infer_ms'] > 0 and res[1]['train_step_ms'] > 0 and res[1]['peak_mb'] > 0
    assert 'D' in res[1]['forms'] and 'F1' in res[2]['forms']
    table = bench.markdown_table(res, True)
    assert table.count('\n') == 4 and '| cls_cor | factorized |' in table and '| 1.00 |' in table
