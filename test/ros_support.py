"""Shared helpers of the ROS tests (no tests here).

The integration tests run the real inference pipeline (``vsync_ros.inference.pipeline``) on a checkpoint made at
test time (:func:`real_pipeline`: an untrained small CLS-epi model for the half-size plaza rig, see
``pipeline_support``), wrapped in :class:`Recording` to see which views and reference each call got.

``ForegroundPipeline`` is a small, honest, non-learned stand-in for the trained model: it projects the
ground grid (at body-centre height) into every available view, marks cells whose projection lands on
foreground (saturated) pixels in all views that see them (a visual hull), and places one unit Gaussian
per connected blob. It satisfies the FramePipeline contract. Tests use it only where they need controlled
timing (a fixed artificial inference delay) or a task the real pipeline does not serve (pose), and say so.
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

import cv2
import numpy as np

from vsync_ros.geometry import Camera, GroundRegion
from vsync_ros.geometry.presets import rig
from vsync_ros.inference.api import PipelineResult
from vsync_ros.runtime.toy_world import ToyWorld, gaussian_ground_density

TEST_REGION = GroundRegion(0.0, 0.0, 20.0, 24.0, 0.4)


class ForegroundPipeline:
    """Visual-hull people counter on saturated foreground (see module docstring)."""

    task = 'counting'

    def __init__(self, cameras: list[Camera], region: GroundRegion, body_height_m: float = 0.9,
                 saturation: int = 100, sigma_m: float = 0.5, min_cells: int = 2, delay_s: float = 0.0) -> None:
        self.cameras, self.region = list(cameras), region
        self.saturation, self.sigma_m, self.min_cells, self.delay_s = saturation, sigma_m, min_cells, delay_s
        centres = region.cell_centers().reshape(-1, 2)
        pts = np.hstack([centres, np.full((len(centres), 1), body_height_m)])
        self._pix, self._valid = [], []
        for cam in self.cameras:
            uv, depth = cam.project(pts)
            valid = cam.in_image(uv) & (depth > 0)
            pix = np.zeros((len(pts), 2), np.int64)
            pix[valid] = np.clip(np.round(uv[valid]), 0, [cam.width - 1, cam.height - 1]).astype(np.int64)
            self._pix.append(pix)
            self._valid.append(valid)
        self.calls: list[tuple[list[bool], int]] = []
        self.lock = threading.Lock()

    def run(self, images, ref_index):
        t0 = time.perf_counter()
        with self.lock:
            self.calls.append(([im is not None for im in images], ref_index))
        assert images[ref_index] is not None
        rows, cols = self.region.shape
        occ = np.ones(rows * cols, bool)
        seen = np.zeros(rows * cols, np.int32)
        for v, img in enumerate(images):
            if img is None:
                continue
            cam = self.cameras[v]
            assert img.shape == (cam.height, cam.width, 3) and img.dtype == np.uint8
            fg = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[:, :, 1] > self.saturation
            hit = fg[self._pix[v][:, 1], self._pix[v][:, 0]]
            valid = self._valid[v]
            occ &= hit | ~valid
            seen += valid
        occ &= seen > 0
        n, _, stats, cents = cv2.connectedComponentsWithStats(occ.reshape(rows, cols).astype(np.uint8))
        keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= self.min_cells]
        xy = self.region.cell_to_world(np.array([[cents[i][1], cents[i][0]] for i in keep]).reshape(-1, 2))
        density = gaussian_ground_density(xy, self.region, self.sigma_m)
        if self.delay_s:
            time.sleep(self.delay_s)
        return PipelineResult(density, float(len(keep)), None, (time.perf_counter() - t0) * 1e3)


# Human3.6M-ordered standing pose (x right, z up, metres, feet at z = 0)
STANDING_POSE = np.array([
    [0, 0, 0.95], [-0.12, 0, 0.93], [-0.12, 0, 0.5], [-0.12, 0, 0.08], [0.12, 0, 0.93], [0.12, 0, 0.5],
    [0.12, 0, 0.08], [0, 0, 1.2], [0, 0, 1.45], [0, 0, 1.55], [0, 0, 1.7], [0.18, 0, 1.42], [0.3, 0, 1.15],
    [0.35, 0, 0.9], [-0.18, 0, 1.42], [-0.3, 0, 1.15], [-0.35, 0, 0.9]])


class StandingPosePipeline(ForegroundPipeline):
    """Pose stand-in: one standing skeleton at each blob the foreground counter finds."""

    task = 'pose'

    def run(self, images, ref_index):
        res = super().run(images, ref_index)
        rows, cols = self.region.shape
        occ = res.density > 0.5 * res.density.max() if res.count else np.zeros((rows, cols), bool)
        n, _, _, cents = cv2.connectedComponentsWithStats(occ.astype(np.uint8))
        xy = self.region.cell_to_world(np.array([[c[1], c[0]] for c in cents[1:]]).reshape(-1, 2))
        joints = np.stack([STANDING_POSE + [x, y, 0.0] for x, y in xy]) if len(xy) else np.zeros((0, 17, 3))
        return PipelineResult(res.density, res.count, joints, res.inference_ms)


class Recording:
    """A real pipeline that also records ``(views given, ref_index)`` of every ``run`` call (thread-safe)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.cameras, self.region, self.task = inner.cameras, inner.region, inner.task
        self.calls: list[tuple[list[bool], int]] = []
        self.results: list = []
        self.lock = threading.Lock()

    def __getattr__(self, name: str):  # describe, reference_view, synchronizes, device_note, ...
        return getattr(self.inner, name)

    def run(self, images, ref_index):
        res = self.inner.run(images, ref_index)
        with self.lock:
            self.calls.append(([im is not None for im in images], ref_index))
            self.results.append(res)
        return res


