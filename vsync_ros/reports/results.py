"""``python -m vsync_ros.reports.results``: evaluate the shipped checkpoints and write the README results tables.

The rows come from a YAML spec (default ``config/results/plaza.yaml``): each row names a table
('II' = trained with synced and unsynced frames, 'III' = unsynced frames only), the loss group
('l_p', 'l_p, l_W', 'l_p, l_s'), the method label and, per latency column, the checkpoint and the data
set to evaluate on (``sync_input`` rows feed the synchronized frames: the upper bound). Output: a JSON
file with every metric and a Markdown file with the tables in the layout of the paper's Tables II/III.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from vsync_ros.process import set_process_defaults

if TYPE_CHECKING:
    import torch

# torch and the torch-based engine modules are imported where used, so that main() sets the process
# defaults (OMP_WAIT_POLICY) before torch loads.


def evaluate_row(checkpoint: Path, data: Path, split: str, sync_input: bool, device: torch.device) -> dict:
    """MAE / NAE of one checkpoint on one data-set split."""
    from vsync_ros.data.dataset import SyncDataset
    from vsync_ros.engine.checkpoint import load_checkpoint, load_model
    from vsync_ros.engine.tasks.counting import evaluate_model

    cell = load_checkpoint(checkpoint).region.cell_m
    dataset = SyncDataset(data, split, gp_cell_m=cell, load_sync=sync_input)
    model, ckpt = load_model(checkpoint, cameras=dataset.cameras, region=dataset.region, map_location=device)
    res = evaluate_model(model, dataset, device, sync_input, progress=True, desc=f'{checkpoint.stem} {data.name}')
    return {'mae': res['mae'], 'nae': res['nae'], 'n': res['n'], 'mean_gt': res['mean_gt'],
            'regime': ckpt.meta.get('regime', ''), 'train_wall_s': ckpt.meta.get('wall_time_s')}


def model_card(checkpoint: Path, evaluations: list[tuple[str, str, dict]],
               world: str = 'vsync_ros plaza world', synthetic: bool = True) -> str:
    """Markdown model card of a checkpoint: regime, config, data, training time and test metrics.

    ``evaluations``: (table label, latency column, metrics) rows measured on held-out test splits;
    ``world``: what the training data set renders (or holds); ``synthetic``: False for real frames.
    """
    from vsync_ros.engine.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    meta, m = ckpt.meta, ckpt.config.model
    man = meta.get('data_manifest', {})
    desync = man.get('desync', {})
    chain = [meta.get('init_checkpoint')] if meta.get('init_checkpoint') else []
    lines = [
        f'# {checkpoint.name}',
        '',
        f'- Regime: **{meta.get("regime", "?")}**; method `{m.method}`, input {m.image_width}x{m.image_height}, '
        f'{len(ckpt.cameras)} views, ground grid {ckpt.region.shape[0]}x{ckpt.region.shape[1]} cells of '
        f'{ckpt.region.cell_m} m.',
        f'- Loss: `{ckpt.config.loss.sync_loss}` sync loss, gamma {ckpt.config.loss.gamma:g}; '
        f'optimizer {ckpt.config.train.optimizer}, lr {ckpt.config.train.lr:g}, batch {ckpt.config.train.batch_size}.',
        f'- Trained on **{"synthetic data only" if synthetic else "real frames"}** ({world}, '
        f'{man.get("n", "?")} training samples, '
        f'world seed {man.get("seed", "?")}, latency mode {desync.get("mode", "?")}, kappa {desync.get("kappa_s")} s, '
        f'tau {desync.get("tau_s")} s, dt {desync.get("dt_s")} s); training seed {meta.get("seed")}.',
        f'- Steps: {meta.get("steps")} in {meta.get("wall_time_s", 0) / 60:.1f} min on CPU '
        f'({meta.get("seconds_per_step", 0):.2f} s/step, shared 2-core machine)'
        + (f', initialised from `{Path(chain[0]).name}`.' if chain else '.'),
        f'- torch {meta.get("torch")}, config and calibration stored in the checkpoint '
        '(`vsync_ros.engine.checkpoint.load_checkpoint`).',
        '',
        '| evaluated as | test latency | MAE | NAE | frames |',
        '| --- | --- | ---: | ---: | ---: |',
    ]
    for label, col, met in evaluations:
        lines.append(f'| {label} | {col} | {met["mae"]:.2f} | {met["nae"]:.3f} | {met["n"]} |')
    lines.append('')
    return '\n'.join(lines)


def markdown_tables(rows: list[dict], columns: list[str]) -> str:
    """Render rows grouped by table and loss group, one MAE / NAE pair per latency column."""
    out = []
    for table in sorted({r['table'] for r in rows}):
        title = {'II': 'Table II layout: trained with synchronized and unsynchronized frames',
                 'III': 'Table III layout: trained with unsynchronized frames only'}.get(table, table)
        out.append(f'**{title}**\n')
        out.append('| loss | model | ' + ' | '.join(f'{c} MAE | {c} NAE' for c in columns) + ' |')
        out.append('| --- | --- | ' + ' | '.join('---: | ---:' for _ in columns) + ' |')
        for r in (r for r in rows if r['table'] == table):
            cells = []
            for c in columns:
                m = r['metrics'].get(c)
                cells += [f'{m["mae"]:.2f}', f'{m["nae"]:.3f}'] if m else ['-', '-']
            out.append(f'| {r["loss"]} | {r["label"]} | ' + ' | '.join(cells) + ' |')
        out.append('')
    return '\n'.join(out)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--spec', type=Path, default=Path('config/results/plaza.yaml'))
    p.add_argument('--json', type=Path, default=Path('docs/results.json'))
    p.add_argument('--markdown', type=Path, default=Path('docs/results.md'))
    p.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'])
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--only', nargs='+', metavar='LABEL', default=None,
                   help='evaluate only these rows; the others are kept from the existing --json file')
    args = p.parse_args(argv)
    set_process_defaults()
    import torch

    from vsync_ros.engine.checkpoint import CheckpointError
    from vsync_ros.engine.device import select_device

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = yaml.safe_load(args.spec.read_text())
    columns = list(spec['columns'])
    device, note = select_device(args.device)
    if note:
        print(note, file=sys.stderr)
    previous = {}
    if args.only and args.json.is_file():
        previous = {(r['table'], r['loss'], r['label']): r for r in json.loads(args.json.read_text())['rows']}
    rows = []
    for row in spec['rows']:
        key = (row['table'], row['loss'], row['label'])
        if args.only and row['label'] not in args.only and key in previous:
            rows.append(previous[key])
            continue
        metrics = {}
        for col, run in row['runs'].items():
            try:
                metrics[col] = evaluate_row(Path(run['checkpoint']), Path(run['data']), spec.get('split', 'test'),
                                            bool(row.get('sync_input', False)), device)
            except (CheckpointError, FileNotFoundError) as exc:
                print(f'skipping {row["label"]} / {col}: {exc}', file=sys.stderr)
                continue
            print(f'{row["table"]:>3} {row["label"]:<28} {col:<9} MAE {metrics[col]["mae"]:.3f} '
                  f'NAE {metrics[col]["nae"]:.4f}')
        rows.append({**row, 'metrics': metrics})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({'columns': columns, 'rows': rows}, indent=1))
    args.markdown.write_text(markdown_tables(rows, columns))
    cards: dict[str, list] = {}
    for row in rows:
        for col, met in row['metrics'].items():
            cards.setdefault(row['runs'][col]['checkpoint'], []).append((row['label'], col, met))
    for ckpt_path, evals in cards.items():
        if not Path(ckpt_path).is_file():
            continue
        Path(ckpt_path).with_suffix('.md').write_text(model_card(Path(ckpt_path), evals))
    print(args.markdown.read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
