r"""``vsync-bench``: inference (and optionally training-step) time and peak memory per method.

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
looking at its centre. ``--sizes WxH ...`` runs every method at each network input size (pixels; overrides
model.image_width / image_height, the ground grid stays the config's); both sides must be multiples of
2**(model.num_scales+1) pixels (16 with the shipped 3 scales). Every row names its size and the feature-map
area of the finest matched level (the H*W correlation channels of the lowest ``corr_levels`` entry, feature
pixels). The 'x BaseU' columns are the inference (and training-step) time over BaseU's with the same size,
views and device. ``--json PATH`` writes the rows (with the ratios) and the run's settings;
:mod:`vsync_ros.reports.bench_figures` plots them.

Example::

    vsync-bench                                  # shipped small config, CPU (and CUDA when present)
    vsync-bench --config config/train/paper.yaml --device cuda --train-step
    vsync-bench --threads 2 --sizes 192x144 384x288 768x576 --views 3 5 8 --correlation direct factorized \
        --train-step --json runs/bench/cost.json
    python -m vsync_ros.reports.bench_figures runs/bench/cost.json --out docs/img/bench_cost.png
"""
from __future__ import annotations

import argparse
import json
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


def parse_size(text: str) -> tuple[int, int]:
    """``'WxH'`` -> (width, height) in pixels; the argparse type of ``--sizes`` (errors name the value)."""
    parts = text.lower().split('x')
    try:
        width, height = (int(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not WIDTHxHEIGHT in pixels (e.g. 384x288)') from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f'{text!r}: width and height must be positive pixels')
    return width, height


def size_error(sizes: list[tuple[int, int]], num_scales: int) -> str | None:
    """Why the model cannot take one of ``sizes`` ((width, height) pixels), or None when all fit.

    The counting model needs both sides divisible by ``2 ** (num_scales + 1)`` pixels (every pyramid level
    an integer stride-4 feature map; see :class:`~vsync_ros.models.counting.config.ModelConfig`).
    """
    div = 2 ** (num_scales + 1)
    for width, height in sizes:
        if width % div or height % div:
            return (f'--sizes {width}x{height}: width and height must be multiples of {div} pixels '
                    f'(model.image_width / image_height must be multiples of 2**(model.num_scales+1), '
                    f'model.num_scales = {num_scales})')
    return None


def size_info(model_cfg) -> dict:
    """Input size and finest matched level of a counting ``ModelConfig``.

    Returns:
        size ('WxH', pixels), width / height (pixels), corr_level (lowest ``corr_levels`` entry),
        feature_w / feature_h (its stride-4 feature map, feature pixels) and feature_area (their product:
        the H*W correlation channels of that level).
    """
    level = min(model_cfg.corr_levels)
    fh, fw = model_cfg.feature_hw(level)
    return {'size': f'{model_cfg.image_width}x{model_cfg.image_height}', 'width': model_cfg.image_width,
            'height': model_cfg.image_height, 'corr_level': level, 'feature_w': fw, 'feature_h': fh,
            'feature_area': fw * fh}


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


def _size_overrides(size: tuple[int, int] | None) -> list[str]:
    """Config overrides setting the network input to ``size`` ((width, height) pixels; None = the config's)."""
    return [] if size is None else [f'model.image_width={size[0]}', f'model.image_height={size[1]}']


def _bench_one(method: str, config_path: str, overrides: list[str], device_name: str, warmup: int, iters: int,
               threads: int, train_step: bool, queue, num_views: int = 3, correlation: str = '',
               size: tuple[int, int] | None = None) -> None:
    """Child process body: build one model, time it, put a result dict on ``queue``.

    The entry point of a fresh (spawned) process: it applies the process defaults before torch loads.
    ``correlation`` ('' = the config's) overrides ``model.correlation``; ``size`` ((width, height) pixels,
    None = the config's) the network input size. A failing training step keeps the inference result and
    adds 'train_error'.
    """
    set_process_defaults()
    tag = {'method': method, 'device': device_name, 'views': num_views, 'correlation': correlation or '-'}
    if size is not None:
        tag['size'] = f'{size[0]}x{size[1]}'
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
        cfg = load_config(config_path, list(overrides) + [f'model.method={method}'] + extra + _size_overrides(size))
        tag.update(size_info(cfg.model))
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
            try:
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
            except Exception as exc:  # keep the inference result
                result['train_error'] = f'{type(exc).__name__}: {exc}'
        queue.put(result)
    except Exception as exc:  # reported by the parent
        queue.put({**tag, 'error': f'{type(exc).__name__}: {exc}'})


CORRELATION_METHODS = ('cls_cor', 'cls_epi')


def run_bench(config: str, methods: list[str], devices: list[str], warmup: int, iters: int, threads: int,
              train_step: bool, overrides: list[str] | None = None, timeout_s: float = 1800,
              views: list[int] | None = None, correlations: list[str] | None = None,
              sizes: list[tuple[int, int]] | None = None) -> list[dict]:
    """Benchmark every (device, size, views, method, correlation form) in a fresh child process.

    Args:
        views: rig sizes (default [3]); correlations: forms for CLS-cor / CLS-epi (default: the config's);
            other methods run once per rig. sizes: network input sizes, (width, height) pixels (default:
            the config's); the ground grid stays the config's.

    Returns:
        the result dicts (keys method, device, size, feature_area, views, correlation, infer_ms, peak_mb,
        ... or error), without the BaseU ratios (see :func:`with_ratios`).
    """
    ctx = mp.get_context('spawn')
    results = []
    for device in devices:
        for size in sizes or [None]:
            for num_views in views or [3]:
                for method in methods:
                    forms = (correlations or ['']) if method in CORRELATION_METHODS else ['']
                    for form in forms:
                        queue = ctx.Queue()
                        proc = ctx.Process(target=_bench_one, args=(
                            method, config, overrides or [], device, warmup, iters, threads, train_step, queue,
                            num_views, form, size))
                        proc.start()
                        try:
                            results.append(queue.get(timeout=timeout_s))
                        except Exception:
                            row = {'method': method, 'device': device, 'views': num_views,
                                   'correlation': form or '-', 'error': 'timed out'}
                            results.append(row | ({'size': f'{size[0]}x{size[1]}'} if size else {}))
                        proc.join(timeout=10)
                        if proc.is_alive():
                            proc.terminate()
    return results


def with_ratios(results: list[dict]) -> list[dict]:
    """Copies of the result rows with the BaseU ratios of the same (device, size, views).

    'infer_x_base' = infer_ms over BaseU's, 'train_x_base' = train_step_ms over BaseU's; None where that
    BaseU row (or its time) is missing. Error rows are copied unchanged.
    """
    def key(r: dict) -> tuple:
        return r.get('device'), r.get('size'), r.get('views')

    base = {key(r): r for r in results if r.get('method') == 'base' and 'error' not in r}
    out = []
    for r in results:
        row = dict(r)
        if 'error' not in r:
            ref = base.get(key(r), {})
            row['infer_x_base'] = r['infer_ms'] / ref['infer_ms'] if ref.get('infer_ms') else None
            row['train_x_base'] = (r['train_step_ms'] / ref['train_step_ms']
                                   if 'train_step_ms' in r and ref.get('train_step_ms') else None)
        out.append(row)
    return out


def _ratio_cell(value: float | None) -> str:
    """A BaseU ratio for the table ('-' when missing)."""
    return '-' if value is None else f'{value:.2f}'


def markdown_table(results: list[dict], train_step: bool) -> str:
    """Results as a Markdown table (x BaseU = time over BaseU's with the same size, views and device)."""
    head = ['method', 'correlation', 'forms', 'size (pixels)', 'finest matched level (feature px)', 'views',
            'device', 'params (M)', 'inference ms (median)', 'x BaseU', 'peak memory (MB)']
    if train_step:
        head += ['train step ms (median)', 'train x BaseU']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in with_ratios(results):
        level = (f'l{r["corr_level"]}: {r["feature_w"]}x{r["feature_h"]} = {r["feature_area"]}'
                 if 'feature_area' in r else '-')
        lead = [r['method'], r.get('correlation', '-'), r.get('forms', ''), r.get('size', '-'), level,
                str(r.get('views', '')), r['device']]
        if 'error' in r:
            cells = lead + [f'error: {r["error"]}'] + [''] * (len(head) - len(lead) - 1)
            lines.append('| ' + ' | '.join(cells) + ' |')
            continue
        peak = f'{r["peak_mb"]:.0f}' + ('' if r['peak_reset'] else ' (process peak)')
        row = lead + [f'{r["params_m"]:.2f}', f'{r["infer_ms"]:.1f}', _ratio_cell(r['infer_x_base']), peak]
        if train_step:
            if 'train_step_ms' in r:
                row += [f'{r["train_step_ms"]:.0f}', _ratio_cell(r['train_x_base'])]
            else:
                row += [f'error: {r.get("train_error", "not run")}', '-']
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def run_settings(args: argparse.Namespace, config: str, devices: list[str], sizes: list[tuple[int, int]],
                 threads: int, torch_version: str) -> dict:
    """The settings of one ``vsync-bench`` run, as stored in its ``--json`` report."""
    return {'config': config, 'overrides': list(args.overrides), 'methods': list(args.methods),
            'devices': devices, 'device': devices[0], 'sizes': [f'{w}x{h}' for w, h in sizes],
            'views': list(args.views), 'correlations': list(args.correlation or []), 'threads': threads,
            'torch': torch_version, 'iters': args.iters, 'warmup': args.warmup, 'train_step': args.train_step,
            'batch': 1, 'processor': platform.processor() or platform.machine(), 'cpus': os.cpu_count()}


def write_json(path: str | Path, settings: dict, results: list[dict]) -> Path:
    """Write ``{'settings': ..., 'results': rows with the BaseU ratios}`` to ``path``; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({'settings': settings, 'results': with_ratios(results)}, indent=1) + '\n')
    return out


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
    p.add_argument('--sizes', type=parse_size, nargs='+', default=None, metavar='WxH',
                   help="network input sizes in pixels, e.g. 192x144 384x288 (default: the config's)")
    p.add_argument('--json', default=None, metavar='PATH', help='also write the rows and settings as JSON')
    p.add_argument('--correlation', nargs='+', default=None, choices=['direct', 'factorized', 'auto'],
                   help="CLS-cor / CLS-epi correlation forms to run side by side (default: the config's)")
    p.add_argument('overrides', nargs='*', help='section.key=value config overrides')
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vsync-bench``."""
    args = build_parser().parse_args(argv)  # first: --help and usage errors without loading torch
    set_process_defaults()  # before torch loads; the spawned children inherit the environment
    import torch

    from vsync_ros.engine.config import load_config
    from vsync_ros.yaml_config import ConfigError

    config = args.config or str(_default_config())
    if args.device == 'auto':
        devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    if min(args.views) < 2:
        print('vsync-bench: --views needs at least 2 views', file=sys.stderr)
        return 2
    try:
        model_cfg = load_config(config, args.overrides).model
    except (ConfigError, OSError) as exc:
        print(f'vsync-bench: {config}: {exc}', file=sys.stderr)
        return 2
    sizes = args.sizes or [(model_cfg.image_width, model_cfg.image_height)]
    problem = size_error(sizes, model_cfg.num_scales)
    if problem:
        print(f'vsync-bench: {problem}', file=sys.stderr)
        return 2
    results = run_bench(config, args.methods, devices, args.warmup, args.iters, args.threads, args.train_step,
                        args.overrides, views=args.views, correlations=args.correlation, sizes=sizes)
    threads = args.threads or torch.get_num_threads()
    settings = run_settings(args, config, devices, sizes, threads, torch.__version__)
    print(f'vsync-bench: {config}, batch 1, {args.warmup} warm-up + {args.iters} timed runs, '
          f'{threads} CPU threads, torch {torch.__version__}, {settings["processor"]}, {settings["cpus"]} CPUs\n')
    print(markdown_table(results, args.train_step))
    if args.json:
        print(f'\nvsync-bench: wrote {write_json(args.json, settings, results)}')
    return 1 if any('error' in r or 'train_error' in r for r in results) else 0


if __name__ == '__main__':
    sys.exit(main())
