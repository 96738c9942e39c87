"""View synchronization modules: multi-scale camera-level sync (CLS) and scene-level sync (SLS)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from vsync_ros.models.sync.motion import MotionNet, grouped_layers
from vsync_ros.models.sync.warp import upsample_features, upsample_flow, warp

#: a direct matching result with more elements than this (the (H*W)-channel correlation of a large level)
#: goes through its motion net's first conv before the next pair is matched, instead of joining the
#: grouped first conv of all pairs (which would keep every pair's copy alive at once)
GROUPED_INPUT_MAX = 1 << 20


class CameraLevelSync(nn.Module):
    """Coarse-to-fine camera-view flow from a reference view to each other view (paper Sec. III-B, Fig. 4).

    For the camera pair (reference r, view i) and levels from coarsest to finest (level k has stride
    4 * 2**k input pixels):

    * coarsest matched level: ``w = net(match(f_r, f_i))``;
    * finer matched level: ``w_k = up(w_{k+1}) + net(match(f_r, f_i) - match(up(g_r), up(g_i)))``
      where g are the features of the previous matched level upsampled to level k (the correlation
      difference of Fig. 4, computed with level k's epipolar weights);
    * level without matching: ``w_k = up(w_{k+1})``.

    ``up`` is bilinear and multiplies pixel flow by 2 per octave. Flows are in feature pixels of
    their level (channel 0 = x, 1 = y) and defined on view i's grid.

    Args:
        matching: a module from :mod:`vsync_ros.models.sync.matching` (called with the camera pair).
        level_hw: feature size (H_k, W_k) of every pyramid level, finest first.
        corr_levels: levels with matching + motion net (contains the coarsest).
        pairs: the camera pairs (reference, view) this module may be asked for, in the order of their
            motion nets (``nets[n]`` belongs to ``pairs[n]`` unless shared).
        shared_pairs: one net per level for all pairs.
        width_factor, kernel, activation: motion-net settings (Table I).
    """

    def __init__(self, matching: nn.Module, level_hw: Sequence[tuple[int, int]],
                 corr_levels: Sequence[int], pairs: Sequence[tuple[int, int]], shared_pairs: bool = False,
                 width_factor: float = 1.0, kernel: int = 5, activation: str = 'relu'):
        super().__init__()
        self.matching = matching
        self.level_hw = [tuple(hw) for hw in level_hw]
        self.corr_levels = sorted(set(corr_levels), reverse=True)
        self.pairs = [(int(r), int(v)) for r, v in pairs]
        if not self.pairs or len(set(self.pairs)) != len(self.pairs) or any(r == v for r, v in self.pairs):
            raise ValueError(f'pairs must be distinct (reference, view) pairs of different cameras, got {pairs}')
        self._pair_index = {pair: n for n, pair in enumerate(self.pairs)}
        self.shared_pairs = shared_pairs
        n_nets = 1 if shared_pairs else len(self.pairs)
        self.nets = nn.ModuleList([
            nn.ModuleDict({str(k): MotionNet(matching.out_channels(self.level_hw[k]), width_factor, kernel,
                                             activation) for k in self.corr_levels})
            for _ in range(n_nets)])

    def net(self, pair: tuple[int, int], level: int) -> MotionNet:
        """Motion net of the camera pair ``(reference, view)`` at ``level``."""
        pair = (int(pair[0]), int(pair[1]))
        if pair not in self._pair_index:
            raise KeyError(f'camera pair {pair} has no motion net (pairs: {self.pairs})')
        return self.nets[0 if self.shared_pairs else self._pair_index[pair]][str(level)]

    def form(self, pair: tuple[int, int], level: int) -> str:
        """'direct' (matching result into the motion net) or 'factorized' (fused first layer, CLS-cor/epi)."""
        form = getattr(self.matching, 'form', None)
        return 'direct' if form is None else form(pair, level)

    def forward(self, feats: Mapping[int, torch.Tensor], reference: int = 0,
                views: Sequence[int] | None = None) -> list[torch.Tensor]:
        """Flows from ``reference`` to each of ``views``.

        Args:
            feats: flow features per matched level k, (B, V, C, H_k, W_k) in camera order.
            reference: camera index of the reference view.
            views: camera indices to synchronize (default: every view but the reference, ascending).

        Returns:
            flows per level, finest first: list over k of (B, len(views), 2, H_k, W_k) in level-k
            feature pixels, on each view's grid.
        """
        num_levels = len(self.level_hw)
        if views is None:
            num_views = feats[self.corr_levels[0]].shape[1]
            views = [j for j in range(num_views) if j != reference]
        pairs = [(int(reference), int(view)) for view in views]
        flow: list[torch.Tensor | None] = [None] * len(pairs)
        prev: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(pairs)  # previous matched level
        flows: dict[int, list[torch.Tensor]] = {}
        for k in range(num_levels - 1, -1, -1):
            hw = self.level_hw[k]
            flow_up = [upsample_flow(w, hw) if w is not None else None for w in flow]
            if k in self.corr_levels:
                residuals = self._motion(feats[k], pairs, k, prev)
                flow = [r if up is None else up + r for r, up in zip(residuals, flow_up)]
                prev = [(feats[k][:, r], feats[k][:, v]) for r, v in pairs]
            else:
                flow = flow_up
            flows[k] = flow
        return [torch.stack(flows[k], dim=1) for k in range(num_levels)]

    def _motion(self, feats: torch.Tensor, pairs: Sequence[tuple[int, int]], level: int,
                prev: Sequence[tuple[torch.Tensor, torch.Tensor] | None]) -> list[torch.Tensor]:
        """Motion-net residual flows of every camera pair at a matched level, (N, 2, H_k, W_k) each.

        The matching (and the factorized first layer) runs per pair; the rest of the motion nets of all
        pairs runs at once (:func:`~vsync_ros.models.sync.motion.grouped_layers`). A small direct matching
        result joins the grouped first conv; a large one (the (H*W)-channel correlation of a big level)
        goes through its own first conv at once, so only one such tensor is alive at a time.
        """
        hw = self.level_hw[level]
        nets = [self.net(pair, level) for pair in pairs]
        inputs: list[torch.Tensor] = []
        past_first: list[bool] = []        # input already through its first conv (pre-activation)
        for pair, net, before in zip(pairs, nets, prev):
            f_ref, f_oth = feats[:, pair[0]], feats[:, pair[1]]
            if self.form(pair, level) == 'factorized':
                terms = [(1.0, f_ref, f_oth)]
                if before is not None:
                    terms.append((-1.0, upsample_features(before[0], hw), upsample_features(before[1], hw)))
                inputs.append(self.matching.first_layer(net.first, terms, pair, level))
                past_first.append(True)
                continue
            m = self.matching(f_ref, f_oth, pair, level)
            if before is not None:
                coarse = self.matching(upsample_features(before[0], hw), upsample_features(before[1], hw),
                                       pair, level)
                m = m - coarse if torch.is_grad_enabled() else m.sub_(coarse)
                del coarse
            large = m.numel() > GROUPED_INPUT_MAX
            inputs.append(net.first(m) if large else m)
            past_first.append(large)
            del m
        if not any(past_first):
            return grouped_layers(nets, inputs, 0)
        inputs = [x if done else net.first(x) for x, done, net in zip(inputs, past_first, nets)]
        return grouped_layers(nets, inputs, 1)


class SceneLevelSync(nn.Module):
    """Scene-level sync (paper Sec. III-A): flow on the ground plane from [P_ref, P_i].

    The reference and view-i projected features are concatenated (2C channels), a motion net predicts
    a flow in ground-plane cells, and P_i is backward-warped and multiplied by view i's GP visibility.
    """

    def __init__(self, feat_channels: int, num_pairs: int, shared_pairs: bool = False, width_factor: float = 1.0,
                 kernel: int = 5, activation: str = 'relu'):
        super().__init__()
        self.num_pairs = num_pairs
        self.shared_pairs = shared_pairs
        n_nets = 1 if shared_pairs else num_pairs
        self.nets = nn.ModuleList([MotionNet(2 * feat_channels, width_factor, kernel, activation)
                                   for _ in range(n_nets)])

    def forward(self, proj: torch.Tensor, gp_mask: torch.Tensor,
                zero_flow: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Sync projected views.

        Args:
            proj: (B, V, C, rows, cols) projected features, view 0 = reference.
            gp_mask: (V, 1, rows, cols) ground-plane visibility of each view.
            zero_flow: replace every predicted flow by zero before warping (an ablation: the same
                weights without synchronization).

        Returns:
            warped (B, V-1, C, rows, cols) and flows (B, V-1, 2, rows, cols) in GP cells.
        """
        nets = [self.nets[0 if self.shared_pairs else pair] for pair in range(self.num_pairs)]
        inputs = [torch.cat([proj[:, 0], proj[:, pair + 1]], dim=1) for pair in range(self.num_pairs)]
        flows = grouped_layers(nets, inputs)          # every pair's motion net at once
        if zero_flow:
            flows = [torch.zeros_like(flow) for flow in flows]
        warped = [warp(proj[:, pair + 1], flow, gp_mask[pair + 1].unsqueeze(0)) for pair, flow in enumerate(flows)]
        return torch.stack(warped, dim=1), torch.stack(flows, dim=1)
