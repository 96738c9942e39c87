"""vsync-synth --rig: synthetic worlds on a rig folder (vsync-rig import) instead of the plaza / studio presets."""
from __future__ import annotations

import json

import numpy as np
import pytest
from rig_support import SQUARE, square_cameras, write_square_rig

from vsync_ros.data.cli import main, rig_image_size
from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
from vsync_ros.data.dataset import SyncDataset
from vsync_ros.geometry.camera import CalibrationError
from vsync_ros.geometry.presets import rig
from vsync_ros.geometry.rig import cameras_at_size


def _one_line(err: str) -> str:
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_default_size_keeps_the_reference_aspect_with_model_sized_sides():
    assert rig_image_size(640, 480) == rig_image_size(384, 288) == (192, 144)
    assert rig_image_size(1920, 1080) == (256, 144)  # 192x108 is no model input (108 is not a multiple of 16)
    w, h = rig_image_size(1624, 1234)
    assert w % 16 == 0 and h % 16 == 0 and abs(w / h - 1624 / 1234) < 0.01 * 1624 / 1234


def test_cameras_at_size_rescales_and_names_a_camera_of_another_aspect():
    cams = square_cameras()
    small = cameras_at_size(cams, 96, 72)
    assert [(c.name, c.width, c.height) for c in small] == [(c.name, 96, 72) for c in cams]
    np.testing.assert_allclose(small[1].project(np.array([[6.0, 6.0, 0.0]]))[0],
                               (cams[1].project(np.array([[6.0, 6.0, 0.0]]))[0] + 0.5) * 0.15 - 0.5, atol=1e-9)
    wide = square_cameras(('north', 'east'))
    wide[1] = wide[1].scaled(640, 360)
    with pytest.raises(CalibrationError, match=r'rig X: view 1 \(east\) is 640x360 px .* 96x72') as err:
        cameras_at_size(wide, 96, 72, where='rig X')
    assert 'aspect' in str(err.value)


def test_crowd_world_config_takes_a_preset_or_a_rig_folder(tmp_path):
    folder = write_square_rig(tmp_path / 'mine')
    cfg = CrowdWorldConfig(rig=str(folder), image_size=(96, 72))
    assert CrowdWorldConfig.from_dict(cfg.to_dict()) == cfg and cfg.to_dict()['rig'] == str(folder)
    with pytest.raises(ValueError, match=r'unknown rig .*nowhere.*rig\.yaml does not exist'):
        CrowdWorldConfig(rig=str(tmp_path / 'nowhere'))
    assert CrowdWorld(CrowdWorldConfig(image_size=(96, 72))).rig_source is None  # presets: nothing new recorded
    cams, region = rig(str(folder), image_scale=0.25)  # the replay's and the sync node's reader
    assert [(c.name, c.width, c.height) for c in cams] == [(n, 160, 120) for n in ('north', 'east', 'south', 'west')]
    assert region == SQUARE


def test_synth_rig_errors_name_the_file_and_field_with_exit_code_2(tmp_path, capsys):
    args = ['--n-train', '1', '--n-test', '1', '--no-progress', '--no-sheet']
    # no rig folder there
    assert main([str(tmp_path / 'd1'), '--rig', str(tmp_path / 'missing'), *args]) == 2
    err = _one_line(capsys.readouterr().err)
    assert str(tmp_path / 'missing' / 'rig.yaml') in err and 'vsync-synth: error:' in err
    # a rig.yaml with a broken field
    folder = write_square_rig(tmp_path / 'broken')
    text = (folder / 'rig.yaml').read_text()
    (folder / 'rig.yaml').write_text(text.replace('width_m: 12.0', 'width_m: twelve'))
    assert main([str(tmp_path / 'd2'), '--rig', str(folder), *args]) == 2
    err = _one_line(capsys.readouterr().err)
    assert str(folder / 'rig.yaml') in err and 'ground_region.width_m' in err
    # a camera file with a broken field
    folder = write_square_rig(tmp_path / 'badcam')
    cam = folder / 'cameras' / 'south.yaml'
    cam.write_text(cam.read_text().replace('camera_matrix:', 'camera_matrx:'))
    assert main([str(tmp_path / 'd3'), '--rig', str(folder), *args]) == 2
    err = _one_line(capsys.readouterr().err)
    assert str(cam) in err and 'camera_matrix' in err
    # one camera is not a multi-view rig
    folder = write_square_rig(tmp_path / 'single', square_cameras(('north',)))
    assert main([str(tmp_path / 'd4'), '--rig', str(folder), *args]) == 2
    assert 'at least 2 views' in _one_line(capsys.readouterr().err)
    # a camera of another aspect ratio than the data set size
    folder = write_square_rig(tmp_path / 'mixed')
    assert main([str(tmp_path / 'd5'), '--rig', str(folder), '--size', '128x72', *args]) == 2
    err = _one_line(capsys.readouterr().err)
    assert 'view 0 (north) is 640x480 px' in err and '128x72' in err
    # the PETS world has its own rig
    assert main([str(tmp_path / 'd6'), '--rig', str(folder), '--world', 'pets', '--data-root', str(tmp_path),
                 *args]) == 2
    assert '--rig is for --world crowd or pose' in _one_line(capsys.readouterr().err)
    assert not any((tmp_path / f'd{i}').exists() for i in range(1, 7))  # nothing written


