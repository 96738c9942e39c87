r"""``vsync-bench``: inference (and optionally training-step) time and peak memory per method.

Each method runs in its own child process so the peak memory is its own. Inference = one forward
pass on one frame set (batch 1, all views) in eval mode without gradients; the median over
``--iters`` runs after ``--warmup`` runs is reported. Peak memory is the process's peak resident set
(CPU; reset before the timed runs where Linux allows it) or ``torch.cuda.max_memory_allocated`` (CUDA).
``--train-step`` also times one training step (forward + backward + optimiser step, batch 1, with the
method's default sync loss: l_W with synchronized targets).

Interleaved timing (the default): the speed of a shared machine drifts by 10-50 % within minutes, so
medians taken one method after the other make the 'x BaseU' ratios noise. Instead all children of one
(device, size, views) group are started together and build their models and warm up (this may overlap);
then the parent times in rounds: in every round it asks each child in turn for ONE timed run and waits
for its reply before asking the next (only one child computes at a time, so ``--threads`` keeps its
meaning; the order rotates from round to round). After ``--iters`` rounds each child reports its median
and peak memory; ``--train-step`` then times training steps the same way. Every round gives a ratio to
BaseU under the same machine conditions: 'x BaseU' is the median of these per-round ratios and
'x BaseU (IQR)' their inter-quartile range (q25-q75), the run's own noise. The waiting children's OpenMP
threads sleep (``OMP_WAIT_POLICY=PASSIVE``, set unless the environment says otherwise) instead of spinning
next to the timed one. All models of a group are in memory at once. ``--sequential`` is the old mode: one
child after the other, 'x BaseU' the ratio of the medians, no IQR. A child that fails or exceeds its time
budget (30 min) gives an error row; the others go on.

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
views and device (see above). ``--json PATH`` writes the rows (with the ratios) and the run's settings;
:mod:`vsync_ros.reports.bench_figures` plots them.

Example::

    vsync-bench                                  # shipped small config, CPU (and CUDA when present)
    vsync-bench --config config/train/paper.yaml --device cuda --train-step
    vsync-bench --threads 2 --methods base cls_cor --iters 10     # interleaved rounds (default)
    vsync-bench --threads 2 --methods base cls_cor --sequential   # one method after the other
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _tag(method: str, device_name: str, num_views: int, correlation: str, size: tuple[int, int] | None) -> dict:
    """The identifying keys of one result row (method, device, views, correlation, size when given)."""
    tag = {'method': method, 'device': device_name, 'views': num_views, 'correlation': correlation or '-'}
    if size is not None:
        tag['size'] = f'{size[0]}x{size[1]}'
    return tag


def _describe(exc: BaseException) -> str:
    """An exception as 'Type: message' for a result row."""
    return f'{type(exc).__name__}: {exc}'


class _Subject:
    """One model under test inside a child process: built once, then timed one run at a time.

    Construct it only after :func:`set_process_defaults` (it imports torch). ``correlation`` ('' = the
    config's) overrides ``model.correlation``; ``size`` ((width, height) pixels, None = the config's) the
    network input size. ``info`` holds the size keys of :func:`size_info`, build_s (s), params_m (millions)
    and forms.
    """

    def __init__(self, method: str, config_path: str, overrides: list[str], device_name: str, threads: int,
                 num_views: int = 3, correlation: str = '', size: tuple[int, int] | None = None) -> None:
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
        region = PLAZA_REGION.with_cell(cfg.data.gp_cell_m or 0.4)
        cams = bench_cameras(num_views, cfg.model.image_width, cfg.model.image_height)
        self.torch, self.device, self.method = torch, torch.device(device_name), method
        torch.manual_seed(0)
        t0 = time.perf_counter()
        self.model = build_model(cfg.model, cams, region).to(self.device)
        build_s = time.perf_counter() - t0
        self.batch = {k: v.to(self.device) for k, v in random_batch(cfg.model, region, len(cams)).items()}
        self.inputs = {'images': self.batch['images'], 'view_valid': self.batch['view_valid']}
        self.loss_cfg = LossConfig(sync_loss='warp' if method != 'base' else 'none', gamma=1.0)
        self.density_scale = cfg.model.density_scale
        self.compute_losses = compute_losses
        self.optimizer = None
        self.info = {**size_info(cfg.model), 'build_s': build_s,
                     'params_m': sum(p.numel() for p in self.model.parameters()) / 1e6, 'forms': _forms(self.model)}

    def _sync(self) -> None:
        if self.device.type == 'cuda':
            self.torch.cuda.synchronize()

    def infer_s(self) -> float:
        """One inference run (eval mode, no gradients, batch 1); its time in seconds."""
        self.model.eval()
        with self.torch.no_grad():
            start = time.perf_counter()
            self.model(self.inputs, with_sync_targets=False)
            self._sync()
            return time.perf_counter() - start

    def train_s(self) -> float:
        """One training step (forward + backward + Adam step, batch 1); its time in seconds."""
        if self.optimizer is None:
            self.optimizer = self.torch.optim.Adam(self.model.parameters(), 1e-4)
        self.model.train()
        start = time.perf_counter()
        out = self.model(self.batch, with_sync_targets=self.method != 'base')
        loss = self.compute_losses(out, self.batch, self.loss_cfg, self.density_scale)['total']
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self._sync()
        return time.perf_counter() - start

    def reset_peak(self) -> bool:
        """Reset the peak memory (VmHWM; CUDA peak stats); True when the peak now starts here."""
        if self.device.type == 'cuda':
            self.torch.cuda.reset_peak_memory_stats()
        return _reset_rss_peak() or self.device.type == 'cuda'

    def peak(self, reset: bool) -> dict:
        """'peak_mb' (MB: CUDA max allocated, else this process's VmHWM) and 'peak_reset' (= ``reset``)."""
        cuda = self.device.type == 'cuda'
        return {'peak_mb': self.torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else _rss_peak_mb(),
                'peak_reset': reset}


def _bench_one(method: str, config_path: str, overrides: list[str], device_name: str, warmup: int, iters: int,
               threads: int, train_step: bool, queue, num_views: int = 3, correlation: str = '',
               size: tuple[int, int] | None = None) -> None:
    """Child process body of the sequential mode: build one model, time it, put a result dict on ``queue``.

    The entry point of a fresh (spawned) process: it applies the process defaults before torch loads.
    ``correlation`` and ``size`` as for :class:`_Subject`. A failing training step keeps the inference
    result and adds 'train_error'.
    """
    set_process_defaults()
    tag = _tag(method, device_name, num_views, correlation, size)
    try:
        subject = _Subject(method, config_path, overrides, device_name, threads, num_views, correlation, size)
        for _ in range(warmup):
            subject.infer_s()
        reset = subject.reset_peak()
        times = [subject.infer_s() for _ in range(iters)]
        result = {**tag, **subject.info, 'infer_ms': 1000 * statistics.median(times), **subject.peak(reset)}
        if train_step:
            try:
                for _ in range(warmup):
                    subject.train_s()
                result['train_step_ms'] = 1000 * statistics.median([subject.train_s() for _ in range(iters)])
            except Exception as exc:  # keep the inference result
                result['train_error'] = _describe(exc)
        queue.put(result)
    except Exception as exc:  # reported by the parent
        queue.put({**tag, 'error': _describe(exc)})


def _serve_one(conn, method: str, config_path: str, overrides: list[str], device_name: str, warmup: int,
               threads: int, num_views: int = 3, correlation: str = '', size: tuple[int, int] | None = None) -> None:
    """Child process body of the interleaved mode: build and warm up one model, then obey ``conn``.

    The entry point of a fresh (spawned) process. First replies ('ready', info) after building and
    ``warmup`` inference runs, with the peak memory reset after them, or ('error', message) and exits.
    Then answers each command with ('ok', value) or ('error', message): 'infer' -> one inference run (s),
    'train' -> one training step (s), 'train_warmup' -> None after ``warmup`` training steps, 'peak' ->
    :meth:`_Subject.peak`; 'stop' (or the parent's end of the pipe closing) ends the process.
    """
    set_process_defaults()
    try:
        subject = _Subject(method, config_path, overrides, device_name, threads, num_views, correlation, size)
        for _ in range(warmup):
            subject.infer_s()
        reset = subject.reset_peak()
    except Exception as exc:
        conn.send(('error', _describe(exc)))
        return
    conn.send(('ready', subject.info))

    def train_warmup() -> None:
        for _ in range(warmup):
            subject.train_s()

    actions = {'infer': subject.infer_s, 'train': subject.train_s, 'peak': lambda: subject.peak(reset),
               'train_warmup': train_warmup}
    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            return
        if command == 'stop':
            return
        try:
            reply = ('ok', actions[command]())
        except Exception as exc:
            reply = ('error', _describe(exc))
        conn.send(reply)


CORRELATION_METHODS = ('cls_cor', 'cls_epi')


class _ChildError(Exception):
    """An interleaved child replied with an error, died or used up its time budget."""


@dataclass
class _Child:
    """Parent-side handle of one interleaved child.

    ``row`` is its result row so far; ``used_s`` the time (s) the parent has waited for it, against the
    per-child budget; ``times`` the timed runs per command ('infer', 'train'), seconds, one per round.
    """

    row: dict
    proc: Any
    conn: Any
    started: float
    used_s: float = 0.0
    times: dict = field(default_factory=lambda: {'infer': [], 'train': []})


def _await(child: _Child, timeout_s: float, since: float) -> Any:
    """The child's next reply; the wait since ``since`` (monotonic s) is charged to its budget ``timeout_s``.

    Raises:
        _ChildError: on an error reply, a dead child (closed pipe) or an exhausted budget.
    """
    try:
        ready = child.conn.poll(max(0.0, timeout_s - child.used_s - (time.monotonic() - since)))
        status, value = child.conn.recv() if ready else ('timeout', None)
    except (EOFError, OSError):
        child.proc.join(timeout=5)
        status, value = 'error', f'child process died (exit code {child.proc.exitcode})'
    finally:
        child.used_s += time.monotonic() - since
    if status == 'timeout':
        raise _ChildError(f'timed out (more than {timeout_s:g} s)')
    if status == 'error':
        raise _ChildError(value)
    return value


def _command(child: _Child, command: str, timeout_s: float) -> Any:
    """Send ``command`` to the child and return its reply (see :func:`_await`)."""
    since = time.monotonic()
    try:
        child.conn.send(command)
    except OSError:
        pass  # a dead child: _await reports it
    return _await(child, timeout_s, since)


def _fail(child: _Child, key: str, message: str) -> None:
    """Record the failure as ``row[key]`` ('error' drops the timings) and end the child process."""
    if key == 'error':
        child.row = {k: child.row[k] for k in ('method', 'device', 'views', 'correlation', 'size') if k in child.row}
    child.row[key] = message
    child.proc.terminate()


def _rounds(children: list[_Child], command: str, rounds: int, timeout_s: float, fail_key: str) -> list[_Child]:
    """``rounds`` rounds of ``command``: each live child in turn, one at a time; returns the children left.

    The first child of a round rotates so no method always runs right after the same other one. A failing
    child is marked with ``fail_key`` (:func:`_fail`) and leaves the later rounds.
    """
    live = list(children)
    for r in range(rounds):
        k = r % len(live) if live else 0
        for child in live[k:] + live[:k]:
            try:
                child.times[command].append(_command(child, command, timeout_s))
            except _ChildError as exc:
                _fail(child, fail_key, str(exc))
        live = [c for c in live if fail_key not in c.row]
    return live


def _all(children: list[_Child], command: str, timeout_s: float, fail_key: str) -> list[_Child]:
    """Send ``command`` to every child at once (they may overlap), then collect; returns the children left."""
    since = time.monotonic()
    for child in children:
        try:
            child.conn.send(command)
        except OSError:
            pass  # a dead child: _await reports it
    for child in children:
        try:
            _await(child, timeout_s, since)
        except _ChildError as exc:
            _fail(child, fail_key, str(exc))
    return [c for c in children if fail_key not in c.row]


def _medians(child: _Child, command: str, key: str) -> None:
    """Store the median (``key``, ms) and the per-round times (``key`` with '_rounds', ms) of ``command``."""
    ms = [1000 * t for t in child.times[command]]
    if ms:
        child.row[key] = statistics.median(ms)
        child.row[key.replace('_ms', '_rounds_ms')] = ms


def _run_group(ctx, jobs: list[tuple[str, str]], config: str, overrides: list[str], device: str, warmup: int,
               iters: int, threads: int, train_step: bool, timeout_s: float, num_views: int,
               size: tuple[int, int] | None) -> list[dict]:
    """Interleaved timing of one (device, size, views) group; ``jobs`` = (method, correlation form) pairs.

    Returns one row per job, in order: like the sequential rows plus 'infer_rounds_ms' (and
    'train_step_rounds_ms'), the time of each round in ms; or an error row.
    """
    children = []
    for method, form in jobs:
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=_serve_one, args=(child_conn, method, config, overrides, device, warmup, threads,
                                                    num_views, form, size))
        proc.start()
        child_conn.close()  # so a dead child closes the pipe
        children.append(_Child(_tag(method, device, num_views, form, size), proc, parent_conn, time.monotonic()))
    try:
        live = []
        for child in children:  # build + warm-up: in parallel
            try:
                child.row.update(_await(child, timeout_s, child.started))
                live.append(child)
            except _ChildError as exc:
                _fail(child, 'error', str(exc))
        live = _rounds(live, 'infer', iters, timeout_s, 'error')
        for child in list(live):
            try:
                _medians(child, 'infer', 'infer_ms')
                child.row.update(_command(child, 'peak', timeout_s))
            except _ChildError as exc:
                _fail(child, 'error', str(exc))
        live = [c for c in live if 'error' not in c.row]
        if train_step:
            live = _rounds(_all(live, 'train_warmup', timeout_s, 'train_error'), 'train', iters, timeout_s,
                           'train_error')
            for child in live:
                _medians(child, 'train', 'train_step_ms')
    finally:
        _stop_all(children)
    return [c.row for c in children]


