"""Frame sources and desynchronization schedules for the replay node and the bag writer (ROS-free).

Timing model (the paper's Sec. IV-B plus transport effects). The reference view captures at
``t_k = k / rate_hz`` (+ its phase); view i's frame k

* carries the stamp ``stamp_k = k / rate_hz + phase_i`` (its own clock tick),
* shows the world at ``content = stamp_k + delta_ik`` where ``delta_ik = tau_i`` (constant latency) or
  ``U(-kappa_i, kappa_i)`` (random latency) — the desynchronization the model has to undo,
* is published at ``stamp_k + latency_i + U(0, jitter_i)`` (FIFO per camera), or never, with
  probability ``drop_prob_i``.

Ground truth refers to the reference view's times (content = stamp, no offset), as in the paper.
World times are shifted by ``t_base = max_i(|tau_i| + kappa_i)`` so content times are never negative.
"""
from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from vsync_ros.geometry import Camera, GroundRegion

DATA_PRESETS = ('pets', 'citystreet', 'h36m_train', 'h36m_test')  # vsync_ros.data.desync presets
PRESETS = ('sync', 'constant', 'random') + DATA_PRESETS
SOURCES = ('toy', 'world', 'dataset')
DATASET_FRAMES = ('input', 'sync')


# ---------------------------------------------------------------------------------------- timing
@dataclass
class ViewTiming:
    """Timing of one camera (seconds).

    Attributes:
        phase_s: offset of this camera's capture ticks (unsynchronized shutters).
        offset_s: constant content latency tau_i.
        random_offset_s: kappa_i of the random content latency U(-kappa_i, kappa_i), per frame.
        latency_s: transport delay between stamp and publication.
        jitter_s: extra uniform transport delay in [0, jitter_s].
        drop_prob: probability that a frame is never published.
    """

    phase_s: float = 0.0
    offset_s: float = 0.0
    random_offset_s: float = 0.0
    latency_s: float = 0.0
    jitter_s: float = 0.0
    drop_prob: float = 0.0

    def __post_init__(self) -> None:
        vals = (self.phase_s, self.offset_s, self.random_offset_s, self.latency_s, self.jitter_s, self.drop_prob)
        if not all(math.isfinite(v) for v in vals):
            raise ValueError(f'view timing has non-finite values: {self}')
        if self.random_offset_s < 0 or self.latency_s < 0 or self.jitter_s < 0 or not 0 <= self.drop_prob <= 1:
            raise ValueError(f'view timing out of range (kappa, latency, jitter >= 0; drop_prob in [0, 1]): {self}')


@dataclass
class DesyncProfile:
    """Frame rate and per-view timing; ``reference_view`` is the view the ground truth refers to."""

    rate_hz: float
    views: list[ViewTiming]
    reference_view: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise ValueError(f'rate_hz must be positive, got {self.rate_hz}')
        if not 0 <= self.reference_view < len(self.views):
            raise ValueError(f'reference_view {self.reference_view} out of range for {len(self.views)} views')

    @property
    def t_base(self) -> float:
        """Shift of world time so content times are never negative."""
        return max(abs(v.offset_s) + v.random_offset_s for v in self.views)


