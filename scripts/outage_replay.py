#!/usr/bin/env python3
r"""The node's count after a camera outage on a replay, against its all-views count on the same frames.

For one data-set split it writes two bags with ``vsync-bag-write``: the split as recorded, and the same
split with one camera stopped at ``--at`` seconds (``--stop-camera``). Each checkpoint is scored on both
with ``vsync-bag-eval`` (offline by default: the node's frame logic with the bag clock; ``--online`` replays
over real ROS 2 topics into a ``SyncNode``). Compared on the reference times after the stop that both runs
answered, the ratio ``MAE with the camera stopped / MAE with all views`` is what the lost camera costs
(issue 11: at most 1.5). Scenes change along the held-out split, so the before / after halves of one run
are not compared with each other.

    scripts/outage_replay.py --data runs/plaza_robust_data/heldout_new_scenes --camera cam1 --at 75 \
        models/plaza_cls_epi.pt models/plaza_base_u.pt

With ``--fallback CKPT`` the camera-stopped runs use the node's fallback model for degraded frame sets
(``fallback_checkpoint``; the all-views runs never need it)::

    scripts/outage_replay.py --data runs/plaza_robust_data/heldout_new_scenes --camera cam1 --at 75 \
        --fallback models/plaza_base_u.pt models/plaza_cls_epi.pt

Writes ``OUT/<camera>_<checkpoint stem>[_fb_<fallback stem>_<when>]_<mode>.json`` per run and
``OUT/summary_<camera>[_fb_<fallback stem>_<when>]_<mode>.json``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str]) -> None:
    """Run a command of this checkout's venv; stop with its output on failure."""
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f'{" ".join(cmd)} failed ({res.returncode}):\n{res.stdout}{res.stderr}')


def write_bag(py: str, data: Path, out: Path, stop: str | None) -> None:
    """``vsync-bag-write`` of the test split into ``out`` (kept when it exists)."""
    if (out / 'metadata.yaml').is_file():
        return
    cmd = [py, '-m', 'vsync_ros.runtime.bag_write', '--data', str(data), '--out', str(out), '--no-progress']
    run(cmd + (['--stop-camera', stop] if stop else []))


def evaluate(py: str, bag: Path, ckpt: Path, out: Path, online: bool, fallback: list[str] = ()) -> dict:
    """``vsync-bag-eval`` report of ``ckpt`` on ``bag`` (cached in ``out``); ``fallback``: its fallback options."""
    if not out.is_file():
        run([py, '-m', 'vsync_ros.ros.bag_eval', '--bag', str(bag), '--checkpoint', str(ckpt), '--no-progress',
             '--json', str(out)] + ([] if online else ['--offline']) + list(fallback))
    return json.loads(out.read_text())


def compare(full: dict, stopped: dict, stop_ns: int) -> dict:
    """MAE on the reference times after ``stop_ns`` answered in both reports, all views vs camera stopped."""
    a = {f['gt_stamp_ns']: f for f in full['frames'] if f['gt_stamp_ns'] >= stop_ns}
    b = {f['gt_stamp_ns']: f for f in stopped['frames'] if f['gt_stamp_ns'] >= stop_ns}
    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError('no reference time after the stop was answered in both runs')

    def mae(frames: dict) -> float:
        return sum(abs(frames[s]['pred'] - frames[s]['gt']) for s in common) / len(common)

    def mean(frames: dict, key: str) -> float:
        return sum(frames[s][key] for s in common) / len(common)

    m_full, m_stop = mae(a), mae(b)
    return {'n': len(common), 'mae_all_views': m_full, 'mae_camera_stopped': m_stop,
            'ratio': m_stop / m_full if m_full > 0 else float('inf'), 'mean_gt': mean(a, 'gt'),
            'mean_pred_all_views': mean(a, 'pred'), 'mean_pred_camera_stopped': mean(b, 'pred'),
            'degraded_after_stop': sum(b[s]['segment'] == 'degraded' for s in common)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoints', nargs='+', type=Path)
    ap.add_argument('--data', type=Path, required=True, help='data set written by vsync-synth (its test split)')
    ap.add_argument('--camera', default='cam1', help='camera that stops (default cam1, the reference)')
    ap.add_argument('--at', type=float, required=True, help='stop time, seconds from the first sample')
    ap.add_argument('--out', type=Path, default=ROOT / 'runs' / 'outage')
    ap.add_argument('--online', action='store_true', help='replay over ROS 2 topics (real SyncNode)')
    ap.add_argument('--bound', type=float, default=1.5, help='largest acceptable ratio (default 1.5)')
    ap.add_argument('--fallback', type=Path, default=None,
                    help='fallback checkpoint for degraded frame sets (the node\'s fallback_checkpoint)')
    ap.add_argument('--fallback-when', default='reference', choices=('reference', 'any_missing'))
    args = ap.parse_args(argv)
    py = sys.executable
    args.out.mkdir(parents=True, exist_ok=True)
    full_bag = args.out / f'{args.data.name}_all'
    stop_bag = args.out / f'{args.data.name}_{args.camera}_at{args.at:g}'
    write_bag(py, args.data, full_bag, None)
    write_bag(py, args.data, stop_bag, f'{args.camera}:{args.at:g}')
    mode = 'online' if args.online else 'offline'
    fallback, tag = [], ''
    if args.fallback is not None:
        fallback = ['--fallback-checkpoint', str(args.fallback), '--fallback-when', args.fallback_when]
        tag = f'_fb_{args.fallback.stem}_{args.fallback_when}'
    rows = {}
    for ckpt in args.checkpoints:
        full = evaluate(py, full_bag, ckpt, args.out / f'all_{ckpt.stem}_{mode}.json', args.online)
        stopped = evaluate(py, stop_bag, ckpt, args.out / f'{args.camera}_{ckpt.stem}{tag}_{mode}.json', args.online,
                           fallback)
        res = compare(full, stopped, int(stopped['outages'][0]['stop_ns']))
        res['transition'] = stopped['outages'][0]['transition']
        rows[str(ckpt)] = res
        verdict = 'within' if res['ratio'] <= args.bound else 'OVER'
        print(f'{ckpt.stem:<20} {args.camera} stopped, {res["n"]} frames after the stop: '
              f'MAE {res["mae_camera_stopped"]:.2f} vs {res["mae_all_views"]:.2f} with all views = '
              f'{res["ratio"]:.2f}x ({verdict} {args.bound}x); mean count {res["mean_pred_camera_stopped"]:.2f} '
              f'vs {res["mean_pred_all_views"]:.2f}, GT {res["mean_gt"]:.2f}')
    (args.out / f'summary_{args.camera}{tag}_{mode}.json').write_text(json.dumps(
        {'data': str(args.data), 'camera': args.camera, 'at_s': args.at, 'mode': mode, 'bound': args.bound,
         'fallback': str(args.fallback) if args.fallback else None, 'fallback_when': args.fallback_when,
         'models': rows}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
