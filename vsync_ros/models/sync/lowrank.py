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
        ``rows(start, stop)`` -> (stop - start, Ho * Wo) float64 copy of the float32 weights of reference
        locations ``start:stop`` (row-major), equal to the corresponding rows of the full mask.
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
        return w.astype(np.float32).astype(np.float64)

    return rows


def _chunks(m: int, chunk: int) -> list[tuple[int, int]]:
    return [(i, min(m, i + chunk)) for i in range(0, m, chunk)]


def _truncate(us: torch.Tensor, s: torch.Tensor, vh: torch.Tensor, total: float, tol: float,
              randomized: bool) -> LowRank:
    """Smallest rank whose discarded energy (``total`` minus the kept s_i^2) is <= tol * total."""
    tail = total - torch.cumsum(s.double() ** 2, 0)
    tail = torch.clamp(tail, min=0.0) / max(total, 1e-300)
    ok = torch.nonzero(tail <= tol)
    rank = int(ok[0]) + 1 if ok.numel() else int(s.numel())
    return LowRank((us[:, :rank] * s[:rank]).float().contiguous(), vh[:rank].float().contiguous(),
                   float(tail[rank - 1]), randomized)


def low_rank_factors(rows: RowFn, shape: tuple[int, int], tol: float, exact_limit: int = 1_500_000,
                     dense_limit: int = 64 * 2 ** 20, chunk: int = 1024, start_rank: int = 32,
                     power_iters: int = 2, seed: int = 0) -> LowRank:
    """Truncated SVD of an (m, n) matrix given by row blocks, keeping relative discarded energy <= ``tol``.

    Matrices with at most ``exact_limit`` entries get a full float64 SVD; larger ones a randomized range
    finder (Gaussian sketch, ``power_iters`` power iterations in float32, block size doubled from
    ``start_rank`` until the captured energy meets the tolerance; B = Q^T M, QR and SVD in float64). Up to
    ``dense_limit`` entries the matrix is held once in float32 (4 bytes per entry, build time only);
    beyond, it is recomputed in blocks of ``chunk`` rows at every pass.
    """
    m, n = shape
    if m * n <= exact_limit:
        mat = torch.from_numpy(rows(0, m))
        u, s, vh = torch.linalg.svd(mat, full_matrices=False)
        return _truncate(u, s, vh, float((mat ** 2).sum()), tol, False)
    if m * n <= dense_limit:
        dense = torch.from_numpy(rows(0, m)).float()
        blocks = [(0, m)]

        def block(a: int, b: int) -> torch.Tensor:
            return dense[a:b]
    else:
        blocks = _chunks(m, chunk)

        def block(a: int, b: int) -> torch.Tensor:
            return torch.from_numpy(rows(a, b)).float()

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

    total = sum(float((block(a, b).double() ** 2).sum()) for a, b in blocks)
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
    """'direct' or 'factorized' for ``mode`` ('auto' = the one with the smaller estimated cost)."""
    if mode not in CORRELATION_FORMS:
        raise ValueError(f'unknown correlation form {mode!r} (known: {list(CORRELATION_FORMS)})')
    if mode != 'auto':
        return mode
    fact = factorized_cost(c, p, feat, out, kernel, terms, rank)
    return 'factorized' if fact < direct_cost(c, p, feat, out, kernel, terms, epipolar) else 'direct'


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
    left = torch.cat(lefts, 1)                                       # (N, J, C)
    right = torch.cat(rights, 1)                                     # (N, J, Ho, Wo)
    j, c = left.shape[1:]
    o, k = weight.shape[0], weight.shape[-1]
    # W'[n, o, j, kh, kw] = sum_c W[o, c, kh, kw] left[n, j, c]: a 1x1 conv of W (batch O, channels C)
    wp = F.conv2d(weight, left.reshape(n * j, c, 1, 1))             # (O, N*J, K, K)
    wp = wp.view(o, n, j, k, k).transpose(0, 1).reshape(n * o, j, k, k)
    out = F.conv2d(right.reshape(1, n * j, ho, wo), wp, None, padding=conv.padding, groups=n)
    out = out.view(n, o, ho, wo)
    return out if conv.bias is None else out + conv.bias.view(1, o, 1, 1)