def real_checkpoint(path, method: str = 'cls_epi', image_scale: float = 0.5, seed: int = 2):
    """An untrained small checkpoint of ``method`` (weights drawn with ``seed``) for the plaza rig at
    ``image_scale`` and TEST_REGION."""
    from pipeline_support import make_checkpoint
    cams, _ = rig('plaza', image_scale)
    return make_checkpoint(path, method, cams, TEST_REGION, seed=seed)


def real_pipeline(path, method: str = 'cls_epi'):
    """``vsync_ros.inference.pipeline.load_pipeline`` on a fresh :func:`real_checkpoint` at ``path`` (CPU)."""
    import torch

    from vsync_ros.inference.pipeline import load_pipeline
    torch.set_num_threads(1)
    return load_pipeline(real_checkpoint(path, method), device='cpu')


def toy_setup(image_scale: float = 0.5, n_people: int = 6, seed: int = 3, delay_s: float = 0.0):
    """(ToyWorld, ForegroundPipeline) on the plaza rig with small images and a coarse ground grid."""
    cams, _ = rig('plaza', image_scale)
    world = ToyWorld(cams, TEST_REGION, n_people=n_people, seed=seed)
    return world, ForegroundPipeline(cams, TEST_REGION, delay_s=delay_s)


@contextmanager
def ros_env(domain_id: int):
    """Set ROS_DOMAIN_ID / localhost-only discovery for a test module, restoring them afterwards."""
    old = {k: os.environ.get(k) for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')}
    os.environ['ROS_DOMAIN_ID'] = str(domain_id)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def harness_for(domain_id: int):
    """Generator for a module fixture: a :class:`RosHarness` on ``domain_id`` inside :func:`ros_env`, closed after."""
    with ros_env(domain_id):
        h = RosHarness(domain_id)
        yield h
        h.close()


def stop_graph(executor, nodes, context, thread=None) -> None:
    """Tear down an in-process node graph: shut the executor down, join its spin thread (5 s), destroy the
    nodes and shut the context down."""
    import rclpy
    executor.shutdown()
    if thread is not None:
        thread.join(timeout=5.0)
    for n in nodes:
        n.destroy_node()
    rclpy.try_shutdown(context=context)


def wait_for(predicate, timeout_s: float = 10.0, period_s: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period_s)
    return bool(predicate())


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux)."""
    with open('/proc/self/statm') as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


# ---------------------------------------------------------------------------------------- rclpy harness
class RosHarness:
    """One rclpy context + a SingleThreadedExecutor spinning in a thread; nodes are added per test.

    A probe node records every message of the topics it is asked to watch, and /rosout.
    """

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        with ros_env(domain_id):
            self.context = Context()
            rclpy.init(context=self.context, domain_id=domain_id)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.probe = self.node('probe')
        self.received: dict[str, list] = {}
        self.lock = threading.Lock()
        from rcl_interfaces.msg import Log
        self.watch('/rosout', Log, depth=1000)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        """Spin until close(); survive a node destroyed while the executor was waiting on it.

        rclpy raises InvalidHandle ('destruction was requested') from the wait set when a test removes a
        node at that moment; letting it end the thread would silently stop every later test's callbacks.
        """
        from rclpy.executors import ExternalShutdownException, ShutdownException
        while not self._stop.is_set() and self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except (ExternalShutdownException, ShutdownException):
                break
            except Exception as exc:  # noqa: BLE001 - rclpy._rclpy_pybind11.InvalidHandle is not importable API
                if 'destruction was requested' not in str(exc) and type(exc).__name__ != 'InvalidHandle':
                    raise

    def node(self, name: str):
        from rclpy.node import Node
        nd = Node(name, context=self.context)
        self.executor.add_node(nd)
        return nd

    def add(self, node) -> None:
        self.executor.add_node(node)

    def remove(self, node) -> None:
        self.executor.remove_node(node)
        node.destroy_node()

    def watch(self, topic: str, msg_type, qos=None, depth: int = 200):
        from rclpy.qos import QoSProfile
        with self.lock:
            self.received.setdefault(topic, [])

        def cb(msg, topic=topic):
            with self.lock:
                self.received[topic].append(msg)
        return self.probe.create_subscription(msg_type, topic, cb, qos or QoSProfile(depth=depth))

    def msgs(self, topic: str) -> list:
        with self.lock:
            return list(self.received.get(topic, []))

    def clear(self) -> None:
        with self.lock:
            for v in self.received.values():
                v.clear()

    def logs(self, node_name: str, level: int | None = None, contains: str = '') -> list[str]:
        return [m.msg for m in self.msgs('/rosout') if m.name.endswith(node_name)
                and (level is None or m.level == level) and contains in m.msg]

    def close(self) -> None:
        import rclpy
        self._stop.set()
        self.executor.shutdown()
        self._thread.join(timeout=5.0)
        self.probe.destroy_node()
        rclpy.try_shutdown(context=self.context)
