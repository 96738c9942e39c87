"""Readers of the published PETS2009 / CityStreet / Human3.6M layouts, on self-written fixtures.

h5py is optional: fixtures are written as .npz with the same stems and array keys (accepted by the
readers); the .h5 path is exercised only when h5py is importable.
"""
import importlib.util

import cv2
import numpy as np
import pytest
import torch
from pets_release_tree import VIEW_001, write_sequence

from vsync_ros.data.desync import DesyncConfig, h36m_train, pets
from vsync_ros.data.readers import (
    CITYSTREET_REGION,
    PETS_REGION,
    ArrayFile,
    CityStreetDataset,
    Human36MDataset,
    MissingDependencyError,
    PETS2009Dataset,
    load_labels,
    pets_cameras,
    read_tsai_params,
    read_tsai_xml,
    tsai_project,
)

HAS_H5PY = importlib.util.find_spec('h5py') is not None


# ----------------------------------------------------------------------------------------- PETS2009
def test_pets2009_layout(tmp_path):
    write_sequence(tmp_path, 'S1L3', '14_17', 'S1L3_1', 10)
    write_sequence(tmp_path, 'S2L2', '14_55', 'S2L2_1', 9, sub='10_10')
    (tmp_path / 'calib').mkdir()
    (tmp_path / 'calib' / 'View_001.xml').write_text(VIEW_001)
    kappa = 2 / 7
    desync = pets(kappa_s=kappa, seed=2)
    ds = PETS2009Dataset(tmp_path, sequences=[('S1L3', '14_17', 'S1L3_1'), ('S2L2', '14_55', 'S2L2_1')],
                         desync=desync)
    assert ds.margin == 2 and len(ds) == (10 - 4) + (9 - 4)
    assert PETS_REGION.shape == (177, 152) and ds.region == PETS_REGION
    for k in range(len(ds)):
        s = ds[k]
        seq, ref = ds._items[k]
        assert s['images'].shape == (3, 3, 288, 384) and s['gp_density'].shape == (1, 177, 152)
        off = s['offsets_s'].numpy()
        assert np.all(np.abs(off) <= kappa + 1e-6) and off[0] == 0.0
        np.testing.assert_allclose(off * 7, np.round(off * 7), atol=1e-5)
        for v in range(3):
            frame = ref + int(round(off[v] * 7))
            assert float(s['images'][v, 0, 0, 0]) == pytest.approx((10 * frame + v + 1) / 255.0)
            assert float(s['images_sync'][v, 1, 5, 5]) == pytest.approx((10 * ref + v + 1) / 255.0)
            assert float(s['view_density'][v].sum()) == pytest.approx(frame + 1)  # /1000 applied
        assert float(s['count']) == pytest.approx(ref + 1) == float(s['gp_density'].sum())
    full = PETS2009Dataset(tmp_path, sequences=[('S1L3', '14_17', 'S1L3_1')], desync=desync, gp_pool=1,
                           image_size=(192, 144))
    s = full[0]
    assert s['gp_density'].shape == (1, 710, 610) and float(s['gp_density'].sum()) == pytest.approx(3 + 5)
    assert s['images'].shape == (3, 3, 144, 192)
    assert float(s['view_density'][0].sum()) == pytest.approx(float(full[0]['view_density_sync'][0].sum()))
    with pytest.raises(FileNotFoundError):
        PETS2009Dataset(tmp_path, split='test', desync=desync)


def test_pets2009_paper_trimming(tmp_path):
    write_sequence(tmp_path, 'S1L1', '13_57', 'S1L1_1', 80, size=(8, 12), gp_size=(16, 12))
    ds = PETS2009Dataset(tmp_path, sequences=[('S1L1', '13_57', 'S1L1_1')], desync=pets())
    assert ds.margin == 35 and len(ds) == 80 - 70  # 1105 -> 825 and 794 -> 514 frames over 4 sequences
    offs = np.stack([ds[k]['offsets_s'].numpy() for k in range(len(ds))])
    assert np.all(np.abs(offs) <= 5.0)
    loose = PETS2009Dataset(tmp_path, sequences=[('S1L1', '13_57', 'S1L1_1')], desync=pets(), trim=False)
    assert len(loose) == 80  # offsets are clipped at the ends instead


