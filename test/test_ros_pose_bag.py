"""Pose bags: a pose data set written by vsync-bag-write carries joint ground truth, and vsync-bag-eval scores the
shipped pose model on it with vsync-eval's MPJPE (offline), and over real ROS 2 topics (online)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ros_support import TEST_REGION, StandingPosePipeline, ros_env, toy_setup

from vsync_ros.data.cli import main as synth_main
from vsync_ros.data.dataset import SyncDataset
from vsync_ros.engine.evaluate import main as eval_main
from vsync_ros.inference.pipeline import load_pipeline
from vsync_ros.ros import bag_eval
from vsync_ros.runtime.bag_metrics import pose_metrics
from vsync_ros.runtime.bag_write import main as bag_write_main
from vsync_ros.runtime.bags import bag_info, offline_eval, read_ground_truth, read_ground_truth_joints, write_bag
from vsync_ros.runtime.schedules import desync_profile

pytestmark = pytest.mark.slow  # writes and replays pose bags from a synthesized world

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / 'models' / 'studio_pose_cls_epi.pt'
DOMAIN_ID = 63
N = 6


@pytest.fixture(scope='module')
def pose_bag(tmp_path_factory):
    """A 6-frame pose test split (studio rig, kappa = 64/50 s, a world seed not used in training) and its bag."""
    if not SHIPPED.is_file():
        pytest.fail(f'the shipped pose checkpoint {SHIPPED} is missing')
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('pose_bag')
    data = root / 'data'
    assert synth_main([str(data), '--world', 'pose', '--segment-s', '6', '--size', '160x160', '--no-progress',
                       '--no-sheet', '--preset', 'h36m_test', '--kappa', '1.28', '--n-train', '0', '--n-test', str(N),
                       '--seed', '7']) == 0
    bag = root / 'bag'
    assert bag_write_main(['--data', str(data), '--split', 'test', '--out', str(bag), '--no-progress']) == 0
    return root, data, bag


def test_pose_bag_carries_joint_ground_truth(pose_bag):
    _, data, bag = pose_bag
    info = bag_info(bag)
    assert info.task == 'pose' and info.gt_joints_topic == '/ground_truth/joints'
    assert info.topics['/ground_truth/joints'] == 'geometry_msgs/msg/PoseArray' and len(info.camera_topics) == 4
    joints = read_ground_truth_joints(bag)
    counts = read_ground_truth(bag)
    assert len(joints) == N and sorted(joints) == sorted(counts)
    ds = SyncDataset(data, 'test', load_sync=False)
    for k, stamp in enumerate(sorted(joints)):
        want = np.asarray(ds.raw_gt(k)['joints_3d'], np.float64)
        assert joints[stamp].shape == want.shape == (1, 17, 3)
        np.testing.assert_allclose(joints[stamp], want, atol=1e-6)


def test_offline_bag_mpjpe_equals_vsync_eval(pose_bag, capsys):
    root, data, bag = pose_bag
    ref_json = root / 'vsync_eval.json'
    assert eval_main(['--checkpoint', str(SHIPPED), '--data', str(data), '--threads', '1', '--no-progress',
                      '--json', str(ref_json)]) == 0
    ref = json.loads(ref_json.read_text())
    pipe = load_pipeline(SHIPPED, device='cpu', task='pose')
    rep = offline_eval(bag, pipe, max_frame_age_s=0.5)
    assert rep['task'] == 'pose' and rep['n_matched'] == rep['n_ground_truth'] == ref['n'] == N
    assert rep['mpjpe_mm'] == pytest.approx(ref['mpjpe_mm'], abs=0.05)
    assert rep['abs_mpjpe_mm'] == pytest.approx(ref['abs_mpjpe_mm'], abs=0.05)
    got = [f['mpjpe_mm'] for f in sorted(rep['frames'], key=lambda f: f['gt_stamp_ns'])]
    want = [r['mpjpe_mm'] for r in sorted(ref['per_frame'], key=lambda r: r['index'])]
    assert got == pytest.approx(want, abs=0.05)
    # the CLI finds the task in the bag and the default pose checkpoint by itself
    out = root / 'cli.json'
    assert bag_eval.main(['--bag', str(bag), '--offline', '--device', 'cpu', '--json', str(out), '--no-progress']) == 0
    cli = json.loads(out.read_text())
    assert bag_eval.default_max_frame_age(bag_info(bag)) == pytest.approx(1.5 * 1.28)  # one sample per 64/50 s
    assert cli['mpjpe_mm'] == pytest.approx(rep['mpjpe_mm'], abs=1e-6)
    assert 'MPJPE' in capsys.readouterr().out


@pytest.mark.ros
def test_online_bag_eval_publishes_joints_and_scores_them(pose_bag):
    pytest.importorskip('rclpy', reason='rclpy is not installed')
    root, _, bag = pose_bag
    pipe = load_pipeline(SHIPPED, device='cpu', task='pose')
    offline = offline_eval(bag, pipe, max_frame_age_s=0.5)
    out = root / 'online.json'
    with ros_env(DOMAIN_ID):
        rc = bag_eval.main(['--bag', str(bag), '--json', str(out), '--no-progress'], pipeline=pipe)  # real time
    assert rc == 0
    online = json.loads(out.read_text())
    assert online['mode'] == 'online' and online['task'] == 'pose' and online['pipeline_errors'] == 0
    assert online['coverage'] >= 0.8  # ~/joints arrived (as PoseArray) for nearly every GT time
    by_stamp = {f['gt_stamp_ns']: f['mpjpe_mm'] for f in offline['frames']}
    for f in online['frames']:  # the same frame sets -> the same skeletons, through ROS messages
        assert f['mpjpe_mm'] == pytest.approx(by_stamp[f['gt_stamp_ns']], abs=0.05)


def test_pose_scoring_refuses_a_counting_bag_and_matches_person_0(tmp_path):
    world, _ = toy_setup()
    write_bag(tmp_path / 'counting', world, desync_profile('sync', 3, 2.0), duration_s=1.0)
    assert bag_info(tmp_path / 'counting').task == 'counting'
    with pytest.raises(ValueError, match='not a pose bag'):
        offline_eval(tmp_path / 'counting', StandingPosePipeline(world.cameras, TEST_REGION))
    gt = {0: np.zeros((1, 17, 3)), 100: np.ones((1, 17, 3))}
    m = pose_metrics({0: np.zeros((1, 17, 3)) + [0.1, 0, 0], 100: np.zeros((0, 17, 3))}, gt)
    assert m['n_matched'] == 1 and m['n_empty'] == 1 and m['coverage'] == 0.5
    assert m['abs_mpjpe_mm'] == pytest.approx(100.0) and m['mpjpe_mm'] == pytest.approx(0.0)
