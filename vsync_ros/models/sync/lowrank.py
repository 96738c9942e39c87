"""Factorized first motion-net layer of CLS-cor / CLS-epi: no (H*W) x (H*W) correlation is ever built.

The motion net's first layer is a convolution, linear in the normalised correlation

    X[c, q] = S * M[c, q] <a_c, b_q> / (n_c + eps),   n_c = sum_q M[c, q] <a_c, b_q>,

(a = reference features (F, Hr*Wr), b = view-i features (F, Ho*Wo), M = epipolar weights or 1, S = Ho*Wo
with ``corr_rescale`` else 1). With a rank-R factorization M[c, q] = sum_r u_r[c] v_r[q] (exact with R = 1
for CLS-cor):

    conv(X, W)[o, p] = sum_delta sum_(r, f) W'[o, (r, f), delta] * v_r[p + delta] b[f, p + delta],
    W'[o, (r, f), delta] = S * sum_c W[o, c, delta] u_r[c] a[f, c] / (n_c + eps),
    n_c = sum_(r, f) u_r[c] a[f, c] (sum_q v_r[q] b[f, q]),

a per-frame convolution over R * F channels instead of Hr * Wr. The zero padding of the direct conv is kept
(v_r * b is zero-padded). The coarse-to-fine correlation difference of
:class:`~vsync_ros.models.sync.camera_level.CameraLevelSync` is a second term with negated W'.

Cost (multiply-adds per frame and camera pair, C = Hr*Wr, P = Ho*Wo, O = first-conv outputs, K = kernel,
T = correlation terms (1, or 2 with the difference)):

    direct      T * C * P * F + O * K^2 * C * P
    factorized  T * R * F * (O * K^2 * (C + P) + 2 P + C)

so the factorized form wins when R * F is small against C * P / (T * (C + P)). Epipolar weights are stored
as the factors (u: (C, R), v: (R, Ho, Wo)), from a truncated SVD (randomized for large masks) keeping the
smallest rank whose discarded relative energy sum_{i>R} s_i^2 / sum_i s_i^2 is at most a tolerance.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vsync_ros.geometry import Camera
from vsync_ros.geometry.epipolar import (
    epipolar_lines,
    feature_pixel_centres,
    fundamental_matrix,
    point_line_distance,
)
from vsync_ros.models.sync.config import CORRELATION_FORMS

CORR_EPS = 1e-8

FACTORIZED_RATE_PENALTY = 1.4
"""Time per multiply-add of the factorized first layer over the direct one's.