def test_tsai_calibration(tmp_path):
    path = tmp_path / 'View_001.xml'
    path.write_text(VIEW_001)
    params = read_tsai_params(path)
    cam = read_tsai_xml(path)
    np.testing.assert_allclose(cam.center, [-28.940, -19.529, 7.066], atol=2e-3)
    uv = np.stack(np.meshgrid(np.linspace(20, 740, 12), np.linspace(250, 560, 8)), -1).reshape(-1, 2)
    ground = cam.backproject_to_plane(uv, 0.0)
    ground = ground[np.isfinite(ground).all(1)]
    ref = tsai_project(params, ground * 1000.0)
    got, _ = cam.project(ground)
    assert np.abs(ref - got).max() < 0.01
    for v in (2, 3):
        (tmp_path / f'View_00{v}.xml').write_text(VIEW_001)
    cams = pets_cameras(tmp_path, (384, 288))
    assert [c.name for c in cams] == ['view1', 'view2', 'view3'] and (cams[0].width, cams[0].height) == (384, 288)
    got_half, _ = cams[0].project(ground)
    np.testing.assert_allclose(got_half, (got + 0.5) / 2 - 0.5, atol=1e-6)
    bad = tmp_path / 'bad.xml'
    bad.write_text('<Camera><Geometry width="1"/></Camera>')
    with pytest.raises(ValueError):
        read_tsai_xml(bad)


# ---------------------------------------------------------------------------------------- CityStreet
def _citystreet(root, split, n, layout='tnnls'):
    h, w = 38, 68
    dm = root / ('dmaps' if layout == 'tnnls' else 'GT_density_maps/camera_view') / split
    gpd = root / ('GP_dmaps' if layout == 'tnnls' else 'GT_density_maps/ground_plane') / split
    dm.mkdir(parents=True)
    gpd.mkdir(parents=True)
    for v in (1, 2, 3):
        images = (np.arange(n, dtype=np.float32)[:, None, None, None] * 10 + v) / 255.0 * np.ones((1, h, w, 1))
        dens = np.zeros((n, h, w, 1), np.float32)
        dens[:, 3, 4] = np.arange(n)[:, None] + 1
        np.savez(dm / f'Street_view{v}_dmap_10.npz', images=images.astype(np.float32), density_maps=dens)
    gp = np.zeros((n, 96, 80, 1), np.float32)
    gp[:, 10, 10] = np.arange(n)[:, None] + 2
    np.savez(gpd / f'Street_groundplane_{split}_dmaps_10.npz', density_maps=gp)
    for mode, folder, suffix in (('constant', 'timeshift_[0+3-3]s', 'unsynced'), ('random', 'timeshift_random_3s',
                                                                                   'random')):
        d = root / 'unsynced_images_h5' / folder / split
        d.mkdir(parents=True)
        for v in (2, 3):
            images = np.full((n, h, w, 1), 200 + v + (mode == 'random'), np.uint8)
            np.savez(d / f'Street_{split}_view{v}_gray_images_{suffix}.npz', images=images)


def test_citystreet_layout(tmp_path):
    _citystreet(tmp_path, 'train', 12)
    assert CITYSTREET_REGION.shape == (192, 160)
    ds = CityStreetDataset(tmp_path, 'train', desync=DesyncConfig(dt_s=1.0, kappa_s=3.0, seed=1))
    assert ds.margin == 3 and len(ds) == 6
    for k in range(len(ds)):
        s = ds[k]
        ref = ds._items[k][1]
        assert s['gp_density'].shape == (1, 24, 20) and float(s['count']) == pytest.approx(ref + 2)
        off = s['offsets_s'].numpy()
        assert np.all(np.abs(off) <= 3.0) and np.all(off == np.round(off))
        for v in range(3):
            frame = ref + int(off[v])
            assert float(s['images'][v, 2, 0, 0]) == pytest.approx((frame * 10 + v + 1) / 255.0, abs=1e-6)
            assert float(s['view_density'][v].sum()) == pytest.approx(frame + 1)
        assert bool(s['view_density_valid'].all())
    const = CityStreetDataset(tmp_path, 'train', unsynced='constant')
    assert len(const) == 12
    s = const[4]
    np.testing.assert_array_equal(s['offsets_s'].numpy(), [0.0, 3.0, -3.0])
    assert float(s['images'][1, 0, 0, 0]) == pytest.approx(202 / 255.0)
    assert float(s['images'][0, 0, 0, 0]) == pytest.approx((4 * 10 + 1) / 255.0, abs=1e-6)
    assert s['view_density_valid'].tolist() == [True, False, False]
    rnd = CityStreetDataset(tmp_path, 'train', unsynced='random')
    s = rnd[0]
    assert float(s['images'][2, 0, 0, 0]) == pytest.approx(204 / 255.0) and np.isnan(s['offsets_s'][1].item())
    with pytest.raises(ValueError, match='unsynced'):
        CityStreetDataset(tmp_path, 'train', unsynced='sometimes')


