"""A fallback model for degraded frame sets: the pipeline, ``vsync-eval --fallback-checkpoint`` and the rule."""
from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pytest
import torch
from pipeline_support import make_checkpoint, tiny_test_split

from vsync_ros.engine.evaluate import main as eval_main
from vsync_ros.engine.fallback_rule import needs_fallback
from vsync_ros.engine.tasks.counting import evaluate_model, fallback_samples
from vsync_ros.inference.fallback import FallbackPipeline
from vsync_ros.inference.pipeline import CalibrationMismatchError, load_pipeline

pytestmark = pytest.mark.slow  # synthesizes a data set

CPU = torch.device('cpu')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory, one_torch_thread):
    """A 4-sample test split at 192x144 with an untrained CLS-epi primary and a base fallback for its rig."""
    root = tmp_path_factory.mktemp('fallback')
    ds = tiny_test_split(root, 8)
    primary = make_checkpoint(root / 'cls_epi.pt', 'cls_epi', ds.cameras, ds.region, seed=2)
    backup = make_checkpoint(root / 'base.pt', 'base', ds.cameras, ds.region, seed=5)
    return ds, primary, backup, root


def frames_of(ds, k: int) -> list[np.ndarray | None]:
    from vsync_ros.data.storage import read_image
    return [None if (p := ds.frame_file(k, v)) is None else read_image(p) for v in range(ds.n_views)]


def test_rule():
    assert not needs_fallback([], 0, 0, 'reference') and not needs_fallback([], 0, 0, 'any_missing')
    assert needs_fallback([0], 1, 0, 'reference') and needs_fallback([0], 1, 0, 'any_missing')
    assert not needs_fallback([2], 0, 0, 'reference') and needs_fallback([2], 0, 0, 'any_missing')
    assert needs_fallback([], 1, 0, 'reference')  # a reference other than the model's (configured elsewhere)
    with pytest.raises(ValueError, match='fallback_when'):
        needs_fallback([], 0, 0, 'always')
    valid = torch.tensor([[True, True, True], [False, True, True], [True, False, True], [False, False, True]])
    assert fallback_samples(valid, 'reference').tolist() == [False, True, False, True]
    assert fallback_samples(valid, 'any_missing').tolist() == [False, True, True, True]


@pytest.mark.parametrize('when', ['reference', 'any_missing'])
def test_degraded_frame_sets_go_to_the_fallback_model(tiny, when, caplog):
    ds, primary, backup, _ = tiny
    pipe = load_pipeline(primary, 'cpu', fallback_checkpoint=backup, fallback_when=when)
    alone, spare = load_pipeline(primary, 'cpu'), load_pipeline(backup, 'cpu')
    assert isinstance(pipe, FallbackPipeline) and pipe.method == 'cls_epi' and pipe.names == alone.names
    assert 'fallback base from' in pipe.describe()
    frames = frames_of(ds, 2)
    full = pipe.run(frames, 0)
    assert full.note == '' and full.count == pytest.approx(alone.run(frames, 0).count, rel=1e-6)
    with caplog.at_level(logging.INFO, logger='vsync_ros.inference.fallback'):
        lost_ref = pipe.run([None, frames[1], frames[2]], 1)
        again = pipe.run([None, frames[1], frames[2]], 1)
        back = pipe.run(frames, 0)
    assert lost_ref.count == pytest.approx(spare.run([None, frames[1], frames[2]], 1).count, rel=1e-6)
    assert lost_ref.count != pytest.approx(alone.run([None, frames[1], frames[2]], 1).count, rel=1e-4)
    assert 'cam1 missing' in lost_ref.note and 'fallback model base' in lost_ref.note and again.note == lost_ref.note
    np.testing.assert_allclose(lost_ref.density, spare.run([None, frames[1], frames[2]], 1).density, rtol=1e-5)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == 'vsync_ros.inference.fallback']
    assert len(warnings) == 1 and 'fallback model' in warnings[0].getMessage()  # once per episode
    assert any('all views back' in r.getMessage() for r in caplog.records) and back.note == ''
    lost_other = pipe.run([frames[0], None, frames[2]], 0)
    if when == 'any_missing':
        assert 'cam2 missing' in lost_other.note
        assert lost_other.count == pytest.approx(spare.run([frames[0], None, frames[2]], 0).count, rel=1e-6)
    else:
        assert lost_other.note == ''
        assert lost_other.count == pytest.approx(alone.run([frames[0], None, frames[2]], 0).count, rel=1e-6)
    assert pipe.fallback_runs == (3 if when == 'any_missing' else 2)


