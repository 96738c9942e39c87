"""When an estimate is *degraded*, and how that is made visible (ROS-free).

A multi-view model is trained on all its views, synchronized to one reference view. An estimate made
from fewer views (a camera missing, stale or disabled) or around another reference (fail-over) is not
what the model was trained for: it can look plausible and still be far off (a plaza rig with its
reference stopped counted 6.7-7.2 people against 18.7). Such an estimate is flagged *degraded*, with
the reason, on every output; :data:`DEGRADED_OUTPUTS` says what the node does with it:

* ``mark``: publish it, flagged (``~/estimate_status``), with the colour image visibly marked;
* ``suppress``: do not publish density / count while degraded (the status still says why).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

DEGRADED_OUTPUTS = ('mark', 'suppress')
MARK_RGB = (255, 0, 255)  # magenta: not in the turbo / viridis / gray colour maps' usual look


@dataclass(frozen=True)
class EstimateStatus:
    """What one estimate was made from and whether it is degraded.

    Attributes:
        stamp_ns: the reference frame's stamp, integer nanoseconds (the stamp of the outputs).
        reference: view index the estimate refers to.
        model_reference: the view the model was trained to synchronize to.
        views: indices of the views fused.
        missing: indices of the model's views not fused, with why (``{view: reason}``).
        degraded: True when the estimate is not of the kind the model was trained for.
        reason: why it is degraded ('' when it is not).
        published: False when the density / count of this estimate were withheld (``suppress``).
    """

    stamp_ns: int
    reference: int
    model_reference: int
    views: tuple[int, ...]
    missing: dict[int, str] = field(default_factory=dict)
    degraded: bool = False
    reason: str = ''
    published: bool = True


def assess(stamp_ns: int, reference: int, model_reference: int, views: Sequence[int], n_views: int,
           names: Sequence[str], why_missing: dict[int, str] | None = None, note: str = '') -> EstimateStatus:
    """Decide whether an estimate fused from ``views`` around ``reference`` is degraded.

    Degraded when fewer than the model's ``n_views`` views were fused, when the reference is not the
    model's reference (fail-over), or when the pipeline itself reported a degradation ``note``.
    ``why_missing`` gives a short reason per missing view (e.g. 'stale', 'disabled'); the reason text
    names views, never ages, so it stays the same while the situation does. A ``note`` is appended to the
    reason (e.g. which fallback model made the estimate, or that the views were fused unsynchronized).
    """
    fused = tuple(sorted(int(v) for v in views))
    why = why_missing or {}
    missing = {v: why.get(v, 'no usable frame') for v in range(n_views) if v not in fused}
    parts = []
    if missing:
        parts.append(f'{len(fused)} of {n_views} trained views fused (missing: '
                     + ', '.join(f'{names[v]} {r}' for v, r in missing.items()) + ')')
    if reference != model_reference:
        parts.append(f'reference is {names[reference]}, not the training reference {names[model_reference]} '
                     '(fail-over)')
    if note:
        parts.append(note)
    return EstimateStatus(int(stamp_ns), int(reference), int(model_reference), fused, missing, bool(parts),
                          '; '.join(parts))


def mark_degraded(rgb: np.ndarray, border_px: int | None = None) -> np.ndarray:
    """A copy of colour image ``rgb`` (H, W, 3 uint8) with a magenta border and diagonal hatching.

    ``border_px`` defaults to about 1/16 of the shorter side (at least 1 pixel). The hatching (every
    8th diagonal) keeps the map readable while making a degraded image impossible to take for a
    normal one.
    """
    out = np.array(rgb, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    b = max(1, min(h, w) // 16) if border_px is None else max(1, int(border_px))
    colour = np.array(MARK_RGB, np.uint8)
    out[:b], out[-b:], out[:, :b], out[:, -b:] = colour, colour, colour, colour
    rows, cols = np.indices((h, w))
    out[(rows + cols) % 8 == 0] = colour
    return out
