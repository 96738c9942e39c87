"""Matching modules for camera-level sync: concatenation, global correlation, epipolar-weighted correlation.

All modules take the reference-view features ``f_ref`` (N, C, Hr, Wr) and view-i features ``f_other``
(N, C, Ho, Wo) of the same pyramid level, plus the camera pair ``(reference, view)`` (camera indices)
and the level, and return the motion-net input on view i's grid (the flow is estimated where view i's
features live).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from vsync_ros.models.sync.lowrank import CORR_EPS, factorized_first_conv


def global_correlation(f_ref: torch.Tensor, f_other: torch.Tensor) -> torch.Tensor:
    """All-pairs correlation C((x, y), (x', y')) = <F_ref(x, y), F_i(x', y')>.

    Args:
        f_ref: (N, C, Hr, Wr) reference features. f_other: (N, C, Ho, Wo) view-i features.

    Returns:
        (N, Hr * Wr, Ho, Wo): one channel per reference location (row-major), spatial axes = view i.
    """
    n, c, ho, wo = f_other.shape
    a = f_ref.flatten(2)                      # (N, C, Hr*Wr)
    b = f_other.flatten(2)                    # (N, C, Ho*Wo)
    corr = torch.bmm(a.transpose(1, 2), b)    # (N, Hr*Wr, Ho*Wo)
    return corr.view(n, a.shape[2], ho, wo)


def normalize_correlation(corr: torch.Tensor, rescale: bool = True, inplace: bool = False) -> torch.Tensor:
    """Divide each reference-location channel by its sum over view-i locations (+1e-8), as the authors.

    Features are non-negative (ReLU), so each channel becomes a distribution over view-i locations.
    With ``rescale`` the result is multiplied by Ho * Wo (a constant; a uniform channel becomes 1).
    ``inplace`` overwrites ``corr`` (same values; for inference, where no graph needs it).
    """
    total = corr.sum(dim=(2, 3), keepdim=True) + CORR_EPS
    scale = float(corr.shape[2] * corr.shape[3])
    if inplace:
        corr.div_(total)
        return corr.mul_(scale) if rescale else corr
    out = corr / total
    return out * scale if rescale else out


class ConcatMatching(nn.Module):
    """CLS-cat: channel concatenation [F_ref, F_i] -> (N, 2C, H, W) (needs equal map sizes)."""

    def __init__(self, feat_channels: int):
        super().__init__()
        self.feat_channels = feat_channels

    def out_channels(self, level_hw: tuple[int, int]) -> int:
        """Motion-net input channels at a level with feature size ``level_hw``."""
        return 2 * self.feat_channels

    def forward(self, f_ref: torch.Tensor, f_other: torch.Tensor, pair: tuple[int, int], level: int
                ) -> torch.Tensor:
        """(N, C, H, W) x 2 -> (N, 2C, H, W) (``pair`` and ``level`` are unused)."""
        return torch.cat([f_ref, f_other], dim=1)


class CorrelationMatching(nn.Module):
    """CLS-cor / CLS-epi: normalised global correlation, optionally times epipolar-guided weights.

    Two equivalent evaluations of "first motion-net conv of the correlation" exist per camera pair and
    level (:meth:`form`): ``direct`` builds the (N, Hr*Wr, Ho, Wo) correlation (:meth:`forward`, the
    reference path); ``factorized`` never builds it (:meth:`first_layer`,
    :func:`vsync_ros.models.sync.lowrank.factorized_first_conv`).

    Args:
        epipolar: None for CLS-cor; for CLS-epi a mapping (reference, view, level) -> (Hr*Wr, Ho, Wo)
            weights M((x, y), (x', y')) of that camera pair from
            :func:`vsync_ros.geometry.epipolar_weight_mask`, for the pairs / levels evaluated directly.
            They are stored as non-persistent buffers (rebuilt from the calibration, never saved, never
            recomputed per frame).
        rescale: see :func:`normalize_correlation`.
        factors: CLS-epi pairs / levels evaluated factorized: (reference, view, level) -> (u (Hr*Wr, R),
            v (R, Ho, Wo)) with M ~ u @ v.flatten(1) (non-persistent buffers too).
        forms: CLS-cor only: level -> 'direct' | 'factorized' (default 'direct').
    """

    def __init__(self, epipolar: dict[tuple[int, int, int], np.ndarray] | None = None, rescale: bool = True,
                 factors: dict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor]] | None = None,
                 forms: dict[int, str] | None = None):
        super().__init__()
        self.rescale = rescale
        self.use_epipolar = epipolar is not None or factors is not None
        self._keys: set[tuple[int, int, int]] = set()
        self._factor_keys: set[tuple[int, int, int]] = set()
        self._cor_forms = {int(k): str(f) for k, f in (forms or {}).items()}
        for (reference, view, level), weights in (epipolar or {}).items():
            self.register_buffer(self._name((reference, view), level),
                                 torch.as_tensor(weights, dtype=torch.float32), persistent=False)
            self._keys.add((reference, view, level))
        for (reference, view, level), (u, v) in (factors or {}).items():
            name = self._name((reference, view), level)
            self.register_buffer(name + '_u', torch.as_tensor(u, dtype=torch.float32), persistent=False)
            self.register_buffer(name + '_v', torch.as_tensor(v, dtype=torch.float32), persistent=False)
            self._factor_keys.add((reference, view, level))

    @staticmethod
    def _name(pair: tuple[int, int], level: int) -> str:
        return f'epipolar_r{pair[0]}_v{pair[1]}_l{level}'

    def form(self, pair: tuple[int, int], level: int) -> str:
        """'direct' or 'factorized': how the camera pair ``(reference, view)`` is evaluated at ``level``."""
        if self.use_epipolar:
            return 'factorized' if (int(pair[0]), int(pair[1]), level) in self._factor_keys else 'direct'
        return self._cor_forms.get(level, 'direct')

    def factors(self, pair: tuple[int, int], level: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(u (Hr*Wr, R), v (R, Ho, Wo)) of a factorized CLS-epi pair / level; None for CLS-cor or direct."""
        key = (int(pair[0]), int(pair[1]), level)
        if key not in self._factor_keys:
            return None
        name = self._name(pair, level)
        return getattr(self, name + '_u'), getattr(self, name + '_v')

    def rank(self, pair: tuple[int, int], level: int) -> int | None:
        """Rank of the stored epipolar factors (1 for CLS-cor), None when stored in full."""
        if not self.use_epipolar:
            return 1
        f = self.factors(pair, level)
        return None if f is None else int(f[0].shape[1])

    def weights(self, pair: tuple[int, int], level: int) -> torch.Tensor:
        """(Hr*Wr, Ho, Wo) epipolar weights of the camera pair ``(reference, view)`` at ``level``.

        For a factorized pair / level this is the rank-R reconstruction u @ v (built on demand).
        """
        reference, view = int(pair[0]), int(pair[1])
        f = self.factors(pair, level)
        if f is not None:
            return (f[0] @ f[1].flatten(1)).view(f[0].shape[0], *f[1].shape[1:])
        if (reference, view, level) not in self._keys:
            raise KeyError(f'no epipolar weights for camera pair ({reference}, {view}), level {level}')
        return getattr(self, self._name(pair, level))

    def out_channels(self, level_hw: tuple[int, int]) -> int:
        """Motion-net input channels (= number of reference locations) at a level of size ``level_hw``."""
        return level_hw[0] * level_hw[1]

    def forward(self, f_ref: torch.Tensor, f_other: torch.Tensor, pair: tuple[int, int], level: int
                ) -> torch.Tensor:
        """(N, C, Hr, Wr), (N, C, Ho, Wo) -> (N, Hr*Wr, Ho, Wo) normalised (weighted) correlation (direct form).

        ``pair`` = (reference, view) camera indices selecting the epipolar weights (CLS-epi). Without
        gradient recording the (N, Hr*Wr, Ho, Wo) tensor is weighted and normalised in place (one such
        tensor alive instead of three; same values).
        """
        corr = global_correlation(f_ref, f_other)
        inplace = not torch.is_grad_enabled()
        if self.use_epipolar:
            w = self.weights(pair, level)
            if w.shape != corr.shape[1:]:
                raise ValueError(f'epipolar weights {tuple(w.shape)} do not match correlation '
                                 f'{tuple(corr.shape[1:])} (camera pair {tuple(pair)}, level {level})')
            corr = corr.mul_(w.unsqueeze(0)) if inplace else corr * w.unsqueeze(0)
        return normalize_correlation(corr, self.rescale, inplace)

    def first_layer(self, conv: nn.Conv2d, terms: Sequence[tuple[float, torch.Tensor, torch.Tensor]],
                    pair: tuple[int, int], level: int) -> torch.Tensor:
        """``conv(sum_t sign_t * self(f_ref_t, f_oth_t, pair, level))`` in the factorized form.

        Args:
            conv: first conv of the motion net (weight (O, Hr*Wr, K, K)).
            terms: (sign, f_ref (N, C, Hr, Wr), f_oth (N, C, Ho, Wo)) per correlation term.

        Returns:
            (N, O, Ho, Wo) pre-activation output.
        """
        if self.use_epipolar:
            f = self.factors(pair, level)
            if f is None:
                raise KeyError(f'no epipolar factors for camera pair {tuple(pair)}, level {level}')
            return factorized_first_conv(conv, terms, f[0], f[1], self.rescale)
        return factorized_first_conv(conv, terms, None, None, self.rescale)
