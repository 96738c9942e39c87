"""Diagnostic statuses of the sync node, built without ROS and converted to DiagnosticArray.

One status per view (``<node>: <camera>``: frame age, rate, dropped / rejected / lost frames, stamp
offset to the reference) and one for the node (``<node>: sync``: active reference, inference time,
outputs, errors).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

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
                is_reference: bool = False) -> Status:
    """Status of one view at ``now`` (seconds on the consumer clock)."""
    age = st.age(now)
    offset = (math.nan if ref_stamp_ns is None or st.last_stamp_ns is None
              else (st.last_stamp_ns - ref_stamp_ns) * 1e-9)
    if not st.enabled:
        level, msg = ERROR, f'disabled: {st.disabled_reason}'
    elif st.last_arrival is None:
        level, msg = WARN, 'no frame received yet'
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
    return Status(level, f'{node}: {st.name}', msg, st.topic or st.name, values)


def node_status(stats: CoreStats, active_ref: int | None, configured_ref: int, names: list[str], node: str,
                trigger: str = 'reference', device: str = '', outputs: int | None = None, note: str = '') -> Status:
    """Status of the fused output (``note``: the model's latest degradation note, '' if none)."""
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
    return Status(level, f'{node}: sync', msg, node, values)


def no_model_status(node: str, message: str, checkpoint: str, retry_s: float) -> Status:
    """Status of a node that is up but has no model yet (checkpoint missing or unusable)."""
    return Status(ERROR, f'{node}: sync', message, node,
                  {'checkpoint': checkpoint, 'retry_period_s': _fmt(retry_s, 1), 'runs': '0'})


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
