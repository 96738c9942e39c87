"""Pose inference pipeline (vsync_ros.inference.pipeline, task 'pose') and the sync node's pose outputs on real rclpy.

The checkpoints are untrained tiny pose models written at test time (studio rig, 64x64 input).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vsync_ros.engine.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint
from vsync_ros.engine.config import PoseConfig
from vsync_ros.geometry.presets import studio_cameras
from vsync_ros.inference.api import check_result
from vsync_ros.inference.pipeline import PosePipeline, load_pipeline
from vsync_ros.models.pose import PoseModelConfig, VolumetricPoseModel

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def tiny_pose_cfg(**kw) -> PoseModelConfig:
    base = dict(image_height=64, image_width=64, backbone_channels=[16, 16, 16], feature_channels=8,
                volume_size=16, v2v_channels=[8, 8, 8, 8], flow_channels=8, flow_width=0.125, rotate_volume=False)
    base.update(kw)
    return PoseModelConfig(**base)


def write_pose_checkpoint(path: Path, method: str = 'cls_epi', seed: int = 0) -> Path:
    """An untrained tiny pose checkpoint on the studio rig (64x64)."""
    torch.manual_seed(seed)
    cfg = tiny_pose_cfg(method=method)
    cams = studio_cameras(64, 64)
    model = VolumetricPoseModel(cfg, cams)
    return save_checkpoint(path, model, PoseConfig(model=cfg), cams, None, {'regime': 'test'}, task='pose')


@pytest.fixture(scope='module')
def pose_ckpt(tmp_path_factory) -> Path:
    return write_pose_checkpoint(tmp_path_factory.mktemp('pose_pipe') / 'pose.pt')


def frames(size: int = 64, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(4)]


def test_checkpoint_round_trip_and_mismatch(pose_ckpt):
    ckpt = load_checkpoint(pose_ckpt)
    assert ckpt.task == 'pose' and ckpt.region is None and isinstance(ckpt.config, PoseConfig)
    assert ckpt.config.model.method == 'cls_epi' and len(ckpt.cameras) == 4
    with pytest.raises(CheckpointMismatchError, match='model.volume_size'):
        load_checkpoint(pose_ckpt, tiny_pose_cfg(method='cls_epi', volume_size=24))
    with pytest.raises(CheckpointMismatchError, match='holds a PoseModelConfig'):
        from vsync_ros.models.counting.config import ModelConfig
        load_checkpoint(pose_ckpt, ModelConfig())
    with pytest.raises(CheckpointMismatchError, match='view 0'):
        cams = studio_cameras(64, 64)
        cams[0] = cams[1]
        load_checkpoint(pose_ckpt, None, cams)


def test_pose_pipeline_runs_with_reference_rule(pose_ckpt):
    pipe = load_pipeline(pose_ckpt, device='cpu', task='pose', cameras=studio_cameras(320, 320))
    assert isinstance(pipe, PosePipeline) and pipe.task == 'pose' and pipe.reference_view == 0
    imgs = frames(128)                       # another size with the same aspect ratio is resized
    res = check_result(pipe.run(imgs, 0), pipe.region, 'pose')
    assert res.joints.shape == (1, 17, 3) and np.all(np.isfinite(res.joints))
    assert res.density.shape == pipe.region.shape and not res.density.any() and res.count == 1.0
    assert res.note == ''
    # view 0 missing: view 1 is the reference (paper rule), noted
    res1 = pipe.run([None, *imgs[1:]], 1)
    assert res1.joints.shape == (1, 17, 3) and 'cam2' in res1.note
    with pytest.raises(ValueError, match='no frame'):
        pipe.run([None, *imgs[1:]], 0)
    with pytest.raises(ValueError, match='at least 2 views'):
        pipe.run([imgs[0], None, None, None], 0)


def test_load_pipeline_refuses_wrong_task_and_calibration(pose_ckpt):
    with pytest.raises(ValueError, match='is a pose checkpoint'):
        load_pipeline(pose_ckpt, device='cpu', task='counting')
    with pytest.raises(CheckpointMismatchError, match='view 0'):
        cams = studio_cameras(64, 64)
        load_pipeline(pose_ckpt, device='cpu', task='pose', cameras=[cams[1], *cams[1:]])


@pytest.mark.slow  # a real rclpy node
# ------------------------------------------------------------------------------------------------ ROS
def test_sync_node_publishes_skeleton_and_joints(pose_ckpt):
    """config/pose.yaml + the real pose pipeline: a 4-view frame set gives 17 joints on ~/skeleton and ~/joints."""
    rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed')
    from geometry_msgs.msg import PoseArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from ros_support import ros_env
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from visualization_msgs.msg import Marker, MarkerArray

    from vsync_ros.ros.image_conversion import make_image_msg
    from vsync_ros.ros.sync_node import SyncNode, ns_to_stamp, stamp_to_ns

    domain = 71
    params = ROOT / 'config' / 'pose.yaml'
    with ros_env(domain):
        ctx = rclpy.context.Context()
        rclpy.init(context=ctx, domain_id=domain, args=['--ros-args', '--params-file', str(params)])
    node = SyncNode(None, context=ctx, parameter_overrides=[Parameter('checkpoint', value=str(pose_ckpt)),
                                                            Parameter('device', value='cpu')])
    probe = rclpy.create_node('pose_probe', context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    for n in (node, probe):
        ex.add_node(n)
    skel, joints = [], []
    probe.create_subscription(MarkerArray, '/sync_node/skeleton', skel.append, 10)
    probe.create_subscription(PoseArray, '/sync_node/joints', joints.append, 10)
    pubs = [probe.create_publisher(Image, f'/cam{v + 1}/image_raw', 10) for v in range(4)]

    def spin_until(pred, timeout=20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not pred():
            ex.spin_once(timeout_sec=0.05)
        return pred()
    try:
        assert node.task == 'pose' and isinstance(node.pipeline, PosePipeline)
        assert all(st.enabled for st in node.store.states())  # config/cameras/studio matches the checkpoint
        assert spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs)
                          and node.pub_skeleton.get_subscription_count() > 0
                          and node.pub_joints.get_subscription_count() > 0)
        stamp = 1_800_000_000 * 10**9 + 321
        for v, img in zip((3, 2, 1, 0), reversed(frames(64, seed=3))):
            pubs[v].publish(make_image_msg(img, 'rgb8', Header(stamp=ns_to_stamp(stamp + v))))
        assert spin_until(lambda: bool(skel) and bool(joints))
        adds = [m for m in skel[-1].markers if m.action == Marker.ADD]
        assert adds and all(stamp_to_ns(m.header.stamp) == stamp and m.header.frame_id == 'world' for m in adds)
        spheres = [m for m in adds if m.ns == 'skeleton_joints']
        assert len(spheres) == 1 and spheres[0].type == Marker.SPHERE_LIST and len(spheres[0].points) == 17
        bones = [m for m in adds if m.ns == 'skeleton_bones'][0]
        assert bones.type == Marker.LINE_LIST and len(bones.points) == 2 * 16
        pa = joints[-1]
        assert stamp_to_ns(pa.header.stamp) == stamp and pa.header.frame_id == 'world' and len(pa.poses) == 17
        xyz = np.array([[p.position.x, p.position.y, p.position.z] for p in pa.poses])
        sp = np.array([[p.x, p.y, p.z] for p in spheres[0].points])
        assert np.allclose(xyz, sp) and np.all(np.isfinite(xyz))
    finally:
        ex.shutdown()
        for n in (node, probe):
            n.destroy_node()
        rclpy.try_shutdown(context=ctx)
