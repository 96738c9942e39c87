"""Counting task: ground-plane density models (BaseS / BaseSU / BaseU, SLS, CLS-cat / -cor / -epi).

Metrics (:func:`evaluate_model`): MAE and NAE of the per-frame people count (the sum of the predicted
ground-plane density map against the ground-truth count); validation keeps the checkpoint of the lowest
MAE.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from vsync_ros.data.dataset import SyncDataset
from vsync_ros.engine.checkpoint import Checkpoint, load_checkpoint, load_model, save_checkpoint
from vsync_ros.engine.config import Config
from vsync_ros.engine.tasks.common import (
    TrainingData,
    check_data_task,
    data_manifest,
    init_shared_weights,
    needs_sync_frames,
    prepare_batch,
    uses_warp_loss,
)
from vsync_ros.models.counting.losses import compute_losses
from vsync_ros.models.counting.model import build_model

GAME_LEVELS = (0, 1, 2, 3)


def game_errors(pred: torch.Tensor, gt: torch.Tensor, levels=GAME_LEVELS) -> torch.Tensor:
    """Grid Average Mean absolute Error terms of one batch (people), per frame and level.

    GAME(L) splits the ground-plane map into 4**L cells (2**L x 2**L, equal row and column ranges;
    the last range takes the remainder) and sums the absolute count error of every cell; GAME(0) is
    the absolute error of the total count.

    Args:
        pred, gt: (B, 1, rows, cols) densities in people per ground cell.
        levels: the L values.

    Returns:
        (B, len(levels)) summed absolute cell errors in people.
    """
    if pred.shape != gt.shape or pred.dim() != 4:
        raise ValueError(f'pred {tuple(pred.shape)} and gt {tuple(gt.shape)} must be the same (B, 1, rows, cols)')
    rows, cols = pred.shape[-2:]
    diff = (pred - gt).double()
    out = []
    for level in levels:
        n = 2 ** level
        r_edges = [round(i * rows / n) for i in range(n + 1)]
        c_edges = [round(j * cols / n) for j in range(n + 1)]
        err = torch.zeros(pred.shape[0], dtype=torch.float64, device=pred.device)
        for i in range(n):
            for j in range(n):
                cell = diff[:, :, r_edges[i]:r_edges[i + 1], c_edges[j]:c_edges[j + 1]]
                err += cell.sum(dim=(1, 2, 3)).abs()
        out.append(err)
    return torch.stack(out, dim=1)


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, dataset, device: torch.device, use_sync_input: bool = False,
                   batch_size: int = 1, progress: bool = False, desc: str = 'eval') -> dict:
    """Run a counting ``model`` over ``dataset`` and compare ground-plane counts (people).

    Args:
        model: a counting model (its ``cfg`` gives the input size); dataset: a counting ``SyncDataset``
            (or any sequence of its samples); use_sync_input: feed the synchronized frames.

    Returns:
        {'n', 'mae', 'nae', 'nae_frames', 'mean_gt', 'mean_pred', 'game': {'0'..'3': mean GAME(L)},
        'per_frame': [{'index', 'time_s', 'gt', 'pred', 'abs_err', 'game', 'offsets_s', 'view_valid'}]}.
        NAE = mean |pred - gt| / gt over frames with gt > 0 ('nae_frames' of them); GAME(L) as
        :func:`game_errors`, of the predicted map against the data set's ground-plane density (when a
        batch has no 'gp_density', 'game' is absent). The count 'gt' is the annotated number of people.
    """
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    image_hw = (model.cfg.image_height, model.cfg.image_width)
    rows = []
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        b = prepare_batch(batch, image_hw, device, use_sync_input)
        out = model({'images': b['images'], 'view_valid': b['view_valid']}, with_sync_targets=False)
        pred = out['count']
        game = None
        if 'gp_density' in batch:
            density = out['density'] / model.cfg.density_scale
            game = game_errors(density.cpu(), batch['gp_density'].to(density.dtype))
        for i in range(pred.shape[0]):
            gt = float(batch['count'][i])
            p = float(pred[i])
            row = {'index': int(batch['index'][i]), 'time_s': float(batch['time_s'][i]), 'gt': gt, 'pred': p,
                   'abs_err': abs(p - gt), 'offsets_s': [float(x) for x in batch['offsets_s'][i]],
                   'view_valid': [bool(x) for x in batch['view_valid'][i]]}
            if game is not None:
                row['game'] = {str(lv): float(game[i, j]) for j, lv in enumerate(GAME_LEVELS)}
            rows.append(row)
    model.train(was_training)
    summary = summarize_rows(rows)
    nae_frames = sum(1 for r in rows if r['gt'] > 0)
    return {**summary, 'nae_frames': nae_frames, 'per_frame': rows}


def summarize_rows(rows: list[dict]) -> dict:
    """n, MAE, NAE (frames with gt > 0), mean gt / pred and mean GAME(L) of per-frame rows of :func:`evaluate_model`."""
    n = len(rows)
    nae_rows = [r for r in rows if r['gt'] > 0]
    out = {'n': n,
           'mae': sum(r['abs_err'] for r in rows) / n if n else float('nan'),
           'nae': sum(r['abs_err'] / r['gt'] for r in nae_rows) / len(nae_rows) if nae_rows else float('nan'),
           'mean_gt': sum(r['gt'] for r in rows) / n if n else float('nan'),
           'mean_pred': sum(r['pred'] for r in rows) / n if n else float('nan')}
    if rows and all('game' in r for r in rows):
        out['game'] = {str(lv): sum(r['game'][str(lv)] for r in rows) / n for lv in GAME_LEVELS}
    return out


def per_sequence(rows: list[dict], dataset) -> dict[str, dict]:
    """{sequence name: :func:`summarize_rows` of its frames} for data sets of recorded sequences, else {}.

    Each row's reference time names its sequence (``SyncDataset.sequence_of``); rows outside every
    sequence are grouped under '?'.
    """
    sequence_of = getattr(dataset, 'sequence_of', None)
    if sequence_of is None or not rows or sequence_of(rows[0]['time_s']) is None:
        return {}
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(sequence_of(r['time_s']) or '?', []).append(r)
    return {name: summarize_rows(g) for name, g in groups.items()}


class CountingTask:
    """The counting :class:`~vsync_ros.engine.tasks.Task` (config :class:`~vsync_ros.engine.config.Config`)."""

    name = 'counting'
    best_metric = 'mae'
    best_mode = 'min'
    fine_tune_regime: str | None = 'BaseSU'   # a base model fine-tuned on unsynced frames from BaseS
    plain_loss_tag: str | None = None         # l_p only: sync_loss 'none' (gamma 0 keeps its term's name)

    # ------------------------------------------------------------------------------------ training
    def load_training_data(self, cfg: Config) -> TrainingData:
        """The ``data.train_split`` (with synced frames when needed) and optional ``data.val_split`` of ``data.root``.

        Raises:
            ValueError: the data set is not a counting data set.
        """
        d = cfg.data
        train_ds = SyncDataset(d.root, d.train_split, gp_cell_m=d.gp_cell_m, load_sync=needs_sync_frames(cfg))
        if train_ds.task != 'counting':
            raise ValueError(f'{d.root} is a {train_ds.task!r} data set; vsync-train trains counting models')
        val_ds = SyncDataset(d.root, d.val_split, gp_cell_m=d.gp_cell_m, load_sync=False) if d.val_split else None
        return TrainingData(train_ds, val_ds, train_ds.cameras, train_ds.region,
                            data_manifest(train_ds, d.train_split))

    def build_model(self, cfg: Config, data: TrainingData, log: Callable[[str], object]) -> torch.nn.Module:
        """A fresh model for the data's rig and region, initialised from ``train.init_checkpoint`` if set.

        The same method loads every tensor (the architecture fields must match); another method copies
        the shared tensors (e.g. CLS from a BaseU / BaseS model).

        Raises:
            ValueError: the init checkpoint is not a counting checkpoint.
            CheckpointError: the init checkpoint is unreadable, or its calibration / architecture differs.
        """
        model = build_model(cfg.model, data.cameras, data.region)
        init = cfg.train.init_checkpoint
        if init:
            task = load_checkpoint(init).task  # the task first, then the rig
            if task != 'counting':
                raise ValueError(f'init_checkpoint {init} is a {task} checkpoint, this is a counting training '
                                 'run: it needs a counting checkpoint')
            ckpt = load_checkpoint(init, None, data.cameras, data.region)
            if ckpt.config.model.method == cfg.model.method:
                load_checkpoint(init, cfg.model)  # same architecture: every field must match
                model.load_state_dict(ckpt.model_state)
                loaded = len(ckpt.model_state)
            else:
                loaded = init_shared_weights(model, ckpt.model_state)
            log(f'initialised {loaded} tensors from {init} ({ckpt.config.model.method}, '
                f'trained on {ckpt.meta.get("regime", "?")})')
        return model

    def training_losses(self, model: torch.nn.Module, batch: dict, cfg: Config, device: torch.device,
                        generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Forward one collated batch and return the loss terms ('total', 'task', and 'warp' | 'sim' when used).

        ``generator`` is unused (the counting forward pass draws no random numbers).
        """
        b = prepare_batch(batch, cfg.model.image_hw, device, use_sync_input=cfg.train.input == 'sync')
        out = model(b, with_sync_targets=uses_warp_loss(cfg), detach_sync_target=cfg.loss.detach_sync_target)
        return compute_losses(out, b, cfg.loss, cfg.model.density_scale)

    def save_checkpoint(self, path: str | Path, model: torch.nn.Module, cfg: Config, data: TrainingData,
                        meta: dict) -> None:
        """Write weights, config, the model's calibration and ground region, and ``meta``."""
        save_checkpoint(path, model, cfg, model.cameras, data.region, meta)

    # ------------------------------------------------------------------------------------ evaluation
    def evaluate(self, model: torch.nn.Module, dataset, device: torch.device, sync_input: bool = False,
                 batch_size: int = 1, progress: bool = False, desc: str = 'eval',
                 root_source: str | None = None) -> dict:
        """:func:`evaluate_model` (``root_source`` is a pose option and is ignored)."""
        return evaluate_model(model, dataset, device, sync_input, batch_size, progress, desc)

    def validation_record(self, res: dict) -> dict:
        """History entries of a validation run."""
        return {'val_mae': res['mae'], 'val_nae': res['nae']}

    def best_record(self, res: dict) -> dict:
        """The metrics kept as 'best_val' (plus epoch and step, added by the loop)."""
        return {'mae': res['mae'], 'nae': res['nae']}

    def format_validation(self, res: dict) -> str:
        """One-line validation result."""
        return f'val MAE {res["mae"]:.3f} NAE {res["nae"]:.4f}'

    def format_best(self, best: dict) -> str:
        """The best validation metric of a run, for the closing log line."""
        return f'best val MAE {best["mae"]:.3f}'

    def open_evaluation(self, ckpt: Checkpoint, root: str | Path, split: str, sync_input: bool,
                        device: torch.device) -> tuple[torch.nn.Module, Checkpoint, SyncDataset]:
        """(model on ``device``, its checkpoint, the split) for ``vsync-eval``.

        The data set's ground truth is resampled to the checkpoint's cell size; its cameras and region
        must match the checkpoint's (CheckpointMismatchError names the field otherwise); a pose data set
        is a ValueError naming both tasks.
        """
        dataset = SyncDataset(root, split, gp_cell_m=ckpt.region.cell_m if ckpt.region else None,
                              load_sync=sync_input)
        check_data_task(ckpt, dataset)
        model, ckpt = load_model(ckpt.path, cameras=dataset.cameras, region=dataset.region, map_location=device)
        return model, ckpt, dataset

    def eval_summary(self, head: dict, ckpt: Checkpoint, dataset, result: dict, wall_time_s: float,
                     root_source: str | None = None) -> dict:
        """The ``vsync-eval --json`` document: ``head`` (checkpoint, data, split, sync_input), method, time, result."""
        doc = {**head, 'method': ckpt.config.model.method, 'wall_time_s': wall_time_s, **result}
        per_seq = per_sequence(result['per_frame'], dataset)
        if per_seq:
            doc['per_sequence'] = per_seq
        return doc

    def eval_line(self, ckpt: Checkpoint, where: str, result: dict, wall_time_s: float) -> str:
        """What ``vsync-eval`` prints; ``where`` names the data set and split."""
        return (f'{ckpt.config.model.method} on {where}: n={result["n"]} MAE={result["mae"]:.3f} '
                f'NAE={result["nae"]:.4f} (mean gt {result["mean_gt"]:.2f}, mean pred {result["mean_pred"]:.2f}) '
                f'in {wall_time_s:.1f} s')
