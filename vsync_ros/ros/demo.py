"""``vsync-demo`` / ``make demo``: what synchronization buys, on unsynchronized cameras over real ROS 2 topics.

What runs (one process, real rclpy topics, no launch needed):

* the synthetic plaza (:class:`vsync_ros.data.crowd_world.CrowdWorld`, three calibrated cameras, a crowd
  seed not used in training) rendered at the models' input size and desynchronized: by default cam2 shows
  the scene 5 s later and cam3 5 s earlier than the reference cam1 (``--desync constant --offset-s 5``,
  PETS2009's constant latency); ``--desync random`` / ``pets`` draw a random offset in +-5 s per frame,
  ``--desync sync`` is the synchronized control;
* or, with ``--pets-root DIR`` (the PETS2009 data root, e.g. ``../shared/data/pets2009``), PETS2009 itself:
  its real rig (Tsai calibration of views 1-3, read from ``DIR/calibration``) and the real annotated
  trajectories of the MVMS test sequences S1L1-1, S1L1-2, S1L2-1 and S1L2-2, rendered in the PETS-like
  scene at the models' input size (:func:`vsync_ros.data.pets_world.pets_world`). Reference times are
  spread evenly over the frame sets whose view times (reference time + offset) all lie inside their
  sequence, the rule of ``vsync-synth --world pets`` (``--desync constant``: +5 s / -5 s for views 2 / 3
  as in the paper, 7 fps grid; ``--every-s`` and ``--start-s`` do not apply). Default checkpoints are then
  BaseU and CLS-epi of ``scripts/reproduce_pets2009.sh DATA_ROOT`` (``runs/pets2009/seed0/base_u.pt``,
  ``runs/pets2009/seed0/cls_epi.pt`` in the repository; not shipped);
* one camera publisher node (``sensor_msgs/Image`` + ``CameraInfo`` per camera on ``/vsync_demo/camN/...``);
* one ``sync_node`` per checkpoint (default on the plaza: BaseS, trained on synchronized cameras and fusing
  the views as captured, and CLS-epi, which warps cam2 / cam3 to the reference time first:
  ``models/plaza_base_s.pt``, ``models/plaza_cls_epi.pt``), each subscribing to the same camera topics and
  publishing ``~/density`` and ``~/count_stamped``; a probe node collects the outputs.

Frames are paced: for each reference time the other cameras' frames are published first, then the
reference frame (which triggers inference), and the demo waits for every node's estimate stamped with
that reference frame, so every model sees exactly the same frames whatever the CPU speed. On the plaza,
reference frames are ``--every-s`` (2 s) of scene time apart, so the run covers two minutes of crowd
instead of one strongly correlated few-second window.

Per model it measures the count error (MAE) and a ground-plane localisation error, GAME(3): the ground
grid is cut into 8 x 8 patches (2.5 m x 3 m on the plaza, 7.6 m x 8.85 m on PETS2009) and |estimated - true
people| is summed over the patches (:func:`vsync_ros.engine.tasks.counting.game_errors`), so people put in
the wrong place count even when the total is right. The closing lines compare the model that does not
synchronize with the one that does, with a paired standard error over the frames, and say when a
difference is within the noise.

Outputs in ``--out`` (default ``out/demo``): ``frame_NNN.png`` (camera images with their offsets, GT and
estimated density maps with the true positions marked), ``counts.png`` (count per frame, MAE in the
legend), ``summary.json`` (the world, per-frame counts and errors (on PETS2009 with the sequence and the
time in it), per-model MAE / NAE / GAME, the comparison and its one-line result, timing).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vsync_ros import paths
from vsync_ros.process import set_process_defaults

DEFAULT_MODELS = (('BaseS', 'plaza_base_s.pt'), ('CLS-epi', 'plaza_cls_epi.pt'))
DESYNC_MODES = ('constant', 'random', 'pets', 'sync')
GAME_LEVEL = 3          # GAME(L): 4**L = 8 x 8 ground patches
NOISE_SE = 2.0          # a paired difference within this many standard errors is reported as noise
#: default checkpoints with --pets-root: outputs of scripts/reproduce_pets2009.sh, relative to the repository
PETS_DEFAULT_MODELS = (('BaseU', 'runs/pets2009/seed0/base_u.pt'), ('CLS-epi', 'runs/pets2009/seed0/cls_epi.pt'))
PETS_RUNS_FOLDER = 'pets2009'   # checkpoints below a folder of this name are labelled with PETS_LABELS
KNOWN_LABELS = {'plaza_base_s': 'BaseS', 'plaza_base_su': 'BaseSU', 'plaza_base_u': 'BaseU',
                'plaza_cls_cor': 'CLS-cor', 'plaza_cls_epi': 'CLS-epi', 'plaza_cls_cat': 'CLS-cat',
                'plaza_sls': 'SLS'}
#: checkpoint names of scripts/reproduce_pets2009.sh (runs/pets2009/seed<S>/<name>.pt); cls_epi is trained
#: with the similarity loss l_s on unsynchronized frames, cls_epi_w with the warping loss l_W
PETS_LABELS = {'base_u': 'BaseU', 'base_u_init': 'BaseU-init', 'base_s': 'BaseS', 'base_su': 'BaseSU',
               'sls': 'SLS', 'cls_cat': 'CLS-cat', 'cls_cor': 'CLS-cor', 'cls_epi': 'CLS-epi',
               'cls_epi_w': 'CLS-epi-W'}
TOPIC_PREFIX = '/vsync_demo'
START_NS = 1_700_000_000 * 10**9


class DemoError(RuntimeError):
    """The demo cannot run (missing checkpoints, mismatched models, ROS failure); the message says why."""


@dataclass
class ModelSpec:
    """A checkpoint to run: display ``label`` and resolved ``path``."""

    label: str
    path: Path


@dataclass
class FrameRecord:
    """One reference frame of the demo (times in seconds, stamps in ns)."""

    k: int
    stamp_ns: int
    time_s: float
    offsets_s: list[float]
    gt: float
    preds: dict[str, float] = field(default_factory=dict)
    inference_ms: dict[str, float] = field(default_factory=dict)
    ground_err: dict[str, float] = field(default_factory=dict)
    image: str = ''
    sequence: str = ''                  # PETS2009: the sequence shown and the reference time in it (s)
    sequence_time_s: float = math.nan


# ---------------------------------------------------------------------------------------- checkpoints
def _label_for(path: Path) -> str:
    """Display label of a checkpoint from its file name, else the name without extension.

    ``plaza_cls_epi`` -> CLS-epi (:data:`KNOWN_LABELS`); below a ``pets2009`` folder (``runs/pets2009/seed0/``)
    ``cls_epi`` -> CLS-epi, ``base_u`` -> BaseU, ... (:data:`PETS_LABELS`).
    """
    if path.stem in KNOWN_LABELS:
        return KNOWN_LABELS[path.stem]
    if PETS_RUNS_FOLDER in path.parent.parts and path.stem in PETS_LABELS:
        return PETS_LABELS[path.stem]
    return path.stem


def pets_default_checkpoints() -> list[ModelSpec]:
    """BaseU and CLS-epi of ``scripts/reproduce_pets2009.sh`` (:data:`PETS_DEFAULT_MODELS`).

    Looked up like any relative path (current folder, then the package share directories, the source
    checkout among them); a missing file is reported at its place in the source checkout (the current
    folder for an installed package), where the script writes it.
    """
    out = []
    for label, rel in PETS_DEFAULT_MODELS:
        path = paths.resolve(rel)
        if not path.is_file():
            path = (paths.source_root() or Path.cwd()) / rel
        out.append(ModelSpec(label, path))
    return out


def parse_checkpoints(specs: list[str] | None, pets: bool = False) -> list[ModelSpec]:
    """``LABEL=PATH`` or ``PATH`` entries -> resolved specs.

    Default (no entries): the shipped plaza BaseS and CLS-epi, or with ``pets`` the PETS2009 BaseU and
    CLS-epi of ``scripts/reproduce_pets2009.sh`` (:func:`pets_default_checkpoints`).
    """
    if not specs:
        if pets:
            return pets_default_checkpoints()
        return [ModelSpec(label, paths.resolve(f'package://{paths.PACKAGE}/models/{name}'))
                for label, name in DEFAULT_MODELS]
    out = []
    for spec in specs:
        label, sep, raw = spec.partition('=')
        if not sep:
            label, raw = '', spec
        path = paths.resolve(raw)
        out.append(ModelSpec(label or _label_for(path), path))
    labels = [m.label for m in out]
    if len(set(labels)) != len(labels):
        raise DemoError(f'model labels must be distinct, got {labels} (use LABEL=PATH)')
    return out


def missing_checkpoint_help(missing: list[ModelSpec], pets_root: str | Path | None = None) -> str:
    """Error text for checkpoints that do not exist, with the commands that make them.

    With ``pets_root`` (the demo on PETS2009) the command is ``scripts/reproduce_pets2009.sh DATA_ROOT``;
    otherwise the plaza's ``vsync-synth`` / ``vsync-train`` commands.
    """
    lines = ['missing checkpoint(s):']
    lines += [f'  {m.label}: {m.path}' for m in missing]
    if pets_root is not None:
        # the script changes to the repository root first: give it the data root as an absolute path
        lines.append('PETS2009 checkpoints are not shipped: scripts/reproduce_pets2009.sh DATA_ROOT makes them '
                     '(data sets and training into runs/pets2009/seed<S>/<name>.pt); in the repository run')
        lines.append(f'  scripts/reproduce_pets2009.sh {Path(pets_root).resolve()}')
        lines.append('or run other checkpoints trained on the PETS2009 rig: '
                     'vsync-demo --pets-root DATA_ROOT --checkpoints LABEL=PATH [LABEL=PATH ...]')
        return '\n'.join(lines)
    lines.append('Train them on the synthetic plaza (README: Training), e.g.:')
    lines.append('  vsync-synth data/plaza                     # training data (192x144, PETS-like desync)')
    for m in missing:
        config = f'config/train/small_{m.path.stem.removeprefix("plaza_")}.yaml'
        if not (paths.share_dir() / config).is_file():
            config = 'config/train/small_<method>.yaml'
        lines.append(f'  vsync-train --config {config} data.root=data/plaza train.out={m.path}')
    lines.append('or run other checkpoints: vsync-demo --checkpoints LABEL=PATH [LABEL=PATH ...]')
    return '\n'.join(lines)


def load_models(specs: list[ModelSpec], device: str, pets_root: str | Path | None = None) -> list:
    """Load every checkpoint as a :class:`vsync_ros.inference.pipeline.CountingPipeline`; they must share cameras.

    ``pets_root``: the PETS2009 data root of the run (only for the missing-checkpoint help).
    """
    missing = [m for m in specs if not m.path.is_file()]
    if missing:
        raise DemoError(missing_checkpoint_help(missing, pets_root))
    from vsync_ros.engine.checkpoint import CheckpointError
    from vsync_ros.inference.pipeline import check_cameras, load_pipeline
    pipes = []
    for m in specs:
        try:
            pipes.append(load_pipeline(m.path, device=device))
        except (CheckpointError, ValueError, OSError) as exc:
            raise DemoError(f'{m.label}: {exc}') from exc
    first = pipes[0]
    for m, p in zip(specs[1:], pipes[1:]):
        try:
            check_cameras(first.cameras, first.region, p.cameras, p.region,
                          source=f'{specs[0].label} ({specs[0].path})')
        except CheckpointError as exc:
            raise DemoError(f'{m.label} was trained for other cameras than {specs[0].label}: {exc}') from exc
    return pipes


# ---------------------------------------------------------------------------------------- scene
def make_scene(pipe, seed: int):
    """The synthetic plaza rendered at the model's input size, checked against the model's calibration.

    Returns:
        a :class:`vsync_ros.runtime.sources.WorldSource`.
    """
    from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
    from vsync_ros.inference.pipeline import check_cameras
    from vsync_ros.runtime.sources import WorldSource
    cam = pipe.cameras[0]
    world = CrowdWorld(CrowdWorldConfig(rig='plaza', image_size=(cam.width, cam.height), seed=seed,
                                        gp_cell_m=pipe.region.cell_m))
    try:
        check_cameras(pipe.cameras, pipe.region, world.cameras, world.region, source='the model')
    except Exception as exc:  # noqa: BLE001 - any mismatch ends the demo with the reason
        raise DemoError(f'the models were not trained for the synthetic plaza rig: {exc}') from exc
    return WorldSource(world)


def reference_ticks(n_frames: int, seed: int, n_views: int, start_s: float, desync: str = 'constant',
                    offset_s: float = 5.0, every_s: float = 2.0):
    """Per reference frame: ``{view: FrameEvent}`` (content times shifted by ``start_s``) of the desync profile.

    Args:
        desync: ``constant`` (cam2 +offset_s, cam3 -offset_s, ...), ``random`` (U(-offset_s, offset_s) per
            frame), ``pets`` (the data module's PETS2009 preset: random, +-5 s) or ``sync``.
        every_s: scene time between reference frames, rounded to whole frame periods (at least one).

    Returns:
        (profile, list of dicts view -> event; view -1 is the ground truth of the reference time).
    """
    from dataclasses import replace

    from vsync_ros.runtime.schedules import desync_profile, schedule
    if desync not in DESYNC_MODES:
        raise DemoError(f'--desync must be one of {", ".join(DESYNC_MODES)}, got {desync!r}')
    profile = desync_profile(desync, n_views, 7.0, desync_s=offset_s, seed=seed)
    stride = frame_stride(every_s, profile.rate_hz)
    ticks: list[dict] = [{} for _ in range(n_frames)]
    for ev in schedule(profile, n_frames * stride / profile.rate_hz):
        i, rest = divmod(ev.k, stride)
        if rest == 0 and i < n_frames and not ev.dropped:
            ticks[i][ev.view] = replace(ev, content_s=ev.content_s + start_s)
    return profile, ticks


def make_pets_scene(pipe, data_root: str | Path, seed: int):
    """PETS2009's MVMS test sequences on the real rig, rendered at the model's input size and checked against it.

    Args:
        pipe: the first model's pipeline (its cameras give the image size, its region the ground cell).
        data_root: the PETS2009 data root (calibration and annotations are read, never copied).
        seed: clothing seed of the people and sensor-noise seed.

    Returns:
        (:class:`vsync_ros.runtime.sources.WorldSource`, the world's
        :class:`~vsync_ros.data.readers.pets_tracks.PetsTimeline`).

    Raises:
        DemoError: a missing or unreadable data root, or models trained for another rig.
    """
    from vsync_ros.data.crowd_world import CrowdWorldConfig
    from vsync_ros.data.pets_world import pets_timeline, pets_world
    from vsync_ros.data.readers.pets_tracks import TEST_TRACKS
    from vsync_ros.inference.pipeline import check_cameras
    from vsync_ros.runtime.sources import WorldSource
    cam = pipe.cameras[0]
    try:
        timeline = pets_timeline(data_root, train=(), test=TEST_TRACKS, seed=seed)
        world = pets_world(data_root, timeline=timeline, config=CrowdWorldConfig(
            image_size=(cam.width, cam.height), seed=seed, gp_cell_m=pipe.region.cell_m))
    except (OSError, ValueError) as exc:  # missing files, unreadable calibration or annotations (named)
        raise DemoError(str(exc)) from exc
    try:
        check_cameras(pipe.cameras, pipe.region, world.cameras, world.region, source='the PETS2009 rig')
    except Exception as exc:  # noqa: BLE001 - any mismatch ends the demo with the reason
        raise DemoError(f'the models were not trained for the PETS2009 rig of {data_root}: {exc}') from exc
    return WorldSource(world), timeline


def pets_desync(desync: str, n_views: int, offset_s: float, seed: int):
    """The demo's ``--desync`` mode as a :class:`vsync_ros.data.desync.DesyncConfig` on PETS2009's 7 fps grid.

    ``constant``: views 2, 3, ... offset by +offset_s, -offset_s, ... (the paper: +5 s / -5 s);
    ``random``: U(-offset_s, offset_s) per frame and view; ``pets``: the data module's preset (random,
    +-5 s); ``sync``: no offsets.
    """
    from vsync_ros.data.desync import pets
    if desync not in DESYNC_MODES:
        raise DemoError(f'--desync must be one of {", ".join(DESYNC_MODES)}, got {desync!r}')
    if desync == 'constant':
        return pets(mode='constant', tau_s=(offset_s, -offset_s), n_views=n_views, seed=seed)
    if desync == 'random':
        return pets(mode='random', kappa_s=offset_s, n_views=n_views, seed=seed)
    return pets(mode='random' if desync == 'pets' else 'none', n_views=n_views, seed=seed)


def pets_reference_ticks(timeline, n_frames: int, seed: int, n_views: int, desync: str = 'constant',
                         offset_s: float = 5.0):
    """Per reference frame: ``{view: FrameEvent}`` on the PETS2009 timeline, spread over its test sequences.

    The candidates are the frame sets ``vsync-synth --world pets`` would write for the test split
    (:func:`vsync_ros.data.generate.frame_sets`: reference times on the 7 fps grid whose view times
    ``t + offset_i`` all lie inside the annotated interval of the sequence holding ``t``); ``n_frames`` of
    them are taken evenly spaced (all of them when there are fewer). Every view of a frame set is stamped
    with its reference time; its content time is reference time + offset.

    Returns:
        (profile describing the offsets, list of dicts view -> event with view -1 the ground truth of the
        reference time, list of (sequence name, time in the sequence in s) per frame, number of candidates).
    """
    from vsync_ros.data.desync import STREAM_TEST
    from vsync_ros.data.generate import frame_sets
    from vsync_ros.runtime.schedules import FrameEvent, profile_from_desync_config
    cfg = pets_desync(desync, n_views, offset_s, seed)
    kept, _ = frame_sets(cfg, STREAM_TEST, timeline.time_ranges('test'))
    if not kept:
        raise DemoError(f'no PETS2009 frame set has every view time inside its sequence for --desync {desync} '
                        f'--offset-s {offset_s:g}')
    pick = np.unique(np.round(np.linspace(0, len(kept) - 1, min(n_frames, len(kept)))).astype(int))
    ticks: list[dict] = []
    where: list[tuple[str, float]] = []
    for i in pick:
        g, t, smp = kept[i]
        tick = {-1: FrameEvent(t, -1, g, t, t)}
        for v in range(n_views):
            if smp.valid[v]:
                off = float(smp.offsets_s[v])
                tick[v] = FrameEvent(t, v, g, t, t + off, offset_s=off)
        ticks.append(tick)
        j, local = timeline.locate(t)
        where.append((timeline.names[j], local))
    return profile_from_desync_config(cfg, seed=seed), ticks, where, len(kept)


def frame_stride(every_s: float, rate_hz: float) -> int:
    """Capture ticks between two demo reference frames ``every_s`` apart (at least 1)."""
    return max(1, round(every_s * rate_hz))


def describe_desync(profile, names: list[str]) -> str:
    """How the non-reference cameras are offset, in words (e.g. ``cam2 shows the scene 5 s later, ...``)."""
    parts = []
    for v, t in enumerate(profile.views):
        if v == profile.reference_view:
            continue
        if t.random_offset_s > 0:
            parts.append(f'{names[v]} at a random offset within +-{t.random_offset_s:g} s')
        elif t.offset_s != 0:
            parts.append(f'{names[v]} shows the scene {abs(t.offset_s):g} s {"later" if t.offset_s > 0 else "earlier"}')
    ref = names[profile.reference_view]
    if not parts:
        return f'all cameras synchronized with {ref}'
    return ', '.join(parts) + f' than {ref}' * all(t.random_offset_s == 0 for t in profile.views)


# ---------------------------------------------------------------------------------------- metrics
def ground_error(pred: np.ndarray, gt: np.ndarray, level: int = GAME_LEVEL) -> float:
    """GAME(level) of one (rows, cols) ground-plane density pair, people (evaluation's ``game_errors``).

    GAME(0) is the absolute count error; higher levels also count people placed in the wrong patch of the
    2**level x 2**level split (a person put one patch off adds 2: missing in one patch, extra in the other).

    Raises:
        ValueError: the maps differ in shape.
    """
    import torch

    from vsync_ros.engine.tasks.counting import game_errors
    p = torch.as_tensor(np.asarray(pred, np.float64))
    g = torch.as_tensor(np.asarray(gt, np.float64))
    if p.dim() != 2 or g.dim() != 2:
        raise ValueError(f'ground-plane densities must be (rows, cols), got {tuple(p.shape)} and {tuple(g.shape)}')
    return float(game_errors(p[None, None], g[None, None], (level,))[0, 0])


def paired_difference(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean of ``a - b`` over paired frames and its standard error (nan with fewer than 2 frames)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if len(d) < 2:
        return (float(d.mean()) if len(d) else math.nan), math.nan
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def model_role(method: str, regime: str) -> str:
    """What a model does about desynchronization, for a newcomer."""
    if method != 'base':
        return 'synchronizes the views'
    if regime == 'BaseS':
        return 'assumes synchronized cameras'
    return 'fuses the views as captured'


def compare(records: list[FrameRecord], models: list[dict], desync_text: str) -> dict | None:
    """The headline comparison: the first non-synchronizing model vs the first synchronizing one.

    Without such a pair the first two models are compared. Errors are paired over the frames: the mean
    difference (baseline - other) gets the standard error of the mean (frames ``--every-s`` apart are
    treated as independent), and a difference within ``NOISE_SE`` standard errors is called noise.

    Returns:
        dict with ``baseline`` / ``other`` (labels), and per error (``count``: absolute count error per
        frame; ``ground``: GAME(3) per frame) the two means, ``diff``, ``se`` and ``significant``; plus
        ``headline``, the result in one line. None for fewer than two models or no frames.
    """
    if len(models) < 2 or not records:
        return None
    plain = [m for m in models if not m['synchronizes']]
    syncing = [m for m in models if m['synchronizes']]
    base, other = (plain[0], syncing[0]) if plain and syncing else (models[0], models[1])
    out: dict = {'baseline': base['label'], 'other': other['label'], 'desync': desync_text}
    errors = {'count': lambda r, lb: abs(r.preds[lb] - r.gt), 'ground': lambda r, lb: r.ground_err[lb]}
    for key, err in errors.items():
        a = [err(r, base['label']) for r in records]
        b = [err(r, other['label']) for r in records]
        diff, se = paired_difference(a, b)
        out[key] = {'baseline': float(np.mean(a)), 'other': float(np.mean(b)), 'diff': diff, 'se': se,
                    'significant': bool(math.isfinite(se) and abs(diff) > NOISE_SE * se)}
    c, g = out['count'], out['ground']
    who = f'{other["label"]} ({other["role"]}) vs {base["label"]} ({base["role"]})'
    if c['significant'] and c['diff'] > 0:
        pct = 100.0 * c['diff'] / c['baseline']
        count = f'count error {c["baseline"]:.2f} -> {c["other"]:.2f} people per frame ({pct:.0f} % lower)'
    elif c['significant']:
        count = f'count error {c["baseline"]:.2f} -> {c["other"]:.2f} people per frame (higher)'
    else:
        noise = f'+-{NOISE_SE * c["se"]:.2f}' if math.isfinite(c['se']) else 'noise unknown'
        count = (f'count error {c["baseline"]:.2f} vs {c["other"]:.2f} people per frame: '
                 f'difference within noise ({c["diff"]:+.2f} {noise})')
    if not g['significant']:
        how = 'within noise'
    elif g['diff'] > 0:
        how = f'{100.0 * g["diff"] / g["baseline"]:.0f} % lower'
    else:
        how = f'{-100.0 * g["diff"] / g["baseline"]:.0f} % higher'
    ground = f'ground error {g["baseline"]:.1f} -> {g["other"]:.1f} ({how})'
    out['headline'] = f'{desync_text}. {who}: {count}; {ground}.'
    return out


# ---------------------------------------------------------------------------------------- ROS
class DemoGraph:
    """The rclpy side: camera publisher, one SyncNode per model, a probe collecting the outputs.

    Runs its own context (``ROS_DOMAIN_ID`` / ``ROS_AUTOMATIC_DISCOVERY_RANGE`` from the environment) and a
    single-threaded executor in a background thread (each sync node infers in a thread of its own).
    """

    def __init__(self, pipes: list, labels: list[str], cameras, verbose: bool = False) -> None:
        import rclpy
        from geometry_msgs.msg import PointStamped
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image

        from vsync_ros.ros.sync_node import SyncNode

        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes: list = []
        self.lock = threading.Lock()
        self.counts: dict[str, dict[int, float]] = {lb: {} for lb in labels}
        self.densities: dict[str, dict[int, np.ndarray]] = {lb: {} for lb in labels}
        self._thread: threading.Thread | None = None
        try:
            self.cameras = cameras
            self.image_topics = [f'{TOPIC_PREFIX}/{c.name}/image_raw' for c in cameras]
            self.info_topics = [f'{TOPIC_PREFIX}/{c.name}/camera_info' for c in cameras]
            self.pub_node = Node('vsync_demo_cameras', context=self.context)
            qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
            self.image_pubs = [self.pub_node.create_publisher(Image, t, qos) for t in self.image_topics]
            self.info_pubs = [self.pub_node.create_publisher(CameraInfo, t, qos) for t in self.info_topics]
            self.nodes.append(self.pub_node)
            self.sync_nodes = {}
            self.probe = Node('vsync_demo_probe', context=self.context)
            self.nodes.append(self.probe)
            for pipe, label in zip(pipes, labels):
                name = 'sync_' + (re.sub(r'[^a-z0-9_]', '_', label.lower()).strip('_') or 'model')
                if not verbose:  # keep warnings and errors (fail-over, rejected frames), drop the start-up lines
                    rclpy.logging.set_logger_level(name, rclpy.logging.LoggingSeverity.WARN)
                node = SyncNode(pipe, node_name=name, context=self.context, parameter_overrides=[
                    Parameter('camera_topics', value=self.image_topics),
                    Parameter('camera_info_topics', value=self.info_topics),
                    Parameter('max_frame_age_s', value=600.0),  # paced: a slow CPU must not make views stale
                    Parameter('diagnostics_period_s', value=5.0)])
                self.sync_nodes[label] = node
                self.nodes.append(node)
                self.probe.create_subscription(PointStamped, f'/{name}/count_stamped',
                                               lambda m, lb=label: self._on_count(lb, m), QoSProfile(depth=50))
                self.probe.create_subscription(Image, f'/{name}/density',
                                               lambda m, lb=label: self._on_density(lb, m), QoSProfile(depth=50))
            for n in self.nodes:
                self.executor.add_node(n)
            self._thread = threading.Thread(target=self.executor.spin, name='vsync_demo_executor', daemon=True)
            self._thread.start()
        except Exception:
            self.close()
            raise

    # -------------------------------------------------------------------- callbacks
    @staticmethod
    def _stamp(msg) -> int:
        return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)

    def _on_count(self, label: str, msg) -> None:
        with self.lock:
            self.counts[label][self._stamp(msg)] = float(msg.point.x)

    def _on_density(self, label: str, msg) -> None:
        from vsync_ros.runtime.images import float_image_to_array
        with self.lock:
            self.densities[label][self._stamp(msg)] = float_image_to_array(msg)

    # -------------------------------------------------------------------- helpers
    def wait_connected(self, timeout_s: float = 30.0) -> None:
        """Wait until every sync node and the probe are matched with their publishers (DDS discovery)."""
        n = len(self.sync_nodes)

        def ready() -> bool:
            if any(p.get_subscription_count() < n for p in self.image_pubs + self.info_pubs):
                return False
            return all(nd.pub_count_stamped.get_subscription_count() > 0 and nd.pub_density.get_subscription_count() > 0
                       for nd in self.sync_nodes.values())
        if not _wait(ready, timeout_s):
            raise DemoError(f'ROS discovery did not complete within {timeout_s:g} s (ROS_DOMAIN_ID='
                            f'{os.environ.get("ROS_DOMAIN_ID", "0")}); is another process using the same topics?')

    def publish(self, view: int, rgb: np.ndarray, stamp_ns: int) -> None:
        """Publish one camera frame and its CameraInfo."""
        from sensor_msgs.msg import CameraInfo
        from std_msgs.msg import Header

        from vsync_ros.ros.image_conversion import make_image_msg
        from vsync_ros.ros.sync_node import ns_to_stamp
        from vsync_ros.runtime.messages import camera_info_fields
        cam = self.cameras[view]
        header = Header(stamp=ns_to_stamp(stamp_ns), frame_id=cam.frame_id)
        self.image_pubs[view].publish(make_image_msg(rgb, 'rgb8', header))
        self.info_pubs[view].publish(CameraInfo(header=header, **camera_info_fields(cam)))

    def received(self, view: int, stamp_ns: int) -> bool:
        """True when every sync node holds ``stamp_ns`` as the latest frame of ``view``."""
        for node in self.sync_nodes.values():
            latest = node.store.latest(view)
            if latest is None or latest.stamp_ns != stamp_ns:
                return False
        return True

    def errors(self) -> dict[str, int]:
        """Pipeline errors so far, per model."""
        return {lb: nd.core.stats.errors for lb, nd in self.sync_nodes.items()}

    def outputs(self, stamp_ns: int) -> dict[str, tuple[float, np.ndarray]] | None:
        """Every model's (count, density) for the reference stamp, or None while some are still missing."""
        with self.lock:
            if not all(stamp_ns in self.counts[lb] and stamp_ns in self.densities[lb] for lb in self.counts):
                return None
            return {lb: (self.counts[lb][stamp_ns], self.densities[lb][stamp_ns]) for lb in self.counts}

    def close(self) -> None:
        """Stop the executor, destroy the nodes, shut the context down."""
        import rclpy
        for n in self.nodes:  # first out of the wait set, then stop the executor (it waits for running callbacks)
            self.executor.remove_node(n)
        self.executor.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        for n in self.nodes:
            n.destroy_node()
        rclpy.try_shutdown(context=self.context)


def publish_tick(graph: DemoGraph, source, tick: dict, ref: int, timeout_s: float) -> tuple[list, dict[int, int]]:
    """Publish one reference frame's camera images: the other views first, the reference (trigger) last.

    Returns:
        (RGB image per view or None, stamp in ns per published view).

    Raises:
        DemoError: the sync nodes did not receive the other views within ``timeout_s``.
    """
    n = len(graph.cameras)
    rgbs: list[np.ndarray | None] = [None] * n
    stamps: dict[int, int] = {}
    for v in [u for u in range(n) if u != ref and u in tick]:
        rgbs[v] = source.frame(v, tick[v].content_s)
        stamps[v] = START_NS + round(tick[v].stamp_s * 1e9)
        graph.publish(v, rgbs[v], stamps[v])
    others = dict(stamps)
    if not _wait(lambda: all(graph.received(u, s) for u, s in others.items()), timeout_s):
        raise DemoError(f'the sync nodes did not receive the camera frames within {timeout_s:g} s')
    rgbs[ref] = source.frame(ref, tick[ref].content_s)
    stamps[ref] = START_NS + round(tick[ref].stamp_s * 1e9)
    graph.publish(ref, rgbs[ref], stamps[ref])
    return rgbs, stamps


def _wait(predicate, timeout_s: float, period_s: float = 0.01) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(period_s)
    return bool(predicate())


# ---------------------------------------------------------------------------------------- run
def check_pets_root(pets_root: str | Path) -> Path:
    """The PETS2009 data root after checking its calibration and test-sequence annotations exist.

    Raises:
        DemoError: the message of :func:`vsync_ros.data.pets_world.check_data_root` (folder and missing file).
    """
    from vsync_ros.data.pets_world import check_data_root
    from vsync_ros.data.readers.pets_tracks import TEST_TRACKS
    try:
        return check_data_root(pets_root, list(TEST_TRACKS))
    except FileNotFoundError as exc:
        raise DemoError(str(exc)) from exc


def run_demo(n_frames: int = 60, out_dir: str | Path = 'out/demo', checkpoints: list[str] | None = None,
             device: str = 'auto', seed: int = 2026, start_s: float = 60.0, progress: bool = True,
             write_images: bool = True, frame_timeout_s: float = 120.0, verbose: bool = False, log=print,
             desync: str = 'constant', offset_s: float = 5.0, every_s: float = 2.0,
             pets_root: str | Path | None = None) -> dict:
    """Run the demo and write its outputs; returns the summary (also written to ``summary.json``).

    Args:
        n_frames: reference frames. start_s: world time of the first one (plaza only), s.
        every_s: scene time between reference frames (plaza only; PETS2009 spreads them over its sequences), s.
        desync / offset_s: how the other views are offset (see :func:`reference_ticks`), s.
        pets_root: PETS2009 data root: run on its real rig and test sequences instead of the plaza.

    Raises:
        DemoError: missing / incompatible checkpoints, a missing PETS2009 data root, ROS discovery or
            inference that does not answer.
    """
    from tqdm import tqdm

    from vsync_ros.reports.demo_figures import count_plot, frame_panel, write_png

    if n_frames < 1:
        raise DemoError(f'--frames must be >= 1, got {n_frames}')
    if not (every_s > 0 and offset_s >= 0):
        raise DemoError(f'--every-s must be > 0 and --offset-s >= 0, got {every_s:g} and {offset_s:g}')
    t_start = time.perf_counter()
    pets = pets_root is not None
    if pets:
        pets_root = check_pets_root(pets_root)
    specs = parse_checkpoints(checkpoints, pets=pets)
    pipes = load_models(specs, device, pets_root)
    labels = [m.label for m in specs]
    for m, p in zip(specs, pipes):
        log(f'{m.label}: {p.describe()}')
    cams = pipes[0].cameras
    region = pipes[0].region
    size = f'{cams[0].width}x{cams[0].height}'
    if pets:
        source, timeline = make_pets_scene(pipes[0], pets_root, seed)
        profile, ticks, where, n_candidates = pets_reference_ticks(timeline, n_frames, seed, len(cams), desync,
                                                                   offset_s)
        desync_text = describe_desync(profile, [c.name for c in cams])
        spacing = n_candidates / len(ticks) / profile.rate_hz
        world = {'type': 'pets2009', 'data_root': str(pets_root), 'sequences': timeline.names,
                 'frame_sets': n_candidates}
        log(f'PETS2009 ({pets_root}): real rig, views {", ".join(c.name for c in cams)} at {size}, test sequences '
            f'{", ".join(timeline.names)}; {desync_text}; {len(ticks)} reference frames spread over the '
            f'{n_candidates} frame sets whose view times lie inside their sequence (about {spacing:.2f} s apart)')
        if len(ticks) < n_frames:
            log(f'(--frames {n_frames}: only {len(ticks)} frame sets fit)')
    else:
        source = make_scene(pipes[0], seed)
        profile, ticks = reference_ticks(n_frames, seed, len(cams), start_s, desync, offset_s, every_s)
        where = [('', math.nan)] * len(ticks)
        desync_text = describe_desync(profile, [c.name for c in cams])
        spacing = frame_stride(every_s, profile.rate_hz) / profile.rate_hz
        world = {'type': 'plaza', 'seed': seed}
        log(f'synthetic plaza (crowd seed {seed}), {len(cams)} cameras at {size}; '
            f'{desync_text}; {n_frames} reference frames {spacing:.2f} s apart from t = '
            f'{start_s + profile.t_base:g} s')
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    graph = DemoGraph(pipes, labels, cams, verbose)
    roles = {m.label: model_role(p.method, str(p.meta.get('regime', ''))) for m, p in zip(specs, pipes)}
    records: list[FrameRecord] = []
    missing_outputs = 0
    try:
        graph.wait_connected()
        bar = tqdm(total=len(ticks), desc='demo', unit='frame', disable=not progress, file=sys.stderr)
        for k, tick in enumerate(ticks):
            ref = profile.reference_view
            if ref not in tick or -1 not in tick:
                continue
            gt = source.ground_truth(tick[-1].content_s)
            t_ref = tick[ref].content_s
            errors_before = graph.errors()
            rgbs, stamps = publish_tick(graph, source, tick, ref, frame_timeout_s)
            stamp = stamps[ref]

            def done(stamp=stamp, errors_before=errors_before) -> bool:
                return graph.outputs(stamp) is not None or graph.errors() != errors_before
            if not _wait(done, frame_timeout_s):
                missing_outputs += 1
                bar.write(f'frame {k}: no estimate from every model within {frame_timeout_s:g} s (skipped)',
                          file=sys.stdout)
                bar.update(1)
                continue
            failed = {lb: graph.sync_nodes[lb].core.stats.last_error for lb, n in graph.errors().items()
                      if n != errors_before[lb]}
            if failed:
                raise DemoError(f'frame {k}: inference failed: '
                                + '; '.join(f'{lb}: {msg}' for lb, msg in failed.items()))
            results = graph.outputs(stamp)
            offsets = [(tick[v].content_s - t_ref) if v in tick else math.nan for v in range(len(cams))]
            gt_density = gt.get('gp_density')
            rec = FrameRecord(k, stamp, t_ref, offsets, float(gt['count']),
                              {lb: results[lb][0] for lb in labels},
                              {lb: graph.sync_nodes[lb].core.stats.last_inference_ms for lb in labels},
                              {lb: (ground_error(results[lb][1], gt_density) if gt_density is not None else math.nan)
                               for lb in labels}, sequence=where[k][0], sequence_time_s=where[k][1])
            if write_images:
                rec.image = write_png(out / f'frame_{k:03d}.png', _panel(
                    frame_panel, rec, rgbs, cams, ref, gt, {lb: results[lb][1] for lb in labels}, roles,
                    region, desync_text)).name
            records.append(rec)
            when = f'{rec.sequence} t={rec.sequence_time_s:6.2f} s' if rec.sequence else f't={t_ref:7.2f} s'
            bar.write(f'frame {k:3d}  {when}  offsets '
                      + ' '.join(f'{cams[v].name} {offsets[v]:+5.2f} s' for v in range(len(cams)) if v != ref)
                      + f'  GT {rec.gt:4.0f}  '
                      + '  '.join(f'{lb} {rec.preds[lb]:6.2f} ({rec.preds[lb] - rec.gt:+6.2f}) '
                                  f'ground err {rec.ground_err[lb]:5.1f}' for lb in labels),
                      file=sys.stdout)
            bar.update(1)
        bar.close()
        mean_ms = {lb: graph.sync_nodes[lb].core.stats.mean_inference_ms for lb in labels}
    finally:
        graph.close()
    summary = summarize(records, specs, pipes, mean_ms, missing_outputs, n_frames, seed, profile,
                        None if pets else start_s, time.perf_counter() - t_start, desync=desync,
                        desync_text=desync_text, spacing_s=spacing, roles=roles, world=world)
    if records:
        maes = {m['label']: m['mae'] for m in summary['models']}
        plot = count_plot([r.gt for r in records],
                          {f'{lb} (MAE {maes[lb]:.2f})': [r.preds[lb] for r in records] for lb in labels},
                          f'people per frame; {desync_text}')
        summary['counts_image'] = write_png(out / 'counts.png', plot).name
    (out / 'summary.json').write_text(json.dumps(summary, indent=1))
    log(format_summary(summary, out))
    return summary


def _panel(frame_panel, rec: FrameRecord, rgbs: list, cams: list, ref: int, gt: dict, densities: dict,
           roles: dict[str, str], region, desync_text: str) -> np.ndarray:
    """The frame_NNN.png image of one record (captions with offsets, counts and ground errors)."""
    when = f'{rec.sequence} t = {rec.sequence_time_s:.2f} s' if rec.sequence else f't = {rec.time_s:.2f} s'
    captions = []
    for v, c in enumerate(cams):
        if v == ref:
            captions.append([f'{c.name}: reference', f'captured at {when}'])
        elif math.isfinite(rec.offsets_s[v]):
            captions.append([c.name, f'shows the scene at t{rec.offsets_s[v]:+.2f} s'])
        else:
            captions.append([c.name, 'no frame'])
    model_captions = {lb: [f'{lb}: {roles[lb]}',
                           f'{rec.preds[lb]:.1f} people ({rec.preds[lb] - rec.gt:+.1f}), '
                           f'ground err {rec.ground_err[lb]:.1f}'] for lb in densities}
    people_rc = None
    if 'positions' in gt:
        xy = np.asarray(gt['positions'], np.float64).reshape(-1, 2)
        people_rc = np.stack([(xy[:, 1] - region.y0) / region.cell_m - 0.5,
                              (xy[:, 0] - region.x0) / region.cell_m - 0.5], 1)
    title = f'frame {rec.k}  {when}   {desync_text}; every model gets these frames'
    return frame_panel(rgbs, captions, gt.get('gp_density'), rec.gt, densities, model_captions, title, people_rc)


def summarize(records: list[FrameRecord], specs: list[ModelSpec], pipes: list, mean_ms: dict, missing: int,
              n_frames: int, seed: int, profile, start_s: float | None, wall_s: float, desync: str = 'constant',
              desync_text: str = '', spacing_s: float = math.nan, roles: dict[str, str] | None = None,
              world: dict | None = None) -> dict:
    """The summary dict written to ``summary.json`` (with the model comparison and its one-line result).

    ``world``: what was rendered (``type`` 'plaza' or 'pets2009' with its data root, sequences and number of
    candidate frame sets); ``start_s`` is None on PETS2009 (frames spread over the sequences);
    ``spacing_s``: time between reference frames (s; on PETS2009 the mean over the candidates).
    """
    models = []
    for m, p in zip(specs, pipes):
        errs = [abs(r.preds[m.label] - r.gt) for r in records]
        rel = [abs(r.preds[m.label] - r.gt) / r.gt for r in records if r.gt > 0]
        ground = [r.ground_err[m.label] for r in records]
        models.append({'label': m.label, 'checkpoint': str(m.path), 'method': p.method, 'device': str(p.device),
                       'synchronizes': p.method != 'base',
                       'role': (roles or {}).get(m.label, model_role(p.method, str(p.meta.get('regime', '')))),
                       'mae': float(np.mean(errs)) if errs else math.nan,
                       'nae': float(np.mean(rel)) if rel else math.nan,
                       'ground_error': float(np.mean(ground)) if ground else math.nan,
                       'mean_pred': float(np.mean([r.preds[m.label] for r in records])) if records else math.nan,
                       'mean_inference_ms': float(mean_ms.get(m.label, math.nan))})
    region = pipes[0].region
    n = 2 ** GAME_LEVEL
    return {
        'world': world or {'type': 'plaza', 'seed': seed},
        'frames_requested': n_frames, 'frames': len(records), 'frames_without_output': missing,
        'seed': seed, 'start_s': start_s, 'rate_hz': profile.rate_hz, 'frame_spacing_s': spacing_s,
        'desync': {'mode': desync, 'text': desync_text, 'offset_s': [v.offset_s for v in profile.views],
                   'random_offset_s': [v.random_offset_s for v in profile.views],
                   'reference_view': profile.reference_view},
        'ground_error_definition': (f'GAME({GAME_LEVEL}): sum over {n}x{n} ground patches of '
                                    f'{region.width_m / n:g} m x {region.height_m / n:g} m of '
                                    '|estimated - true people|'),
        'mean_gt': float(np.mean([r.gt for r in records])) if records else math.nan,
        'models': models, 'comparison': compare(records, models, desync_text), 'wall_time_s': wall_s,
        'per_frame': [{'k': r.k, 'stamp_ns': r.stamp_ns, 'time_s': r.time_s, 'offsets_s': r.offsets_s, 'gt': r.gt,
                       'pred': r.preds, 'abs_err': {lb: abs(v - r.gt) for lb, v in r.preds.items()},
                       'ground_err': r.ground_err, 'inference_ms': r.inference_ms, 'image': r.image,
                       **({'sequence': r.sequence, 'sequence_time_s': r.sequence_time_s} if r.sequence else {})}
                      for r in records],
    }


def format_summary(summary: dict, out: Path) -> str:
    """The closing table (count MAE / NAE, ground error, time per model) and the one-line result."""
    width = max([len(m['label']) for m in summary['models']] + [5])
    lines = [f'\n{"model":<{width}}  {"syncs":<5}  {"count MAE":>9} {"NAE":>6} {"ground err":>10} '
             f'{"mean pred":>9} {"ms/frame":>8}']
    for m in summary['models']:
        lines.append(f'{m["label"]:<{width}}  {"yes" if m["synchronizes"] else "no":<5}  {m["mae"]:9.2f} '
                     f'{m["nae"]:6.3f} {m["ground_error"]:10.2f} {m["mean_pred"]:9.2f} {m["mean_inference_ms"]:8.0f}')
    world = summary.get('world') or {}
    if world.get('type') == 'pets2009':
        where = f'PETS2009 {", ".join(world["sequences"])}: {summary["frames"]} frames about'
    else:
        where = f'{summary["frames"]} frames'
    lines.append(f'{where} {summary["frame_spacing_s"]:.2f} s apart, mean ground truth '
                 f'{summary["mean_gt"]:.1f} people, {summary["wall_time_s"]:.0f} s; images and summary.json in {out}/')
    lines.append(f'ground err = {summary["ground_error_definition"]}: people put in the wrong place count too')
    if summary.get('comparison'):
        lines.append(f'\nRESULT: {summary["comparison"]["headline"]}')
    return '\n'.join(lines)


# ---------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog='vsync-demo', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--frames', type=int, default=60, help='reference frames to run (default 60)')
    p.add_argument('--pets-root', type=Path, default=None, metavar='DIR',
                   help='the PETS2009 data root, e.g. ../shared/data/pets2009 (calibration/View_00{1,2,3}.xml, '
                        'annotations/PETS2009-<seq>.xml; read, never copied): run on its real rig and the MVMS '
                        'test sequences S1L1-1, S1L1-2, S1L2-1, S1L2-2 instead of the synthetic plaza')
    p.add_argument('--every-s', type=float, default=2.0,
                   help='scene time between reference frames, seconds (default 2; rounded to 1/7 s frames; '
                        'plaza only: with --pets-root the frames are spread over the sequences)')
    p.add_argument('--desync', choices=DESYNC_MODES, default='constant',
                   help='how cam2 / cam3 are offset from cam1: constant (cam2 +OFFSET, cam3 -OFFSET; default), '
                        'random (uniform in +-OFFSET per frame), pets (PETS2009 preset, random +-5 s) or sync')
    p.add_argument('--offset-s', type=float, default=5.0, help='OFFSET of --desync, seconds (default 5)')
    p.add_argument('--out', type=Path, default=Path('out/demo'), help='output folder (default out/demo)')
    p.add_argument('--checkpoints', nargs='+', metavar='[LABEL=]PATH', default=None,
                   help='checkpoints to compare (default: BaseS=models/plaza_base_s.pt CLS-epi=models/plaza_cls_epi.pt '
                        'in the package share directory; with --pets-root BaseU=runs/pets2009/seed0/base_u.pt '
                        'CLS-epi=runs/pets2009/seed0/cls_epi.pt in the repository, made by '
                        'scripts/reproduce_pets2009.sh DATA_ROOT); the result line compares the first model that '
                        'does not synchronize with the first that does')
    p.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N (default auto)')
    p.add_argument('--seed', type=int, default=2026,
                   help='seed of the crowd (PETS2009: of the clothing) and of the capture offsets')
    p.add_argument('--start-s', type=float, default=60.0,
                   help='world time of the first reference frame, seconds (the crowd fills the plaza in ~1 min; '
                        'plaza only)')
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (0 = torch default)')
    p.add_argument('--no-images', action='store_true', help='skip the per-frame PNGs')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.add_argument('--verbose', action='store_true', help='show the sync nodes\' info log lines')
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vsync-demo`` / ``python -m vsync_ros.ros.demo``."""
    set_process_defaults()  # before torch loads
    args = build_parser().parse_args(argv)
    if args.pets_root is not None:  # before ROS and torch: a wrong data root is reported at once
        try:
            check_pets_root(args.pets_root)
        except DemoError as exc:
            print(f'vsync-demo: {exc}', file=sys.stderr)
            return 2
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    try:
        import rclpy  # noqa: F401
    except ImportError as exc:
        print(f'vsync-demo: rclpy is not available ({exc}); run `make setup` or source a ROS 2 install',
              file=sys.stderr)
        return 2
    import torch
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    # the sync nodes report the pipeline's warnings (device fall-back, fail-over) through the ROS log
    pipeline_log = logging.getLogger('vsync_ros.inference.pipeline')
    saved_level = pipeline_log.level
    pipeline_log.setLevel(logging.ERROR)
    try:
        run_demo(args.frames, args.out, args.checkpoints, args.device, args.seed, args.start_s,
                 not args.no_progress, not args.no_images, verbose=args.verbose, desync=args.desync,
                 offset_s=args.offset_s, every_s=args.every_s, pets_root=args.pets_root)
    except DemoError as exc:
        print(f'vsync-demo: {exc}', file=sys.stderr)
        return 2
    finally:
        pipeline_log.setLevel(saved_level)
    return 0


if __name__ == '__main__':
    sys.exit(main())