def _stop_all(children: list[_Child]) -> None:
    """Ask every child to stop, then end the ones that do not within 10 s."""
    for child in children:
        try:
            child.conn.send('stop')
        except OSError:
            pass
    for child in children:
        child.proc.join(timeout=10)
        if child.proc.is_alive():
            child.proc.terminate()
            child.proc.join(timeout=5)
        child.conn.close()


def _run_sequential(ctx, method: str, form: str, config: str, overrides: list[str], device: str, warmup: int,
                    iters: int, threads: int, train_step: bool, timeout_s: float, num_views: int,
                    size: tuple[int, int] | None) -> dict:
    """One method in its own child process, timed alone (the ``--sequential`` mode); its row."""
    queue = ctx.Queue()
    proc = ctx.Process(target=_bench_one, args=(method, config, overrides, device, warmup, iters, threads,
                                                train_step, queue, num_views, form, size))
    proc.start()
    try:
        row = queue.get(timeout=timeout_s)
    except Exception:
        row = _tag(method, device, num_views, form, size) | {'error': 'timed out'}
    proc.join(timeout=10)
    if proc.is_alive():
        proc.terminate()
    return row


def run_bench(config: str, methods: list[str], devices: list[str], warmup: int, iters: int, threads: int,
              train_step: bool, overrides: list[str] | None = None, timeout_s: float = 1800,
              views: list[int] | None = None, correlations: list[str] | None = None,
              sizes: list[tuple[int, int]] | None = None, interleaved: bool = True) -> list[dict]:
    """Benchmark every (device, size, views, method, correlation form), each in its own child process.

    Args:
        views: rig sizes (default [3]); correlations: forms for CLS-cor / CLS-epi (default: the config's);
            other methods run once per rig. sizes: network input sizes, (width, height) pixels (default:
            the config's); the ground grid stays the config's.
        timeout_s: per child: the most the parent waits for it in all (s); then its row is an error.
        interleaved: time the methods of one (device, size, views) group in rounds, one run per method and
            round (see the module docstring); False = one method after the other.

    Returns:
        the result dicts (keys method, device, size, feature_area, views, correlation, infer_ms, peak_mb,
        ... or error; interleaved also infer_rounds_ms / train_step_rounds_ms), without the BaseU ratios
        (see :func:`with_ratios`).
    """
    ctx = mp.get_context('spawn')
    results = []
    for device in devices:
        for size in sizes or [None]:
            for num_views in views or [3]:
                jobs = [(method, form) for method in methods
                        for form in ((correlations or ['']) if method in CORRELATION_METHODS else [''])]
                common = (config, overrides or [], device, warmup, iters, threads, train_step, timeout_s, num_views,
                          size)
                if interleaved:
                    results += _run_group(ctx, jobs, *common)
                else:
                    results += [_run_sequential(ctx, method, form, *common) for method, form in jobs]
    return results


