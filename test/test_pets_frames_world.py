"""PETS2009's real frames (the MVMS release layout) as a world: vsync-synth writes the project's data set from
them, SyncDataset reads it at the CPU cell, and training and evaluation run on it (fake release fixtures)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pets_release_tree import grey_level, write_calibration, write_release

from vsync_ros.data.cli import main as synth_main
from vsync_ros.data.dataset import SyncDataset
from vsync_ros.data.pets_frames_world import PetsFramesWorld
from vsync_ros.data.readers.pets2009 import PETS_REGION
from vsync_ros.data.storage import DatasetError
from vsync_ros.reports.pets_results import SEQUENCES

N_FRAMES = 6
KAPPA = 2 / 7  # offsets of up to 2 frames


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    """(frames root, PETS2009 data root with the calibration) of a fake release, 6 frames per sequence."""
    base = tmp_path_factory.mktemp('pets_release')
    write_release(base / 'mvms', N_FRAMES)
    write_calibration(base / 'pets2009')
    return base / 'mvms', base / 'pets2009'


@pytest.fixture(scope='module')
def frames_data(release, tmp_path_factory):
    """A data set written by vsync-synth --world pets-frames from the fake release (192x144, lossless)."""
    frames_root, data_root = release
    out = tmp_path_factory.mktemp('pets_frames') / 'data'
    assert synth_main([str(out), '--world', 'pets-frames', '--frames-root', str(frames_root), '--data-root',
                       str(data_root), '--kappa', str(KAPPA), '--size', '192x144', '--format', 'png', '--no-sheet',
                       '--no-progress']) == 0
    return out


def test_world_reads_the_frame_and_maps_of_the_sequence_running_then(release):
    frames_root, data_root = release
    w = PetsFramesWorld(frames_root, data_root / 'calibration', image_size=(192, 144))
    assert len(w.time_ranges('train')) == 4 and len(w.time_ranges('test')) == 4
    assert w.names[4:] == list(SEQUENCES)
    first, last = w.ranges_s()[5]  # S1L1-2
    assert last - first == pytest.approx((N_FRAMES - 1) / 7)
    t = first + 3 / 7
    frame = w.render(1, t)
    assert frame.shape == (144, 192, 3) and frame.dtype == np.uint8
    assert np.all(frame == grey_level(3, 2))
    gt = w.ground_truth(t)
    assert gt['gp_density'].shape == PETS_REGION.shape and float(gt['count']) == pytest.approx(4.0)
    density = w.frame_annotations(2, t)['density']
    assert density.shape == (144, 192) and float(density.sum()) == pytest.approx(4.0, rel=1e-5)
    with pytest.raises(ValueError, match='no sequence has a frame at t'):
        w.render(0, last + 1.0)
    sequences = w.describe()['source']['sequences']
    assert [s['name'] for s in sequences][4:] == list(SEQUENCES)
    assert sequences[5]['start_s'] == pytest.approx(first)


def test_synth_writes_every_frame_set_that_fits_with_whole_frame_offsets(frames_data):
    manifest = json.loads((frames_data / 'manifest.json').read_text())
    assert manifest['world']['type'] == 'pets2009-frames'
    assert manifest['gt']['view_density_from'] == 'density'
    assert manifest['desync']['quantum_s'] == pytest.approx(1 / 7)
    for split in ('train', 'test'):
        info = manifest['splits'][split]
        assert info['n'] + info['n_dropped'] == 4 * N_FRAMES
        assert info['n'] >= 4 * (N_FRAMES - 4)  # frames 2 and 3 of every sequence always fit
    ds = SyncDataset(frames_data, 'test', gp_cell_m=0.8)
    starts = {s['name']: s['start_s'] for s in manifest['world']['source']['sequences']}
    seen = set()
    for k in range(len(ds)):
        sample = ds[k]
        time_s = float(sample['time_s'])
        seq = ds.sequence_of(time_s)
        seen.add(seq)
        ref = round((time_s - starts[seq]) * 7)
        offsets = sample['offsets_s'].numpy() * 7
        np.testing.assert_allclose(offsets, np.round(offsets), atol=1e-4)
        assert np.all(np.abs(offsets) <= 2 + 1e-4)
        for v in range(3):
            frame = ref + round(float(offsets[v]))
            assert np.all(ds.read_frame(k, v) == grey_level(frame, v + 1)), (k, v)
            assert np.all(ds.read_frame(k, v, sync=True) == grey_level(ref, v + 1)), (k, v)
            assert float(sample['view_density'][v].sum()) == pytest.approx(frame + 1, rel=1e-4)
            assert float(sample['view_density_sync'][v].sum()) == pytest.approx(ref + 1, rel=1e-4)
        assert tuple(sample['gp_density'].shape) == (1, 88, 76)  # 0.4 m maps pooled 2 x 2
        assert float(sample['gp_density'].sum()) == pytest.approx(ref + 1) == float(sample['count'])
    assert seen == set(SEQUENCES)


def test_maps_without_positions_refuse_a_cell_that_is_not_a_multiple(frames_data):
    assert tuple(SyncDataset(frames_data, 'train')[0]['gp_density'].shape) == (1, *PETS_REGION.shape)
    ds = SyncDataset(frames_data, 'train', gp_cell_m=0.6)
    with pytest.raises(DatasetError, match=r'no positions \(field positions\).*0\.6 m cell'):
        ds[0]


def test_synth_refuses_incomplete_pets_frames_options(release, tmp_path):
    frames_root, data_root = release
    cases = [
        (['--world', 'pets-frames', '--data-root', str(data_root)], '--frames-root'),
        (['--world', 'pets-frames', '--frames-root', str(frames_root)], '--data-root'),
        (['--frames-root', str(frames_root)], 'needs --world pets-frames'),
        (['--world', 'pets-frames', '--frames-root', str(frames_root), '--data-root', str(data_root),
          '--sequence', 'S1L1-1'], 'MVMS split'),
        (['--world', 'pets-frames', '--frames-root', str(tmp_path / 'nowhere'), '--data-root', str(data_root)],
         'sequence folder'),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit, match=message):
            synth_main([str(tmp_path / 'out'), '--no-sheet', '--no-progress', *args])


@pytest.mark.slow
def test_train_and_evaluate_on_the_release_data_set(frames_data, tmp_path, one_torch_thread):
    from vsync_ros.engine.evaluate import main as eval_main
    from vsync_ros.engine.train import main as train_main
    ck = tmp_path / 'cls_epi.pt'
    assert train_main(['--config', 'config/train/small_cls_epi.yaml', '--no-progress', f'data.root={frames_data}',
                       'data.gp_cell_m=0.8', 'model.image_height=48', 'model.image_width=64',
                       'model.encoder_channels=[4,4,8,8]', 'model.decoder_channels=[8,8]', 'train.max_steps=2',
                       'train.threads=1', f'train.out={ck}']) == 0
    js = tmp_path / 'eval.json'
    assert eval_main(['--checkpoint', str(ck), '--data', str(frames_data), '--no-progress', '--json', str(js)]) == 0
    doc = json.loads(js.read_text())
    assert set(doc['per_sequence']) == set(SEQUENCES)
    n_test = json.loads((frames_data / 'manifest.json').read_text())['splits']['test']['n']
    assert sum(v['n'] for v in doc['per_sequence'].values()) == n_test


def test_model_cards_say_which_pets_data_they_were_trained_on(frames_data, tmp_path):
    from vsync_ros.reports.pets_results import data_description, real_frames
    assert 'real frames' in data_description(frames_data) and real_frames(frames_data)
    rendered = tmp_path / 'rendered'
    rendered.mkdir()
    (rendered / 'manifest.json').write_text(json.dumps({'world': {'type': 'crowd', 'source': {'type': 'pets2009'}}}))
    assert 'rendered' in data_description(rendered) and 'real frames' not in data_description(rendered)
    assert not real_frames(rendered) and not real_frames(tmp_path / 'nowhere')
