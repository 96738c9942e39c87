"""Frame sources of the replay node and the bag writer (ROS-free).

A :class:`FrameSource` gives the images and ground truth of a multi-camera scene as a function of world
time (seconds); :func:`make_source` builds one from the replay node's parameters: the built-in
:class:`~vsync_ros.runtime.toy_world.ToyWorld`, a synthetic world of :mod:`vsync_ros.data`
(:class:`WorldSource`) or a data set on disk (:class:`DatasetSource`). When each frame is captured,
stamped and published is decided separately, by a schedule of :mod:`vsync_ros.runtime.schedules`.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from vsync_ros.geometry import Camera, GroundRegion
from vsync_ros.geometry.presets import RIGS, rig
from vsync_ros.runtime.toy_world import ToyWorld

SOURCES = ('toy', 'world', 'dataset')
DATASET_FRAMES = ('input', 'sync')


@runtime_checkable
class FrameSource(Protocol):
    """Images and ground truth of a multi-camera scene as a function of world time.

    Attributes:
        cameras: calibration per view (image size = rendered size).
        region: ground grid of ``ground_truth(t)['gp_density']``.
        duration_s: length of the data (None: unbounded, e.g. a simulator).
    """

    cameras: list[Camera]
    region: GroundRegion
    duration_s: float | None

    def frame(self, view: int, t: float) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB of ``view`` at world time ``t`` (s); None if the view has no frame then."""
        ...

    def ground_truth(self, t: float) -> dict:
        """``{'count': float, 'gp_density': (rows, cols) float32 (optional)}`` at world time ``t`` (s)."""
        ...


class WorldSource:
    """Adapter for the synthetic world of ``vsync_ros.data``.

    The world provides ``cameras``, ``render(view, t)`` and ``ground_truth(t)`` (and ``region``).
    """

    def __init__(self, world, region: GroundRegion | None = None) -> None:
        self.world = world
        self.cameras = list(world.cameras)
        self.region = getattr(world, 'region', None) or region
        if self.region is None:
            raise ValueError('the world has no region: pass one')
        self.duration_s = getattr(world, 'duration_s', None)

    def frame(self, view: int, t: float) -> np.ndarray:
        """Rendered RGB image."""
        return np.asarray(self.world.render(view, t), dtype=np.uint8)

    def ground_truth(self, t: float) -> dict:
        """``count`` and (counting worlds) ``gp_density``; pose worlds: ``count`` = people, ``joints_3d``."""
        try:
            gt = self.world.ground_truth(t, view_density=False)  # the crowd world skips image densities
        except TypeError:
            gt = self.world.ground_truth(t)
        out = dict(gt)
        if 'count' not in out:
            out['count'] = float(len(gt.get('joints_3d', gt.get('positions', ()))))
        out['count'] = float(np.asarray(out['count']))
        return out


