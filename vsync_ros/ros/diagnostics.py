"""Diagnostic statuses of the sync node, built without ROS and converted to DiagnosticArray.

Status names are stable (what ``diagnostic_aggregator`` analyzers match on):

* ``<node>: camera <name>`` per view (frame age, rate, dropped / rejected / lost frames, stamp offset to
  the reference; ``hardware_id`` = the view's image topic);
* ``<node>: model`` for the model and the fused output (lifecycle state, active reference, inference
  time, the device actually used, outputs, errors);
* ``<node>: estimate``: ERROR while the estimates are degraded (fewer views than the model was
  trained with, or fail-over), with the reason (:mod:`vsync_ros.runtime.degraded`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from vsync_ros.runtime.degraded import EstimateStatus
from vsync_ros.runtime.frame_store import ViewState
from vsync_ros.runtime.sync_core import CoreStats

OK, WARN, ERROR, STALE = 0, 1, 2, 3  # diagnostic_msgs/DiagnosticStatus levels
RECENT_ERROR_S = 5.0


@dataclass
class Status:
    """ROS-free twin of diagnostic_msgs/DiagnosticStatus."""

    level: int
    name: str
    message: str
    hardware_id: str = ''
    values: dict[str, str] = field(default_factory=dict)


def _fmt(x: float, digits: int = 3) -> str:
    return 'inf' if math.isinf(x) else ('nan' if math.isnan(x) else f'{x:.{digits}f}')


def view_status(st: ViewState, now: float, max_age_s: float, ref_stamp_ns: int | None, node: str,
                is_reference: bool = False, hint: str = '') -> Status:
    """Status of one view at ``now`` (seconds on the consumer clock).

    ``hint``: what to try when nothing arrives (e.g. publishers exist but no frame came; QoS mismatch).
    """
    age = st.age(now)
    offset = (math.nan if ref_stamp_ns is None or st.last_stamp_ns is None
              else (st.last_stamp_ns - ref_stamp_ns) * 1e-9)
    if not st.enabled:
        level, msg = ERROR, f'disabled: {st.disabled_reason}'
    elif st.last_arrival is None:
        level, msg = WARN, 'no frame received yet' + (f': {hint}' if hint else '')
    elif age > max_age_s:
        level, msg = WARN, f'stale: no frame for {age:.2f} s (max {max_age_s:g} s); running on the other views'
    elif now - st.last_error_time < RECENT_ERROR_S:
        level, msg = WARN, f'rejecting frames: {st.last_error}'
    else:
        level, msg = OK, 'receiving' + (' (active reference)' if is_reference else '')
    values = {
        'frame_age_s': _fmt(age),
        'rate_hz': _fmt(st.rate_hz(), 2),
        'stamp_offset_to_reference_s': _fmt(offset),
        'frames_received': str(st.received),
        'frames_used': str(st.used),
        'frames_dropped_superseded': str(st.superseded),
        'frames_rejected': str(st.rejected),
        'frames_lost_in_transport': str(st.lost),
        'active_reference': str(is_reference).lower(),
        'last_error': st.last_error,
    }
    if hint:
        values['hint'] = hint
    return Status(level, f'{node}: camera {st.name}', msg, st.topic or st.name, values)


def node_status(stats: CoreStats, active_ref: int | None, configured_ref: int, names: list[str], node: str,
                trigger: str = 'reference', device: str = '', outputs: int | None = None, note: str = '',
                lifecycle: str = '') -> Status:
    """Status of the model and the fused output.

    ``note``: the model's latest degradation note ('' if none); ``device``: the device the model really
    runs on (e.g. ``cpu`` after a CUDA fall-back); ``lifecycle``: the node's lifecycle state label.
    """
    if active_ref is None:
        level, msg = ERROR, 'no usable reference view: no output'
    elif stats.last_error and stats.errors and stats.runs == 0:
        level, msg = ERROR, stats.last_error
    elif active_ref != configured_ref:
        level, msg = WARN, f'failed over: reference is {names[active_ref]} ({names[configured_ref]} unusable)'
    elif note:
        level, msg = WARN, f'running, reference {names[active_ref]}; {note}'
    else:
        level, msg = OK, f'running, reference {names[active_ref]}'
    values = {
        'active_reference': names[active_ref] if active_ref is not None else '',
        'configured_reference': names[configured_ref],
        'inference_ms': _fmt(stats.last_inference_ms, 1),
        'inference_ms_mean': _fmt(stats.mean_inference_ms, 1),
        'runs': str(stats.runs),
        'pipeline_errors': str(stats.errors),
        'last_error': stats.last_error,
        'failovers': str(stats.failovers),
        'skipped_too_few_views': str(stats.too_few_views),
        'last_views_used': ','.join(names[v] for v in stats.last_views),
        'last_count': _fmt(stats.last_count, 2),
        'trigger': trigger,
        'model_note': note,
    }
    if device:
        values['device'] = device
    if outputs is not None:
        values['outputs_published'] = str(outputs)
    if lifecycle:
        values['lifecycle_state'] = lifecycle
    return Status(level, f'{node}: model', msg, node, values)


def no_model_status(node: str, message: str, checkpoint: str, retry_s: float) -> Status:
    """Status of a node that is up but has no model yet (checkpoint missing or unusable)."""
    return Status(ERROR, f'{node}: model', message, node,
                  {'checkpoint': checkpoint, 'retry_period_s': _fmt(retry_s, 1), 'runs': '0'})


def lifecycle_status(node: str, state: str, problem: str = '') -> Status:
    """Status of a node that is not running: unconfigured (``problem``: why configure failed) or inactive."""
    if problem:
        return Status(ERROR, f'{node}: model', f'{state}: {problem}', node,
                      {'lifecycle_state': state, 'last_error': problem})
    return Status(WARN, f'{node}: model', f'{state}: no subscriptions, no output (waiting for a lifecycle '
                  'transition)', node, {'lifecycle_state': state})


def estimate_status(est: EstimateStatus | None, names: list[str], node: str, degraded_output: str = 'mark',
                    degraded_count: int = 0, suppressed_count: int = 0) -> Status:
    """Status of the latest estimate: ERROR while degraded (with the reason), OK otherwise."""
    values = {'degraded_output': degraded_output, 'degraded_estimates': str(degraded_count),
              'suppressed_estimates': str(suppressed_count)}
    if est is None:
        return Status(OK, f'{node}: estimate', 'no estimate yet', node, {'degraded': 'false', **values})
    values.update({
        'degraded': str(est.degraded).lower(),
        'reason': est.reason,
        'reference': names[est.reference],
        'model_reference': names[est.model_reference],
        'views_fused': ','.join(names[v] for v in est.views),
        'views_missing': ','.join(names[v] for v in est.missing),
        'published': str(est.published).lower(),
    })
    if not est.degraded:
        return Status(OK, f'{node}: estimate', f'normal: all {len(names)} views fused', node, values)
    action = 'published flagged degraded' if est.published else 'not published (degraded_output suppress)'
    return Status(ERROR, f'{node}: estimate', f'DEGRADED ({action}): {est.reason}', node, values)


def parse_estimate_status(values: dict[str, str], names: list[str], stamp_ns: int) -> EstimateStatus | None:
    """The :class:`EstimateStatus` an :func:`estimate_status` key-value set describes (None: no estimate yet).

    The inverse of :func:`estimate_status` for a listener of ``~/estimate_status`` (``vsync-bag-eval`` online);
    ``missing`` is not recovered beyond the view names (its reasons are not published).

    Raises:
        ValueError: a view name that is not one of ``names`` (the message names the key).
    """
    if 'reference' not in values:
        return None
    index = {name: v for v, name in enumerate(names)}

    def view(key: str, name: str) -> int:
        if name not in index:
            raise ValueError(f'estimate status {key}: unknown view {name!r} (views: {", ".join(names)})')
        return index[name]

    fused = tuple(view('views_fused', n) for n in values.get('views_fused', '').split(',') if n)
    missing = {view('views_missing', n): '' for n in values.get('views_missing', '').split(',') if n}
    return EstimateStatus(int(stamp_ns), view('reference', values['reference']),
                          view('model_reference', values.get('model_reference', values['reference'])), fused, missing,
                          values.get('degraded') == 'true', values.get('reason', ''),
                          values.get('published', 'true') == 'true')


def to_diagnostic_array(statuses: list[Status], header):
    """diagnostic_msgs/DiagnosticArray with ``header`` (imports diagnostic_msgs lazily)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    arr = DiagnosticArray()
    arr.header = header
    for s in statuses:
        ds = DiagnosticStatus()
        ds.level = bytes([s.level])
        ds.name, ds.message, ds.hardware_id = s.name, s.message, s.hardware_id
        ds.values = [KeyValue(key=k, value=v) for k, v in s.values.items()]
        arr.status.append(ds)
    return arr
