"""Desynchronization of multi-view capture times (paper Sec. IV.B).

The reference view (view 0) captures at ``t_k = t0 + k * dt``. View ``i`` captures the frame paired
with reference frame ``k`` at ``t_k + delta_ik`` where

* ``mode='constant'``: ``delta_ik = tau_i`` (a fixed latency per view),
* ``mode='random'``: ``delta_ik ~ U(-kappa_i, kappa_i)``, drawn independently per frame and view,
* ``mode='none'``: ``delta_ik = 0`` (synchronized cameras).

Ground truth always belongs to the reference time ``t_k``. A view may also be *missing* for a
sample (probability ``missing_prob[i]``). When the reference view is missing, the first valid view
becomes the reference for that sample (the paper's Human3.6M fail-over): its offset is set to 0 so
that ``t_k`` is still the capture time of the frame acting as reference.

Offsets of sample ``k`` are a pure function of ``(seed, stream, k)``, so they do not depend on how
many samples are drawn or in which order; the train and test splits use different streams.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import NamedTuple

import numpy as np

MODES = ('constant', 'random', 'none')
STREAM_TRAIN = 0
STREAM_TEST = 1


class DesyncSample(NamedTuple):
    """Time offsets of one multi-view sample.

    Attributes:
        offsets_s: (V,) float64 capture-time offset of each view relative to the reference time (s);
            0 for the acting reference view and for missing views.
        valid: (V,) bool, False where the view has no frame for this sample.
        ref_view: index of the view acting as reference (first valid view).
    """

    offsets_s: np.ndarray
    valid: np.ndarray
    ref_view: int


def _per_view(value, n_views: int, name: str, reference_value: float | None) -> tuple[float, ...]:
    """Broadcast a scalar to the non-reference views (reference gets ``reference_value``) or check a list."""
    if isinstance(value, (int, float, np.floating, np.integer)):
        v = float(value)
        if reference_value is None:
            return tuple([v] * n_views)
        return tuple([float(reference_value)] + [v] * (n_views - 1))
    vals = tuple(float(x) for x in value)
    if len(vals) != n_views:
        raise ValueError(f'{name} needs {n_views} values (one per view, view 0 = reference), got {len(vals)}')
    return vals


@dataclass
class DesyncConfig:
    """Desynchronization settings.

    Attributes:
        n_views: number of views V (view 0 is the reference).
        dt_s: time between consecutive reference frames (s).
        t0_s: time of reference frame 0 (s).
        mode: 'constant' | 'random' | 'none'.
        tau_s: (V,) constant latency per view (s), used by mode 'constant'; tau_s[0] must be 0.
            A scalar is broadcast to views 1..V-1; default +5, -5, +5, ... s (PETS-like).
        kappa_s: (V,) random latency bound per view (s), used by mode 'random'; kappa_s[0] must be 0.
            A scalar is broadcast to views 1..V-1 (default 5 s).
        missing_prob: (V,) probability that a view has no frame for a sample (a scalar applies to
            every view, including the reference, to exercise reference fail-over).
        seed: seed of the offset and missing-view draws.
        quantum_s: if set, offsets are rounded to multiples of this (e.g. 1/50 s for 50 Hz cameras),
            random offsets are then clipped to the largest multiple within +-kappa.
    """

    n_views: int = 3
    dt_s: float = 1.0 / 7.0
    t0_s: float = 0.0
    mode: str = 'random'
    tau_s: Sequence[float] | None = None
    kappa_s: Sequence[float] | float = 5.0
    missing_prob: Sequence[float] = field(default=0.0)
    seed: int = 0
    quantum_s: float | None = None

    def __post_init__(self) -> None:
        self.n_views = int(self.n_views)
        if self.n_views < 1:
            raise ValueError('n_views must be >= 1')
        if self.mode not in MODES:
            raise ValueError(f'unknown desync mode {self.mode!r} (choose from {", ".join(MODES)})')
        if not (math.isfinite(self.dt_s) and self.dt_s > 0):
            raise ValueError(f'dt_s must be positive, got {self.dt_s}')
        if not math.isfinite(self.t0_s):
            raise ValueError('t0_s must be finite')
        if self.tau_s is None:
            self.tau_s = _extend((5.0, -5.0), self.n_views)
        self.tau_s = _per_view(self.tau_s, self.n_views, 'tau_s', 0.0)
        self.kappa_s = _per_view(self.kappa_s, self.n_views, 'kappa_s', 0.0)
        self.missing_prob = _per_view(self.missing_prob, self.n_views, 'missing_prob', None)
        if self.tau_s[0] != 0.0 or self.kappa_s[0] != 0.0:
            raise ValueError('the reference view (view 0) must have tau_s[0] = kappa_s[0] = 0')
        if not all(math.isfinite(x) for x in self.tau_s):
            raise ValueError('tau_s must be finite')
        if not all(math.isfinite(k) and k >= 0 for k in self.kappa_s):
            raise ValueError('kappa_s must be finite and >= 0')
        if not all(0.0 <= p < 1.0 for p in self.missing_prob):
            raise ValueError('missing_prob must be in [0, 1)')
        if self.quantum_s is not None:
            self.quantum_s = float(self.quantum_s)
            if not (math.isfinite(self.quantum_s) and self.quantum_s > 0):
                raise ValueError('quantum_s must be positive')
        self.seed = int(self.seed)

    # ------------------------------------------------------------------ queries
    def reference_time(self, k):
        """Reference capture time(s) t0 + k * dt (s) of reference frame index (or array of indices) k."""
        if np.ndim(k):
            return self.t0_s + np.asarray(k, dtype=np.float64) * self.dt_s
        return self.t0_s + float(k) * self.dt_s

    @property
    def max_abs_offset_s(self) -> float:
        """Largest |offset| any view can get in this mode (s)."""
        if self.mode == 'constant':
            return float(max(abs(x) for x in self.tau_s))
        if self.mode == 'random':
            return float(max(self.kappa_s))
        return 0.0

    def sample(self, k: int, stream: int = STREAM_TRAIN) -> DesyncSample:
        """Offsets, validity and acting reference of sample ``k`` (deterministic in seed, stream, k)."""
        if k < 0 or stream < 0:
            raise ValueError('sample index and stream must be >= 0')
        rng = np.random.default_rng([self.seed, int(stream), int(k)])
        kappa = np.asarray(self.kappa_s)
        u = rng.uniform(-1.0, 1.0, size=self.n_views)  # always drawn: same stream for every mode
        miss = rng.random(self.n_views) < np.asarray(self.missing_prob)
        if self.mode == 'random':
            offsets = u * kappa
        elif self.mode == 'constant':
            offsets = np.asarray(self.tau_s, dtype=np.float64).copy()
        else:
            offsets = np.zeros(self.n_views)
        if self.quantum_s is not None:
            q = self.quantum_s
            offsets = np.round(offsets / q) * q
            if self.mode == 'random':  # largest multiple of q within +-kappa
                bound = np.floor(kappa / q + 1e-9) * q
                offsets = np.clip(offsets, -bound, bound)
        valid = ~miss
        if not valid.any():
            valid[0] = True
        ref = int(np.argmax(valid))
        offsets[ref] = 0.0
        offsets[~valid] = 0.0
        return DesyncSample(offsets.astype(np.float64), valid, ref)

    def sample_many(self, n: int, stream: int = STREAM_TRAIN, start: int = 0) -> DesyncSample:
        """Stacked samples ``start .. start + n - 1``: offsets (n, V), valid (n, V), ref_view (n,)."""
        draws = [self.sample(k, stream) for k in range(start, start + n)]
        if not draws:
            return DesyncSample(np.zeros((0, self.n_views)), np.zeros((0, self.n_views), bool), np.zeros(0, int))
        return DesyncSample(np.stack([d.offsets_s for d in draws]), np.stack([d.valid for d in draws]),
                            np.array([d.ref_view for d in draws]))

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        """Plain mapping (JSON / YAML friendly)."""
        d = asdict(self)
        for key in ('tau_s', 'kappa_s', 'missing_prob'):
            d[key] = [float(x) for x in d[key]]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DesyncConfig:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        return cls(**d)

    def with_(self, **changes) -> DesyncConfig:
        """Copy with some fields changed (validated again)."""
        return replace(self, **changes)


# ---------------------------------------------------------------------------------------- presets
def _extend(vals: Sequence[float], n_views: int) -> tuple[float, ...]:
    """Per-view values for n_views: the reference 0, then ``vals`` cycled over the other views."""
    vals = list(vals)
    return tuple([0.0] + [vals[(i - 1) % len(vals)] for i in range(1, n_views)])


def pets(mode: str = 'random', kappa_s: float = 5.0, tau_s: Sequence[float] = (5.0, -5.0), n_views: int = 3,
         **kw) -> DesyncConfig:
    """PETS2009-like: 7 fps (dt = 1/7 s), tau = +5 / -5 s for views 2 / 3, kappa = 5 s."""
    return DesyncConfig(n_views=n_views, dt_s=1.0 / 7.0, mode=mode, tau_s=_extend(tau_s, n_views),
                        kappa_s=_extend([kappa_s], n_views), **kw)


def citystreet(mode: str = 'random', kappa_s: float = 3.0, tau_s: Sequence[float] = (3.0, -3.0), n_views: int = 3,
               **kw) -> DesyncConfig:
    """CityStreet-like: 1 fps (dt = 1 s), tau = +3 / -3 s for cameras 3 / 4, kappa = 3 s."""
    return DesyncConfig(n_views=n_views, dt_s=1.0, mode=mode, tau_s=_extend(tau_s, n_views),
                        kappa_s=_extend([kappa_s], n_views), **kw)


def h36m_train(kappa_s: float = 8.0 / 50.0, n_views: int = 4, mode: str = 'random', **kw) -> DesyncConfig:
    """Human3.6M-like training sampling: every 4th 50 Hz frame (dt = 4/50 s), random latency kappa.

    The paper tests kappa in {8, 32, 64} / 50 s. Offsets are whole 50 Hz frames.
    """
    kw.setdefault('quantum_s', 1.0 / 50.0)
    return DesyncConfig(n_views=n_views, dt_s=4.0 / 50.0, mode=mode, tau_s=(0.0,) * n_views,
                        kappa_s=_extend([kappa_s], n_views), **kw)


def h36m_test(kappa_s: float = 8.0 / 50.0, n_views: int = 4, mode: str = 'random', **kw) -> DesyncConfig:
    """Human3.6M-like test sampling: every 64th 50 Hz frame (dt = 64/50 s), random latency kappa."""
    kw.setdefault('quantum_s', 1.0 / 50.0)
    return DesyncConfig(n_views=n_views, dt_s=64.0 / 50.0, mode=mode, tau_s=(0.0,) * n_views,
                        kappa_s=_extend([kappa_s], n_views), **kw)


PRESETS = {'pets': pets, 'citystreet': citystreet, 'h36m_train': h36m_train, 'h36m_test': h36m_test}


def preset(name: str, **kw) -> DesyncConfig:
    """A named preset (``pets``, ``citystreet``, ``h36m_train``, ``h36m_test``) with keyword overrides."""
    try:
        return PRESETS[name](**kw)
    except KeyError:
        raise ValueError(f'unknown desync preset {name!r} (choose from {", ".join(PRESETS)})') from None