def desync_profile(preset: str, n_views: int, rate_hz: float, desync_s: float = 1.0, reference_view: int = 0,
                   latency_s: float = 0.0, jitter_s: float = 0.0, drop_prob: float = 0.0,
                   phase_spread: bool = False, seed: int = 0) -> DesyncProfile:
    """Build a profile from a preset name plus transport effects applied to every view.

    Presets (content offsets of the non-reference views, as in the paper's desynchronized data sets):
        ``sync``: none. ``constant``: tau alternates +desync_s, -desync_s over the other views (PETS2009:
        +-5 s at 7 fps). ``random``: kappa = desync_s for every other view (PETS2009: 5 s).
        ``pets``, ``citystreet``, ``h36m_train``, ``h36m_test``: the data module's presets
        (:mod:`vsync_ros.data.desync`, reference view 0), which also fix the frame rate (``rate_hz``
        and ``desync_s`` are then ignored) and the probability of a missing frame.
    ``phase_spread`` spreads the capture ticks of the views evenly over one frame period.
    """
    if preset not in PRESETS:
        raise ValueError(f'unknown desync preset {preset!r} (choose from {", ".join(PRESETS)})')
    if preset in DATA_PRESETS:
        from vsync_ros.data.desync import preset as data_preset
        return profile_from_desync_config(data_preset(preset, n_views=n_views), latency_s, jitter_s, drop_prob,
                                          phase_spread, seed)
    views = []
    others = 0
    for v in range(n_views):
        t = ViewTiming(latency_s=latency_s, jitter_s=jitter_s, drop_prob=drop_prob,
                       phase_s=(v / n_views / rate_hz if phase_spread else 0.0))
        if v != reference_view:
            if preset == 'constant':
                t = replace(t, offset_s=desync_s if others % 2 == 0 else -desync_s)
            elif preset == 'random':
                t = replace(t, random_offset_s=abs(desync_s))
            others += 1
        views.append(t)
    return DesyncProfile(rate_hz, views, reference_view, seed)


def profile_from_desync_config(cfg, latency_s: float = 0.0, jitter_s: float = 0.0, drop_prob: float = 0.0,
                               phase_spread: bool = False, seed: int | None = None) -> DesyncProfile:
    """A replay profile from a :class:`vsync_ros.data.desync.DesyncConfig` (reference view 0).

    Constant mode maps tau_i to ``offset_s``, random mode kappa_i to ``random_offset_s``; a view's
    ``missing_prob`` becomes its drop probability (at least ``drop_prob``); the rate is ``1 / dt_s``.
    """
    n, rate = cfg.n_views, 1.0 / cfg.dt_s
    views = []
    for v in range(n):
        views.append(ViewTiming(
            phase_s=(v / n / rate if phase_spread else 0.0),
            offset_s=float(cfg.tau_s[v]) if cfg.mode == 'constant' else 0.0,
            random_offset_s=float(cfg.kappa_s[v]) if cfg.mode == 'random' else 0.0,
            latency_s=latency_s, jitter_s=jitter_s, drop_prob=max(float(cfg.missing_prob[v]), drop_prob)))
    return DesyncProfile(rate, views, 0, cfg.seed if seed is None else seed)


@dataclass(order=True)
class FrameEvent:
    """One scheduled frame (``view`` = -1: ground truth of the reference time ``stamp_s``).

    Times in seconds from the start: ``publish_s`` (when it goes out), ``stamp_s`` (header stamp),
    ``content_s`` (world time shown). ``dropped`` frames are scheduled but must not be published.
    """

    publish_s: float
    view: int
    k: int = field(compare=False)
    stamp_s: float = field(compare=False)
    content_s: float = field(compare=False)
    dropped: bool = field(default=False, compare=False)


def _view_events(profile: DesyncProfile, view: int) -> Iterator[FrameEvent]:
    t = profile.views[view]
    rng = np.random.default_rng([profile.seed, view])
    last_pub = -math.inf
    for k in itertools.count():
        stamp = k / profile.rate_hz + t.phase_s
        delta = t.offset_s + (rng.uniform(-t.random_offset_s, t.random_offset_s) if t.random_offset_s else 0.0)
        pub = max(stamp + t.latency_s + (rng.uniform(0, t.jitter_s) if t.jitter_s else 0.0), last_pub)
        dropped = bool(t.drop_prob and rng.random() < t.drop_prob)
        last_pub = pub
        yield FrameEvent(pub, view, k, stamp, stamp + delta + profile.t_base, dropped)


def _gt_events(profile: DesyncProfile) -> Iterator[FrameEvent]:
    phase = profile.views[profile.reference_view].phase_s
    for k in itertools.count():
        stamp = k / profile.rate_hz + phase
        yield FrameEvent(stamp, -1, k, stamp, stamp + profile.t_base)


