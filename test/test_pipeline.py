"""vsync_ros.inference.pipeline: same numbers as vsync-eval, calibration checks, input checks, reference fail-over."""
from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch
from pipeline_support import make_checkpoint, plaza_calibration, tiny_test_split

from vsync_ros.engine.checkpoint import CheckpointError
from vsync_ros.engine.tasks.counting import evaluate_model
from vsync_ros.geometry import Camera
from vsync_ros.inference.api import FramePipeline, check_result
from vsync_ros.inference.loading import open_pipeline
from vsync_ros.inference.pipeline import (
    CalibrationMismatchError,
    CountingPipeline,
    InputImageError,
    load_pipeline,
    select_device,
)

pytestmark = pytest.mark.slow  # synthesizes a data set for the pipeline

torch.set_num_threads(1)
CPU = torch.device('cpu')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A 4-sample PETS-like test split at 192x144 and untrained cls_epi / base checkpoints for its cameras."""
    root = tmp_path_factory.mktemp('pipeline')
    ds = tiny_test_split(root, 3)
    ckpts = {m: make_checkpoint(root / f'{m}.pt', m, ds.cameras, ds.region, seed=1) for m in ('cls_epi', 'base')}
    return ds, ckpts, root


def frames_of(ds, k: int) -> list[np.ndarray | None]:
    from vsync_ros.data.storage import read_image
    return [None if (p := ds.frame_file(k, v)) is None else read_image(p) for v in range(ds.n_views)]


def test_same_counts_and_density_as_evaluate_model(tiny):
    ds, ckpts, _ = tiny
    pipe = load_pipeline(ckpts['cls_epi'], 'cpu', cameras=ds.cameras, region=ds.region)
    assert isinstance(pipe, FramePipeline) and pipe.method == 'cls_epi' and pipe.region.shape == (60, 50)
    ref = evaluate_model(pipe.model, ds, CPU)
    assert ref['n'] == 4
    for row in ref['per_frame']:
        k = row['index']
        res = check_result(pipe.run(frames_of(ds, k), 0), pipe.region)
        assert res.count == pytest.approx(row['pred'], rel=1e-5, abs=1e-6)
        assert res.density.dtype == np.float32 and res.density.shape == (60, 50)
        assert float(res.density.sum()) == pytest.approx(res.count, rel=1e-4, abs=1e-5)
        assert res.inference_ms > 0 and res.note == ''
    # the density is the model's output divided by density_scale (people per cell)
    sample = ds[0]
    with torch.no_grad():
        out = pipe.model({'images': sample['images'][None], 'view_valid': sample['view_valid'][None]})
    np.testing.assert_allclose(pipe.run(frames_of(ds, 0), 0).density,
                               out['density'][0, 0].numpy() / pipe.cfg.density_scale, rtol=1e-5, atol=1e-9)


def test_other_input_sizes_are_area_resized_like_the_data_path(tiny):
    ds, ckpts, _ = tiny
    pipe = load_pipeline(ckpts['cls_epi'], 'cpu')
    frames = frames_of(ds, 1)
    big = [np.kron(f, np.ones((2, 2, 1), np.uint8)) for f in frames]  # 384x288: area x0.5 gives `frames` back
    a, b = pipe.run(frames, 0), pipe.run(big, 0)
    assert b.count == pytest.approx(a.count, rel=1e-5)
    np.testing.assert_allclose(b.density, a.density, rtol=1e-4, atol=1e-8)


def test_bad_images_are_refused_with_the_view_named(tiny):
    ds, ckpts, _ = tiny
    pipe = load_pipeline(ckpts['base'], 'cpu')
    good = frames_of(ds, 0)
    bad_cases = {
        'grey': (good[1][:, :, 0], 'shape'),
        'rgba': (np.dstack([good[1], good[1][:, :, :1]]), 'shape'),
        'float': (good[1].astype(np.float32), 'uint8'),
        'aspect': (np.zeros((100, 100, 3), np.uint8), 'aspect'),
        'list': (good[1].tolist(), 'numpy'),
    }
    for name, (img, match) in bad_cases.items():
        with pytest.raises(InputImageError, match=match) as info:
            pipe.run([good[0], img, good[2]], 0)
        assert 'view 1 (cam2)' in str(info.value), name
    with pytest.raises(ValueError, match='expected 3 images'):
        pipe.run(good[:2], 0)
    with pytest.raises(ValueError, match='out of range'):
        pipe.run(good, 3)
    with pytest.raises(ValueError, match='reference view 0 .cam1. has no frame'):
        pipe.run([None, good[1], good[2]], 0)


def test_missing_views_are_invalid_like_the_data_set(tiny):
    ds, ckpts, _ = tiny
    pipe = load_pipeline(ckpts['cls_epi'], 'cpu')
    sample = ds[2]
    sample['images'][2] = 0.0
    sample['view_valid'][2] = False
    ref = evaluate_model(pipe.model, [sample], CPU)['per_frame'][0]['pred']
    frames = frames_of(ds, 2)
    frames[2] = None
    res = pipe.run(frames, 0)
    assert res.count == pytest.approx(ref, rel=1e-5, abs=1e-6) and res.note == ''


def test_calibration_mismatch_is_refused_clearly(tiny):
    ds, ckpts, root = tiny
    path = ckpts['cls_epi']
    full, region = plaza_calibration((384, 288))
    assert load_pipeline(path, 'cpu', cameras=full, region=region).method == 'cls_epi'  # same rig at 2x: accepted
    with pytest.raises(CalibrationMismatchError, match=r'3 views expected \(cam1, cam2, cam3\), 2 given'):
        load_pipeline(path, 'cpu', cameras=full[:2])
    moved = list(full)
    c = full[1]
    moved[1] = Camera(c.name, c.width, c.height, c.K, c.dist, c.R, c.t + np.array([0.8, 0.0, 0.0]))
    with pytest.raises(CalibrationMismatchError, match=r'view 1 \(cam2\): calibration differs .* by [\d.]+ px'):
        load_pipeline(path, 'cpu', cameras=moved)
    wide = [c.scaled(384, 216) for c in full]
    with pytest.raises(CalibrationMismatchError, match='aspect ratio'):
        load_pipeline(path, 'cpu', cameras=wide)
    with pytest.raises(CalibrationMismatchError, match='cell_m is 0.1'):
        load_pipeline(path, 'cpu', region=region.with_cell(0.1))
    # through the ROS adapter: a RuntimeError carrying the reason
    with pytest.raises(RuntimeError, match='view 1 .cam2.: calibration differs'):
        open_pipeline(str(path), 'cpu', 'counting', moved)


def test_load_errors(tiny, tmp_path):
    _, ckpts, _ = tiny
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_pipeline(tmp_path / 'nope.pt')
    bad = tmp_path / 'bad.pt'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointError, match='corrupt'):
        load_pipeline(bad)
    with pytest.raises(ValueError, match="task 'pose'"):
        load_pipeline(ckpts['base'], task='pose')
    with pytest.raises(ValueError, match='unknown device'):
        load_pipeline(ckpts['base'], device='gpu')
    with pytest.raises(ValueError, match='failover'):
        load_pipeline(ckpts['base'], failover='guess')
    with pytest.raises(RuntimeError, match='does not exist'):
        open_pipeline(str(tmp_path / 'nope.pt'))


def test_device_selection_falls_back_to_cpu_with_a_message(tiny):
    assert select_device('cpu') == (CPU, '')
    dev, note = select_device('auto')
    assert dev.type == ('cuda' if torch.cuda.is_available() else 'cpu') and note == ''
    if torch.cuda.is_available():
        pytest.skip('CUDA present: the fall-back cannot be exercised')
    dev, note = select_device('cuda:1')
    assert dev == CPU and 'CUDA is not available' in note and 'running on the CPU' in note
    _, ckpts, _ = tiny
    pipe = load_pipeline(ckpts['base'], device='cuda')
    assert pipe.device == CPU and 'running on the CPU' in pipe.device_note


def test_failover_fuses_unsynchronized_and_says_so(tiny, caplog):
    """Reference cam1 stale: the CLS model cannot warp to cam2, so the views are fused as captured."""
    ds, ckpts, _ = tiny
    pipe = load_pipeline(ckpts['cls_epi'], 'cpu')
    frames = frames_of(ds, 3)
    sample = ds[3]
    sample['images'][0] = 0.0
    sample['view_valid'][0] = False
    unsynced_model = copy.deepcopy(pipe.model)
    unsynced_model.cls = None  # the same weights without the camera-level sync
    expected = evaluate_model(unsynced_model, [sample], CPU)['per_frame'][0]['pred']
    as_trained = evaluate_model(pipe.model, [sample], CPU)['per_frame'][0]['pred']
    assert expected != pytest.approx(as_trained, rel=1e-6)  # the sync module does change the estimate
    with caplog.at_level(logging.INFO, logger='vsync_ros.inference.pipeline'):
        res = pipe.run([None, frames[1], frames[2]], 1)
        res2 = pipe.run([None, frames[1], frames[2]], 1)
        back = pipe.run(frames, 0)
    assert res.count == pytest.approx(expected, rel=1e-5, abs=1e-6) and res2.count == res.count
    assert 'without synchronization' in res.note and 'cam1' in res.note and 'cam2' in res.note
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'without synchronization' in warnings[0].getMessage()  # once per episode
    assert any('reference back to cam1' in r.getMessage() for r in caplog.records)
    assert back.note == '' and pipe.model.cls is not None  # the sync module is restored
    assert back.count == pytest.approx(pipe.run(frames, 0).count)

    # 'as_trained': exactly what vsync-eval does with a missing reference (sync on, view 0 zero and invalid)
    trained = CountingPipeline(pipe.model, _ckpt(ckpts['cls_epi']), CPU, failover='as_trained')
    res = trained.run([None, frames[1], frames[2]], 1)
    assert res.count == pytest.approx(as_trained, rel=1e-5, abs=1e-6) and 'ran as trained' in res.note


def test_base_model_failover_needs_no_change(tiny):
    ds, ckpts, _ = tiny
    pipe = load_pipeline(ckpts['base'], 'cpu')
    frames = frames_of(ds, 0)
    sample = ds[0]
    sample['images'][0] = 0.0
    sample['view_valid'][0] = False
    expected = evaluate_model(pipe.model, [sample], CPU)['per_frame'][0]['pred']
    res = pipe.run([None, frames[1], frames[2]], 1)
    assert res.note == '' and res.count == pytest.approx(expected, rel=1e-5, abs=1e-6)


def _ckpt(path):
    from vsync_ros.engine.checkpoint import load_checkpoint
    return load_checkpoint(path)


def test_sls_failover_also_fuses_unsynchronized(tiny):
    ds, _, root = tiny
    path = make_checkpoint(root / 'sls.pt', 'sls', ds.cameras, ds.region, seed=4)
    pipe = load_pipeline(path, 'cpu')
    frames = frames_of(ds, 1)
    sample = ds[1]
    sample['images'][0] = 0.0
    sample['view_valid'][0] = False
    plain = copy.deepcopy(pipe.model)
    plain.sls = None
    expected = evaluate_model(plain, [sample], CPU)['per_frame'][0]['pred']
    res = pipe.run([None, frames[1], frames[2]], 1)
    assert 'sls synchronizes to cam1' in res.note and res.count == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert pipe.model.sls is not None and pipe.run(frames, 0).note == ''
