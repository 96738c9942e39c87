"""Data-set generation, on-disk layout and the torch Dataset."""
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vsync_ros.data import storage
from vsync_ros.data.contact_sheet import make_contact_sheet
from vsync_ros.data.crowd import CrowdParams
from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
from vsync_ros.data.dataset import SyncDataset
from vsync_ros.data.desync import STREAM_TEST, STREAM_TRAIN, citystreet, pets
from vsync_ros.data.generate import generate_dataset, split_times
from vsync_ros.geometry.camera import Camera

pytestmark = pytest.mark.slow  # every test here synthesizes a data set

CFG = CrowdWorldConfig(image_size=(96, 72), seed=3, crowd=CrowdParams(n_people=(8, 14)))


@pytest.fixture(scope='module')
def dataset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('ds')
    desync = pets(mode='random', seed=4, missing_prob=(0.2, 0.2, 0.2))
    generate_dataset(out, CFG, desync, n_train=8, n_test=4, progress=False)
    return out


def _files(root):
    return sorted(p for p in root.rglob('*') if p.is_file())


def test_layout_and_manifest(dataset_dir):
    m = json.loads((dataset_dir / 'manifest.json').read_text())
    assert m['format'] == 'vsync-synth' and m['task'] == 'counting' and m['n_views'] == 3
    assert m['image_size'] == [96, 72] and m['seed'] == 3
    assert m['desync']['mode'] == 'random' and m['desync']['kappa_s'] == [0.0, 5.0, 5.0]
    assert m['region']['cell_m'] == 0.4 and m['splits']['train']['n'] == 8 and m['splits']['test']['n'] == 4
    for name in m['cameras']:
        cam = Camera.from_yaml(dataset_dir / name)
        assert (cam.width, cam.height) == (96, 72)
    idx = json.loads((dataset_dir / 'train' / 'index.json').read_text())
    for k in range(8):
        for v in range(3):
            f = storage.frame_path(dataset_dir, 'train', v, k, '.png')
            assert f.is_file() == idx['view_valid'][k][v]
            sync = storage.frame_path(dataset_dir, 'train', v, k, '.png', sync=True)
            assert sync.is_file() == (not idx['view_valid'][k][v] or idx['offsets_s'][k][v] != 0.0)
        assert storage.gt_path(dataset_dir, 'train', k).is_file()


def test_offsets_on_disk_follow_the_desync_seed(dataset_dir):
    desync = pets(mode='random', seed=4, missing_prob=(0.2, 0.2, 0.2))
    for split, stream in (('train', STREAM_TRAIN), ('test', STREAM_TEST)):
        idx = json.loads((dataset_dir / split / 'index.json').read_text())
        draws = desync.sample_many(len(idx['time_s']), stream)
        np.testing.assert_array_equal(idx['offsets_s'], draws.offsets_s)
        np.testing.assert_array_equal(idx['view_valid'], draws.valid)
        assert np.all(np.abs(idx['offsets_s']) <= 5.0)
        t = np.asarray(idx['time_s'])
        np.testing.assert_allclose(np.diff(t), desync.dt_s)


def test_synced_frames_equal_renders_at_reference_time(dataset_dir):
    world = CrowdWorld(CFG)
    ds = SyncDataset(dataset_dir, 'train')
    idx = ds.index
    checked = 0
    for k in range(len(ds)):
        t_ref = idx['time_s'][k]
        for v in range(3):
            sync_file = ds.frame_file(k, v, sync=True)
            np.testing.assert_array_equal(storage.read_image(sync_file), world.render(v, t_ref))
            if idx['view_valid'][k][v]:
                t_v = t_ref + idx['offsets_s'][k][v]
                np.testing.assert_array_equal(storage.read_image(ds.frame_file(k, v)), world.render(v, t_v))
            checked += 1
    assert checked == 24


def test_gt_is_at_the_reference_time(dataset_dir):
    world = CrowdWorld(CFG)
    ds = SyncDataset(dataset_dir, 'test')
    for k in range(len(ds)):
        gt = ds.raw_gt(k)
        ref = world.ground_truth(ds.index['time_s'][k])
        np.testing.assert_array_equal(gt['positions'], ref['positions'])
        np.testing.assert_allclose(gt['gp_density'], ref['gp_density'])
        assert float(gt['count']) == len(gt['positions']) == pytest.approx(gt['gp_density'].sum(), abs=1e-3)


def test_same_seed_gives_same_bytes(tmp_path, dataset_dir):
    again = tmp_path / 'again'
    desync = pets(mode='random', seed=4, missing_prob=(0.2, 0.2, 0.2))
    generate_dataset(again, CFG, desync, n_train=8, n_test=4, progress=False)
    a, b = _files(dataset_dir), _files(again)
    assert [p.relative_to(dataset_dir) for p in a] == [p.relative_to(again) for p in b]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa
    other = tmp_path / 'other'
    generate_dataset(other, CFG.with_(seed=4), desync, n_train=2, n_test=1, progress=False)
    assert storage.gt_path(other, 'train', 0).read_bytes() != storage.gt_path(again, 'train', 0).read_bytes()


