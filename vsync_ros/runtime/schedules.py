"""Desynchronization profiles and capture / publication schedules of replayed camera streams (ROS-free).

Timing model (the paper's Sec. IV-B plus transport effects). The reference view captures at
``t_k = k / rate_hz`` (+ its phase); view i's frame k

* carries the stamp ``stamp_k = k / rate_hz + phase_i`` (its capture tick on the common clock; a camera
  with its own clock would stamp the capture time ``stamp_k + delta_ik``, :attr:`FrameEvent.capture_s`),
* shows the world at ``content = stamp_k + delta_ik`` where ``delta_ik = tau_i`` (constant latency) or
  ``U(-kappa_i, kappa_i)`` (random latency) — the desynchronization the model has to undo,
* is published at ``stamp_k + latency_i + U(0, jitter_i)`` (FIFO per camera), or never, with
  probability ``drop_prob_i`` (a random drop), or never from ``stop_i`` on (an outage: the camera stops, every
  frame with ``stamp_k >= stop_i`` is withheld).

Ground truth refers to the reference view's times (content = stamp, no offset), as in the paper.
World times are shifted by ``t_base = max_i(|tau_i| + kappa_i)`` so content times are never negative.
All times are in seconds. Used by the replay node and the bag writer with any frame source
(:mod:`vsync_ros.runtime.sources`).
"""
from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np

DATA_PRESETS = ('pets', 'citystreet', 'h36m_train', 'h36m_test')  # vsync_ros.data.desync presets
PRESETS = ('sync', 'constant', 'random') + DATA_PRESETS


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
        stop_s: outage: frames whose stamp is ``>= stop_s`` (seconds on the schedule clock, like the stamps)
            are never published, the camera has stopped. ``math.inf`` (default): never stops. Any finite
            value is allowed; one at or before the view's first stamp (0 + ``phase_s``, e.g. 0 or negative)
            means the camera never publishes at all. NaN and ``-inf`` are refused.
    """

    phase_s: float = 0.0
    offset_s: float = 0.0
    random_offset_s: float = 0.0
    latency_s: float = 0.0
    jitter_s: float = 0.0
    drop_prob: float = 0.0
    stop_s: float = math.inf

    def __post_init__(self) -> None:
        vals = (self.phase_s, self.offset_s, self.random_offset_s, self.latency_s, self.jitter_s, self.drop_prob)
        if not all(math.isfinite(v) for v in vals):
            raise ValueError(f'view timing has non-finite values: {self}')
        if math.isnan(self.stop_s) or self.stop_s == -math.inf:
            raise ValueError(f'view timing stop_s must be a number of seconds or inf (never stops), got {self.stop_s}')
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

    @property
    def stops(self) -> dict[int, float]:
        """{view: stop_s} of the views with an outage (finite ``stop_s``), seconds."""
        return {v: t.stop_s for v, t in enumerate(self.views) if math.isfinite(t.stop_s)}

    def as_dict(self) -> dict:
        """JSON-friendly fields (``dataclasses.asdict``), without the ``stop_s`` of views that never stop.

        Leaving the default out keeps the description of a profile without outages as it was before
        ``stop_s`` existed (bags written without outages stay byte-identical), and it is strict JSON.
        """
        out = asdict(self)
        for view in out['views']:
            if not math.isfinite(view['stop_s']):
                del view['stop_s']
        return out


def with_stops(profile: DesyncProfile, stops: Mapping[int, float]) -> DesyncProfile:
    """A copy of ``profile`` where view ``v`` stops (an outage) at ``stops[v]`` seconds (see :class:`ViewTiming`).

    Raises:
        ValueError: a view index out of range, or a stop time that is NaN or ``-inf``.
    """
    views = list(profile.views)
    for view, stop_s in stops.items():
        if not 0 <= view < len(views):
            raise ValueError(f'stop of view {view}: out of range for {len(views)} views')
        views[view] = replace(views[view], stop_s=float(stop_s))
    return replace(profile, views=views)


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

    Times in seconds from the start: ``publish_s`` (when it goes out), ``stamp_s`` (header stamp: the
    view's capture tick on the common clock), ``content_s`` (world time shown). ``offset_s`` is this
    frame's content offset delta (0 for the reference and the ground truth), so :attr:`capture_s` is when
    the frame was really taken. ``dropped`` frames are scheduled but must not be published.
    """

    publish_s: float
    view: int
    k: int = field(compare=False)
    stamp_s: float = field(compare=False)
    content_s: float = field(compare=False)
    dropped: bool = field(default=False, compare=False)
    offset_s: float = field(default=0.0, compare=False)
    stopped: bool = field(default=False, compare=False)

    @property
    def published(self) -> bool:
        """True when the frame goes out: neither dropped nor withheld by an outage."""
        return not (self.dropped or self.stopped)

    @property
    def capture_s(self) -> float:
        """When the frame was taken (``stamp_s + offset_s``): the stamp of a camera with its own clock."""
        return self.stamp_s + self.offset_s


def _view_events(profile: DesyncProfile, view: int) -> Iterator[FrameEvent]:
    t = profile.views[view]
    rng = np.random.default_rng([profile.seed, view])
    last_pub = -math.inf
    for k in itertools.count():
        stamp = k / profile.rate_hz + t.phase_s
        delta = t.offset_s + (rng.uniform(-t.random_offset_s, t.random_offset_s) if t.random_offset_s else 0.0)
        pub = max(stamp + t.latency_s + (rng.uniform(0, t.jitter_s) if t.jitter_s else 0.0), last_pub)
        dropped = bool(t.drop_prob and rng.random() < t.drop_prob)  # drawn for stopped frames too: same draws
        last_pub = pub
        yield FrameEvent(pub, view, k, stamp, stamp + delta + profile.t_base, dropped, delta, stamp >= t.stop_s)


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
