"""``vsync-bench``: inference (and optionally training-step) time and peak memory per method.

Each method runs in its own child process so the peak memory is its own. Inference = one forward
pass on one frame set (batch 1, all views) in eval mode without gradients; the median over
``--iters`` runs after ``--warmup`` runs is reported. Peak memory is the process's peak resident set
(CPU; reset before the timed runs where Linux allows it) or ``torch.cuda.max_memory_allocated`` (CUDA).
``--train-step`` also times one training step (forward + backward + optimiser step, batch 1, with the
method's default sync loss: l_W with synchronized targets).

CLS-cor / CLS-epi run once per ``--correlation`` form ('direct' = the (H*W)-channel correlation into the
motion net, 'factorized' = the fused first layer of :mod:`vsync_ros.models.sync.lowrank`, 'auto' = the
cheaper per camera pair and level), side by side; the 'forms' column says what each level used (coarsest
first, camera pair (0, 1); ``F3`` = factorized with epipolar rank 3, ``D`` = direct). ``--views`` runs
synthetic rigs: up to 3 views the plaza cameras, more views add cameras on a circle around the plaza
looking at its centre. The 'x BaseU' column is the inference time over BaseU's (same views and device).

Example::

    vsync-bench                                  # shipped small config, CPU (and CUDA when present)
    vsync-bench --config config/train/paper.yaml --device cuda --train-step
    vsync-bench --threads 2 --views 3 5 8 --correlation direct factorized --methods base cls_cor cls_epi
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

from vsync_ros.process import set_process_defaults

METHODS = ('base', 'sls', 'cls_cat', 'cls_cor', 'cls_epi')
DEFAULT_CONFIG = 'config/train/small.yaml'


def _default_config() -> Path:
    """The shipped small config: from the source tree, else from the installed share/ folder."""
    here = Path(__file__).resolve().parents[1] / DEFAULT_CONFIG
    if here.is_file():
        return here
    share = Path(sys.prefix) / 'share' / 'vsync_ros' / DEFAULT_CONFIG
    return share if share.is_file() else Path(DEFAULT_CONFIG)


def _rss_peak_mb() -> float:
    """Peak resident set of this process in MB (VmHWM, else ru_maxrss)."""
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_rss_peak() -> bool:
    """Reset VmHWM (Linux ``clear_refs`` 5); False when not possible."""
    try:
        Path('/proc/self/clear_refs').write_text('5')
        return True
    except OSError:
        return False


def bench_cameras(num_views: int, width: int, height: int) -> list:
    """A synthetic rig of ``num_views`` cameras at ``width`` x ``height`` pixels.

    The plaza cameras first; further cameras on a 14 m circle around the plaza centre (6 m high,
    60 degree field of view) at evenly spaced azimuths, each looking at the centre.
    """
    import math

    from vsync_ros.geometry import Camera
    from vsync_ros.geometry.presets import PLAZA_REGION, plaza_cameras

    cams = plaza_cameras(width, height)[:num_views]
    cx = PLAZA_REGION.x0 + PLAZA_REGION.width_m / 2
    cy = PLAZA_REGION.y0 + PLAZA_REGION.height_m / 2
    extra = num_views - len(cams)
    for i in range(extra):
        a = 2 * math.pi * (i + 0.5) / extra
        cam = Camera.look_at(f'ring{i}', eye=(cx + 14.0 * math.cos(a), cy + 14.0 * math.sin(a), 6.0),
                             target=(cx, cy, 0.0), width=384, height=288, hfov_deg=60.0)
        cams.append(cam if (width, height) == (384, 288) else cam.scaled(width, height))
    return cams


def _forms(model) -> str:
    """Per matched level (coarsest first) of camera pair (0, 1): 'F<rank>' factorized, 'D' direct, '' else."""
    cls = getattr(model, 'cls', None)
    matching = getattr(cls, 'matching', None)
    if cls is None or not hasattr(matching, 'form'):
        return ''
    pair = cls.pairs[0]
    out = []
    for k in cls.corr_levels:
        if cls.form(pair, k) == 'factorized':
            out.append(f'l{k}:F{matching.rank(pair, k)}')
        else:
            out.append(f'l{k}:D')
    return ' '.join(out)


def _bench_one(method: str, config_path: str, overrides: list[str], device_name: str, warmup: int, iters: int,
               threads: int, train_step: bool, queue, num_views: int = 3, correlation: str = '') -> None:
    """Child process body: build one model, time it, put a result dict on ``queue``.

    The entry point of a fresh (spawned) process: it applies the process defaults before torch loads.
    ``correlation`` ('' = the config's) overrides ``model.correlation``.
    """
    set_process_defaults()
    tag = {'method': method, 'device': device_name, 'views': num_views, 'correlation': correlation or '-'}
    try:
        import torch

        from vsync_ros.engine.config import load_config
        from vsync_ros.geometry.presets import PLAZA_REGION
        from vsync_ros.models.counting.config import LossConfig
        from vsync_ros.models.counting.losses import compute_losses
        from vsync_ros.models.counting.model import build_model
        from vsync_ros.models.counting.random_inputs import random_batch

        if threads > 0:
            torch.set_num_threads(threads)
        extra = [f'model.correlation={correlation}'] if correlation else []
        cfg = load_config(config_path, list(overrides) + [f'model.method={method}'] + extra)
        cell = cfg.data.gp_cell_m or 0.4
        region = PLAZA_REGION.with_cell(cell)
        cams = bench_cameras(num_views, cfg.model.image_width, cfg.model.image_height)
        device = torch.device(device_name)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        model = build_model(cfg.model, cams, region).to(device)
        build_s = time.perf_counter() - t0
        batch = {k: v.to(device) for k, v in random_batch(cfg.model, region, len(cams)).items()}
        infer = {'images': batch['images'], 'view_valid': batch['view_valid']}

        def sync() -> None:
            if device.type == 'cuda':
                torch.cuda.synchronize()

        model.eval()
        with torch.no_grad():
            for _ in range(warmup):
                model(infer, with_sync_targets=False)
            sync()
            if device.type == 'cuda':
                torch.cuda.reset_peak_memory_stats()
            reset = _reset_rss_peak()
            times = []
            for _ in range(iters):
                s = time.perf_counter()
                model(infer, with_sync_targets=False)
                sync()
                times.append(time.perf_counter() - s)
        peak = (torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == 'cuda' else _rss_peak_mb())
        result = {**tag, 'infer_ms': 1000 * statistics.median(times),
                  'peak_mb': peak, 'peak_reset': reset or device.type == 'cuda', 'build_s': build_s,
                  'params_m': sum(p.numel() for p in model.parameters()) / 1e6, 'forms': _forms(model)}
        if train_step:
            model.train()
            loss_cfg = LossConfig(sync_loss='warp' if method != 'base' else 'none', gamma=1.0)
            opt = torch.optim.Adam(model.parameters(), 1e-4)
            steps = []
            for i in range(warmup + iters):
                s = time.perf_counter()
                out = model(batch, with_sync_targets=method != 'base')
                loss = compute_losses(out, batch, loss_cfg, cfg.model.density_scale)['total']
                opt.zero_grad()
                loss.backward()
                opt.step()
                sync()
                if i >= warmup:
                    steps.append(time.perf_counter() - s)
            result['train_step_ms'] = 1000 * statistics.median(steps)
        queue.put(result)
    except Exception as exc:  # reported by the parent
        queue.put({**tag, 'error': f'{type(exc).__name__}: {exc}'})


CORRELATION_METHODS = ('cls_cor', 'cls_epi')


def run_bench(config: str, methods: list[str], devices: list[str], warmup: int, iters: int, threads: int,
              train_step: bool, overrides: list[str] | None = None, timeout_s: float = 1800,
              views: list[int] | None = None, correlations: list[str] | None = None) -> list[dict]:
    """Benchmark every (device, views, method, correlation form) in a fresh child process.

    Args:
        views: rig sizes (default [3]); correlations: forms for CLS-cor / CLS-epi (default: the config's);
            other methods run once per rig.

    Returns:
        the result dicts (keys method, device, views, correlation, infer_ms, peak_mb, ... or error).
    """
    ctx = mp.get_context('spawn')
    results = []
    for device in devices:
        for num_views in views or [3]:
            for method in methods:
                forms = (correlations or ['']) if method in CORRELATION_METHODS else ['']
                for form in forms:
                    queue = ctx.Queue()
                    proc = ctx.Process(target=_bench_one, args=(method, config, overrides or [], device, warmup,
                                                                iters, threads, train_step, queue, num_views, form))
                    proc.start()
                    try:
                        results.append(queue.get(timeout=timeout_s))
                    except Exception:
                        results.append({'method': method, 'device': device, 'views': num_views,
                                        'correlation': form or '-', 'error': 'timed out'})
                    proc.join(timeout=10)
                    if proc.is_alive():
                        proc.terminate()
    return results


def markdown_table(results: list[dict], train_step: bool) -> str:
    """Results as a Markdown table (x BaseU = inference time over BaseU's with the same views and device)."""
    base = {(r.get('device'), r.get('views')): r['infer_ms'] for r in results
            if r.get('method') == 'base' and 'error' not in r}
    head = ['method', 'correlation', 'forms', 'views', 'device', 'params (M)', 'inference ms (median)', 'x BaseU',
            'peak memory (MB)']
    if train_step:
        head.append('train step ms (median)')
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in results:
        lead = [r['method'], r.get('correlation', '-'), r.get('forms', ''), str(r.get('views', '')), r['device']]
        if 'error' in r:
            lines.append('| ' + ' | '.join(lead) + f' | error: {r["error"]} |' + ' |' * (len(head) - 6))
            continue
        peak = f'{r["peak_mb"]:.0f}' + ('' if r['peak_reset'] else ' (process peak)')
        ref = base.get((r['device'], r.get('views')))
        ratio = f'{r["infer_ms"] / ref:.2f}' if ref else '-'
        row = lead + [f'{r["params_m"]:.2f}', f'{r["infer_ms"]:.1f}', ratio, peak]
        if train_step:
            row.append(f'{r.get("train_step_ms", float("nan")):.0f}')
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog='vsync-bench', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=None, help=f'training config to benchmark (default {DEFAULT_CONFIG})')
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    p.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto',
                   help="'auto' = CPU, plus CUDA when available")
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (0 = torch default)')
    p.add_argument('--train-step', action='store_true', help='also time a training step (with l_W)')
    p.add_argument('--views', type=int, nargs='+', default=[3], help='rig sizes to benchmark (synthetic rigs)')
    p.add_argument('--correlation', nargs='+', default=None, choices=['direct', 'factorized', 'auto'],
                   help="CLS-cor / CLS-epi correlation forms to run side by side (default: the config's)")
    p.add_argument('overrides', nargs='*', help='section.key=value config overrides')
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vsync-bench``."""
    args = build_parser().parse_args(argv)  # first: --help and usage errors without loading torch
    set_process_defaults()  # before torch loads; the spawned children inherit the environment
    import torch

    config = args.config or str(_default_config())
    if args.device == 'auto':
        devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    if min(args.views) < 2:
        print('vsync-bench: --views needs at least 2 views', file=sys.stderr)
        return 2
    results = run_bench(config, args.methods, devices, args.warmup, args.iters, args.threads, args.train_step,
                        args.overrides, views=args.views, correlations=args.correlation)
    threads = args.threads or torch.get_num_threads()
    print(f'vsync-bench: {config}, batch 1, {args.warmup} warm-up + {args.iters} timed runs, '
          f'{threads} CPU threads, torch {torch.__version__}, {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} CPUs\n')
    print(markdown_table(results, args.train_step))
    return 1 if any('error' in r for r in results) else 0


if __name__ == '__main__':
    sys.exit(main())
