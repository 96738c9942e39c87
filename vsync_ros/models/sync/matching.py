"""Matching modules for camera-level sync: concatenation, global correlation, epipolar-weighted correlation.

All modules take the reference-view features ``f_ref`` (N, C, Hr, Wr) and view-i features ``f_other``
(N, C, Ho, Wo) of the same pyramid level, plus the camera pair ``(reference, view)`` (camera indices)
and the level, and return the motion-net input on view i's grid (the flow is estimated where view i's
features live).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

CORR_EPS = 1e-8


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


def normalize_correlation(corr: torch.Tensor, rescale: bool = True) -> torch.Tensor:
    """Divide each reference-location channel by its sum over view-i locations (+1e-8), as the authors.

    Features are non-negative (ReLU), so each channel becomes a distribution over view-i locations.
    With ``rescale`` the result is multiplied by Ho * Wo (a constant; a uniform channel becomes 1).
    """
    total = corr.sum(dim=(2, 3), keepdim=True)
    out = corr / (total + CORR_EPS)
    if rescale:
        out = out * float(corr.shape[2] * corr.shape[3])
    return out


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

    Args:
        epipolar: None for CLS-cor; for CLS-epi a mapping (reference, view, level) -> (Hr*Wr, Ho, Wo)
            weights M((x, y), (x', y')) of that camera pair from
            :func:`vsync_ros.geometry.epipolar_weight_mask`. They are stored as non-persistent buffers
            (rebuilt from the calibration, never saved, never recomputed per frame).
        rescale: see :func:`normalize_correlation`.
    """

    def __init__(self, epipolar: dict[tuple[int, int, int], np.ndarray] | None = None, rescale: bool = True):
        super().__init__()
        self.rescale = rescale
        self.use_epipolar = epipolar is not None
        self._keys: set[tuple[int, int, int]] = set()
        for (reference, view, level), weights in (epipolar or {}).items():
            self.register_buffer(self._name((reference, view), level),
                                 torch.as_tensor(weights, dtype=torch.float32), persistent=False)
            self._keys.add((reference, view, level))

    @staticmethod
    def _name(pair: tuple[int, int], level: int) -> str:
        return f'epipolar_r{pair[0]}_v{pair[1]}_l{level}'

    def weights(self, pair: tuple[int, int], level: int) -> torch.Tensor:
        """(Hr*Wr, Ho, Wo) epipolar weights of the camera pair ``(reference, view)`` at ``level``."""
        reference, view = pair
        if (reference, view, level) not in self._keys:
            raise KeyError(f'no epipolar weights for camera pair ({reference}, {view}), level {level}')
        return getattr(self, self._name(pair, level))

    def out_channels(self, level_hw: tuple[int, int]) -> int:
        """Motion-net input channels (= number of reference locations) at a level of size ``level_hw``."""
        return level_hw[0] * level_hw[1]

    def forward(self, f_ref: torch.Tensor, f_other: torch.Tensor, pair: tuple[int, int], level: int
                ) -> torch.Tensor:
        """(N, C, Hr, Wr), (N, C, Ho, Wo) -> (N, Hr*Wr, Ho, Wo) normalised (weighted) correlation.

        ``pair`` = (reference, view) camera indices selecting the epipolar weights (CLS-epi).
        """
        corr = global_correlation(f_ref, f_other)
        if self.use_epipolar:
            w = self.weights(pair, level)
            if w.shape != corr.shape[1:]:
                raise ValueError(f'epipolar weights {tuple(w.shape)} do not match correlation '
                                 f'{tuple(corr.shape[1:])} (camera pair {tuple(pair)}, level {level})')
            corr = corr * w.unsqueeze(0)
        return normalize_correlation(corr, self.rescale)
