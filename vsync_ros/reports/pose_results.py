"""Pose results report: Tables IV-VII layout from ``vsync-eval`` JSON files of pose checkpoints.

Usage::

    python -m vsync_ros.reports.pose_results --eval BaseU:8:runs/pose/eval_base_u_k8.json ... \
        --out docs/pose_results.md --json docs/pose_results.json

Each ``--eval`` is ``METHOD:KAPPA_FRAMES:PATH`` (KAPPA_FRAMES = latency bound in 50 Hz frames, 8 / 32 / 64).
The Markdown holds Table IV (MPJPE / absolute MPJPE per latency and method, mm) and one table per
latency with the per-motion MPJPE (Tables V-VII, motions of the synthetic world instead of the
Human3.6M actions), plus the training details read from each eval's checkpoint metadata.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vsync_ros.engine.pose_metrics import MOTION_NAMES
from vsync_ros.process import set_process_defaults


def parse_eval_spec(text: str) -> tuple[str, int, Path]:
    """``'BaseU:8:path.json'`` -> ('BaseU', 8, Path('path.json'))."""
    try:
        method, kappa, path = text.split(':', 2)
        return method, int(kappa), Path(path)
    except ValueError:
        raise argparse.ArgumentTypeError(f'--eval must look like METHOD:KAPPA_FRAMES:PATH, got {text!r}') from None


def _fmt(x) -> str:
    return '-' if x is None else f'{x:.1f}'


def collect(specs: list[tuple[str, int, Path]]) -> dict:
    """{'methods': [...], 'kappas': [...], 'results': {method: {kappa: summary without per_frame}}}."""
    methods: list[str] = []
    kappas: list[int] = []
    results: dict[str, dict[int, dict]] = {}
    for method, kappa, path in specs:
        data = json.loads(Path(path).read_text())
        if data.get('task') != 'pose':
            raise ValueError(f'{path} is not a pose evaluation (task {data.get("task")!r})')
        if method not in methods:
            methods.append(method)
        if kappa not in kappas:
            kappas.append(kappa)
        results.setdefault(method, {})[kappa] = {k: v for k, v in data.items() if k != 'per_frame'}
    return {'methods': methods, 'kappas': sorted(kappas), 'results': results}


def training_details(checkpoint: str) -> dict:
    """Regime, steps, seconds per step and data of a checkpoint ({} when unreadable)."""
    try:
        from vsync_ros.engine.checkpoint import load_checkpoint
        ck = load_checkpoint(checkpoint)
    except Exception:  # noqa: BLE001 -- the report still works without the checkpoint
        return {}
    man = ck.meta.get('data_manifest') or []
    man = man if isinstance(man, list) else [man]
    return {'regime': ck.meta.get('regime'), 'steps': ck.meta.get('steps'),
            'seconds_per_step': ck.meta.get('seconds_per_step'), 'wall_time_s': ck.meta.get('wall_time_s'),
            'train_samples': sum(int(m.get('n') or 0) for m in man),
            'train_seeds': [m.get('seed') for m in man],
            'train_kappa_s': [max((m.get('desync') or {}).get('kappa_s') or [0]) for m in man]}


def markdown(report: dict) -> str:
    """The Markdown tables."""
    methods, kappas, res = report['methods'], report['kappas'], report['results']
    lines = ['# Unsynchronized multi-view 3D human pose (synthetic studio, paper Sec. IV-D)', '',
             'MPJPE = mean joint error (person 0, 17 joints, mm) after subtracting each pose\'s pelvis; '
             'absolute MPJPE = the same without alignment (world coordinates). Test frames come from a '
             'held-out world seed (new body, motions and room); random latency kappa_i in frames of 50 Hz.', '',
             '## Table IV layout: MPJPE / absolute MPJPE (mm)', '',
             '| latency | ' + ' | '.join(methods) + ' |', '| --- |' + ' --- |' * len(methods)]
    for k in kappas:
        cells = []
        for m in methods:
            r = res.get(m, {}).get(k)
            cells.append('-' if r is None else f'{_fmt(r["mpjpe_mm"])} / {_fmt(r["abs_mpjpe_mm"])}')
        lines.append(f'| {k}/50 s | ' + ' | '.join(cells) + ' |')
    for k in kappas:
        lines += ['', f'## Per motion, kappa = {k}/50 s (Tables V-VII layout): MPJPE (mm)', '',
                  '| motion | ' + ' | '.join(methods) + ' |', '| --- |' + ' --- |' * len(methods)]
        for name in (*MOTION_NAMES, 'average'):
            cells = []
            for m in methods:
                r = res.get(m, {}).get(k)
                if r is None:
                    cells.append('-')
                elif name == 'average':
                    cells.append(_fmt(r['mpjpe_mm']))
                else:
                    pm = r['per_motion'].get(name, {})
                    cells.append(_fmt(pm.get('mpjpe_mm')) + (f' (n={pm["n"]})' if pm.get('n') else ''))
            lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    lines += ['', '## Training', '', '| method | regime | steps | s/step | train samples | world seeds | '
              'train kappa (s) |', '| --- | --- | --- | --- | --- | --- | --- |']
    for m in methods:
        d = report.get('training', {}).get(m, {})
        sps = d.get('seconds_per_step')
        lines.append(f'| {m} | {d.get("regime", "?")} | {d.get("steps", "?")} | '
                     f'{"?" if sps is None else f"{sps:.2f}"} | {d.get("train_samples", "?")} | '
                     f'{d.get("train_seeds", "?")} | {d.get("train_kappa_s", "?")} |')
    return '\n'.join(lines) + '\n'


def main(argv: list[str] | None = None) -> int:
    """Entry point: write the Markdown (and JSON) report."""
    set_process_defaults()
    p = argparse.ArgumentParser(prog='python -m vsync_ros.reports.pose_results', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--eval', dest='evals', type=parse_eval_spec, action='append', required=True,
                   help='METHOD:KAPPA_FRAMES:PATH of a vsync-eval --json output (repeat)')
    p.add_argument('--out', type=Path, required=True, help='Markdown file to write')
    p.add_argument('--json', type=Path, default=None, help='also write the collected numbers as JSON')
    args = p.parse_args(argv)
    try:
        report = collect(args.evals)
    except (OSError, ValueError, KeyError) as exc:
        print(f'pose_results: {exc}', file=sys.stderr)
        return 2
    report['training'] = {}
    for m in report['methods']:
        first = next(iter(report['results'][m].values()))
        report['training'][m] = training_details(first.get('checkpoint', ''))
    text = markdown(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**report, 'results': {m: {str(k): v for k, v in r.items()}
                                                               for m, r in report['results'].items()}}, indent=1))
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
