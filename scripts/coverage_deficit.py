#!/usr/bin/env python3
r"""Where a counting model's count goes with cameras missing: predicted vs true people per coverage class.

Over a data-set split (every ``--every``-th frame set), the ground cells are grouped by how many of the
remaining cameras see them (the model's ground-plane visibility masks), and the predicted and true
densities are summed per group. With the reference missing a sync model runs as the node runs it after a
fail-over (views fused as captured). The ratio predicted / true per group shows whether a loss comes from
cells no remaining camera sees or from cells the remaining cameras share::

    scripts/coverage_deficit.py --checkpoint models/plaza_cls_epi.pt \
        --data runs/plaza_robust_data/heldout_new_scenes --drop-view 0

Prints one line per group (share of the region, predicted and true people summed over the frame sets,
their ratio) and the totals.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', type=Path, required=True, help='counting checkpoint')
    ap.add_argument('--data', type=Path, required=True, help='data set of the checkpoint\'s rig (vsync-synth)')
    ap.add_argument('--split', default='test')
    ap.add_argument('--drop-view', type=int, action='append', default=[], metavar='V',
                    help='view made missing in every frame set (repeatable; 0 = the reference)')
    ap.add_argument('--every', type=int, default=3, help='use every n-th frame set (default 3)')
    args = ap.parse_args(argv)

    import torch
    from torch.utils.data import DataLoader, Subset

    from vsync_ros.data.dataset import SyncDataset
    from vsync_ros.engine.checkpoint import load_model
    from vsync_ros.engine.tasks.common import failover_synchronize, mark_missing, prepare_batch
    from vsync_ros.engine.tasks.counting import dropped_view_mask

    torch.set_num_threads(1)
    model, _ = load_model(args.checkpoint)
    model.eval()
    full = SyncDataset(args.data, args.split, gp_cell_m=model.region.cell_m)
    ds = Subset(full, range(0, len(full), max(1, args.every)))
    seen = model.projection.mask[:, 0] > 0.5                     # (V, rows, cols) cells each view sees
    for v in args.drop_view:
        if not 0 <= v < seen.shape[0]:
            sys.exit(f'--drop-view {v}: the model has views 0..{seen.shape[0] - 1}')
    remaining = seen.clone()
    remaining[args.drop_view] = False
    n_seen = remaining.sum(0)
    pred = true = 0
    with torch.no_grad():
        for batch in DataLoader(ds, batch_size=4):
            b = prepare_batch(batch, (model.cfg.image_height, model.cfg.image_width), torch.device('cpu'))
            if args.drop_view:
                n, v = b['view_valid'].shape
                b = mark_missing(b, dropped_view_mask(n, v, args.drop_view))
            out = model({'images': b['images'], 'view_valid': b['view_valid'],
                         'synchronize': failover_synchronize(b['view_valid'])}, with_sync_targets=False)
            pred = pred + (out['density'] / model.cfg.density_scale).sum(0)[0]
            true = true + batch['gp_density'].sum(0)[0]
    print(f'{args.checkpoint} on {args.data}/{args.split}, {len(ds)} frame sets, missing views {args.drop_view}:')
    for k in range(int(n_seen.max()) + 1):
        cells = n_seen == k
        p, t = float(pred[cells].sum()), float(true[cells].sum())
        ratio = f'{p / t:.3f}' if t > 0 else '-'
        print(f'  cells seen by {k} remaining camera(s): {float(cells.float().mean()):.3f} of the region, '
              f'predicted {p:.1f}, true {t:.1f}, ratio {ratio}')
    print(f'  all cells: predicted {float(pred.sum()):.1f}, true {float(true.sum()):.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
