"""Counting task: ground-plane density models (BaseS / BaseSU / BaseU, SLS, CLS-cat / -cor / -epi).

Metrics (:func:`evaluate_model`): MAE and NAE of the per-frame people count (the sum of the predicted
ground-plane density map against the ground-truth count); validation keeps the checkpoint of the lowest
MAE.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from vsync_ros.data.dataset import SyncDataset
from vsync_ros.engine.checkpoint import Checkpoint, load_checkpoint, load_model, save_checkpoint
from vsync_ros.engine.config import Config
from vsync_ros.engine.fallback_rule import FALLBACK_WHEN, needs_fallback
from vsync_ros.engine.tasks.common import (
    MODEL_REFERENCE_VIEW,
    TrainingData,
    check_data_task,
    data_manifest,
    drop_views,
    failover_synchronize,
    init_shared_weights,
    mark_missing,
    needs_sync_frames,
    prepare_batch,
    uses_warp_loss,
    view_dropout_probs,
)
from vsync_ros.models.counting.losses import compute_losses
from vsync_ros.models.counting.model import build_model
from vsync_ros.models.sync.warp import upsample_flow, warp

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


FAILOVER_MODES = ('as_trained', 'unsynced')
WARP_CHECK_LEVEL = 3  # image GAME level of the warp check: 8 x 8 cells of each view


def warp_alignment(flow_px: torch.Tensor, density: torch.Tensor, density_sync: torch.Tensor,
                   level: int = WARP_CHECK_LEVEL) -> tuple[torch.Tensor, torch.Tensor]:
    """How well a camera-level flow moves views 1..V-1 to the reference time, measured on head densities.

    Each non-reference view's head density of its input frame is compared with that view's density at the
    reference time (its synchronized frame) by image GAME(``level``) (absolute count error summed over
    4**level equal image cells, people), once as it is and once backward-warped by the flow, upsampled to the
    density's size (:func:`~vsync_ros.models.sync.warp.warp`, the warp the model applies to its features).
    A flow that synchronizes makes the second smaller; a zero flow makes them equal. (A flow that pushes
    people out of the image also lowers it, from twice their mass to once: read it with the counts.)

    Args:
        flow_px: (B, V-1, 2, h, w) flow of the model's finest level, pixels of that level.
        density, density_sync: (B, V, 1, H, W) head densities of the input / synchronized frames (people
            per pixel; view 0 is the reference and is not used).

    Returns:
        (unwarped, warped): (B, V-1) image GAME(level) of each view, people.
    """
    b, n = flow_px.shape[:2]
    size = tuple(density.shape[-2:])
    moving = density[:, 1:].flatten(0, 1).to(flow_px.dtype)
    target = density_sync[:, 1:].flatten(0, 1).to(flow_px.dtype)
    warped = warp(moving, upsample_flow(flow_px.flatten(0, 1), size))
    col = GAME_LEVELS.index(level)
    unwarped_err = game_errors(moving, target)[:, col].reshape(b, n)
    warped_err = game_errors(warped, target)[:, col].reshape(b, n)
    return unwarped_err, warped_err


def dropped_view_mask(n_samples: int, n_views: int, views: Sequence[int]) -> torch.Tensor:
    """(n_samples, n_views) bool, True in the columns ``views`` (views made missing in every frame set).

    Raises:
        ValueError: a view outside 0..n_views-1, or every view.
    """
    views = sorted({int(v) for v in views})
    bad = [v for v in views if not 0 <= v < n_views]
    if bad:
        raise ValueError(f'--drop-view {bad[0]}: the data set has views 0..{n_views - 1} (0 = reference)')
    if len(views) == n_views:
        raise ValueError(f'cannot drop every view ({n_views}): at least one camera must have a frame')
    mask = torch.zeros(n_samples, n_views, dtype=torch.bool)
    mask[:, views] = True
    return mask


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, dataset, device: torch.device, use_sync_input: bool = False,
                   batch_size: int = 1, progress: bool = False, desc: str = 'eval',
                   drop_views: Sequence[int] = (), failover: str = 'as_trained',
                   fallback: torch.nn.Module | None = None, fallback_when: str = 'reference') -> dict:
    """Run a counting ``model`` over ``dataset`` and compare ground-plane counts (people).

    Args:
        model: a counting model (its ``cfg`` gives the input size); dataset: a counting ``SyncDataset``
            (or any sequence of its samples); use_sync_input: feed the synchronized frames.
        drop_views: views made missing in every frame set (image zeroed, ``view_valid`` False, as the data
            set stores a missing view); ``vsync-eval --drop-view``.
        failover: what a sync model does with a frame set whose reference view 0 is missing: 'as_trained'
            runs it unchanged (view 0 zero and invalid, the other views warped towards it; the default,
            as before), 'unsynced' fuses the views as captured, as the node does when it fails over to
            another reference (:class:`~vsync_ros.inference.pipeline.CountingPipeline`,
            :func:`~vsync_ros.engine.tasks.common.failover_synchronize`).
        fallback: a second counting model of the same rig (``vsync-eval --fallback-checkpoint``): the frame
            sets :func:`~vsync_ros.engine.fallback_rule.needs_fallback` selects with ``fallback_when`` are
            estimated by it instead, as :class:`~vsync_ros.inference.fallback.FallbackPipeline` does in the
            node (the reference of a frame set is view 0, else its first valid view).

    Returns:
        {'n', 'mae', 'nae', 'nae_frames', 'mean_gt', 'mean_pred', 'game': {'0'..'3': mean GAME(L)},
        'per_frame': [{'index', 'time_s', 'gt', 'pred', 'abs_err', 'game', 'offsets_s', 'view_valid'}]}
        (rows estimated by ``fallback`` also carry 'fallback': True; the result then has 'fallback_frames').
        A camera-level sync model on unsynchronized frames with head densities also gets, per row,
        'warp_check': {'unwarped', 'warped'}, the image GAME(3) of views 1..V-1 (valid ones, summed) against
        their synchronized frames, before and after its flow (:func:`warp_alignment`), and the summary gets
        their means ('warp_check' with 'ratio' = warped / unwarped).
        NAE = mean |pred - gt| / gt over frames with gt > 0 ('nae_frames' of them); GAME(L) as
        :func:`game_errors`, of the predicted map against the data set's ground-plane density (when a
        batch has no 'gp_density', 'game' is absent). The count 'gt' is the annotated number of people.
    """
    if failover not in FAILOVER_MODES:
        raise ValueError(f'failover must be one of {FAILOVER_MODES}, got {failover!r}')
    if fallback_when not in FALLBACK_WHEN:
        raise ValueError(f'fallback_when must be one of {FALLBACK_WHEN}, got {fallback_when!r}')
    was_training = model.training
    model.eval()
    if fallback is not None:
        fallback.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    image_hw = (model.cfg.image_height, model.cfg.image_width)
    rows = []
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        b = prepare_batch(batch, image_hw, device, use_sync_input)
        if drop_views:
            n, v = b['view_valid'].shape
            b = mark_missing(b, dropped_view_mask(n, v, drop_views).to(b['view_valid'].device))
        inputs = {'images': b['images'], 'view_valid': b['view_valid']}
        if failover == 'unsynced':
            inputs['synchronize'] = failover_synchronize(b['view_valid'])
        use_fallback = torch.zeros(b['view_valid'].shape[0], dtype=torch.bool)
        if fallback is not None:
            use_fallback = fallback_samples(b['view_valid'].cpu(), fallback_when)
        out = None if bool(use_fallback.all()) else model(inputs, with_sync_targets=False)
        if bool(use_fallback.any()):
            other = fallback(inputs, with_sync_targets=False)
            other = {'count': other['count'],
                     'density': other['density'] * (model.cfg.density_scale / fallback.cfg.density_scale)}
            if out is None:  # every sample of the batch goes to the fallback: the primary is not run
                out = other
            else:
                pick = use_fallback.to(out['count'].device)
                out = {'count': torch.where(pick, other['count'], out['count']),
                       'density': torch.where(pick.view(-1, 1, 1, 1), other['density'], out['density'])}
        pred = out['count']
        warp_rows = None
        if (getattr(model, 'cls', None) is not None and 'flows' in out and not use_sync_input
                and 'view_density' in b and 'view_density_sync' in b):
            unwarped_err, warped_err = warp_alignment(out['flows'][0], b['view_density'], b['view_density_sync'])
            seen = b['view_valid'][:, 1:].to(unwarped_err.dtype)
            warp_rows = torch.stack([(unwarped_err * seen).sum(1), (warped_err * seen).sum(1)], 1).cpu()
        game = None
        if 'gp_density' in batch:
            density = out['density'] / model.cfg.density_scale
            game = game_errors(density.cpu(), batch['gp_density'].to(density.dtype))
        valid_rows = b['view_valid'].cpu() if drop_views else batch['view_valid']  # what the model saw
        for i in range(pred.shape[0]):
            gt = float(batch['count'][i])
            p = float(pred[i])
            row = {'index': int(batch['index'][i]), 'time_s': float(batch['time_s'][i]), 'gt': gt, 'pred': p,
                   'abs_err': abs(p - gt), 'offsets_s': [float(x) for x in batch['offsets_s'][i]],
                   'view_valid': [bool(x) for x in valid_rows[i]]}
            if game is not None:
                row['game'] = {str(lv): float(game[i, j]) for j, lv in enumerate(GAME_LEVELS)}
            warped_here = 'synchronize' not in inputs or bool(inputs['synchronize'][i])
            if warp_rows is not None and warped_here and not bool(use_fallback[i]):
                row['warp_check'] = {'unwarped': float(warp_rows[i, 0]), 'warped': float(warp_rows[i, 1])}
            if bool(use_fallback[i]):
                row['fallback'] = True
            rows.append(row)
    model.train(was_training)
    summary = summarize_rows(rows)
    nae_frames = sum(1 for r in rows if r['gt'] > 0)
    extra = {'fallback_frames': sum(1 for r in rows if r.get('fallback'))} if fallback is not None else {}
    return {**summary, 'nae_frames': nae_frames, **extra, 'per_frame': rows}


def fallback_samples(view_valid: torch.Tensor, when: str) -> torch.Tensor:
    """(B,) bool: the samples a fallback model estimates (:func:`needs_fallback`), from (B, V) ``view_valid``.

    A sample's reference is view 0 when it is valid, else its first valid view (the node's fail-over order).
    """
    flags = []
    for row in view_valid.to(torch.bool).tolist():
        missing = [v for v, ok in enumerate(row) if not ok]
        ref = MODEL_REFERENCE_VIEW if row[MODEL_REFERENCE_VIEW] else next((v for v, ok in enumerate(row) if ok), 0)
        flags.append(needs_fallback(missing, ref, MODEL_REFERENCE_VIEW, when))
    return torch.tensor(flags, dtype=torch.bool)


def each_view_missing(model: torch.nn.Module, dataset, device: torch.device, use_sync_input: bool = False,
                      batch_size: int = 1, progress: bool = False, failover: str = 'unsynced',
                      all_views: dict | None = None, fallback: torch.nn.Module | None = None,
                      fallback_when: str = 'reference') -> dict:
    """MAE with all views and with each single view missing in every frame set (``vsync-eval --each-view-missing``).

    Args:
        model, dataset, device, use_sync_input, batch_size, progress: as :func:`evaluate_model`.
        failover: how a missing reference is handled (default 'unsynced': the node's fail-over).
        all_views: an :func:`evaluate_model` result of the same model, data and ``failover`` with no view
            dropped, to reuse (None: evaluated here).
        fallback, fallback_when: as :func:`evaluate_model` (the degraded frame sets go to ``fallback``).

    Returns:
        {'failover', 'all': :func:`summarize_rows` of every view, 'missing': {view index (str): its
        summary plus 'view' (camera name when known) and 'mae_ratio' (MAE / all-views MAE)}}.
    """
    n_views = int(dataset[0]['view_valid'].shape[0])
    names = [c.name for c in getattr(dataset, 'cameras', [])] or [f'view{v}' for v in range(n_views)]
    base = all_views or evaluate_model(model, dataset, device, use_sync_input, batch_size, progress, 'all views',
                                       failover=failover, fallback=fallback, fallback_when=fallback_when)
    out = {'failover': failover, 'all': summarize_rows(base['per_frame']), 'missing': {}}
    for v in range(n_views):
        res = evaluate_model(model, dataset, device, use_sync_input, batch_size, progress, f'{names[v]} missing',
                             drop_views=[v], failover=failover, fallback=fallback, fallback_when=fallback_when)
        summary = summarize_rows(res['per_frame'])
        ratio = summary['mae'] / base['mae'] if base['mae'] > 0 else float('inf')
        out['missing'][str(v)] = {'view': names[v], **summary, 'mae_ratio': ratio}
    return out


def format_each_view_missing(table: dict) -> str:
    """The :func:`each_view_missing` result as a few lines of text (MAE and ratio to all views)."""
    lines = [f'views missing (fail-over {table["failover"]}):  MAE    x all-views',
             f'  none (all views)              {table["all"]["mae"]:7.3f}  1.00']
    for v, row in table['missing'].items():
        lines.append(f'  view {v} ({row["view"]}){" " * max(1, 22 - len(row["view"]) - len(v))}'
                     f'{row["mae"]:7.3f}  {row["mae_ratio"]:.2f}')
    return '\n'.join(lines)


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
    checked = [r['warp_check'] for r in rows if 'warp_check' in r]
    if checked:
        unwarped = sum(c['unwarped'] for c in checked) / len(checked)
        warped = sum(c['warped'] for c in checked) / len(checked)
        out['warp_check'] = {'n': len(checked), 'level': WARP_CHECK_LEVEL, 'unwarped': unwarped, 'warped': warped,
                             'ratio': warped / unwarped if unwarped > 0 else float('nan')}
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
        if cfg.train.view_dropout_enabled:
            view_dropout_probs(cfg.train.view_dropout, train_ds.n_views)  # a wrong length stops before training
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

        View dropout (``train.view_dropout`` > 0): :func:`drop_views` draws, with ``generator`` (the fit
        loop's seeded step generator), views to mark missing in each sample (image zeroed, ``view_valid``
        False, as the data set stores a missing view; never all views), after the input frames are chosen
        (unsync or sync). The model then sees what it sees in the node: a sample without its reference
        view 0, dropped or missing in the data set, is fused unsynchronized (``batch['synchronize']``
        False, :func:`failover_synchronize`), exactly as the pipeline's fail-over fuses the views as
        captured when the node's reference falls over to another camera; such a sample adds to the task
        loss but has no warping / similarity term. Without view dropout ``generator`` is not used and
        training is as before (a missing reference is then trained as is: zero image, sync on).
        """
        b = prepare_batch(batch, cfg.model.image_hw, device, use_sync_input=cfg.train.input == 'sync')
        if cfg.train.view_dropout_enabled:
            probs = view_dropout_probs(cfg.train.view_dropout, b['view_valid'].shape[1])
            b = mark_missing(b, drop_views(b['view_valid'], probs, generator))
            b['synchronize'] = failover_synchronize(b['view_valid'])
        out = model(b, with_sync_targets=uses_warp_loss(cfg), detach_sync_target=cfg.loss.detach_sync_target)
        losses = compute_losses(out, b, cfg.loss, cfg.model.density_scale)
        if cfg.model.method != 'base' and cfg.loss.gamma > 0 and cfg.loss.sync_loss in ('warp', 'sim'):
            # no sample synchronized in this batch: the sync term is 0 (same loss keys every step)
            losses.setdefault(cfg.loss.sync_loss, losses['task'].new_zeros(()))
        return losses

    def save_checkpoint(self, path: str | Path, model: torch.nn.Module, cfg: Config, data: TrainingData,
                        meta: dict) -> None:
        """Write weights, config, the model's calibration and ground region, and ``meta``."""
        save_checkpoint(path, model, cfg, model.cameras, data.region, meta)

    # ------------------------------------------------------------------------------------ evaluation
    def evaluate(self, model: torch.nn.Module, dataset, device: torch.device, sync_input: bool = False,
                 batch_size: int = 1, progress: bool = False, desc: str = 'eval',
                 root_source: str | None = None, drop_views: Sequence[int] = (),
                 failover: str = 'as_trained', fallback: torch.nn.Module | None = None,
                 fallback_when: str = 'reference') -> dict:
        """:func:`evaluate_model` (``root_source`` is a pose option and is ignored)."""
        return evaluate_model(model, dataset, device, sync_input, batch_size, progress, desc, drop_views, failover,
                              fallback, fallback_when)

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
        line = (f'{ckpt.config.model.method} on {where}: n={result["n"]} MAE={result["mae"]:.3f} '
                f'NAE={result["nae"]:.4f} (mean gt {result["mean_gt"]:.2f}, mean pred {result["mean_pred"]:.2f}) '
                f'in {wall_time_s:.1f} s')
        check = result.get('warp_check')
        if check:
            line += (f'\nwarp check (non-reference views against their synchronized frames, image '
                     f'GAME({check["level"]})): {check["unwarped"]:.3f} unwarped, {check["warped"]:.3f} '
                     f'warped by the flow (x{check["ratio"]:.2f})')
        return line
