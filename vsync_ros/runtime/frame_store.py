"""Latest-frame-per-view store with staleness and reference fail-over (ROS-free, thread-safe).

Times: ``stamp_ns`` is the frame's header stamp (integer nanoseconds, kept exact so outputs can carry
it unchanged); ``arrival`` and ``now`` are seconds on the consumer's clock (the node clock, or the bag
log time offline). A frame's *age* is ``now - arrival``: unsynchronized cameras' stamps are not
comparable, but how long ago a view last delivered is. A view is *fresh* when its latest frame is at
most ``max_age_s`` old, and *usable* when it is also enabled (valid calibration).

Start-up grace: until ``grace_s`` seconds (default: ``max_age_s``) have passed since the store's first
clock reading (or :meth:`FrameStore.restart_grace`), a reference that has not delivered yet is waited
for instead of failed over (cameras come up in any order, and large frames take a while to arrive).

Memory is bounded by construction: one frame per view, plus a fixed-length window of arrival times
for the rate estimate.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

RATE_WINDOW = 20


@dataclass
class Frame:
    """One stored frame.

    Attributes:
        payload: the image (message or array), converted only when inference uses it.
        stamp_ns: header stamp, integer nanoseconds.
        arrival: receipt time, seconds on the consumer clock.
        seq: per-view number of the frame (1 = first stored frame).
        used: True once an inference consumed it.
    """

    payload: Any
    stamp_ns: int
    arrival: float
    seq: int
    used: bool = False


@dataclass
class ViewState:
    """Counters and state of one view (a copy is handed out by :meth:`FrameStore.states`).

    ``superseded`` counts frames replaced by a newer one before any inference used them (the frames the
    node drops on purpose when inputs are faster than inference); ``rejected`` counts invalid frames;
    ``lost`` counts gaps in the publisher's sequence numbers (frames lost in transport, when known).
    """

    name: str
    topic: str = ''
    enabled: bool = True
    disabled_reason: str = ''
    received: int = 0
    superseded: int = 0
    rejected: int = 0
    lost: int = 0
    used: int = 0
    last_error: str = ''
    last_error_time: float = -math.inf
    last_stamp_ns: int | None = None
    last_arrival: float | None = None
    last_pub_seq: int | None = None
    arrivals: deque = field(default_factory=lambda: deque(maxlen=RATE_WINDOW))

    def age(self, now: float) -> float:
        """Seconds since the latest frame arrived (inf if none)."""
        return math.inf if self.last_arrival is None else max(0.0, now - self.last_arrival)

    def rate_hz(self) -> float:
        """Mean input rate over the last arrivals (0 with fewer than two)."""
        if len(self.arrivals) < 2 or self.arrivals[-1] <= self.arrivals[0]:
            return 0.0
        return (len(self.arrivals) - 1) / (self.arrivals[-1] - self.arrivals[0])


class FrameStore:
    """Keeps the latest frame of each view and picks the reference view.

    Args:
        names: one name per view (used in messages).
        max_age_s: frames older than this are stale (not used, and a stale reference fails over).
        reference_order: view indices in fail-over order; the first is the configured reference. Views
            missing from the list are never used as reference (they still contribute as other views).
        topics: optional input topic per view (for diagnostics).
        grace_s: start-up grace period of a reference that has not delivered yet, seconds (None: ``max_age_s``).
    """

    def __init__(self, names: list[str], max_age_s: float, reference_order: list[int] | None = None,
                 topics: list[str] | None = None, grace_s: float | None = None) -> None:
        n = len(names)
        if n == 0:
            raise ValueError('a frame store needs at least one view')
        order = list(range(n)) if not reference_order else [int(v) for v in reference_order]
        bad = [v for v in order if not 0 <= v < n]
        if bad or len(set(order)) != len(order):
            raise ValueError(f'reference order {order} must list distinct view indices in [0, {n - 1}]')
        self.names = list(names)
        self.reference_order = order
        self.max_age_s = float(max_age_s)
        self.grace_s: float | None = None if grace_s is None else float(grace_s)
        self._lock = threading.Lock()
        self._frames: list[Frame | None] = [None] * n
        self._states = [ViewState(name, (topics or [''] * n)[i]) for i, name in enumerate(names)]
        self._last_time = -math.inf
        self._start: float | None = None

    @property
    def n_views(self) -> int:
        """Number of views."""
        return len(self.names)

    # ------------------------------------------------------------------------------ input side
    def note_time(self, now: float) -> bool:
        """Record the consumer clock; a jump backwards (bag loop, sim time reset) clears all frames.

        Returns:
            True when the store was cleared.
        """
        with self._lock:
            jumped = now < self._last_time - 1e-6
            if jumped:
                self._frames = [None] * self.n_views
                for st in self._states:
                    st.last_arrival, st.last_stamp_ns, st.last_pub_seq = None, None, None
                    st.arrivals.clear()
            if jumped or self._start is None:
                self._start = now
            self._last_time = now
            return jumped

    def put(self, view: int, payload: Any, stamp_ns: int, arrival: float, pub_seq: int | None = None) -> Frame:
        """Store a new frame for ``view``, replacing (and counting as superseded) an unused older one.

        Args:
            pub_seq: publisher sequence number when the transport provides it (gaps count as lost).
        """
        with self._lock:
            st = self._states[view]
            old = self._frames[view]
            if old is not None and not old.used:
                st.superseded += 1
            if pub_seq is not None and st.last_pub_seq is not None and pub_seq > st.last_pub_seq + 1:
                st.lost += pub_seq - st.last_pub_seq - 1
            if pub_seq is not None:
                st.last_pub_seq = pub_seq
            st.received += 1
            st.last_stamp_ns, st.last_arrival = int(stamp_ns), float(arrival)
            st.arrivals.append(float(arrival))
            frame = Frame(payload, int(stamp_ns), float(arrival), st.received)
            self._frames[view] = frame
            return frame

    def reject(self, view: int, reason: str, now: float) -> None:
        """Count an invalid frame of ``view`` and remember why."""
        with self._lock:
            st = self._states[view]
            st.rejected += 1
            st.last_error, st.last_error_time = reason, now

    def set_enabled(self, view: int, enabled: bool, reason: str = '') -> bool:
        """Enable / disable a view (e.g. invalid calibration). Returns True when the state changed."""
        with self._lock:
            st = self._states[view]
            changed = st.enabled != enabled or (not enabled and st.disabled_reason != reason)
            st.enabled, st.disabled_reason = enabled, ('' if enabled else reason)
            return changed

    def restart_grace(self, now: float) -> None:
        """Start the start-up grace period again at ``now`` (seconds; e.g. when the node is activated)."""
        with self._lock:
            self._start = float(now)
            self._last_time = max(self._last_time, float(now))

    @property
    def grace_period_s(self) -> float:
        """The start-up grace period in seconds (``grace_s``, or ``max_age_s`` when not set)."""
        return self.max_age_s if self.grace_s is None else self.grace_s

    def set_max_age(self, max_age_s: float) -> None:
        """Change the staleness limit (seconds)."""
        with self._lock:
            self.max_age_s = float(max_age_s)

    # ------------------------------------------------------------------------------ output side
    def _usable(self, view: int, now: float) -> bool:
        st = self._states[view]
        return st.enabled and self._frames[view] is not None and st.age(now) <= self.max_age_s

    def is_usable(self, view: int, now: float) -> bool:
        """True when ``view`` is enabled and its latest frame is fresh."""
        with self._lock:
            return self._usable(view, now)

    def in_grace(self, view: int, now: float) -> bool:
        """True while ``view`` has never delivered and the start-up grace period (:attr:`grace_period_s`) lasts."""
        with self._lock:
            return self._in_grace(view, now)

    def _in_grace(self, view: int, now: float) -> bool:
        st = self._states[view]
        return (st.enabled and self._frames[view] is None and st.last_arrival is None
                and self._start is not None and now - self._start <= self.grace_period_s)

    def choose_reference(self, now: float) -> int | None:
        """The first view of the fail-over order that is usable at ``now``.

        None when no view is usable, or while a view earlier in the order is still in its start-up grace.
        """
        with self._lock:
            for v in self.reference_order:
                if self._usable(v, now):
                    return v
                if self._in_grace(v, now):
                    return None
            return None

    def latest(self, view: int) -> Frame | None:
        """The latest frame of ``view`` (stale or not)."""
        with self._lock:
            return self._frames[view]

    def take(self, now: float) -> list[Frame | None]:
        """The usable frames at ``now`` (None for stale / missing / disabled views); marks them used."""
        with self._lock:
            out: list[Frame | None] = []
            for v in range(self.n_views):
                f = self._frames[v] if self._usable(v, now) else None
                if f is not None:
                    if not f.used:
                        self._states[v].used += 1
                    f.used = True
                out.append(f)
            return out

    def states(self) -> list[ViewState]:
        """Copies of the per-view states (for diagnostics)."""
        with self._lock:
            out = []
            for st in self._states:
                cp = ViewState(**{k: v for k, v in st.__dict__.items() if k != 'arrivals'})
                cp.arrivals = deque(st.arrivals, maxlen=RATE_WINDOW)
                out.append(cp)
            return out
