"""``vsync-eval --drop-view`` / ``--each-view-missing``: lost cameras give the pipeline's (the node's) numbers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pipeline_support import make_checkpoint, tiny_test_split

from vsync_ros.engine.evaluate import main as eval_main
from vsync_ros.engine.tasks.counting import each_view_missing, evaluate_model
from vsync_ros.inference.pipeline import load_pipeline

pytestmark = pytest.mark.slow  # synthesizes a data set

CPU = torch.device('cpu')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory, one_torch_thread):
    """A 4-sample PETS-like test split at 192x144 and an untrained CLS-epi checkpoint (non-zero flows) for it."""
    root = tmp_path_factory.mktemp('drop_view')
    ds = tiny_test_split(root, 6)
    ckpt = make_checkpoint(root / 'cls_epi.pt', 'cls_epi', ds.cameras, ds.region, seed=2)
    return ds, ckpt, root


def frames_of(ds, k: int) -> list[np.ndarray | None]:
    from vsync_ros.data.storage import read_image
    return [None if (p := ds.frame_file(k, v)) is None else read_image(p) for v in range(ds.n_views)]


def pipeline_counts(pipe, ds, drop: int) -> dict[int, float]:
    """The node's way: the dropped camera gives no frame; the reference is the first view that has one."""
    out = {}
    for k in range(len(ds)):
        frames = frames_of(ds, k)
        frames[drop] = None
        ref = next(v for v, f in enumerate(frames) if f is not None)
        out[k] = pipe.run(frames, ref).count
    return out


@pytest.mark.parametrize('drop', [0, 1, 2])
def test_evaluation_with_a_dropped_view_equals_the_pipeline(tiny, drop):
    ds, ckpt, _ = tiny
    pipe = load_pipeline(ckpt, 'cpu')
    res = evaluate_model(pipe.model, ds, CPU, drop_views=[drop], failover='unsynced')
    want = pipeline_counts(pipe, ds, drop)
    assert res['n'] == 4
    for row in res['per_frame']:
        assert row['pred'] == pytest.approx(want[row['index']], rel=1e-5, abs=1e-6)
        assert row['view_valid'][drop] is False
    plain = evaluate_model(pipe.model, ds, CPU)
    assert all(r['pred'] != pytest.approx(p['pred'], rel=1e-6) for r, p in zip(res['per_frame'], plain['per_frame']))
    if drop == 0:  # 'as_trained' warps towards the empty reference instead: other numbers
        trained = evaluate_model(pipe.model, ds, CPU, drop_views=[0], failover='as_trained')
        assert all(r['pred'] != pytest.approx(t['pred'], rel=1e-6)
                   for r, t in zip(res['per_frame'], trained['per_frame']))


def test_cli_drop_view_records_it_in_the_json(tiny, capsys):
    ds, ckpt, root = tiny
    out = root / 'drop0.json'
    assert eval_main(['--checkpoint', str(ckpt), '--data', str(root / 'data'), '--drop-view', '0', '--json', str(out),
                      '--no-progress', '--threads', '1']) == 0
    assert 'view 0 missing, fail-over unsynced' in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc['drop_views'] == [0] and doc['failover'] == 'unsynced'
    want = pipeline_counts(load_pipeline(ckpt, 'cpu'), ds, 0)
    assert [r['pred'] for r in doc['per_frame']] == pytest.approx([want[r['index']] for r in doc['per_frame']],
                                                                  rel=1e-5, abs=1e-6)
    # two views at once, repeated option
    out2 = root / 'drop12.json'
    assert eval_main(['--checkpoint', str(ckpt), '--data', str(root / 'data'), '--drop-view', '2', '--drop-view', '1',
                      '--json', str(out2), '--no-progress', '--threads', '1']) == 0
    doc2 = json.loads(out2.read_text())
    assert doc2['drop_views'] == [1, 2] and all(r['view_valid'] == [True, False, False] for r in doc2['per_frame'])


def test_each_view_missing_reports_mae_and_ratio(tiny, capsys):
    ds, ckpt, root = tiny
    out = root / 'each.json'
    assert eval_main(['--checkpoint', str(ckpt), '--data', str(root / 'data'), '--each-view-missing', '--json',
                      str(out), '--no-progress', '--threads', '1']) == 0
    printed = capsys.readouterr().out
    assert 'none (all views)' in printed and 'view 0 (cam1)' in printed and 'view 2 (cam3)' in printed
    doc = json.loads(out.read_text())
    table = doc['each_view_missing']
    assert table['failover'] == 'unsynced' and table['all']['mae'] == pytest.approx(doc['mae'])
    pipe = load_pipeline(ckpt, 'cpu')
    for v in range(3):
        row = table['missing'][str(v)]
        want = pipeline_counts(pipe, ds, v)
        mae = np.mean([abs(want[r['index']] - r['gt']) for r in doc['per_frame']])
        assert row['mae'] == pytest.approx(mae, rel=1e-5) and row['n'] == 4
        assert row['mae_ratio'] == pytest.approx(row['mae'] / table['all']['mae'])
    # the helper itself, with the all-views result reused
    res = each_view_missing(pipe.model, ds, CPU)
    assert res['missing']['1']['mae'] == pytest.approx(table['missing']['1']['mae'], rel=1e-6)


def test_bad_drop_view_options(tiny, capsys):
    _, ckpt, root = tiny
    args = ['--checkpoint', str(ckpt), '--data', str(root / 'data'), '--no-progress', '--threads', '1']
    assert eval_main([*args, '--drop-view', '3']) == 2
    assert '--drop-view 3: the data set has views 0..2' in capsys.readouterr().err
    assert eval_main([*args, '--drop-view', '0', '--drop-view', '1', '--drop-view', '2']) == 2
    assert 'cannot drop every view' in capsys.readouterr().err
    assert eval_main([*args, '--drop-view', '0', '--each-view-missing']) == 2
    assert 'not both' in capsys.readouterr().err


def test_coverage_deficit_script_sums_the_evaluated_counts(tiny, capsys):
    """scripts/coverage_deficit.py: its per-coverage sums add up to vsync-eval's counts and ground truth."""
    import importlib.util
    from pathlib import Path
    ds, ckpt, root = tiny
    path = Path(__file__).resolve().parents[1] / 'scripts' / 'coverage_deficit.py'
    spec = importlib.util.spec_from_file_location('coverage_deficit', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(['--checkpoint', str(ckpt), '--data', str(root / 'data'), '--drop-view', '0', '--every', '1']) == 0
    out = capsys.readouterr().out
    res = evaluate_model(load_pipeline(ckpt, 'cpu').model, ds, CPU, drop_views=[0], failover='unsynced')
    pred = sum(r['pred'] for r in res['per_frame'])
    true = float(sum(ds[k]['gp_density'].sum() for k in range(len(ds))))
    assert f'all cells: predicted {pred:.1f}, true {true:.1f}' in out
    groups = [line for line in out.splitlines() if 'cells seen by' in line]
    assert len(groups) == 3 and sum(float(g.split('predicted ')[1].split(',')[0]) for g in groups) == \
        pytest.approx(pred, abs=0.2)
    with pytest.raises(SystemExit, match='--drop-view 5'):
        mod.main(['--checkpoint', str(ckpt), '--data', str(root / 'data'), '--drop-view', '5'])