@pytest.mark.slow  # synthesizes
def test_crowd_data_set_on_a_two_and_a_five_camera_rig(tmp_path, capsys):
    for names in (('north', 'south'), ('north', 'east', 'south', 'west', 'corner')):
        folder = write_square_rig(tmp_path / f'rig{len(names)}', square_cameras(names))
        out = tmp_path / f'data{len(names)}'
        assert main([str(out), '--rig', str(folder), '--n-train', '2', '--n-test', '1', '--size', '64x48',
                     '--people', '6', '12', '--no-progress', '--no-sheet']) == 0
        printed = capsys.readouterr().out
        assert f'rig rig{len(names)}: {len(names)} views' in printed and '640x480 px -> 64x48 images' in printed
        man = json.loads((out / 'manifest.json').read_text())
        assert man['views'] == list(names) and man['n_views'] == len(names) and man['image_size'] == [64, 48]
        assert man['rig'] == {'name': f'rig{len(names)}', 'folder': str(folder.resolve())}
        assert man['world']['config']['rig'] == str(folder.resolve()) and man['region'] == SQUARE.as_dict()
        assert man['desync']['n_views'] == len(names)
        ds = SyncDataset(out, 'train')
        sample = ds[0]
        assert sample['images'].shape == (len(names), 3, 48, 64) and sample['gp_density'].shape == (1, 30, 30)
        gt = ds.raw_gt(0)
        assert SQUARE.contains(gt['positions']).all() and float(gt['count']) == len(gt['positions'])
        # the crowd walks in the rig's region (plus the 3 m margin, entering and leaving just beyond it)
        world = CrowdWorld(CrowdWorldConfig(rig=str(folder), image_size=(64, 48), seed=1))
        assert world.region == SQUARE and world.sim.walk_box == (-3.0, -3.0, 15.0, 15.0)
        xy = np.concatenate([world.state(t).xy for t in np.arange(0.0, 60.0, 5.0)])
        assert len(xy) > 20 and xy.min() >= -5.0 and xy.max() <= 17.0
        assert SQUARE.contains(xy).mean() > 0.6


@pytest.mark.slow  # synthesizes
def test_pose_data_set_on_a_rig_puts_the_people_in_its_region(tmp_path, capsys):
    folder = write_square_rig(tmp_path / 'mine')
    out = tmp_path / 'pose'
    assert main([str(out), '--world', 'pose', '--rig', str(folder), '--size', '64x48', '--n-train', '2',
                 '--n-test', '1', '--no-progress', '--no-sheet']) == 0
    assert 'rig mine: 4 views' in capsys.readouterr().out
    man = json.loads((out / 'manifest.json').read_text())
    assert man['task'] == 'pose' and man['views'] == ['north', 'east', 'south', 'west']
    assert man['rig']['name'] == 'mine' and man['world']['centre_xy'] == [6.0, 6.0]
    ds = SyncDataset(out, 'test')
    joints = ds.raw_gt(0)['joints_3d']  # (P, 17, 3) world metres, around the region's centre
    assert np.abs(joints[..., :2] - 6.0).max() < 2.5 and joints[..., 2].max() > 1.2
    for v in range(4):  # every camera sees the person
        uv = ds.raw_gt(0)[f'v{v}_joints_uv'].reshape(-1, 2)
        assert ((uv >= 0) & (uv < [64, 48])).all(axis=1).mean() > 0.9
