"""Write a desynchronized multi-view data set from a :class:`World` (layout: :mod:`vsync_ros.data.storage`).

For every reference time ``t = t0 + k * dt`` of a split, view ``i`` is rendered at
``t + offset_i`` (the desynchronized input), every view is also rendered at ``t`` (the synchronized
frames, needed by the warping loss l_W), and the ground truth is taken at ``t``. The test split
starts after the last train frame plus a gap larger than twice the largest offset, so no frame of
one split lies within the time span of the other.

A world with ``world_for_frame_set(split, k, n, t_first)`` renders frame set k of a split's n in the world it
returns (scene randomization, :class:`~vsync_ros.data.scene_schedule.SceneSchedule`); its
``split_info(split)`` is added to the manifest's entry of the split.

Worlds whose people exist only inside some time intervals (real annotated trajectories: a world with
``time_ranges(split)`` returning intervals, e.g. PETS2009 sequences) are sampled on the grid
``t0 + g * dt`` inside those intervals, and a frame set is kept only if its reference time and every
view time ``t + offset_i`` lie inside one interval (:func:`frame_sets`). Worlds without intervals
(``time_ranges`` absent or returning None) are sampled exactly as before.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vsync_ros import __version__
from vsync_ros.data import storage
from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig, resize_frame
from vsync_ros.data.desync import STREAM_TEST, STREAM_TRAIN, DesyncConfig, DesyncSample, pets
from vsync_ros.data.world import TASKS, World

SPLITS = (('train', STREAM_TRAIN), ('test', STREAM_TEST))
_KNOWN_ENTRIES = {'manifest.json', 'cameras', 'train', 'test', 'contact_sheet.png'}


def split_times(desync: DesyncConfig, n_train: int, test_gap_s: float | None = None) -> dict[str, float]:
    """Reference time of sample 0 of each split (s): train at t0, test after the train span and a gap."""
    span = 2.0 * desync.max_abs_offset_s
    gap = span + 10.0 if test_gap_s is None else float(test_gap_s)
    if gap <= span - desync.dt_s:
        raise ValueError(f'test gap {gap} s is too small: frames of the two splits would overlap in time '
                         f'(needs > {span - desync.dt_s:.3f} s)')
    return {'train': desync.t0_s, 'test': desync.t0_s + max(n_train, 0) * desync.dt_s + gap}


def _interval_of(t: float, ranges: list[tuple[float, float]], eps: float) -> tuple[float, float] | None:
    """The first interval of ``ranges`` containing ``t`` (within ``eps`` seconds), or None."""
    for a, b in ranges:
        if a - eps <= t <= b + eps:
            return a, b
    return None


def frame_sets(desync: DesyncConfig, stream: int, ranges: list[tuple[float, float]], n: int | None = None,
               first_index: int = 0, eps: float = 1e-6) -> tuple[list[tuple[int, float, DesyncSample]], int]:
    """Frame sets of one split of a world that exists only inside ``ranges``.

    Reference times are the grid ``t0 + g * dt`` (g >= ``first_index``); the offsets of grid frame g are
    ``desync.sample(g, stream)``. A frame set is kept when its reference time and the capture time
    ``t + offset_i`` of every valid view lie inside the interval that holds ``t`` (``eps`` seconds of
    tolerance for float time arithmetic).

    Args:
        desync: desynchronization settings (dt, t0, offsets). stream: offset stream of the split.
        ranges: intervals (first, last) in seconds where frames may be rendered.
        n: keep at most this many frame sets (None: all).
        first_index: first grid index considered.

    Returns:
        (kept, dropped): kept = [(grid index g, reference time s, DesyncSample)] in time order;
        dropped = number of grid reference times inside an interval whose view times were not.
    """
    kept: list[tuple[int, float, DesyncSample]] = []
    dropped = 0
    if not ranges or (n is not None and n <= 0):
        return kept, dropped
    end = max(b for _, b in ranges)
    g = int(first_index)
    while n is None or len(kept) < n:
        t = float(desync.reference_time(g))
        if t > end + eps:
            break
        span = _interval_of(t, ranges, eps)
        if span is not None:
            smp = desync.sample(g, stream)
            times = [t + float(o) for o, ok in zip(smp.offsets_s, smp.valid) if ok]
            if all(span[0] - eps <= x <= span[1] + eps for x in times):
                kept.append((g, t, smp))
            else:
                dropped += 1
        g += 1
    return kept, dropped


def _overlap(r1: list[tuple[float, float]], r2: list[tuple[float, float]]) -> bool:
    return any(a <= d and c <= b for a, b in r1 for c, d in r2)


def plan_frame_sets(desync: DesyncConfig, ranges: dict[str, list[tuple[float, float]]],
                    n_train: int | None, n_test: int | None, test_gap_s: float | None = None
                    ) -> dict[str, tuple[list[tuple[int, float, DesyncSample]], int]]:
    """Frame sets of both splits of a world with time intervals ({split: (kept, dropped)}, see :func:`frame_sets`).

    When the two splits have disjoint intervals (e.g. separate PETS2009 sequences) each uses all of its
    own; when they share intervals the test split starts after the last train reference frame plus
    ``dt`` and the test gap (default 2 * max offset + 10 s), as for worlds without intervals.
    """
    split_times(desync, 0, test_gap_s)  # validates the gap
    train = frame_sets(desync, STREAM_TRAIN, ranges['train'], n_train)
    first = 0
    if _overlap(ranges['train'], ranges['test']):
        gap = 2.0 * desync.max_abs_offset_s + 10.0 if test_gap_s is None else float(test_gap_s)
        last = train[0][-1][1] if train[0] else desync.t0_s - desync.dt_s
        first = max(0, math.ceil((last + desync.dt_s + gap - desync.t0_s) / desync.dt_s - 1e-9))
    test = frame_sets(desync, STREAM_TEST, ranges['test'], n_test, first_index=first)
    return {'train': train, 'test': test}


def _prepare_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f'{out} is not empty (use overwrite=True / --overwrite)')
        if not (out / 'manifest.json').is_file():
            raise FileExistsError(f'{out} is not empty and holds no manifest.json: refusing to overwrite it')
        for entry in out.iterdir():
            if entry.name in _KNOWN_ENTRIES:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _scaled_uv(uv: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Pixel coordinates after resizing the image by (sx, sy), pixel-centre aligned."""
    uv = np.asarray(uv, dtype=np.float32).copy()
    uv[..., 0] = (uv[..., 0] + 0.5) * sx - 0.5
    uv[..., 1] = (uv[..., 1] + 0.5) * sy - 0.5
    return uv