def test_citystreet_release_layout(tmp_path):
    _citystreet(tmp_path, 'test', 5, layout='release')
    ds = CityStreetDataset(tmp_path, 'test', desync=DesyncConfig(mode='none', dt_s=1.0), gp_pool=1)
    assert len(ds) == 5 and ds[0]['gp_density'].shape == (1, 96, 80)


# ---------------------------------------------------------------------------------------- h5 handling
def test_h5_without_h5py_gives_a_clear_error(tmp_path):
    if HAS_H5PY:
        pytest.skip('h5py is installed; the missing-dependency path cannot be exercised')
    f = tmp_path / 'x.h5'
    f.write_bytes(b'\x89HDF\r\n\x1a\n')
    with pytest.raises(MissingDependencyError, match='h5py'):
        ArrayFile(f)['images']


@pytest.mark.skipif(not HAS_H5PY, reason='h5py is not installed: h5 fixtures cannot be written here')
def test_h5_fixture(tmp_path):
    import h5py
    f = tmp_path / 'x.h5'
    with h5py.File(f, 'w') as h:
        h['images'] = np.arange(24, dtype=np.float32).reshape(2, 3, 4, 1)
    arr = ArrayFile(f)
    assert arr.keys() == ['images'] and float(arr['images'][1][0, 0, 0]) == 12.0


# ---------------------------------------------------------------------------------------- Human3.6M
CAMS = ['54138969', '55011271', '58860488', '60457274']


def _h36m(root):
    subjects = ['S1', 'S9']
    actions = ['Walking-1', 'Greeting-2']
    cameras = np.empty((2, 4), dtype=[('R', np.float32, (3, 3)), ('t', np.float32, (3, 1)),
                                      ('K', np.float32, (3, 3)), ('dist', np.float32, 5)])
    for s in range(2):
        for c in range(4):
            ang = c * np.pi / 2
            eye = np.array([3000 * np.cos(ang), 3000 * np.sin(ang), 1500.0])
            fwd = -eye / np.linalg.norm(eye)
            right = np.cross(fwd, [0, 0, 1.0])
            right /= np.linalg.norm(right)
            R = np.stack([right, np.cross(fwd, right), fwd])
            cameras[s, c]['R'] = R
            cameras[s, c]['t'] = (-R @ eye)[:, None]
            cameras[s, c]['K'] = [[115.0, 0, 50.0], [0, 115.0, 50.0], [0, 0, 1]]
            cameras[s, c]['dist'] = 0
    dtype = np.dtype([('subject_idx', np.int8), ('action_idx', np.int8), ('frame_idx', np.int16),
                      ('keypoints', np.float32, (17, 3)), ('bbox_by_camera_tlbr', np.int16, (4, 4))])
    rows = []
    for s, a, frames in ((0, 0, range(0, 44, 4)), (1, 0, range(0, 320, 64)), (1, 1, range(0, 128, 64))):
        for f in frames:
            r = np.zeros((), dtype)
            r['subject_idx'], r['action_idx'], r['frame_idx'] = s, a, f
            r['keypoints'] = np.linspace(-800, 800, 51).reshape(17, 3) + np.array([f, 0, 900.0])
            r['bbox_by_camera_tlbr'] = [20, 30, 80, 70]  # top, left, bottom, right
            if s == 0 and f == 8:
                r['bbox_by_camera_tlbr'][0] = 0  # camera 0 missing: reference fail-over
            rows.append(r)
            for c in range(4):
                d = root / subjects[s] / actions[a] / 'imageSequence' / CAMS[c]
                d.mkdir(parents=True, exist_ok=True)
                img = np.full((100, 100, 3), min(2 * f + 10 * c, 255), np.uint8)
                cv2.imwrite(str(d / f'img_{f + 1:06d}.jpg'), img)
    labels = {'subject_names': subjects, 'camera_names': CAMS, 'action_names': actions, 'cameras': cameras,
              'table': np.array(rows, dtype=dtype)}
    path = root / 'labels.npy'
    np.save(path, labels, allow_pickle=True)
    return path