def test_splits_are_disjoint_in_time(dataset_dir):
    m = json.loads((dataset_dir / 'manifest.json').read_text())
    tr, te = m['splits']['train']['frame_time_range_s'], m['splits']['test']['frame_time_range_s']
    assert tr[1] < te[0]
    starts = split_times(citystreet(), 300)
    assert starts['test'] - (starts['train'] + 299 * 1.0) > 2 * 3.0
    with pytest.raises(ValueError, match='overlap'):
        split_times(citystreet(), 300, test_gap_s=1.0)


def test_sync_dataset_sample_contract(dataset_dir):
    ds = SyncDataset(dataset_dir, 'train')
    assert len(ds) == 8 and ds.task == 'counting' and ds.region.shape == (60, 50)
    assert len(ds.cameras) == 3 and (ds.cameras[0].width, ds.cameras[0].height) == (96, 72)
    s = ds[0]
    assert s['images'].shape == (3, 3, 72, 96) and s['images'].dtype == torch.float32
    assert s['images_sync'].shape == (3, 3, 72, 96)
    assert 0.0 <= float(s['images'].min()) and float(s['images'].max()) <= 1.0
    assert s['offsets_s'].dtype == torch.float32 and s['view_valid'].dtype == torch.bool
    assert s['time_s'].dtype == torch.float64
    assert s['gp_density'].shape == (1, 60, 50) and s['view_density'].shape == (3, 1, 72, 96)
    assert float(s['count']) == pytest.approx(float(s['gp_density'].sum()), abs=1e-3)
    for k in range(len(ds)):
        s = ds[k]
        valid = s['view_valid']
        assert int(s['ref_view']) == int(torch.nonzero(valid)[0])
        assert float(s['offsets_s'][int(s['ref_view'])]) == 0.0
        for v in range(3):
            if not valid[v]:
                assert float(s['images'][v].abs().sum()) == 0.0 and float(s['view_density'][v].sum()) == 0.0
            else:
                heads = ds.raw_gt(k)[f'v{v}_heads_uv']
                assert float(s['view_density'][v].sum()) == pytest.approx(len(heads), abs=1e-3)
            if float(s['offsets_s'][v]) == 0.0 and valid[v]:
                assert torch.equal(s['images'][v], s['images_sync'][v])
    assert any(int(ds[k]['ref_view']) != 0 for k in range(len(ds)))  # reference fail-over happened
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch['images'].shape == (4, 3, 3, 72, 96) and batch['gp_density'].shape == (4, 1, 60, 50)


def test_other_gp_cell_recomputes_density(dataset_dir):
    ds = SyncDataset(dataset_dir, 'train', gp_cell_m=0.2)
    s = ds[2]
    assert s['gp_density'].shape == (1, 120, 100)
    assert float(s['gp_density'].sum()) == pytest.approx(float(s['count']), abs=1e-3)


def test_errors(tmp_path, dataset_dir):
    with pytest.raises(FileNotFoundError, match='manifest'):
        SyncDataset(tmp_path)
    with pytest.raises(KeyError):
        SyncDataset(dataset_dir, 'val')
    with pytest.raises(FileExistsError):
        generate_dataset(dataset_dir, CFG, pets(), n_train=1, n_test=1, progress=False)
    junk = tmp_path / 'junk'
    junk.mkdir()
    (junk / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='refusing'):
        generate_dataset(junk, CFG, pets(), n_train=1, n_test=1, progress=False, overwrite=True)
    with pytest.raises(ValueError, match='views'):
        generate_dataset(tmp_path / 'x', CFG, pets(n_views=4), n_train=1, n_test=1, progress=False)


def test_jpeg_constant_latency_and_contact_sheet(tmp_path):
    out = tmp_path / 'jpg'
    m = generate_dataset(out, CFG, pets(mode='constant'), n_train=3, n_test=2, image_format='jpg',
                         progress=False, contact_sheet=True)
    assert m['image_format'] == 'jpg' and (out / 'contact_sheet.png').is_file()
    ds = SyncDataset(out, 'test')
    s = ds[1]
    np.testing.assert_array_equal(s['offsets_s'].numpy(), [0.0, 5.0, -5.0])
    assert s['images'].shape == (3, 3, 72, 96)
    sheet = storage.read_image(make_contact_sheet(out, tmp_path / 'sheet.png', split='train', n_samples=2))
    assert sheet.shape[0] > 2 * 72 * 2 and sheet.shape[1] >= 3 * 96


def test_resized_world_frames_and_head_labels(tmp_path):
    world = CrowdWorld(CFG.with_(image_size=(192, 144)))
    out = tmp_path / 'small'
    generate_dataset(out, world, pets(mode='none'), n_train=2, n_test=1, image_size=(96, 72), progress=False)
    ds = SyncDataset(out, 'train')
    assert ds[0]['images'].shape == (3, 3, 72, 96)
    uv_big, _ = world.heads_uv(1, ds.index['time_s'][1])
    uv_small = ds.raw_gt(1)['v1_heads_uv']
    np.testing.assert_allclose(uv_small, (uv_big + 0.5) * 0.5 - 0.5, atol=1e-4)
