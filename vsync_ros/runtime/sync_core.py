"""The sync node's logic without ROS: accept frames, pick the reference, run the pipeline.

Used by ``sync_node`` (live topics) and by ``bag_eval`` offline (bag log times as the clock), so both
make the same choices for the same inputs.

Documented behaviour:

* Each view keeps only its latest frame; frames replaced before use are counted (``superseded``).
* A view whose latest frame is older than ``max_age_s`` (arrival time) is *stale*: it is passed to
  the pipeline as ``None`` and the node keeps running on the other views, with a warning.
* The reference view is the first usable view of the fail-over order; when the configured reference
  is stale or disabled the next one takes over (logged), and the configured one takes back over as
  soon as it delivers again (logged).
* When the pipeline reports a degraded estimate (``PipelineResult.note``, e.g. a synchronizing model
  fusing the views unsynchronized because the reference is not its training reference), the note is
  logged as a warning when it starts or changes, and an info line when estimates are normal again.
* Every estimate is assessed (:mod:`vsync_ros.runtime.degraded`): it is *degraded* when fewer views
  than the model's were fused (a view missing, stale or disabled) or the reference is not the model's
  (fail-over). ``StepOutcome.estimate`` carries the views fused, the flag and the reason; with
  ``degraded_output='suppress'`` its ``published`` is False and the caller withholds density / count.
  The start and the end of a degraded period are logged (error / info).
* Invalid frames (encoding, size, data length) are rejected with an error and counted; a view with an
  invalid calibration is disabled (error) until a valid one arrives. The core never raises for bad
  input or a failing pipeline: it reports an outcome and queues log events.
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vsync_ros.inference.api import FramePipeline, PipelineResult, check_result
from vsync_ros.runtime.degraded import DEGRADED_OUTPUTS, EstimateStatus, assess
from vsync_ros.runtime.frame_store import FrameStore

TRIGGERS = ('reference', 'timer')


@dataclass
class Event:
    """A log line for the caller: ``level`` is 'debug', 'info', 'warn' or 'error'; ``key`` groups repeats."""

    level: str
    text: str
    key: str


@dataclass
class StepOutcome:
    """What one :meth:`SyncCore.step` did.

    ``status``: 'ok' (``result`` set), 'no_reference' (no usable view), 'not_new' (the reference frame
    was already processed), 'too_few_views', or 'error' (``message`` says why).
    """

    status: str
    ref: int | None = None
    stamp_ns: int | None = None
    result: PipelineResult | None = None
    views: list[int] = field(default_factory=list)
    message: str = ''
    estimate: EstimateStatus | None = None


@dataclass
class CoreStats:
    """Counters for diagnostics."""

    runs: int = 0
    errors: int = 0
    failovers: int = 0
    too_few_views: int = 0
    last_error: str = ''
    last_inference_ms: float = math.nan
    mean_inference_ms: float = math.nan
    last_views: list[int] = field(default_factory=list)
    last_stamp_ns: int | None = None
    last_count: float = math.nan
    degraded_estimates: int = 0
    suppressed_estimates: int = 0
    last_estimate: EstimateStatus | None = None


class SyncCore:
    """Frame intake and inference stepping around a :class:`FrameStore` and a :class:`FramePipeline`.

    Args:
        pipeline: the model (its ``cameras`` fix the image size per view).
        store: the frame store (one view per pipeline camera).
        convert: ``convert(payload, (width, height)) -> (H, W, 3) uint8 RGB``; may raise on bad input.
        check: ``check(payload, (width, height))`` raising on an unusable frame (run at arrival); optional.
        min_views: fewest usable views needed to run.
        trigger: 'reference' (step on each new frame of the active reference) or 'timer' (caller steps).
        degraded_output: 'mark' (degraded estimates are returned flagged) or 'suppress' (flagged and
            marked not to be published).

    Attributes:
        last_note: the note of the latest successful estimate ('' when it was not degraded).
        model_reference: the view the model was trained to synchronize to (the pipeline's
            ``reference_view``; without one, the configured reference).
    """

    def __init__(self, pipeline: FramePipeline, store: FrameStore,
                 convert: Callable[[Any, tuple[int, int]], np.ndarray],
                 check: Callable[[Any, tuple[int, int]], None] | None = None,
                 min_views: int = 1, trigger: str = 'reference', degraded_output: str = 'mark') -> None:
        if len(pipeline.cameras) != store.n_views:
            raise ValueError(f'the pipeline has {len(pipeline.cameras)} cameras but {store.n_views} views are '
                             'configured')
        if trigger not in TRIGGERS:
            raise ValueError(f'trigger must be one of {TRIGGERS}, got {trigger!r}')
        if degraded_output not in DEGRADED_OUTPUTS:
            raise ValueError(f'degraded_output must be one of {DEGRADED_OUTPUTS}, got {degraded_output!r}')
        self.degraded_output = degraded_output
        model_ref = getattr(pipeline, 'reference_view', None)
        self.model_reference = (int(model_ref) if isinstance(model_ref, int) and 0 <= model_ref < store.n_views
                                else store.reference_order[0])
        self._degraded_reason = ''
        self.pipeline, self.store, self.convert, self.check = pipeline, store, convert, check
        self.min_views, self.trigger = int(min_views), trigger
        self.names = store.names
        self.stats = CoreStats()
        self.active_ref: int | None = None
        self._fresh = [False] * store.n_views
        self._seen = [False] * store.n_views
        self._last_ref_seq: dict[int, int] = {}
        self.last_note = ''
        self._events: deque[Event] = deque(maxlen=256)

    # ------------------------------------------------------------------------------ events
    def _emit(self, level: str, text: str, key: str) -> None:
        self._events.append(Event(level, text, key))

    def drain_events(self) -> list[Event]:
        """Pop all queued log events (oldest first)."""
        out = []
        while True:
            try:
                out.append(self._events.popleft())  # safe with concurrent callers (deque is thread-safe)
            except IndexError:
                return out

    # ------------------------------------------------------------------------------ intake
    def size_of(self, view: int) -> tuple[int, int]:
        """(width, height) the pipeline expects for ``view``."""
        cam = self.pipeline.cameras[view]
        return cam.width, cam.height

    def accept(self, view: int, payload: Any, stamp_ns: int, now: float, pub_seq: int | None = None) -> bool:
        """Validate and store a frame. Returns True when the caller should :meth:`step` now.

        Invalid frames are rejected (counted, error event) and never stored.
        """
        if self.store.note_time(now):
            self._emit('warn', 'clock jumped backwards: cleared all stored frames', 'time_jump')
        if self.check is not None:
            try:
                self.check(payload, self.size_of(view))
            except Exception as exc:  # noqa: BLE001 - any check failure rejects the frame
                reason = f'{type(exc).__name__}: {exc}' if not isinstance(exc, ValueError) else str(exc)
                self.store.reject(view, reason, now)
                self._emit('error', f'camera {self.names[view]}: rejected frame: {reason}', f'reject{view}')
                return False
        self.store.put(view, payload, stamp_ns, now, pub_seq)
        return self.trigger == 'reference' and self.store.choose_reference(now) == view

    def set_view_enabled(self, view: int, enabled: bool, reason: str = '') -> None:
        """Enable / disable a view (logged when the state changes)."""
        if self.store.set_enabled(view, enabled, reason):
            if enabled:
                self._emit('info', f'camera {self.names[view]}: enabled again', f'enable{view}:yes')
            else:
                self._emit('error', f'camera {self.names[view]}: disabled: {reason}', f'enable{view}:no')

    # ------------------------------------------------------------------------------ state
    def update_state(self, now: float) -> int | None:
        """Refresh staleness / reference choice at ``now``, queueing events on changes; returns the reference."""
        states = self.store.states()
        max_age = self.store.max_age_s
        for v, st in enumerate(states):
            fresh = self.store.is_usable(v, now)
            if fresh != self._fresh[v] and st.enabled:
                if fresh:
                    again = ' again' if self._seen[v] else ''
                    self._emit('info', f'camera {st.name}: receiving{again}', f'fresh{v}:yes')
                    self._seen[v] = True
                else:
                    self._emit('warn', f'camera {st.name}: stale, no frame for {st.age(now):.2f} s '
                                       f'(max_frame_age_s {max_age:g}); running on the other views', f'fresh{v}:no')
            self._fresh[v] = fresh
        ref = self.store.choose_reference(now)
        configured = self.store.reference_order[0]
        if ref != self.active_ref:
            if ref is None:
                self._emit('error', 'no usable reference view (all stale, missing or disabled): no output',
                           'reference:none')
            elif ref == configured:
                if self.active_ref is not None:
                    self._emit('info', f'reference back to the configured view {self.names[ref]}',
                               'reference:back')
            else:
                why = self._why_unusable(configured, now, states)
                self.stats.failovers += 1
                self._emit('warn', f'reference {self.names[configured]} {why}: failing over to '
                                   f'{self.names[ref]}', f'reference:failover{ref}')
            self.active_ref = ref
        return ref

    def _why_unusable(self, view: int, now: float, states) -> str:
        st = states[view]
        if not st.enabled:
            return f'is disabled ({st.disabled_reason})'
        if st.last_arrival is None:
            return 'has sent no frame yet'
        return f'is stale ({st.age(now):.2f} s > {self.store.max_age_s:g} s)'

    # ------------------------------------------------------------------------------ inference
    def step(self, now: float, require_new: bool = True) -> StepOutcome:
        """Run the pipeline on the usable frames at ``now`` if the reference has a new frame.

        The estimate refers to the reference frame: its stamp is returned unchanged in ``stamp_ns``.
        """
        if self.store.note_time(now):
            self._emit('warn', 'clock jumped backwards: cleared all stored frames', 'time_jump')
        ref = self.update_state(now)
        if ref is None:
            return StepOutcome('no_reference', message='no usable reference view')
        frames = self.store.take(now)
        ref_frame = frames[ref]
        if ref_frame is None:  # became stale between the two calls
            return StepOutcome('no_reference', message='reference became unusable')
        if require_new and self._last_ref_seq.get(ref) == ref_frame.seq:
            return StepOutcome('not_new', ref, ref_frame.stamp_ns)
        self._last_ref_seq[ref] = ref_frame.seq
        images: list[np.ndarray | None] = [None] * self.store.n_views
        for v, f in enumerate(frames):
            if f is None:
                continue
            try:
                images[v] = self.convert(f.payload, self.size_of(v))
            except Exception as exc:  # noqa: BLE001 - a bad frame must not stop the node
                self.store.reject(v, str(exc), now)
                self._emit('error', f'camera {self.names[v]}: cannot convert frame: {exc}', f'reject{v}')
        views = [v for v, im in enumerate(images) if im is not None]
        if images[ref] is None:
            return self._fail(ref, ref_frame.stamp_ns, f'reference frame of {self.names[ref]} is unusable')
        if len(views) < self.min_views:
            self.stats.too_few_views += 1
            self._emit('warn', f'only {len(views)} usable view(s) ({", ".join(self.names[v] for v in views)}), '
                               f'min_views is {self.min_views}: no output', 'too_few')
            return StepOutcome('too_few_views', ref, ref_frame.stamp_ns, views=views)
        t0 = time.perf_counter()
        try:
            raw = self.pipeline.run(images, ref)
            result = check_result(raw, self.pipeline.region, self.pipeline.task)
        except Exception as exc:  # noqa: BLE001 - report, keep the node alive
            return self._fail(ref, ref_frame.stamp_ns, f'pipeline failed: {type(exc).__name__}: {exc}')
        wall_ms = (time.perf_counter() - t0) * 1e3
        if not result.inference_ms > 0:
            result.inference_ms = wall_ms
        s = self.stats
        s.runs += 1
        s.last_inference_ms = result.inference_ms
        s.mean_inference_ms = (result.inference_ms if math.isnan(s.mean_inference_ms)
                               else 0.9 * s.mean_inference_ms + 0.1 * result.inference_ms)
        s.last_views, s.last_stamp_ns, s.last_count = views, ref_frame.stamp_ns, result.count
        self._report_note(result.note)
        estimate = self._assess(ref, ref_frame.stamp_ns, views, result.note, now)
        return StepOutcome('ok', ref, ref_frame.stamp_ns, result, views, estimate=estimate)

    def _assess(self, ref: int, stamp_ns: int, views: list[int], note: str, now: float) -> EstimateStatus:
        """Flag the estimate (degraded or not), count it, and log the start / end of a degraded period."""
        states = self.store.states()
        why: dict[int, str] = {}
        for v, st in enumerate(states):
            if not st.enabled:
                why[v] = 'disabled'
            elif st.last_arrival is None:
                why[v] = 'has sent no frame'
            elif st.age(now) > self.store.max_age_s:
                why[v] = 'stale'
            else:
                why[v] = 'frame unusable'
        est = assess(stamp_ns, ref, self.model_reference, views, self.store.n_views, self.names, why, note)
        suppress = est.degraded and self.degraded_output == 'suppress'
        if suppress:
            est = EstimateStatus(est.stamp_ns, est.reference, est.model_reference, est.views, est.missing,
                                 True, est.reason, published=False)
        s = self.stats
        s.degraded_estimates += est.degraded
        s.suppressed_estimates += suppress
        s.last_estimate = est
        if est.reason != self._degraded_reason:
            if est.degraded:
                action = ('density and count withheld (degraded_output suppress)' if suppress
                          else 'published flagged degraded on ~/estimate_status (degraded_output mark)')
                self._emit('error', f'estimates are DEGRADED (outside the training conditions): {est.reason}; '
                                    f'{action}', f'degraded:{est.reason}')
            else:
                self._emit('info', f'estimates are no longer degraded: all {self.store.n_views} views fused, '
                                   f'reference {self.names[ref]}', 'degraded:clear')
            self._degraded_reason = est.reason
        return est

    @property
    def degraded(self) -> bool:
        """True when the latest estimate was degraded."""
        est = self.stats.last_estimate
        return est is not None and est.degraded

    def _report_note(self, note: str) -> None:
        if note == self.last_note:
            return
        if note:
            self._emit('warn', f'model: {note}', 'pipeline_note')
        else:
            self._emit('info', 'model: estimates are normal again', 'pipeline_note:clear')
        self.last_note = note

    def _fail(self, ref: int, stamp_ns: int, message: str) -> StepOutcome:
        self.stats.errors += 1
        self.stats.last_error = message
        self._emit('error', message, 'pipeline')
        return StepOutcome('error', ref, stamp_ns, message=message)


class LogThrottle:
    """Per-key log throttling: at most one line per ``period_s`` per key, counting the suppressed ones.

    (rclpy's ``throttle_duration_sec`` throttles per call site, which would merge unrelated messages.)
    """

    def __init__(self, period_s: float = 5.0) -> None:
        self.period_s = float(period_s)
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def check(self, key: str, now: float, period_s: float | None = None) -> tuple[bool, int]:
        """(log it?, number of suppressed lines since the last logged one) for ``key`` at ``now`` (s)."""
        period = self.period_s if period_s is None else period_s
        last = self._last.get(key)
        if last is not None and 0 <= now - last < period:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False, 0
        self._last[key] = now
        return True, self._suppressed.pop(key, 0)
