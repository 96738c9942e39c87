"""Training losses of the paper (Eqs. 1-5): task loss l_p, warping loss l_W, similarity loss l_s."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch.nn import functional as F

from vsync_ros.models.counting.config import LossConfig


def task_loss(density: torch.Tensor, gp_density: torch.Tensor, density_scale: float) -> torch.Tensor:
    """l_p: MSE between predicted (B, 1, rows, cols) density (x scale) and GT people-per-cell x scale."""
    if density.shape != gp_density.shape:
        raise ValueError(f'density {tuple(density.shape)} vs gp_density {tuple(gp_density.shape)}')
    return F.mse_loss(density, gp_density * density_scale)


def _view_weights(valid: torch.Tensor | None, b: int, n: int, device: torch.device) -> torch.Tensor:
    """(B, n) float weights of views 1..V-1 (1 = use)."""
    if valid is None:
        return torch.ones(b, n, device=device)
    return valid[:, 1:].to(device=device, dtype=torch.float32)


def warp_loss(warped: Sequence[torch.Tensor], synced: Sequence[torch.Tensor],
              view_valid: torch.Tensor | None = None) -> torch.Tensor:
    """l_W (Eqs. 1, 3): sum over views i >= 1 and levels j of mse(F_i^{t0,(j)}, W(w_i^{(j)}, F_i^{ti,(j)})).

    Args:
        warped, synced: per level, (B, V-1, C, h, w) each (see ``SyncCountingModel.forward``).
        view_valid: optional (B, V) bool; invalid views are left out.
    """
    total = warped[0].new_zeros(())
    for w, s in zip(warped, synced):
        b, n = w.shape[:2]
        per_view = ((w - s) ** 2).flatten(2).mean(dim=2)               # (B, V-1)
        weights = _view_weights(view_valid, b, n, w.device)
        total = total + (per_view * weights).sum(dim=1).mean()
    return total


def similarity_loss(proj: torch.Tensor, gp_mask: torch.Tensor, view_valid: torch.Tensor | None = None,
                    eps: float = 1e-6) -> torch.Tensor:
    """l_s (Eq. 5): sum over views i >= 1 of mean(1 - cos(P_0, W(w_i, P_i))) on the ground plane.

    The cosine is taken along channels; the mean runs over the cells seen by both the reference and
    view i (elsewhere one side is zero and the cosine carries no signal).

    Args:
        proj: (B, V, C, rows, cols) projected features, view 0 = reference, views >= 1 already warped.
        gp_mask: (V, 1, rows, cols) visibility of each view.
        view_valid: optional (B, V) bool.
    """
    ref = proj[:, :1]
    cos = F.cosine_similarity(ref.expand_as(proj[:, 1:]), proj[:, 1:], dim=2, eps=eps)  # (B, V-1, rows, cols)
    both = (gp_mask[:1] * gp_mask[1:])[:, 0].unsqueeze(0)                               # (1, V-1, rows, cols)
    per_view = ((1.0 - cos) * both).flatten(2).sum(2) / both.flatten(2).sum(2).clamp_min(1.0)
    weights = _view_weights(view_valid, *per_view.shape, proj.device)
    return (per_view * weights).sum(dim=1).mean()


def compute_losses(out: Mapping, batch: Mapping, cfg: LossConfig, density_scale: float) -> dict[str, torch.Tensor]:
    """Total training loss ``l_p + gamma * l_sync`` (Eqs. 2, 4) and its parts.

    Args:
        out: model output. batch: needs 'gp_density' (B, 1, rows, cols) people per cell; optional 'view_valid'
            (B, V) bool (invalid views have no sync-loss term) and 'synchronize' (B,) bool (a sample the model
            fused unsynchronized has no sync-loss term: its views were not warped).
        cfg: which sync loss and its weight gamma. density_scale: the model's density scale.

    Returns:
        {'total', 'task'} plus 'warp' or 'sim' when used (scalars). The sync loss is skipped for models
        without a sync module, and 'warp' needs ``out['synced']`` (raises KeyError otherwise).
    """
    losses = {'task': task_loss(out['density'], batch['gp_density'], density_scale)}
    total = losses['task']
    valid = batch.get('view_valid')
    synchronize = batch.get('synchronize')
    if synchronize is not None:
        keep = synchronize.to(torch.bool).view(-1, 1)
        valid = keep.expand(-1, out['gp_mask'].shape[0]) if valid is None else valid.to(torch.bool) & keep
    has_sync = 'warped' in out
    if has_sync and cfg.sync_loss == 'warp' and cfg.gamma > 0:
        if 'synced' not in out:
            raise KeyError("sync_loss 'warp' needs synchronized frames: pass batch['images_sync'] to the model")
        losses['warp'] = warp_loss(out['warped'], out['synced'], valid)
        total = total + cfg.gamma * losses['warp']
    elif has_sync and cfg.sync_loss == 'sim' and cfg.gamma > 0:
        losses['sim'] = similarity_loss(out['proj'], out['gp_mask'], valid)
        total = total + cfg.gamma * losses['sim']
    losses['total'] = total
    return losses
