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


def test_reference_outage_bag_and_its_segmented_evaluation(tiny, capsys):
    """cam1 (the reference) stops halfway: the bag has no cam1 frame from then on and records the outage; the
    offline evaluation flags estimates as degraded (fail-over) only once the last cam1 frame is older than
    max_frame_age, and its segments add up to the overall metrics."""
    import json
    import math

    from vsync_ros.ros import bag_eval
    from vsync_ros.runtime.bags import iter_raw, typestore

    root, data, ckpt = tiny
    bag = root / 'bag_cam1_stops'
    stop_s, max_age = 0.4, 0.25  # samples every 1/7 s: cam1 keeps samples 0-2 of 0-5
    assert bag_write_main(['--data', str(data), '--out', str(bag), '--stop-camera', f'cam1:{stop_s}',
                           '--no-progress']) == 0
    assert 'outage: cam1 stopped at 0.4 s (3 frames not written)' in capsys.readouterr().out
    info = bag_info(bag)
    (outage,) = info.outages
    assert (outage.view, outage.camera, outage.stop_s) == (0, 'cam1', stop_s)
    assert json.loads(info.custom['vsync.outages'])[0]['stop_ns'] == outage.stop_ns
    assert json.loads(info.custom['vsync.profile'])['views'][0]['stop_s'] == stop_s
    stamps: dict[str, list[int]] = {t: [] for t in info.camera_topics}
    for _, topic, msgtype, raw in iter_raw(bag, info.camera_topics):
        h = typestore().deserialize_cdr(raw, msgtype).header.stamp
        stamps[topic].append(h.sec * 10**9 + h.nanosec)
    cam1, cam2, _ = (stamps[t] for t in info.camera_topics)
    assert len(cam1) == 3 and max(cam1) < outage.stop_ns and [len(s) for s in stamps.values()] == [3, 6, 6]

    out = root / 'outage_eval.json'
    pipe = load_pipeline(ckpt, device='cpu')
    assert bag_eval.main(['--bag', str(bag), '--offline', '--max-frame-age', str(max_age), '--json', str(out),
                          '--no-progress'], pipeline=pipe) == 0
    printed = capsys.readouterr().out
    assert 'nominal (all 3 views, reference cam1)' in printed and 'outage cam1 at 0.4 s' in printed
    rep = json.loads(out.read_text())
    seg = rep['segments']
    noticed_ns = max(cam1) + round(max_age * 1e9)  # the last cam1 frame (logged 10 ms after its stamp) goes stale
    for f in rep['frames']:
        degraded = f['segment'] == 'degraded'
        assert degraded == (f['stamp_ns'] > noticed_ns), f
        assert f['reference'] == (1 if degraded else 0) and len(f['views']) == (2 if degraded else 3)
    assert seg['nominal']['n'] == seg['before_outage']['n'] == 3 and seg['unknown']['n'] == 0
    assert seg['degraded']['n'] == seg['after_outage']['n'] == 2  # sample 3: cam1 not stale yet, no output
    assert seg['degraded']['n_failover'] == seg['degraded']['n_fewer_views'] == 2
    n = rep['n_matched']
    assert n == 5 and rep['n_ground_truth'] == 6 and rep['failovers'] == 1
    for a, b in (('nominal', 'degraded'), ('before_outage', 'after_outage')):
        assert seg[a]['n'] + seg[b]['n'] == n
        assert seg[a]['n'] * seg[a]['mae'] + seg[b]['n'] * seg[b]['mae'] == pytest.approx(n * rep['mae'])
        assert seg[a]['n_nae'] * seg[a]['nae'] + seg[b]['n_nae'] * seg[b]['nae'] == pytest.approx(
            (seg[a]['n_nae'] + seg[b]['n_nae']) * rep['nae'])
        mean_gt = (seg[a]['n'] * seg[a]['mean_gt'] + seg[b]['n'] * seg[b]['mean_gt']) / n
        assert mean_gt == pytest.approx(sum(f['gt'] for f in rep['frames']) / n)
    (o,) = rep['outages']
    assert o['transition'] == {'gt_after': 3, 'nominal_after': 0,
                               'first_degraded_s': pytest.approx(4 / 7 - stop_s, abs=1e-6),
                               'gt_without_estimate_before_degraded': 1, 'gt_without_estimate_after': 1}
    assert rep['max_frame_age_s'] == max_age and rep['reference_view'] == 0 and not math.isnan(seg['degraded']['mae'])


@pytest.mark.parametrize('value, message', [
    ('cam9:0.2', "no camera 'cam9'"), ('3:0.2', "no camera '3'"), ('cam1', 'expected CAM:SECONDS'),
    ('cam1:soon', "'soon' is not a number"), ('cam1:-1', 'finite number >= 0'), ('cam1:nan', 'finite number >= 0'),
    ('cam1:9', 'after the last sample'), (['cam1:0.2', '0:0.3'], 'already stopped')])
def test_bag_write_refuses_bad_stop_camera(tiny, capsys, value, message):
    root, data, _ = tiny
    out = root / 'bad_stop'
    values = value if isinstance(value, list) else [value]
    args = ['--data', str(data), '--out', str(out), '--no-progress']
    for v in values:
        args += ['--stop-camera', v]
    assert bag_write_main(args) == 2
    err = capsys.readouterr().err
    assert f'--stop-camera {values[-1]!r}' in err and message in err and 'nothing was written' in err
    assert not out.exists()