Measured on 2 CPU threads (torch 2.13, AMD EPYC with AVX2) at the paper and small sizes
(F = 32 / 16 features, O = 128 / 32 outputs, 9x12 ... 72x96 maps, ranks 1-16): the direct form's
correlation + 5x5 conv over H*W channels ran at 30-45 G multiply-adds/s, the factorized form's
weight product + conv over R*F channels at 20-34 G/s. ``choose_form('auto')`` weighs the factorized
estimate with it, so near-ties (e.g. the small config's 24x18 level at rank 7) stay direct.
"""

BMM_MAX_COLUMNS = 128
""":func:`weight_product` with at most this many columns M: one batched matmul over the output channels;
more: one GEMM per block of ``WEIGHT_CHUNK`` reference locations on a re-laid-out slice of the weight.
Measured at 6912 reference locations, O = 128, K = 5, 2 threads (ms, bmm / blocked GEMM / the 1x1
convolution of the weight used before): M = 64: 49 / 67 / 101, 256: 198 / 172 / 217,
448: 382 / 275 / 411; at 1728 locations the three are within 15 %."""

WEIGHT_CHUNK = 512
"""Reference locations per block of :func:`weight_product` (the copied weight slice is O*K*K x 512 floats)."""

RowFn = Callable[[int, int], np.ndarray]


@dataclass
class LowRank:
    """A rank-R factorization M ~ u @ v of an (m, n) matrix.

    Attributes:
        u: (m, R) float32, singular values folded in. v: (R, n) float32, orthonormal rows.
        rel_energy: discarded relative energy ||M - u v||_F^2 / ||M||_F^2 (float64 estimate).
        randomized: whether a randomized range finder was used.
    """

    u: torch.Tensor
    v: torch.Tensor
    rel_energy: float
    randomized: bool

    @property
    def rank(self) -> int:
        """R."""
        return int(self.u.shape[1])


def epipolar_weight_rows(cam_ref: Camera, cam_other: Camera, stride: int, sigma: float, kernel: str,
                         sigma_in_feature_px: bool, ref_hw: tuple[int, int], other_hw: tuple[int, int]
                         ) -> RowFn:
    """Row blocks of :func:`vsync_ros.geometry.epipolar_weight_mask` without building the whole mask.

    Returns:
        ``rows(start, stop)`` -> (stop - start, Ho * Wo) float32 weights of reference locations
        ``start:stop`` (row-major), equal to the corresponding rows of the full mask.
    """
    if sigma <= 0 or not math.isfinite(sigma):
        raise ValueError(f'epipolar sigma must be positive, got {sigma}')
    if kernel not in ('gauss', 'laplace'):
        raise ValueError(f'unknown epipolar kernel {kernel!r} (gauss | laplace)')
    fm = fundamental_matrix(cam_ref, cam_other)
    ref_px = cam_ref.ideal_pixels(feature_pixel_centres(ref_hw, stride))
    other_px = cam_other.ideal_pixels(feature_pixel_centres(other_hw, stride))

    def rows(start: int, stop: int) -> np.ndarray:
        d = point_line_distance(epipolar_lines(fm, ref_px[start:stop]), other_px)
        if sigma_in_feature_px:
            d = d / stride
        w = np.exp(-0.5 * (d / sigma) ** 2) if kernel == 'gauss' else np.exp(-d / sigma)
        return w.astype(np.float32)

    return rows


def _chunks(m: int, chunk: int) -> list[tuple[int, int]]:
    return [(i, min(m, i + chunk)) for i in range(0, m, chunk)]


def dense_rows(rows: RowFn, m: int, chunk: int = 1024) -> np.ndarray:
    """The whole (m, n) float32 matrix of ``rows``, filled ``chunk`` rows at a time.

    Peak memory is the result plus one block's float64 temporaries (``chunk`` x n), not a float64 (m, n).
    """
    first = rows(0, min(m, chunk))
    out = np.empty((m, first.shape[1]), dtype=np.float32)
    out[:first.shape[0]] = first
    for a, b in _chunks(m, chunk)[1:]:
        out[a:b] = rows(a, b)
    return out


def _truncate(us: torch.Tensor, s: torch.Tensor, vh: torch.Tensor, total: float, tol: float,
              randomized: bool) -> LowRank:
    """Smallest rank whose discarded energy (``total`` minus the kept s_i^2) is <= tol * total."""
    tail = total - torch.cumsum(s.double() ** 2, 0)
    tail = torch.clamp(tail, min=0.0) / max(total, 1e-300)
    ok = torch.nonzero(tail <= tol)
    rank = int(ok[0]) + 1 if ok.numel() else int(s.numel())
    return LowRank((us[:, :rank] * s[:rank]).float().contiguous(), vh[:rank].float().contiguous(),
                   float(tail[rank - 1]), randomized)


def _sum_squares(block: torch.Tensor, chunk: int) -> float:
    """Sum of ``block ** 2`` in float64, ``chunk`` rows at a time (no float64 copy of the whole block)."""
    return sum(float(torch.linalg.vector_norm(block[a:b], dtype=torch.float64) ** 2)
               for a, b in _chunks(block.shape[0], chunk))


def low_rank_factors(rows: RowFn, shape: tuple[int, int], tol: float, exact_limit: int = 1_500_000,
                     dense_limit: int = 64 * 2 ** 20, chunk: int = 1024, start_rank: int = 32,
                     power_iters: int = 2, seed: int = 0) -> LowRank:
    """Truncated SVD of an (m, n) matrix given by float32 row blocks, keeping relative discarded energy <= ``tol``.

    Matrices with at most ``exact_limit`` entries get a full float64 SVD; larger ones a randomized range
    finder (Gaussian sketch, ``power_iters`` power iterations in float32, block size doubled from
    ``start_rank`` until the captured energy meets the tolerance; B = Q^T M, QR and SVD in float64). Up to
    ``dense_limit`` entries the matrix is held once in float32 (4 bytes per entry, build time only; filled
    ``chunk`` rows at a time, never copied to float64 as a whole); beyond, it is recomputed in blocks of
    ``chunk`` rows at every pass. Build-time memory: the float32 matrix (when dense) plus O(chunk * n)
    float64 temporaries and the (m + n) x block-size sketches.
    """
    m, n = shape
    if m * n <= exact_limit:
        mat = torch.from_numpy(rows(0, m)).double()
        u, s, vh = torch.linalg.svd(mat, full_matrices=False)
        return _truncate(u, s, vh, float((mat ** 2).sum()), tol, False)
    if m * n <= dense_limit:
        dense = torch.from_numpy(dense_rows(rows, m, chunk))
        blocks = [(0, m)]

        def block(a: int, b: int) -> torch.Tensor:
            return dense[a:b]
    else:
        blocks = _chunks(m, chunk)

        def block(a: int, b: int) -> torch.Tensor:
            return torch.from_numpy(rows(a, b))

    def times(x: torch.Tensor) -> torch.Tensor:           # M @ x, (m, q)
        x32 = x.float()
        return torch.cat([block(a, b) @ x32 for a, b in blocks]).double()

    def times_t(y: torch.Tensor, exact: bool = False) -> torch.Tensor:   # M^T @ y, (n, q); float64 if exact
        out = torch.zeros(n, y.shape[1], dtype=torch.float64)
        for a, b in blocks:
            for a2, b2 in _chunks(b - a, chunk):
                mb = block(a + a2, a + b2)
                out += mb.double().T @ y[a + a2:a + b2] if exact else (mb.T @ y[a + a2:a + b2].float()).double()
        return out

    total = sum(_sum_squares(block(a, b), chunk) for a, b in blocks)
    gen = torch.Generator().manual_seed(seed)
    q = min(start_rank, m, n)
    while True:
        y = times(torch.randn(n, q, generator=gen, dtype=torch.float64))
        for _ in range(power_iters):
            y = times(torch.linalg.qr(times_t(torch.linalg.qr(y).Q)).Q)
        qm = torch.linalg.qr(y).Q                                                          # (m, q)
        ub, s, vh = torch.linalg.svd(times_t(qm, exact=True).T, full_matrices=False)      # B = Q^T M (q, n)
        gap = max(total - float((s ** 2).sum()), 0.0)
        if gap <= 0.5 * tol * total or q >= min(m, n):
            return _truncate(qm @ ub, s, vh, total, tol, True)
        q = min(2 * q, m, n)


def direct_cost(c: int, p: int, feat: int, out: int, kernel: int, terms: int, epipolar: bool) -> float:
    """Multiply-adds of the direct first layer: correlation(s) (+ weights), normalisation, conv."""
    return terms * c * p * (feat + (2 if epipolar else 1)) + out * kernel ** 2 * c * p


def factorized_cost(c: int, p: int, feat: int, out: int, kernel: int, terms: int, rank: int) -> float:
    """Multiply-adds of the factorized first layer (see the module docstring)."""
    j = rank * feat
    return terms * j * (out * kernel ** 2 * (c + p) + 2 * p + 2 * c)


def choose_form(mode: str, c: int, p: int, feat: int, out: int, kernel: int, terms: int, rank: int,
                epipolar: bool) -> str:
    """'direct' or 'factorized' for ``mode``.

    'auto' = the one with the smaller estimated time: multiply-adds (:func:`direct_cost`,
    :func:`factorized_cost`), the factorized ones weighted by :data:`FACTORIZED_RATE_PENALTY`.
    """
    if mode not in CORRELATION_FORMS:
        raise ValueError(f'unknown correlation form {mode!r} (known: {list(CORRELATION_FORMS)})')
    if mode != 'auto':
        return mode
    fact = FACTORIZED_RATE_PENALTY * factorized_cost(c, p, feat, out, kernel, terms, rank)
    return 'factorized' if fact < direct_cost(c, p, feat, out, kernel, terms, epipolar) else 'direct'


def weight_product(weight: torch.Tensor, left_t: torch.Tensor, chunk: int = WEIGHT_CHUNK) -> torch.Tensor:
    """(O, K*K, M) product sum_c W[o, c, kh, kw] left_t[c, m] of a conv weight with per-frame columns.

    Args:
        weight: (O, C, K, K) conv weight (as stored; never copied whole).
        left_t: (C, M) columns (any strides).
        chunk: reference locations per block when M > :data:`BMM_MAX_COLUMNS`.

    Returns:
        (O, K*K, M), entry [o, kh * K + kw, m].
    """
    o, c = weight.shape[:2]
    kk = weight.shape[2] * weight.shape[3]
    m = left_t.shape[1]
    wv = weight.reshape(o, c, kk)
    if m <= BMM_MAX_COLUMNS:
        return torch.bmm(wv.transpose(1, 2), left_t.unsqueeze(0).expand(o, c, m))
    out = None
    for a, b in _chunks(c, chunk):
        wm = wv[:, a:b].transpose(1, 2).reshape(o * kk, b - a)      # (O*K*K, b - a) copy of a slice
        out = wm @ left_t[a:b] if out is None else out.addmm_(wm, left_t[a:b])
    return out.view(o, kk, m)


def factorized_first_conv(conv: nn.Conv2d, terms: Sequence[tuple[float, torch.Tensor, torch.Tensor]],
                          u: torch.Tensor | None = None, v: torch.Tensor | None = None, rescale: bool = True
                          ) -> torch.Tensor:
    """First motion-net conv applied to sum_t sign_t * (normalised weighted correlation of term t).

    Equal (up to rounding and the rank truncation of the weights) to
    ``conv(sum_t sign_t * normalize(global_correlation(f_ref_t, f_oth_t) * M))`` without forming it.

    Args:
        conv: the first conv of a :class:`~vsync_ros.models.sync.motion.MotionNet`, weight (O, Hr*Wr, K, K),
            stride 1, 'same' zero padding.
        terms: (sign, f_ref (N, F, Hr, Wr), f_oth (N, F, Ho, Wo)) per correlation term.
        u: (Hr*Wr, R) and v: (R, Ho, Wo) factors of the epipolar weights M = u @ v.flatten(1);
            None for CLS-cor (M = 1, rank 1).
        rescale: multiply by Ho * Wo (``corr_rescale``).

    Returns:
        (N, O, Ho, Wo) pre-activation output of ``conv`` (bias included once).
    """
    weight = conv.weight                                             # (O, C, K, K)
    n, feat = terms[0][1].shape[:2]
    ho, wo = terms[0][2].shape[-2:]
    scale = float(ho * wo) if rescale else 1.0
    lefts, rights = [], []
    for sign, f_ref, f_oth in terms:
        a = f_ref.flatten(2)                                         # (N, F, C)
        if u is None or v is None:
            au = a.unsqueeze(1)                                      # (N, 1, F, C)
            bv = f_oth.unsqueeze(1)                                  # (N, 1, F, Ho, Wo)
            s = f_oth.sum(dim=(2, 3)).unsqueeze(1)                   # (N, 1, F)
        else:
            au = a.unsqueeze(1) * u.t()[None, :, None, :]            # (N, R, F, C)
            bv = f_oth.unsqueeze(1) * v[None, :, None]               # (N, R, F, Ho, Wo)
            s = torch.einsum('rq,nfq->nrf', v.flatten(1), f_oth.flatten(2))
        norm = torch.einsum('nrf,nrfc->nc', s, au) + CORR_EPS          # (N, C): n_c + eps
        lefts.append((au * ((sign * scale) / norm)[:, None, None, :]).flatten(1, 2))   # (N, J_t, C)
        rights.append(bv.flatten(1, 2))                              # (N, J_t, Ho, Wo)
    left = torch.cat(lefts, 1) if len(lefts) > 1 else lefts[0]       # (N, J, C)
    right = torch.cat(rights, 1) if len(rights) > 1 else rights[0]   # (N, J, Ho, Wo)
    j, c = left.shape[1:]
    o, k = weight.shape[0], weight.shape[-1]
    # W'[n, o, j, kh, kw] = sum_c W[o, c, kh, kw] left[n, j, c]
    wp = weight_product(weight, left.permute(2, 0, 1).reshape(c, n * j))           # (O, K*K, N*J)
    wp = wp.view(o, k, k, n, j).permute(3, 0, 4, 1, 2).reshape(n * o, j, k, k)
    out = F.conv2d(right.reshape(1, n * j, ho, wo), wp, None, padding=conv.padding, groups=n)
    out = out.view(n, o, ho, wo)
    return out if conv.bias is None else out + conv.bias.view(1, o, 1, 1)
