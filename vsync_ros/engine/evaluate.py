"""``vsync-eval``: counting error (MAE, NAE) of a checkpoint on a data-set split.

Example::

    vsync-eval --checkpoint runs/small_cls_epi.pt --data data/plaza --split test --json runs/eval_cls_epi.json

The model is rebuilt from the checkpoint's own config and calibration; the data set's cameras and
ground region must match them (a mismatch stops with a message naming the field). ``--sync`` feeds the
synchronized frames instead of the unsynchronized ones (an upper bound / BaseS-on-synced reference).

Pose checkpoints (``task: pose``) are detected from the checkpoint: the output is MPJPE (pelvis-aligned)
and absolute MPJPE in mm, overall and per motion type (see :mod:`vsync_ros.engine.pose_train`); ``--root-source
gt`` centres the volume on the ground-truth pelvis instead of the DLT estimate.
"""
from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads make
# torch 5-10x slower as soon as another process runs. Set before torch loads; OMP_WAIT_POLICY=ACTIVE
# in the environment restores the default.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from vsync_ros.engine.checkpoint import CheckpointError, load_model
from vsync_ros.models.inputs import resize_views


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available else cpu; 'cpu' / 'cuda' as given."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('device cuda requested but torch.cuda.is_available() is False')
    return torch.device(name)


def prepare_batch(batch: Mapping[str, torch.Tensor], image_hw: tuple[int, int], device: torch.device,
                  use_sync_input: bool = False) -> dict[str, torch.Tensor]:
    """Move a collated data-set batch to ``device`` and resize its images to the model input.

    With ``use_sync_input`` the synchronized frames replace the input frames (all views valid), as
    BaseS training and the ``--sync`` evaluation need.
    """
    out = {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    if use_sync_input:
        if 'images_sync' not in out:
            raise KeyError('synchronized input requested but the batch has no images_sync')
        out['images'] = out['images_sync']
        out['view_valid'] = torch.ones_like(out['view_valid'])
    for key in ('images', 'images_sync'):
        if key in out:
            out[key] = resize_views(out[key], image_hw)
    return out


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, dataset, device: torch.device, use_sync_input: bool = False,
                   batch_size: int = 1, progress: bool = False, desc: str = 'eval') -> dict:
    """Run ``model`` over ``dataset`` and compare ground-plane counts.

    Returns:
        {'n', 'mae', 'nae', 'nae_frames', 'mean_gt', 'mean_pred', 'per_frame': [{'index', 'time_s', 'gt',
        'pred', 'abs_err', 'offsets_s', 'view_valid'}]}. NAE = mean |pred - gt| / gt over frames with
        gt > 0 ('nae_frames' of them).
    """
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    image_hw = (model.cfg.image_height, model.cfg.image_width)
    rows = []
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        b = prepare_batch(batch, image_hw, device, use_sync_input)
        pred = model({'images': b['images'], 'view_valid': b['view_valid']}, with_sync_targets=False)['count']
        for i in range(pred.shape[0]):
            gt = float(batch['count'][i])
            p = float(pred[i])
            rows.append({'index': int(batch['index'][i]), 'time_s': float(batch['time_s'][i]), 'gt': gt, 'pred': p,
                         'abs_err': abs(p - gt), 'offsets_s': [float(x) for x in batch['offsets_s'][i]],
                         'view_valid': [bool(x) for x in batch['view_valid'][i]]})
    model.train(was_training)
    n = len(rows)
    nae_rows = [r for r in rows if r['gt'] > 0]
    return {
        'n': n,
        'mae': sum(r['abs_err'] for r in rows) / n if n else float('nan'),
        'nae': sum(r['abs_err'] / r['gt'] for r in nae_rows) / len(nae_rows) if nae_rows else float('nan'),
        'nae_frames': len(nae_rows),
        'mean_gt': sum(r['gt'] for r in rows) / n if n else float('nan'),
        'mean_pred': sum(r['pred'] for r in rows) / n if n else float('nan'),
        'per_frame': rows,
    }


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog='vsync-eval', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', required=True, type=Path, help='checkpoint written by vsync-train')
    p.add_argument('--data', required=True, type=Path, help='data-set folder (vsync-synth layout)')
    p.add_argument('--split', default='test', help='split to evaluate (default test)')
    p.add_argument('--sync', action='store_true', help='feed the synchronized frames instead of the unsynchronized')
    p.add_argument('--json', type=Path, default=None, help='write metrics and per-frame predictions here')
    p.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'])
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (0 = default)')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.add_argument('--root-source', choices=['dlt', 'gt'], default=None,
                   help='pose only: cube centre from DLT of the root heatmaps (default, as trained) or the GT pelvis')
    return p