class DatasetSource:
    """A data set written by ``vsync-synth`` (:class:`vsync_ros.data.dataset.SyncDataset`), replayed in time.

    World time t maps to the sample whose reference time (``time_s``, relative to the first sample)
    is nearest. ``frames='input'`` replays the stored inputs (view i already shows ``time_s + offset``,
    the data set's own desynchronization; use the ``sync`` replay preset then, to reproduce the test
    set exactly), ``frames='sync'`` the synchronized frames (the replay preset desynchronizes). A view
    missing from a sample gives ``None`` (not published).
    """

    def __init__(self, dataset, frames: str = 'input') -> None:
        if frames not in DATASET_FRAMES:
            raise ValueError(f'frames must be one of {DATASET_FRAMES}, got {frames!r}')
        self.ds, self.frames = dataset, frames
        self.cameras = list(dataset.cameras)
        self.region = dataset.region
        times = np.asarray(dataset.index['time_s'], dtype=np.float64)
        self.times = times - times[0]
        dt = float(np.median(np.diff(self.times))) if len(times) > 1 else 1.0
        self.rate_hz = 1.0 / dt if dt > 0 else 1.0
        self.duration_s = float(self.times[-1] + dt)

    def index_at(self, t: float) -> int:
        """Sample nearest to world time ``t`` (s)."""
        i = int(np.clip(np.searchsorted(self.times, t), 0, len(self.times) - 1))
        if i > 0 and abs(self.times[i - 1] - t) <= abs(self.times[i] - t):
            i -= 1
        return i

    def frame(self, view: int, t: float) -> np.ndarray | None:
        """The stored frame of ``view`` nearest to ``t`` (None when the view is missing).

        Raises:
            DatasetError: the image file is missing or corrupt (the message names it and the sample).
        """
        return self.ds.read_frame(self.index_at(t), view, sync=self.frames == 'sync')

    def ground_truth(self, t: float) -> dict:
        """The stored labels nearest to ``t``."""
        gt = self.ds.raw_gt(self.index_at(t))
        out = {k: gt[k] for k in ('gp_density', 'joints_3d', 'positions') if k in gt}
        out['count'] = float(gt['count']) if 'count' in gt else float(len(gt.get('positions', gt.get('joints_3d', ()))))
        return out


def make_source(kind: str, rig_name: str = 'plaza', seed: int = 0, n_people: int = 8, image_scale: float = 1.0,
                dataset_root: str = '', dataset_split: str = 'test', dataset_frames: str = 'input') -> FrameSource:
    """Build a frame source.

    ``rig_name``: 'plaza', 'studio' or the path of a rig folder (``vsync-rig import``; its cameras at their own
    image sizes times ``image_scale``, and its ground region). ``toy``: the built-in :class:`ToyWorld`
    (``n_people``). ``world``: the synthetic world of :mod:`vsync_ros.data` — the crowd world on the plaza rig
    or on a rig folder (in its ground region; its own crowd size), the motion world (``n_people`` actors, pose
    ground truth) on the studio rig. ``dataset``: a ``vsync-synth`` data set.

    Raises:
        RuntimeError: the requested source is not available, with the reason.
        ValueError: an unknown source or rig; CalibrationError (a ValueError) for a broken rig folder.
    """
    if kind == 'toy':
        cams, region = rig(rig_name, image_scale)
        return ToyWorld(cams, region, n_people=n_people, seed=seed)
    if kind == 'world':
        cams, region = rig(rig_name, image_scale)
        try:
            if rig_name == 'plaza':
                from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
                size = (cams[0].width, cams[0].height)
                return WorldSource(CrowdWorld(CrowdWorldConfig(rig='plaza', image_size=size, seed=seed)))
            if rig_name not in RIGS:  # a rig folder: its cameras (each at its own size), the crowd in its region
                from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
                size = (cams[0].width, cams[0].height)
                return WorldSource(CrowdWorld(CrowdWorldConfig(rig=rig_name, image_size=size, seed=seed),
                                              cameras=cams, region=region))
            from vsync_ros.data.motion_world import MotionWorld
            return WorldSource(MotionWorld(cams, n_people=max(1, n_people), seed=seed), region)
        except ImportError as exc:
            raise RuntimeError(f'the synthetic world (vsync_ros.data) is not available: {exc}') from exc
    if kind == 'dataset':
        if not dataset_root:
            raise RuntimeError('source dataset needs dataset_root')
        try:
            from vsync_ros.data.dataset import SyncDataset
            return DatasetSource(SyncDataset(dataset_root, dataset_split, load_sync=False), dataset_frames)
        except ImportError as exc:
            raise RuntimeError(f'the data set reader (vsync_ros.data.dataset) is not available: {exc}') from exc
        except (OSError, KeyError, ValueError) as exc:
            raise RuntimeError(f'cannot open data set {dataset_root!r} split {dataset_split!r}: {exc}') from exc
    raise ValueError(f'unknown source {kind!r} (choose from {", ".join(SOURCES)})')