def ratio_spread(base_ms: list[float], method_ms: list[float]) -> tuple[float, float, float]:
    """Median and quartiles of the per-round ratios ``method_ms[r] / base_ms[r]`` (times of the same round).

    Args:
        base_ms: BaseU's time in each round (ms, > 0); method_ms: the method's time in the same rounds (ms).

    Returns:
        (median, q25, q75) of the ratios (unitless); quartiles interpolated linearly between the sorted
        ratios ('inclusive' method: q25 of [1, 2, 3] is 1.5); all three equal for a single round.
    """
    if not base_ms or len(base_ms) != len(method_ms):
        raise ValueError(f'need the same non-zero number of rounds, got {len(base_ms)} and {len(method_ms)}')
    ratios = [m / b for m, b in zip(method_ms, base_ms)]
    if len(ratios) == 1:
        return ratios[0], ratios[0], ratios[0]
    q25, _, q75 = statistics.quantiles(ratios, n=4, method='inclusive')
    return statistics.median(ratios), q25, q75


def iqr_text(q25: float, q75: float) -> str:
    """An inter-quartile range of ratios as 'q25-q75' with two decimals."""
    return f'{q25:.2f}-{q75:.2f}'


def _x_base(row: dict, ref: dict, ms_key: str) -> tuple[float | None, str | None]:
    """(ratio to BaseU, IQR text or None) of ``row[ms_key]`` against the BaseU row ``ref``.

    With per-round times in both rows (interleaved, same number of rounds) the median per-round ratio and
    its IQR; else (sequential or old rows) the ratio of the medians and no IQR; (None, None) when a time
    is missing.
    """
    rounds_key = ms_key.replace('_ms', '_rounds_ms')
    rounds, ref_rounds = row.get(rounds_key), ref.get(rounds_key)
    if rounds and ref_rounds and len(rounds) == len(ref_rounds):
        median, q25, q75 = ratio_spread(ref_rounds, rounds)
        return median, iqr_text(q25, q75)
    if row.get(ms_key) is not None and ref.get(ms_key):
        return row[ms_key] / ref[ms_key], None
    return None, None