def _main_pose(args, device: torch.device, t0: float) -> int:
    """``vsync-eval`` for a pose checkpoint: MPJPE / absolute MPJPE (mm), overall and per motion."""
    from vsync_ros.data.dataset import SyncDataset
    from vsync_ros.engine.pose_train import PoseSamples, evaluate_pose_model, format_pose_summary

    try:
        dataset = SyncDataset(args.data, args.split, load_sync=args.sync)
        model, ckpt = load_model(args.checkpoint, cameras=dataset.cameras, map_location=device)
        samples = PoseSamples(dataset, (model.cfg.image_height, model.cfg.image_width))
    except (CheckpointError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f'vsync-eval: {exc}', file=sys.stderr)
        return 2
    result = evaluate_pose_model(model, samples, device, args.sync, args.batch_size, not args.no_progress,
                                 desc=f'eval {args.split}', root_source=args.root_source)
    wall = time.perf_counter() - t0
    summary = {'checkpoint': str(args.checkpoint), 'task': 'pose', 'data': str(args.data), 'split': args.split,
               'sync_input': args.sync, 'method': ckpt.config.model.method, 'regime': ckpt.meta.get('regime'),
               'root_source': args.root_source or ckpt.config.model.root_source,
               'desync': dataset.manifest.get('desync'), 'wall_time_s': wall,
               'metric_definition': 'mpjpe_mm: mean joint error after subtracting each pose\'s pelvis (joint 6); '
                                    'abs_mpjpe_mm: mean joint error in world coordinates; person 0, millimetres',
               **result}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    print(f'{ckpt.meta.get("regime", ckpt.config.model.method)} on {args.data}/{args.split}'
          f'{" (sync input)" if args.sync else ""} in {wall:.1f} s: {format_pose_summary(result)}')
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vsync-eval``."""
    args = build_parser().parse_args(argv)
    from vsync_ros.data.dataset import SyncDataset

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    try:
        # read the checkpoint's cell size first so the data set can resample its GT to it
        from vsync_ros.engine.checkpoint import load_checkpoint
        ckpt0 = load_checkpoint(args.checkpoint)
        if ckpt0.task == 'pose':
            return _main_pose(args, device, t0)
        cell = ckpt0.region.cell_m
        dataset = SyncDataset(args.data, args.split, gp_cell_m=cell, load_sync=args.sync)
        model, ckpt = load_model(args.checkpoint, cameras=dataset.cameras, region=dataset.region,
                                 map_location=device)
    except (CheckpointError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f'vsync-eval: {exc}', file=sys.stderr)
        return 2
    result = evaluate_model(model, dataset, device, args.sync, args.batch_size, not args.no_progress,
                            desc=f'eval {args.split}')
    wall = time.perf_counter() - t0
    summary = {'checkpoint': str(args.checkpoint), 'data': str(args.data), 'split': args.split,
               'sync_input': args.sync, 'method': ckpt.config.model.method, 'wall_time_s': wall, **result}
    print(f'{ckpt.config.model.method} on {args.data}/{args.split}{" (sync input)" if args.sync else ""}: '
          f'n={result["n"]} MAE={result["mae"]:.3f} NAE={result["nae"]:.4f} '
          f'(mean gt {result["mean_gt"]:.2f}, mean pred {result["mean_pred"]:.2f}) in {wall:.1f} s')
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