def test_human36m_layout(tmp_path):
    labels_path = _h36m(tmp_path)
    labels = load_labels(labels_path)
    assert labels['table']['keypoints'].shape[1:] == (17, 3)
    desync = h36m_train(kappa_s=8 / 50, seed=3)
    ds = Human36MDataset(tmp_path, labels_path, 'train', desync=desync, image_size=(64, 64))
    assert len(ds) == 11 and ds.task == 'pose'
    seen_offsets = set()
    for k in range(len(ds)):
        s = ds[k]
        row = ds.labels['table'][ds.rows[k]]
        frame = int(row['frame_idx'])
        assert s['images'].shape == (4, 3, 64, 64) and s['joints_3d'].shape == (1, 17, 3)
        np.testing.assert_allclose(s['joints_3d'][0].numpy(), row['keypoints'] / 1000.0, rtol=1e-6)
        assert float(s['time_s']) == pytest.approx(frame / 50)
        ref = int(s['ref_view'])
        assert ref == (1 if frame == 8 else 0) and bool(s['view_valid'][ref])
        for c in range(4):
            off = float(s['offsets_s'][c])
            seen_offsets.add(round(off * 50))
            if not s['view_valid'][c]:
                assert float(s['images'][c].abs().sum()) == 0.0
                continue
            assert abs(off) <= 8 / 50 + 1e-6 and round(off * 50) % 4 == 0
            src = frame + round(off * 50)
            assert float(s['images'][c].mean()) * 255 == pytest.approx(min(2 * src + 10 * c, 255), abs=3)
            assert float(s['images_sync'][c].mean()) * 255 == pytest.approx(min(2 * frame + 10 * c, 255), abs=3)
        # the crop camera maps world joints to crop pixels: pelvis projection inside the crop
        P = s['proj_matrices'][1].numpy().astype(np.float64)
        X = np.append(row['keypoints'][6] / 1000.0, 1.0)
        uv = (P @ X)[:2] / (P @ X)[2]
        K = labels['cameras'][0, 1]['K'].astype(np.float64)
        cam_pt = labels['cameras'][0, 1]['R'] @ X[:3] + labels['cameras'][0, 1]['t'][:, 0] / 1000.0
        full = (K @ cam_pt)[:2] / (K @ cam_pt)[2]
        src_row = ds._nearest_row(ds.rows[k], 1, frame + round(float(s['offsets_s'][1]) * 50))
        top, left, bottom, right = labels['table'][src_row]['bbox_by_camera_tlbr'][1]
        side = max(right - left, bottom - top)
        x0, y0 = round((left + right) / 2 - side / 2), round((top + bottom) / 2 - side / 2)
        expect = (full - [x0, y0] + 0.5) * 64 / side - 0.5
        np.testing.assert_allclose(uv, expect, atol=1e-3)
    assert len(seen_offsets) > 1
    test = Human36MDataset(tmp_path, labels_path, 'test', image_size=(32, 32), crop=False)
    assert len(test) == 5  # the damaged S9 Greeting-2 rows are left out
    assert len(Human36MDataset(tmp_path, labels_path, 'test', with_damaged_actions=True)) == 7
    batch = torch.utils.data.default_collate([test[0], test[1]])
    assert batch['images'].shape == (2, 4, 3, 32, 32) and batch['joints_3d'].shape == (2, 1, 17, 3)


def test_human36m_bad_labels(tmp_path):
    path = tmp_path / 'bad.npy'
    np.save(path, {'subject_names': ['S1']}, allow_pickle=True)
    with pytest.raises(ValueError, match='lack'):
        load_labels(path)
