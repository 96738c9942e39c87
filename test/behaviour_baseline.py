"""Helpers of test_behaviour_unchanged.py: regenerate the fixed data sets and re-run the recorded measurements.

``test/data/behaviour_baseline.json`` was recorded before the layer restructuring (issue 9): the
``vsync-eval --json`` numbers of every shipped checkpoint on two tiny synthetic data sets and the
per-step losses of two 20-step training runs. If a later change alters the synthetic worlds or the
models on purpose, record it again with ``python test/behaviour_baseline.py`` and say why in the commit.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / 'test' / 'data' / 'behaviour_baseline.json'


def load_baseline() -> dict:
    """The recorded numbers (see the module docstring)."""
    return json.loads(BASELINE.read_text())


def make_data(out: Path, baseline: dict) -> dict[str, Path]:
    """Write the two tiny data sets with the recorded ``vsync-synth`` arguments; {'count': path, 'pose': path}."""
    roots = {}
    for name, args in baseline['synth'].items():
        root = out / name
        if not (root / 'manifest.json').is_file():
            subprocess.run([sys.executable, '-m', 'vsync_ros.data.cli', str(root), '--no-progress', '--no-sheet',
                            *args], check=True, cwd=ROOT, capture_output=True)
        roots[name] = root
    return roots


def evaluate_checkpoint(checkpoint: Path, data: Path, json_out: Path) -> dict:
    """``vsync-eval --json`` (2 threads) of one checkpoint; the recorded subset of its summary."""
    subprocess.run([sys.executable, '-m', 'vsync_ros.engine.evaluate', '--checkpoint', str(checkpoint),
                    '--data', str(data), '--json', str(json_out), '--threads', '2', '--no-progress'],
                   check=True, cwd=ROOT, capture_output=True)
    s = json.loads(json_out.read_text())
    keep = {k: s[k] for k in ('n', 'mae', 'nae', 'mpjpe_mm', 'abs_mpjpe_mm') if k in s}
    keep['pred'] = [r.get('pred', r.get('pred_m')) for r in s['per_frame']]
    return keep


def train_curve(config: str, overrides: list[str], data: Path, out: Path) -> dict:
    """Per-step losses and the checkpoint's history of a 20-step run (seed 7, 2 threads) through ``fit``."""
    import torch

    from vsync_ros.engine.config import load_any_config
    from vsync_ros.engine.fit import fit

    cfg = load_any_config(ROOT / config, [f'data.root={data}', *overrides, 'train.max_steps=20', 'train.seed=7',
                                         'train.threads=2', f'train.out={out}'])
    curve: list[dict] = []
    fit(cfg, progress=False, log=lambda *a: None, on_step=lambda step, losses: curve.append(dict(losses)))
    ckpt = torch.load(out, weights_only=True)
    return {'losses': curve, 'history': ckpt['meta']['metrics']['history']}


def measure(work: Path) -> dict:
    """Everything the baseline holds, measured with the current code (slow: about a minute)."""
    base = load_baseline()
    roots = make_data(work / 'data', base)
    res: dict = {'eval': {}, 'train': {}}
    for name in base['eval']:
        data = roots['pose' if name.startswith('studio_pose') else 'count']
        res['eval'][name] = evaluate_checkpoint(ROOT / 'models' / name, data, work / f'{name}.json')
    for name, (config, overrides) in base['train_runs'].items():
        data = roots['pose' if name.startswith('pose') else 'count']
        res['train'][name] = train_curve(config, overrides, data, work / f'{name}.pt')
    return res


if __name__ == '__main__':
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        new = measure(Path(tmp))
    base = load_baseline()
    base.update(new)
    BASELINE.write_text(json.dumps(base, indent=1))
    print(f'recorded {BASELINE}')