def test_evaluation_with_a_fallback_equals_the_pipeline(tiny):
    ds, primary, backup, _ = tiny
    pipe = load_pipeline(primary, 'cpu', fallback_checkpoint=backup, fallback_when='any_missing')
    for drop in (0, 2):
        res = evaluate_model(pipe.primary.model, ds, CPU, drop_views=[drop], failover='unsynced',
                             fallback=pipe.fallback.model, fallback_when='any_missing')
        assert res['fallback_frames'] == 4
        for row in res['per_frame']:
            frames = frames_of(ds, row['index'])
            frames[drop] = None
            ref = next(v for v, f in enumerate(frames) if f is not None)
            assert row['fallback'] and row['pred'] == pytest.approx(pipe.run(frames, ref).count, rel=1e-5, abs=1e-6)
    # a batch with both kinds: each sample is estimated by its own model
    lost = ds[1]
    lost['images'][0] = 0.0
    lost['view_valid'][0] = False
    mixed = evaluate_model(pipe.primary.model, [ds[0], lost], CPU, batch_size=2, failover='unsynced',
                           fallback=pipe.fallback.model, fallback_when='reference')
    first = evaluate_model(pipe.primary.model, [ds[0]], CPU)['per_frame'][0]
    second = evaluate_model(pipe.fallback.model, [lost], CPU)['per_frame'][0]
    assert mixed['fallback_frames'] == 1 and 'fallback' not in mixed['per_frame'][0]
    assert mixed['per_frame'][0]['pred'] == pytest.approx(first['pred'], rel=1e-5)
    assert mixed['per_frame'][1]['pred'] == pytest.approx(second['pred'], rel=1e-5)
    assert mixed['per_frame'][1]['game']['3'] == pytest.approx(second['game']['3'], rel=1e-4)
    plain = evaluate_model(pipe.primary.model, ds, CPU, fallback=pipe.fallback.model)
    alone = evaluate_model(pipe.primary.model, ds, CPU)
    assert plain['fallback_frames'] == 0 and [r['pred'] for r in plain['per_frame']] == [r['pred'] for r in
                                                                                          alone['per_frame']]


def test_cli_each_view_missing_with_a_fallback(tiny, capsys):
    ds, primary, backup, root = tiny
    out = root / 'evm.json'
    code = eval_main(['--checkpoint', str(primary), '--data', str(root / 'data'), '--each-view-missing',
                      '--fallback-checkpoint', str(backup), '--no-progress', '--json', str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc['fallback_checkpoint'] == str(backup) and doc['fallback_when'] == 'reference'
    spare = evaluate_model(load_pipeline(backup, 'cpu').model, ds, CPU, drop_views=[0])
    assert doc['each_view_missing']['missing']['0']['mae'] == pytest.approx(spare['mae'], rel=1e-5)
    assert 'fallback' in capsys.readouterr().out
    code = eval_main(['--checkpoint', str(primary), '--data', str(root / 'data'), '--fallback-checkpoint',
                      str(root / 'nope.pt'), '--no-progress'])
    assert code == 2 and 'fallback checkpoint' in capsys.readouterr().err


def test_a_fallback_of_another_rig_is_refused(tiny):
    ds, primary, _, root = tiny
    moved = [dataclasses.replace(c, t=c.t + np.array([0.5, 0.0, 0.0])) if v == 1 else c
             for v, c in enumerate(ds.cameras)]
    other = make_checkpoint(root / 'other.pt', 'base', moved, ds.region, seed=5)
    with pytest.raises(CalibrationMismatchError, match=r'fallback checkpoint .*other\.pt.*view 1 \(cam2\)'):
        load_pipeline(primary, 'cpu', fallback_checkpoint=other)
    with pytest.raises(ValueError, match='fallback_when'):
        load_pipeline(primary, 'cpu', fallback_checkpoint=other, fallback_when='sometimes')
