"""Losses and metrics of the volumetric pose model.

* l_p: joint L1 as learnable-triangulation's ``KeypointsMAELoss`` (mean over valid joints and xyz;
  metres x ``pose_scale`` = 100, i.e. the original's mm x 0.1);
* volumetric cross-entropy at the voxel nearest each GT joint (original weight 0.01);
* 2D heatmap cross-entropy (needed here because the backbone is trained from scratch);
* sync losses: l_W (MSE of warped unsynchronized to synchronized stride-4 features) or l_s
  (mean(1 - cos) between the unprojected reference volume and each warped view's volume).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from vsync_ros.models.pose.geometry import gaussian_heatmaps, world_to_voxel


def joint_l1(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None, scale: float = 100.0
             ) -> torch.Tensor:
    """Mean |pred - gt| x scale over valid joints and coordinates; pred, gt (B, J, 3) metres, valid (B, J)."""
    err = (pred - gt).abs() * scale
    if valid is None:
        return err.mean()
    w = valid.to(err.dtype).unsqueeze(-1)
    return (err * w).sum() / (3.0 * w.sum()).clamp_min(1.0)


def volumetric_ce(logits: torch.Tensor, gt: torch.Tensor, center: torch.Tensor, side_m: float,
                  yaw: torch.Tensor | None = None, valid: torch.Tensor | None = None, multiplier: float = 1.0
                  ) -> torch.Tensor:
    """-log p(voxel nearest the GT joint), averaged over joints inside the cube.

    Args:
        logits: (B, J, n, n, n); gt: (B, J, 3) metres; center: (B, 3); yaw: (B,) grid rotation.
    """
    b, j, n = logits.shape[:3]
    idx = torch.round(world_to_voxel(gt, center, side_m, n, yaw)).long()           # (B, J, 3)
    inside = ((idx >= 0) & (idx < n)).all(dim=-1)
    if valid is not None:
        inside = inside & valid.bool()
    idx = idx.clamp(0, n - 1)
    flat = (idx[..., 0] * n + idx[..., 1]) * n + idx[..., 2]
    logp = torch.log_softmax(logits.reshape(b, j, -1) * multiplier, dim=-1)
    picked = logp.gather(2, flat.unsqueeze(-1)).squeeze(-1)
    w = inside.to(logp.dtype)
    return -(picked * w).sum() / w.sum().clamp_min(1.0)


def heatmap_ce(heatmaps: torch.Tensor, uv: torch.Tensor, visible: torch.Tensor, stride: int, sigma_px: float
               ) -> torch.Tensor:
    """Softmax cross-entropy of (B, V, J, h, w) heatmap logits against normalised Gaussians at ``uv``.

    Args:
        uv: (B, V, J, 2) image pixels of the GT joints; visible: (B, V, J) bool, which maps to use.
    """
    h, w = heatmaps.shape[-2:]
    target = gaussian_heatmaps(uv.detach(), stride, (h, w), sigma_px)
    mass = target.sum(dim=(-2, -1))
    use = visible & (mass > 0.1)
    target = target / mass.clamp_min(1e-6)[..., None, None]
    logp = torch.log_softmax(heatmaps.flatten(-2), dim=-1)
    ce = -(target.flatten(-2) * logp).sum(-1)                                        # (B, V, J)
    wgt = use.to(ce.dtype)
    return (ce * wgt).sum() / wgt.sum().clamp_min(1.0)


def feature_warp_loss(warped: torch.Tensor, synced: torch.Tensor, use: torch.Tensor) -> torch.Tensor:
    """l_W (Eq. 3): sum over the used views of mse(F_i^{t0}, W(w_i, F_i^{ti})), mean over the batch.

    Args:
        warped, synced: (B, V, C, h, w); use: (B, V) bool (valid non-reference views).
    """
    per_view = ((warped - synced) ** 2).flatten(2).mean(dim=2)                       # (B, V)
    return (per_view * use.to(per_view.dtype)).sum(dim=1).mean()


def volume_similarity_loss(volumes: torch.Tensor, visible: torch.Tensor, ref: torch.Tensor, use: torch.Tensor,
                           eps: float = 1e-6) -> torch.Tensor:
    """l_s (Eq. 5) on unprojected volumes: sum over views i of mean(1 - cos(U_ref, U_i)), mean over batch.

    The cosine is along channels; the mean runs over voxels seen by both views.

    Args:
        volumes: (B, V, C, N) unprojected (warped) features; visible: (B, V, N) bool;
        ref: (B,) reference view index; use: (B, V) bool views to compare with the reference.
    """
    b = volumes.shape[0]
    ar = torch.arange(b, device=volumes.device)
    unit = F.normalize(volumes, dim=2, eps=eps)                                        # zero vectors stay 0
    cos = (unit * unit[ar, ref].unsqueeze(1)).sum(dim=2)                               # (B, V, N)
    both = (visible & visible[ar, ref].unsqueeze(1)).to(cos.dtype)
    per_view = ((1.0 - cos) * both).sum(-1) / both.sum(-1).clamp_min(1.0)
    return (per_view * use.to(per_view.dtype)).sum(dim=1).mean()


def mpjpe_mm(pred: torch.Tensor, gt: torch.Tensor, root: int | None = None) -> torch.Tensor:
    """(B,) mean per-joint position error in millimetres; with ``root`` both poses are root-aligned first."""
    if root is not None:
        pred = pred - pred[:, root:root + 1]
        gt = gt - gt[:, root:root + 1]
    return (pred - gt).norm(dim=-1).mean(dim=-1) * 1000.0