def with_ratios(results: list[dict]) -> list[dict]:
    """Copies of the result rows with the BaseU ratios of the same (device, size, views).

    'infer_x_base' = inference time over BaseU's, 'train_x_base' = training-step time over BaseU's: the
    median of the per-round ratios for interleaved rows, else (sequential, old JSON rows) the ratio of the
    medians; 'infer_x_base_iqr' / 'train_x_base_iqr' their inter-quartile range 'q25-q75' (None without
    per-round times). None where that BaseU row (or its time) is missing. Error rows are copied unchanged.
    """
    def key(r: dict) -> tuple:
        return r.get('device'), r.get('size'), r.get('views')

    base = {key(r): r for r in results if r.get('method') == 'base' and 'error' not in r}
    out = []
    for r in results:
        row = dict(r)
        if 'error' not in r:
            ref = base.get(key(r), {})
            row['infer_x_base'], row['infer_x_base_iqr'] = _x_base(r, ref, 'infer_ms')
            row['train_x_base'], row['train_x_base_iqr'] = _x_base(r, ref, 'train_step_ms')
        out.append(row)
    return out


def _ratio_cell(value: float | None) -> str:
    """A BaseU ratio for the table ('-' when missing)."""
    return '-' if value is None else f'{value:.2f}'


def markdown_table(results: list[dict], train_step: bool) -> str:
    """Results as a Markdown table (x BaseU = time over BaseU's with the same size, views and device).

    'x BaseU (IQR)' is the inter-quartile range of the per-round ratios (interleaved runs; '-' otherwise).
    """
    head = ['method', 'correlation', 'forms', 'size (pixels)', 'finest matched level (feature px)', 'views',
            'device', 'params (M)', 'inference ms (median)', 'x BaseU', 'x BaseU (IQR)', 'peak memory (MB)']
    if train_step:
        head += ['train step ms (median)', 'train x BaseU', 'train x BaseU (IQR)']
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
        row = lead + [f'{r["params_m"]:.2f}', f'{r["infer_ms"]:.1f}', _ratio_cell(r['infer_x_base']),
                      r['infer_x_base_iqr'] or '-', peak]
        if train_step:
            if 'train_step_ms' in r:
                row += [f'{r["train_step_ms"]:.0f}', _ratio_cell(r['train_x_base']), r['train_x_base_iqr'] or '-']
            else:
                row += [f'error: {r.get("train_error", "not run")}', '-', '-']
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def run_settings(args: argparse.Namespace, config: str, devices: list[str], sizes: list[tuple[int, int]],
                 threads: int, torch_version: str) -> dict:
    """The settings of one ``vsync-bench`` run, as stored in its ``--json`` report."""
    return {'config': config, 'overrides': list(args.overrides), 'methods': list(args.methods),
            'devices': devices, 'device': devices[0], 'sizes': [f'{w}x{h}' for w, h in sizes],
            'views': list(args.views), 'correlations': list(args.correlation or []), 'threads': threads,
            'torch': torch_version, 'iters': args.iters, 'warmup': args.warmup, 'train_step': args.train_step,
            'interleaved': not args.sequential,
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
    p.add_argument('--iters', type=int, default=10,
                   help='timed runs per method (interleaved: rounds, one run of every method per round)')
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (0 = torch default)')
    p.add_argument('--train-step', action='store_true', help='also time a training step (with l_W)')
    p.add_argument('--sequential', action='store_true',
                   help='time one method after the other (the old mode; x BaseU = ratio of medians, no IQR) '
                        'instead of interleaved rounds, which give every method the same machine conditions')
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
    if args.iters < 1:
        print('vsync-bench: --iters needs at least 1 timed run', file=sys.stderr)
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
                        args.overrides, views=args.views, correlations=args.correlation, sizes=sizes,
                        interleaved=not args.sequential)
    threads = args.threads or torch.get_num_threads()
    settings = run_settings(args, config, devices, sizes, threads, torch.__version__)
    timing = 'one method after the other' if args.sequential else 'interleaved rounds'
    print(f'vsync-bench: {config}, batch 1, {args.warmup} warm-up + {args.iters} timed runs ({timing}), '
          f'{threads} CPU threads, torch {torch.__version__}, {settings["processor"]}, {settings["cpus"]} CPUs\n')
    print(markdown_table(results, args.train_step))
    if args.json:
        print(f'\nvsync-bench: wrote {write_json(args.json, settings, results)}')
    return 1 if any('error' in r or 'train_error' in r for r in results) else 0


if __name__ == '__main__':
    sys.exit(main())