def make_world(world, image_size: tuple[int, int] | None) -> World:
    """A World from a World instance, a CrowdWorldConfig, or None (default crowd world)."""
    if world is None:
        world = CrowdWorldConfig()
    if isinstance(world, CrowdWorldConfig):
        if image_size is not None:
            world = world.with_(image_size=tuple(image_size))
        return CrowdWorld(world)
    if callable(world) and not isinstance(world, World):
        return world(image_size)
    if not isinstance(world, World):
        raise TypeError(f'not a World: {type(world).__name__}')
    return world


def generate_dataset(out_dir, world=None, desync: DesyncConfig | None = None, n_train: int | None = 100,
                     n_test: int | None = 50, image_size: tuple[int, int] | None = None, image_format: str = 'png',
                     jpeg_quality: int = 95, test_gap_s: float | None = None, progress: bool = True,
                     overwrite: bool = False, contact_sheet: bool | str | Path = False) -> dict:
    """Generate a data set on disk and return its manifest.

    Args:
        out_dir: output folder (created; must be empty unless ``overwrite``).
        world: a :class:`World`, a :class:`CrowdWorldConfig`, a callable ``image_size -> World``,
            or None for the default plaza crowd.
        desync: desynchronization settings (default: PETS-like random latency, kappa = 5 s).
        n_train, n_test: number of samples per split. For a world with time intervals (``time_ranges``)
            these are upper bounds, and None takes every frame set that fits (:func:`frame_sets`).
        image_size: stored (width, height); frames are rendered at this size for a CrowdWorldConfig,
            otherwise resized (area interpolation) from the world's camera size.
        image_format: 'png' (lossless) or 'jpg'.
        jpeg_quality: JPEG quality (1-100).
        test_gap_s: time between the last train and the first test reference frame minus the train
            span (default: 2 * max offset + 10 s).
        progress: show a tqdm progress bar.
        overwrite: replace an existing data set in ``out_dir``.
        contact_sheet: also write a preview PNG (True: ``<out>/contact_sheet.png``, or a path).
    """
    if image_format not in storage.IMAGE_EXT:
        raise ValueError(f'image_format must be png or jpg, got {image_format!r}')
    if (n_train is not None and n_train < 0) or (n_test is not None and n_test < 0) or n_train == n_test == 0:
        raise ValueError('need n_train, n_test >= 0 and at least one sample')
    out = Path(out_dir)
    w = make_world(world, image_size)
    get_ranges = getattr(w, 'time_ranges', None)
    ranges = {split: get_ranges(split) for split, _ in SPLITS} if callable(get_ranges) else None
    if ranges is not None and any(r is None for r in ranges.values()):
        ranges = None
    if ranges is None and (n_train is None or n_test is None):
        raise ValueError('n_train / n_test = None (all frame sets) needs a world with time intervals')
    if w.task not in TASKS:
        raise ValueError(f'world task {w.task!r} is not one of {TASKS}')
    n_views = len(w.cameras)
    desync = desync or pets(n_views=n_views)
    if desync.n_views != n_views:
        raise ValueError(f'desync config has {desync.n_views} views, the world has {n_views} cameras')
    ext = storage.IMAGE_EXT[image_format]
    src_w, src_h = w.cameras[0].width, w.cameras[0].height
    if any((c.width, c.height) != (src_w, src_h) for c in w.cameras):
        raise ValueError('all cameras of a world must share one resolution')
    dst_w, dst_h = (int(image_size[0]), int(image_size[1])) if image_size is not None else (src_w, src_h)
    sx, sy = dst_w / src_w, dst_h / src_h
    cams = [c if (c.width, c.height) == (dst_w, dst_h) else c.scaled(dst_w, dst_h) for c in w.cameras]
    if ranges is None:
        starts = split_times(desync, n_train, test_gap_s)
        plans = {split: [(k, starts[split] + k * desync.dt_s, desync.sample(k, stream)) for k in range(n)]
                 for (split, stream), n in zip(SPLITS, (n_train, n_test))}
        dropped = {}
    else:
        planned = plan_frame_sets(desync, ranges, n_train, n_test, test_gap_s)
        plans = {split: kept for split, (kept, _) in planned.items()}
        dropped = {split: d for split, (_, d) in planned.items()}
        if not any(plans.values()):
            raise ValueError(f'no frame set fits the world\'s time intervals {ranges} with offsets up to '
                             f'{desync.max_abs_offset_s} s')
    _prepare_dir(out, overwrite)
    for cam in cams:
        cam.to_yaml(out / 'cameras' / f'{cam.name}.yaml')

    world_for = getattr(w, 'world_for_frame_set', None)  # scene randomization: a world per frame set

    def frame(world: World, view: int, t: float) -> np.ndarray:
        return resize_frame(world.render(view, t), dst_w, dst_h)

    def labels(world: World, view: int, t: float, prefix: str) -> dict[str, np.ndarray]:
        annotate = getattr(world, 'frame_annotations', None)
        if annotate is None:
            return {}
        out_l = {}
        for key, val in annotate(view, t).items():
            val = np.asarray(val)
            if key.endswith('_uv') and (sx, sy) != (1.0, 1.0):
                val = _scaled_uv(val, sx, sy)
            out_l[f'{prefix}v{view}_{key}'] = val
        return out_l

    splits_info = {}
    bar = tqdm(total=sum(len(p) for p in plans.values()), desc=f'vsync-synth {out.name}', unit='sample',
               disable=not progress)
    for split, stream in SPLITS:
        n = len(plans[split])
        index = {'time_s': [], 'offsets_s': [], 'view_valid': [], 'ref_view': [], 'frame_time_s': []}
        if ranges is not None:
            index['grid_index'] = [g for g, _, _ in plans[split]]
        t_min, t_max = np.inf, -np.inf
        for k, (_, t_ref, smp) in enumerate(plans[split]):
            wk = w
            if world_for is not None:
                t_first = t_ref + min([0.0] + [float(o) for o, ok in zip(smp.offsets_s, smp.valid) if ok])
                wk = world_for(split, k, n, t_first)
            raw = wk.ground_truth(t_ref, view_density=False) if isinstance(wk, CrowdWorld) else wk.ground_truth(t_ref)
            gt = {key: np.asarray(val) for key, val in raw.items() if key != 'view_density'}
            frame_times = []
            for v in range(n_views):
                if smp.valid[v]:
                    t_v = t_ref + float(smp.offsets_s[v])
                    storage.write_image(storage.frame_path(out, split, v, k, ext), frame(wk, v, t_v), jpeg_quality)
                    gt.update(labels(wk, v, t_v, ''))
                    frame_times.append(t_v)
                    t_min, t_max = min(t_min, t_v), max(t_max, t_v)
                else:
                    frame_times.append(None)
                if not smp.valid[v] or smp.offsets_s[v] != 0.0:
                    storage.write_image(storage.frame_path(out, split, v, k, ext, sync=True), frame(wk, v, t_ref),
                                        jpeg_quality)
                    gt.update(labels(wk, v, t_ref, 'sync_'))
            storage.save_npz(storage.gt_path(out, split, k), gt)
            index['time_s'].append(t_ref)
            index['offsets_s'].append([float(x) for x in smp.offsets_s])
            index['view_valid'].append([bool(x) for x in smp.valid])
            index['ref_view'].append(int(smp.ref_view))
            index['frame_time_s'].append(frame_times)
            bar.update(1)
        index['n'] = n
        index['stream'] = stream
        storage.write_json(out / split / 'index.json', index)
        if ranges is None:
            splits_info[split] = {'n': n, 't0_s': starts[split], 'stream': stream,
                                  'frame_time_range_s': [float(t_min), float(t_max)] if n else None}
        else:
            splits_info[split] = {'n': n, 't0_s': plans[split][0][1] if n else None, 'stream': stream,
                                  'frame_time_range_s': [float(t_min), float(t_max)] if n else None,
                                  'time_ranges_s': [[float(a), float(b)] for a, b in ranges[split]],
                                  'n_dropped': int(dropped[split])}
        split_info = getattr(w, 'split_info', None)
        if callable(split_info):  # e.g. the scene seeds of the split
            splits_info[split].update(split_info(split))
    bar.close()

    manifest = {
        'format': storage.FORMAT,
        'format_version': storage.FORMAT_VERSION,
        'generator': f'vsync_ros {__version__}',
        'task': w.task,
        'n_views': n_views,
        'views': [c.name for c in cams],
        'cameras': [f'cameras/{c.name}.yaml' for c in cams],
        'reference_view': 0,
        'image_size': [dst_w, dst_h],
        'image_format': image_format,
        'image_ext': ext,
        'desync': desync.to_dict(),
        'splits': splits_info,
        'world': w.describe() if hasattr(w, 'describe') else {'type': type(w).__name__,
                                                              'n_people': len(getattr(w, 'people', []))},
        'seed': int(getattr(getattr(w, 'config', None), 'seed', getattr(w, 'seed', desync.seed))),
    }
    region = getattr(w, 'region', None)
    if region is not None:
        manifest['region'] = region.as_dict()
    rig = getattr(w, 'rig_source', None)
    if rig:  # a rig folder (vsync-rig import): its name and where it is
        manifest['rig'] = dict(rig)
    if w.task == 'counting':
        sigma = float(getattr(w, 'view_sigma_px', 3.0 * src_w / 384.0)) * sx
        manifest['gt'] = {'gp_sigma_m': float(getattr(getattr(w, 'config', None), 'gp_sigma_m', 1.0)),
                          'view_sigma_px': sigma, 'density_scale': 1.0,
                          'view_density_from': getattr(w, 'view_density_from', 'heads_uv')}
    storage.write_json(out / 'manifest.json', manifest)
    if contact_sheet:
        from vsync_ros.data.contact_sheet import make_contact_sheet
        path = out / 'contact_sheet.png' if contact_sheet is True else Path(contact_sheet)
        make_contact_sheet(out, path)
    return manifest
