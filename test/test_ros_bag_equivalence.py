"""A data set written to a rosbag2 and evaluated through the node's frame logic gives vsync-eval's numbers."""
import pytest
import torch
from pipeline_support import make_checkpoint

from vsync_ros.data.dataset import SyncDataset
from vsync_ros.data.desync import preset
from vsync_ros.data.generate import generate_dataset
from vsync_ros.engine.checkpoint import load_model
from vsync_ros.engine.tasks.counting import evaluate_model
from vsync_ros.inference.pipeline import load_pipeline
from vsync_ros.runtime.bag_write import main as bag_write_main
from vsync_ros.runtime.bags import bag_info, offline_eval

pytestmark = pytest.mark.slow  # synthesizes a data set and replays it as a bag


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('bag_eq')
    data = root / 'data'
    generate_dataset(data, desync=preset('pets'), n_train=2, n_test=6, image_size=(192, 144), progress=False)
    ckpt = make_checkpoint(root / 'cls_epi.pt', method='cls_epi', flow_bias_px=1.5)
    return root, data, ckpt


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_bag_eval_matches_vsync_eval(tiny, storage):
    root, data, ckpt = tiny
    bag = root / f'bag_{storage}'
    assert bag_write_main(['--data', str(data), '--split', 'test', '--out', str(bag), '--storage', storage,
                           '--no-progress']) == 0
    info = bag_info(bag)
    assert len(info.camera_topics) == 3

    ds = SyncDataset(data, 'test')
    model, _ = load_model(ckpt, cameras=ds.cameras, region=ds.region)
    ref = evaluate_model(model, ds, torch.device('cpu'))

    pipe = load_pipeline(ckpt, device='cpu')
    rep = offline_eval(bag, pipe, max_frame_age_s=0.25)
    assert rep['n_matched'] == rep['n_ground_truth'] == ref['n'] == 6
    assert rep['mae'] == pytest.approx(ref['mae'], abs=1e-4)
    got = sorted(f['pred'] for f in rep['frames'])
    want = sorted(r['pred'] for r in ref['per_frame'])
    assert got == pytest.approx(want, abs=1e-4)


def test_bag_write_refuses_existing_output(tiny, capsys):
    root, data, _ = tiny
    (root / 'exists').mkdir(exist_ok=True)
    assert bag_write_main(['--data', str(data), '--out', str(root / 'exists')]) == 2
    assert 'exists' in capsys.readouterr().err
