"""Bad input to the command-line tools: a clear message naming the file (and field / sample), exit code 2.

Covers a data set with a missing image or a corrupt ``manifest.json`` (vsync-eval, vsync-bag-write), a
checkpoint of the wrong task (vsync-eval, vsync-train's ``init_checkpoint``) and the clean-up of a partial
bag when vsync-bag-write fails midway.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vsync_ros.data import storage
from vsync_ros.data.dataset import SyncDataset
from vsync_ros.data.generate import generate_dataset
from vsync_ros.engine import evaluate

ROOT = Path(__file__).resolve().parents[1]
COUNTING_CKPT = ROOT / 'models' / 'plaza_cls_epi.pt'
POSE_CKPT = ROOT / 'models' / 'studio_pose_cls_epi.pt'


pytestmark = pytest.mark.slow  # the CLI checks run on a small synthesized data set


@pytest.fixture(scope='module')
def clean_data(tmp_path_factory) -> Path:
    """A tiny counting data set of the plaza rig (2 train, 3 test samples at 96x72)."""
    root = tmp_path_factory.mktemp('bad_input') / 'plaza'
    generate_dataset(root, n_train=2, n_test=3, image_size=(96, 72), progress=False)
    return root


@pytest.fixture
def data(clean_data, tmp_path) -> Path:
    """A private copy of :func:`clean_data` that a test may break."""
    return Path(shutil.copytree(clean_data, tmp_path / 'plaza'))


def _no_traceback(err: str) -> None:
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err


def test_eval_names_a_missing_image_and_its_sample(data, capsys):
    missing = storage.frame_path(data, 'test', 1, 2, '.png')
    missing.unlink()
    rc = evaluate.main(['--checkpoint', str(COUNTING_CKPT), '--data', str(data), '--no-progress'])
    err = capsys.readouterr().err
    assert rc == 2
    _no_traceback(err)
    assert str(missing) in err and 'test sample 2, view 1' in err and 'missing' in err


def test_eval_names_a_corrupt_manifest(data, capsys):
    manifest = data / 'manifest.json'
    manifest.write_text(manifest.read_text()[:200])  # cut inside a string: 'Unterminated string ...'
    rc = evaluate.main(['--checkpoint', str(COUNTING_CKPT), '--data', str(data), '--no-progress'])
    err = capsys.readouterr().err
    assert rc == 2
    _no_traceback(err)
    assert str(manifest) in err and 'not valid JSON' in err and 'line' in err


@pytest.mark.parametrize('what', ['index', 'gt', 'field'])
def test_other_broken_data_set_files_are_named(data, what):
    if what == 'index':
        bad = data / 'test' / 'index.json'
        bad.write_text('{"n": 3, ')
        with pytest.raises(storage.DatasetError, match='not valid JSON') as err:
            SyncDataset(data, 'test')
    elif what == 'gt':
        bad = storage.gt_path(data, 'test', 0)
        bad.write_bytes(b'not a zip')
        with pytest.raises(storage.DatasetError, match='test sample 0: ground truth .* corrupt') as err:
            SyncDataset(data, 'test')[0]
    else:
        bad = data / 'manifest.json'
        bad.write_text(bad.read_text().replace('"image_size"', '"image_sz"'))
        with pytest.raises(storage.DatasetError, match="lacks field 'image_size'") as err:
            SyncDataset(data, 'test')
    assert str(bad) in str(err.value)


def test_eval_names_a_bad_calibration_file(data, capsys):
    cam = data / 'cameras' / 'cam2.yaml'
    cam.write_text(cam.read_text().replace('image_width: 96', 'image_width: wide'))
    rc = evaluate.main(['--checkpoint', str(COUNTING_CKPT), '--data', str(data), '--no-progress'])
    err = capsys.readouterr().err
    assert rc == 2
    _no_traceback(err)
    assert str(cam) in err and 'image_width' in err and "'wide'" in err


def test_eval_of_a_pose_checkpoint_on_counting_data_names_the_tasks(data, capsys):
    rc = evaluate.main(['--checkpoint', str(POSE_CKPT), '--data', str(data), '--no-progress'])
    err = capsys.readouterr().err
    assert rc == 2
    _no_traceback(err)
    assert 'is a pose checkpoint, the data set' in err and 'is a counting data set' in err
    assert 'mismatch' not in err  # the task is named, not the rig


def test_eval_still_works_on_the_clean_data(clean_data, capsys):
    assert evaluate.main(['--checkpoint', str(COUNTING_CKPT), '--data', str(clean_data), '--no-progress']) == 0
    assert 'n=3 MAE=' in capsys.readouterr().out


def test_train_init_checkpoint_of_the_other_task_is_named(data, tmp_path, capsys):
    from vsync_ros.engine import train
    rc = train.main(['--config', str(ROOT / 'config' / 'train' / 'small_cls_epi.yaml'), '--no-progress',
                     f'data.root={data}', f'train.init_checkpoint={POSE_CKPT}', 'train.max_steps=1',
                     f'train.out={tmp_path / "x.pt"}'])
    err = capsys.readouterr().err
    assert rc == 2
    _no_traceback(err)
    assert f'init_checkpoint {POSE_CKPT} is a pose checkpoint, this is a counting training run' in err


def test_bag_write_failing_midway_leaves_nothing_and_can_be_rerun(data, tmp_path, capsys):
    pytest.importorskip('rosbags', reason='rosbags is not installed')
    from vsync_ros.runtime.bag_write import main as bag_write
    from vsync_ros.runtime.bags import bag_info

    image = storage.frame_path(data, 'test', 2, 2, '.png')  # the last sample: the bag is half written
    kept = tmp_path / 'kept.png'
    shutil.move(image, kept)
    out = tmp_path / 'bag'
    argv = ['--data', str(data), '--split', 'test', '--out', str(out), '--no-progress']
    assert bag_write(argv) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    assert str(image) in err and 'test sample 2, view 2' in err
    assert not out.exists()                                  # the partial bag is gone
    shutil.move(kept, image)
    assert bag_write(argv) == 0                              # the same command now works
    assert bag_info(out).message_count > 0
    assert bag_write(argv) == 2 and 'exists' in capsys.readouterr().err  # an existing folder is not touched
    assert bag_info(out).message_count > 0


def test_write_bag_does_not_remove_what_it_did_not_create(tmp_path):
    pytest.importorskip('rosbags', reason='rosbags is not installed')
    from vsync_ros.runtime.bags import write_bag
    from vsync_ros.runtime.schedules import desync_profile

    class Failing:
        """A frame source whose third frame fails."""

        def __init__(self) -> None:
            from vsync_ros.geometry.presets import plaza_cameras
            self.cameras, self.region, self.calls = plaza_cameras(32, 24), None, 0

        def frame(self, view: int, t: float):
            import numpy as np
            self.calls += 1
            if self.calls == 3:
                raise OSError('camera unplugged')
            return np.zeros((24, 32, 3), np.uint8)

        def ground_truth(self, t: float) -> dict:
            return {'count': 0.0}

    existing = tmp_path / 'existing'
    existing.mkdir()
    (existing / 'keep.txt').write_text('mine')
    profile = desync_profile('sync', 3, 10.0)
    with pytest.raises(FileExistsError):
        write_bag(existing, Failing(), profile, 1.0)
    assert (existing / 'keep.txt').read_text() == 'mine'
    fresh = tmp_path / 'fresh'
    with pytest.raises(OSError, match='unplugged'):
        write_bag(fresh, Failing(), profile, 1.0)
    assert not fresh.exists() and sorted(p.name for p in tmp_path.iterdir()) == ['existing']
