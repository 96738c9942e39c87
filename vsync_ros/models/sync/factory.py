"""The one place camera-level sync is assembled: matching (+ epipolar weights) and CameraLevelSync.

Used by the counting model (reference always camera 0) and the pose model (any reference).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from vsync_ros.geometry import Camera, epipolar_weight_mask
from vsync_ros.models.sync.camera_level import CameraLevelSync
from vsync_ros.models.sync.config import SyncConfig
from vsync_ros.models.sync.lowrank import choose_form, dense_rows, epipolar_weight_rows, low_rank_factors
from vsync_ros.models.sync.matching import ConcatMatching, CorrelationMatching
from vsync_ros.models.sync.motion import scaled_widths

CLS_METHODS = ('cls_cat', 'cls_cor', 'cls_epi')


def camera_pairs(num_views: int, references: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """Ordered camera pairs (reference, view), reference-major, views ascending.

    Args:
        num_views: number of cameras V.
        references: cameras that may serve as reference (default: all of them).

    Returns:
        e.g. V = 3, references [0]: [(0, 1), (0, 2)]; all references: [(0, 1), (0, 2), (1, 0), ...].
    """
    refs = range(num_views) if references is None else references
    return [(int(r), v) for r in refs for v in range(num_views) if v != r]


def epipolar_weights(cfg: SyncConfig, cameras: Sequence[Camera], pairs: Sequence[tuple[int, int]],
                     level_hw: Sequence[tuple[int, int]], level_strides: Sequence[int]
                     ) -> dict[tuple[int, int, int], np.ndarray]:
    """Epipolar weights of every camera pair at every matched level (``cfg.corr_levels``).

    Args:
        cfg: the sync settings (sigma, kernel, sigma units, corr_levels).
        cameras: calibrations at the network input resolution (pixels).
        pairs: camera pairs (reference, view).
        level_hw: feature size (H_k, W_k) of every level, finest first.
        level_strides: stride of every level's features in input pixels, finest first.

    Returns:
        (reference, view, level) -> (H_k * W_k, H_k, W_k) weights in [0, 1]
        (:func:`vsync_ros.geometry.epipolar_weight_mask`).
    """
    out = {}
    for reference, view in pairs:
        for k in cfg.corr_levels:
            hw = tuple(level_hw[k])
            out[(reference, view, k)] = epipolar_weight_mask(
                cameras[reference], cameras[view], stride=level_strides[k], sigma=cfg.epipolar_sigma,
                kernel=cfg.epipolar_kernel, sigma_in_feature_px=cfg.epipolar_sigma_in_feature_px,
                ref_hw=hw, other_hw=hw)
    return out


def build_matching(cfg: SyncConfig, method: str, feat_channels: int, cameras: Sequence[Camera],
                   pairs: Sequence[tuple[int, int]], level_hw: Sequence[tuple[int, int]],
                   level_strides: Sequence[int]) -> nn.Module:
    """The matching module of a CLS method.

    Args:
        method: 'cls_cat' (concatenation of ``feat_channels``-channel maps), 'cls_cor' (normalised global
            correlation) or 'cls_epi' (correlation x epipolar weights of every pair in ``pairs``).
        Others as :func:`epipolar_weights`. ``cfg.correlation`` picks, per camera pair and level, the
            direct or factorized form of CLS-cor / CLS-epi (:func:`correlation_plan`).
    """
    if method == 'cls_cat':
        return ConcatMatching(feat_channels)
    if method not in ('cls_cor', 'cls_epi'):
        raise ValueError(f'unknown camera-level sync method {method!r} (known: {list(CLS_METHODS)})')
    plan = correlation_plan(cfg, method, feat_channels, cameras, pairs, level_hw, level_strides)
    if method == 'cls_cor':
        return CorrelationMatching(None, cfg.corr_rescale, forms={k: form for (_, _, k), form in plan.forms.items()})
    return CorrelationMatching(plan.full, cfg.corr_rescale, factors=plan.factors)


@dataclass
class CorrelationPlan:
    """Form of every (reference, view, level) of CLS-cor / CLS-epi and the epipolar weights it needs.

    Attributes:
        forms: (reference, view, level) -> 'direct' | 'factorized'.
        ranks: (reference, view, level) -> rank of the epipolar factors (1 for CLS-cor; CLS-epi keys
            evaluated directly by ``cfg.correlation='direct'`` have none).
        full: CLS-epi direct keys -> (Hr*Wr, Ho, Wo) weights (None for CLS-cor).
        factors: CLS-epi factorized keys -> (u (Hr*Wr, R), v (R, Ho, Wo)).
        rel_energy: CLS-epi keys with factors -> discarded relative energy of the truncation.
    """

    forms: dict[tuple[int, int, int], str] = field(default_factory=dict)
    ranks: dict[tuple[int, int, int], int] = field(default_factory=dict)
    full: dict[tuple[int, int, int], np.ndarray] | None = None
    factors: dict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    rel_energy: dict[tuple[int, int, int], float] = field(default_factory=dict)


def correlation_plan(cfg: SyncConfig, method: str, feat_channels: int, cameras: Sequence[Camera],
                     pairs: Sequence[tuple[int, int]], level_hw: Sequence[tuple[int, int]],
                     level_strides: Sequence[int]) -> CorrelationPlan:
    """Decide direct / factorized per camera pair and level (``cfg.correlation``) and build the weights.

    'auto' compares the estimated multiply-adds of both forms
    (:func:`~vsync_ros.models.sync.lowrank.choose_form`) with the rank the tolerance
    ``cfg.epipolar_rank_tol`` needs (CLS-epi; a truncated SVD of each mask, computed once) or rank 1
    (CLS-cor). The coarsest matched level has one correlation term, the finer ones two (the difference).
    Masks are built a block of rows at a time (:func:`~vsync_ros.models.sync.lowrank.dense_rows`), never as
    float64 (Hr*Wr, Ho*Wo) arrays; a full float32 mask is kept only for the keys evaluated directly.
    """
    out_channels = scaled_widths(cfg.flow_width)[0]
    coarsest = max(cfg.corr_levels)
    plan = CorrelationPlan(full={} if method == 'cls_epi' else None)
    for reference, view in pairs:
        for k in cfg.corr_levels:
            key = (int(reference), int(view), int(k))
            hw = tuple(level_hw[k])
            c = p = hw[0] * hw[1]
            terms = 1 if k == coarsest else 2
            if method == 'cls_cor':
                plan.ranks[key] = 1
                plan.forms[key] = choose_form(cfg.correlation, c, p, feat_channels, out_channels, cfg.flow_kernel,
                                              terms, 1, False)
                continue
            rows = epipolar_weight_rows(cameras[reference], cameras[view], stride=level_strides[k],
                                        sigma=cfg.epipolar_sigma, kernel=cfg.epipolar_kernel,
                                        sigma_in_feature_px=cfg.epipolar_sigma_in_feature_px, ref_hw=hw, other_hw=hw)
            if cfg.correlation == 'direct':
                plan.forms[key] = 'direct'
                plan.full[key] = dense_rows(rows, c).reshape(c, *hw)
                continue
            low = low_rank_factors(rows, (c, p), cfg.epipolar_rank_tol)
            plan.ranks[key] = low.rank
            plan.rel_energy[key] = low.rel_energy
            plan.forms[key] = choose_form(cfg.correlation, c, p, feat_channels, out_channels, cfg.flow_kernel,
                                          terms, low.rank, True)
            if plan.forms[key] == 'factorized':
                plan.factors[key] = (low.u, low.v.view(low.rank, *hw))
            else:
                plan.full[key] = dense_rows(rows, c).reshape(c, *hw)
    return plan


def build_camera_level_sync(cfg: SyncConfig, method: str, feat_channels: int, cameras: Sequence[Camera],
                            pairs: Sequence[tuple[int, int]], level_hw: Sequence[tuple[int, int]],
                            level_strides: Sequence[int]) -> CameraLevelSync:
    """Matching + coarse-to-fine motion nets for ``method`` (see :func:`build_matching`).

    Args:
        cfg: sync settings (a task config inheriting :class:`SyncConfig` works as is).
        method: 'cls_cat' | 'cls_cor' | 'cls_epi'.
        feat_channels: channels C of the flow features that are matched.
        cameras: calibrations at the network input resolution.
        pairs: camera pairs (reference, view) the module may be asked for; without
            ``cfg.share_flow_views`` each gets its own motion nets, in this order.
        level_hw: feature size (H_k, W_k) of every level, finest first.
        level_strides: stride of every level's features in input pixels, finest first.

    Returns:
        a :class:`CameraLevelSync` whose motion-net parameters are created after the matching module
        (which has none), per pair then per level from coarsest to finest.
    """
    matching = build_matching(cfg, method, feat_channels, cameras, pairs, level_hw, level_strides)
    return CameraLevelSync(matching, level_hw, cfg.corr_levels, pairs, cfg.share_flow_views, cfg.flow_width,
                           cfg.flow_kernel, cfg.flow_activation)