def schedule(profile: DesyncProfile, duration_s: float | None = None,
             ground_truth: bool = True) -> Iterator[FrameEvent]:
    """All frame (and ground-truth) events in publication order, up to ``duration_s`` of stamps (or forever).

    Deterministic for a given profile (seeded per view).
    """
    streams = [_view_events(profile, v) for v in range(len(profile.views))]
    if ground_truth:
        streams.append(_gt_events(profile))
    for ev in heapq.merge(*streams):
        if duration_s is not None and ev.stamp_s >= duration_s:
            if ev.publish_s >= duration_s + max(t.latency_s + t.jitter_s for t in profile.views) + 1.0:
                return
            continue
        yield ev


# ---------------------------------------------------------------------------------------- sources
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


def _triangle(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect x into [lo, hi] (bouncing motion)."""
    span = hi - lo
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def gaussian_ground_density(feet_xy: np.ndarray, region: GroundRegion, sigma_m: float) -> np.ndarray:
    """(rows, cols) float32: one Gaussian of mass 1 (over the infinite plane) per person at ``feet_xy``."""
    rows, cols = region.shape
    xs = region.x0 + (np.arange(cols) + 0.5) * region.cell_m
    ys = region.y0 + (np.arange(rows) + 0.5) * region.cell_m
    out = np.zeros((rows, cols), np.float64)
    norm = region.cell_m / (math.sqrt(2 * math.pi) * sigma_m)
    for x, y in np.asarray(feet_xy, dtype=np.float64).reshape(-1, 2):
        gx = np.exp(-0.5 * ((xs - x) / sigma_m) ** 2) * norm
        gy = np.exp(-0.5 * ((ys - y) / sigma_m) ** 2) * norm
        out += np.outer(gy, gx)
    return out.astype(np.float32)


class ToyWorld:
    """A tiny deterministic crowd for exercising the ROS plumbing (not for training).

    People are upright ellipsoids walking in straight lines and bouncing off the region's borders; each
    camera renders them as filled ellipses in saturated colours over a grey ground. Ground truth: the
    number of people inside the region and a Gaussian ground-plane density (one unit per person).
    """

    def __init__(self, cameras: list[Camera], region: GroundRegion, n_people: int = 8, seed: int = 0,
                 speed_mps: float = 1.2, height_m: float = 1.7, radius_m: float = 0.3,
                 sigma_m: float | None = None) -> None:
        self.cameras, self.region = list(cameras), region
        self.duration_s = None
        self.height_m, self.radius_m = height_m, radius_m
        self.sigma_m = sigma_m or max(2 * region.cell_m, 0.3)
        rng = np.random.default_rng(seed)
        m = radius_m
        self._lo = np.array([region.x0 + m, region.y0 + m])
        self._hi = np.array([region.x0 + region.width_m - m, region.y0 + region.height_m - m])
        self._p0 = rng.uniform(self._lo, self._hi, size=(n_people, 2))
        ang = rng.uniform(0, 2 * np.pi, n_people)
        self._v = speed_mps * rng.uniform(0.5, 1.0, (n_people, 1)) * np.stack([np.cos(ang), np.sin(ang)], 1)
        hues = (np.arange(n_people) * 37) % 180
        self._colors = [tuple(int(c) for c in cv2.cvtColor(np.uint8([[[h, 230, 230]]]), cv2.COLOR_HSV2RGB)[0, 0])
                        for h in hues]
        self._backgrounds = [self._background(cam) for cam in self.cameras]

    @staticmethod
    def _background(cam: Camera) -> np.ndarray:
        rows = np.linspace(70, 140, cam.height, dtype=np.float32)[:, None, None]
        return np.broadcast_to(rows, (cam.height, cam.width, 3)).astype(np.uint8).copy()

    def positions(self, t: float) -> np.ndarray:
        """(P, 2) feet positions (m) at world time ``t`` (s)."""
        raw = self._p0 + self._v * t
        return np.stack([_triangle(raw[:, 0], self._lo[0], self._hi[0]),
                         _triangle(raw[:, 1], self._lo[1], self._hi[1])], 1)

    def frame(self, view: int, t: float) -> np.ndarray:
        """(H, W, 3) uint8 RGB rendering of ``view`` at ``t``."""
        cam = self.cameras[view]
        img = self._backgrounds[view].copy()
        xy = self.positions(t)
        feet = np.hstack([xy, np.zeros((len(xy), 1))])
        heads = np.hstack([xy, np.full((len(xy), 1), self.height_m)])
        uv_f, d_f = cam.project(feet)
        uv_h, d_h = cam.project(heads)
        f = cam.K[0, 0]
        for p in np.argsort(-d_f):  # far to near
            if d_f[p] <= 0.1 or d_h[p] <= 0.1 or not np.all(np.isfinite(uv_f[p])) or not np.all(np.isfinite(uv_h[p])):
                continue
            centre = (uv_f[p] + uv_h[p]) / 2
            half_h = np.linalg.norm(uv_f[p] - uv_h[p]) / 2
            half_w = f * self.radius_m / d_f[p]
            if not (np.all(np.abs(centre) < 1e5) and half_h < 1e5):
                continue
            angle = math.degrees(math.atan2(uv_f[p][1] - uv_h[p][1], uv_f[p][0] - uv_h[p][0])) - 90
            cv2.ellipse(img, (int(round(centre[0])), int(round(centre[1]))),
                        (max(1, int(round(half_w))), max(1, int(round(half_h)))), angle, 0, 360,
                        self._colors[p], -1, cv2.LINE_AA)
        return img

    def ground_truth(self, t: float) -> dict:
        """Count of people inside the region and their Gaussian ground-plane density."""
        xy = self.positions(t)
        inside = self.region.contains(xy)
        return {'count': float(inside.sum()),
                'gp_density': gaussian_ground_density(xy[inside], self.region, self.sigma_m)}


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
        """The stored frame of ``view`` nearest to ``t`` (None when the view is missing)."""
        from vsync_ros.data.storage import read_image
        path = self.ds.frame_file(self.index_at(t), view, sync=self.frames == 'sync')
        return None if path is None else read_image(path)

    def ground_truth(self, t: float) -> dict:
        """The stored labels nearest to ``t``."""
        gt = self.ds.raw_gt(self.index_at(t))
        out = {k: gt[k] for k in ('gp_density', 'joints_3d', 'positions') if k in gt}
        out['count'] = float(gt['count']) if 'count' in gt else float(len(gt.get('positions', gt.get('joints_3d', ()))))
        return out


def rig(name: str, image_scale: float = 1.0) -> tuple[list[Camera], GroundRegion]:
    """Cameras and ground region of a preset rig (``plaza`` or ``studio``), images scaled by ``image_scale``."""
    from vsync_ros.geometry import presets
    if name == 'plaza':
        cams, region = presets.plaza_cameras(), presets.PLAZA_REGION
    elif name == 'studio':
        cams, region = presets.studio_cameras(), presets.STUDIO_REGION
    else:
        raise ValueError(f'unknown rig {name!r} (plaza | studio)')
    if image_scale != 1.0:
        cams = [c.scaled(max(8, round(c.width * image_scale)), max(8, round(c.height * image_scale))) for c in cams]
    return cams, region


def make_source(kind: str, rig_name: str = 'plaza', seed: int = 0, n_people: int = 8, image_scale: float = 1.0,
                dataset_root: str = '', dataset_split: str = 'test', dataset_frames: str = 'input') -> FrameSource:
    """Build a frame source.

    ``toy``: the built-in :class:`ToyWorld` (``n_people``). ``world``: the synthetic world of
    :mod:`vsync_ros.data` — the crowd world on the plaza rig (its own crowd size), the motion world
    (``n_people`` actors, pose ground truth) on the studio rig. ``dataset``: a ``vsync-synth`` data set.

    Raises:
        RuntimeError: the requested source is not available, with the reason.
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
