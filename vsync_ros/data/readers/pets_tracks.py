"""Real PETS2009 crowd motion: per-person ground trajectories from the View_001 box annotations.

Annotation files (CVML-style XML, one per sequence, boxes in View_001 pixels of the 768x576 frames,
7 fps, persistent ids)::

    <dataset name="PETS-S1L1-1">
      <frame number="0"><objectlist>
        <object id="1"><box h="105.1" w="51.9" xc="630.1" yc="310.7"/></object> ...

A person's ground position is the foot point of its box, ``(xc, yc + h / 2)``, back-projected through
View_001's calibration (distortion included) onto the ground plane z = 0, in metres in the PETS world
frame. Its height is where the ray through the head point ``(xc, yc - h / 2)`` passes closest to the
vertical line above that ground point. Positions between annotated frames are linearly interpolated
in time; a person exists only inside its annotated interval (:meth:`PetsTracks.positions_at`).

The files are not part of this package (see the README of the data root): pass their paths.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vsync_ros.data.crowd import Appearance, CrowdState, make_appearance
from vsync_ros.geometry.camera import Camera

FPS = 7.0  # PETS2009 frame rate, frames per second
#: sequences of the MVMS / paper protocol and their annotation file stems
TRAIN_TRACKS = ('S2L2', 'S2L3')
TEST_TRACKS = ('S1L1-1', 'S1L1-2', 'S1L2-1', 'S1L2-2')


class AnnotationError(ValueError):
    """An annotation file is missing, not XML, or has a malformed frame / object / box (named)."""


@dataclass(frozen=True)
class Box:
    """One annotated box in View_001 pixels (full 768x576 frame): centre, width and height."""

    frame: int
    person: int
    xc: float
    yc: float
    w: float
    h: float


def read_boxes(path: str | Path) -> list[Box]:
    """Every box of a PETS2009 annotation file, in file order.

    Raises:
        AnnotationError: unreadable file, or a frame / object / box attribute that is missing or not a
            number (the message names the file and the element).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise AnnotationError(f'{path}: cannot read the annotation XML: {exc}') from exc
    boxes = []
    for frame in root.iter('frame'):
        try:
            number = int(frame.get('number'))
        except (TypeError, ValueError):
            raise AnnotationError(f'{path}: <frame number={frame.get("number")!r}> is not an integer') from None
        for obj in frame.iter('object'):
            box = obj.find('box')
            try:
                pid = int(obj.get('id'))
                values = [float(box.get(k)) for k in ('xc', 'yc', 'w', 'h')]
            except (TypeError, ValueError, AttributeError):
                raise AnnotationError(f'{path}: frame {number}: object {obj.get("id")!r} has no valid '
                                      '<box xc yc w h>') from None
            if not np.all(np.isfinite(values)) or values[2] <= 0 or values[3] <= 0:
                raise AnnotationError(f'{path}: frame {number}: object {pid} has a degenerate box {values}')
            boxes.append(Box(number, pid, *values))
    if not boxes:
        raise AnnotationError(f'{path}: no annotated boxes')
    return boxes


def foot_and_head_pixels(boxes: list[Box]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) foot points ``(xc, yc + h/2)`` and (N, 2) head points ``(xc, yc - h/2)``, pixels."""
    arr = np.array([(b.xc, b.yc, b.h) for b in boxes], dtype=np.float64).reshape(-1, 3)
    feet = np.stack([arr[:, 0], arr[:, 1] + arr[:, 2] / 2], axis=1)
    heads = np.stack([arr[:, 0], arr[:, 1] - arr[:, 2] / 2], axis=1)
    return feet, heads


def heights_from_heads(camera: Camera, ground_xy: np.ndarray, head_uv: np.ndarray) -> np.ndarray:
    """(N,) height in metres where each head ray passes closest to the vertical above ``ground_xy``.

    Args:
        camera: the calibration the boxes are in (View_001 at the annotation image size).
        ground_xy: (N, 2) ground positions, metres. head_uv: (N, 2) head pixels.
    """
    c = camera.center
    rays = camera.pixel_rays(head_uv)                              # (N, 3) unit directions, world frame
    # closest points between the ray c + s d and the line (x, y, 0) + z e_z
    p = np.concatenate([ground_xy, np.zeros((len(ground_xy), 1))], axis=1)
    w0 = c[None, :] - p
    ez = np.array([0.0, 0.0, 1.0])
    a = np.einsum('ij,ij->i', rays, rays)
    b = rays @ ez
    d = np.einsum('ij,ij->i', rays, w0)
    e = w0 @ ez
    denom = a - b * b                                              # c = ez . ez = 1
    return (a * e - b * d) / np.where(np.abs(denom) < 1e-12, np.nan, denom)


@dataclass
class PetsTracks:
    """Ground trajectories of the people of one PETS2009 sequence.

    Attributes:
        name: sequence name (the annotation file stem without ``PETS2009-``).
        ids: (P,) person ids. frames: per person, (n_p,) annotated frame numbers (ascending).
        xy: per person, (n_p, 2) ground positions, metres. height_m: per person, median box height, metres.
    """

    name: str
    ids: np.ndarray
    frames: list[np.ndarray]
    xy: list[np.ndarray]
    height_m: np.ndarray

    @classmethod
    def from_annotations(cls, path: str | Path, view1: Camera) -> PetsTracks:
        """Read an annotation file and back-project its boxes through ``view1`` (View_001 at 768x576)."""
        path = Path(path)
        if (view1.width, view1.height) != (768, 576):
            view1 = view1.scaled(768, 576)
        boxes = read_boxes(path)
        feet, heads = foot_and_head_pixels(boxes)
        ground = view1.backproject_to_plane(feet, 0.0)[:, :2]
        heights = heights_from_heads(view1, ground, heads)
        person = np.array([b.person for b in boxes])
        frame = np.array([b.frame for b in boxes])
        ids = np.unique(person)
        frames, xy, h = [], [], []
        for pid in ids:
            sel = np.nonzero(person == pid)[0]
            order = sel[np.argsort(frame[sel], kind='stable')]
            frames.append(frame[order])
            xy.append(ground[order])
            hp = heights[order]
            h.append(float(np.nanmedian(hp)) if np.any(np.isfinite(hp)) else float('nan'))
        name = path.stem.removeprefix('PETS2009-')
        return cls(name, ids, frames, xy, np.asarray(h))

    @property
    def n_people(self) -> int:
        """Number of annotated people."""
        return len(self.ids)

    @property
    def time_range_s(self) -> tuple[float, float]:
        """(first, last) annotated time in seconds (frame / 7)."""
        return (min(f[0] for f in self.frames) / FPS, max(f[-1] for f in self.frames) / FPS)

    def positions_at(self, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(ids (k,), ground positions (k, 2) metres) of the people annotated around time ``t_s`` (seconds).

        Linear interpolation between a person's annotated frames; people whose annotated interval does
        not contain ``t_s`` are absent.
        """
        f = t_s * FPS
        out_ids, out_xy = [], []
        for pid, fr, xy in zip(self.ids, self.frames, self.xy):
            if fr[0] <= f <= fr[-1]:
                out_ids.append(pid)
                out_xy.append([np.interp(f, fr, xy[:, 0]), np.interp(f, fr, xy[:, 1])])
        return np.asarray(out_ids, dtype=np.int64), np.asarray(out_xy, dtype=np.float64).reshape(-1, 2)

    def count_at(self, t_s: float) -> int:
        """Number of people annotated at time ``t_s`` (seconds)."""
        return len(self.positions_at(t_s)[0])


class PetsCrowd:
    """The people of one PETS2009 sequence as a crowd that a CrowdWorld renders.

    It offers the ``state`` / ``appearance`` interface of :class:`~vsync_ros.data.crowd.CrowdSimulator`
    (see :class:`~vsync_ros.data.crowd_world.CrowdWorld`'s ``crowd`` argument).

    Real positions at any continuous time inside the annotated interval; velocities by central
    differences of the interpolated track (m/s), headings from them, gait phase from the distance walked.
    Appearance: varied clothing drawn from ``seed``, body height the box-estimated one (clipped to
    1.5-2.0 m; 1.75 m where the estimate failed).

    Args:
        tracks: the sequence's trajectories (time 0 = its frame 0). seed: clothing seed.
    """

    def __init__(self, tracks: PetsTracks, seed: int = 0) -> None:
        self.tracks = tracks
        self.seed = int(seed)
        h = np.where(np.isfinite(tracks.height_m), tracks.height_m, 1.75)
        self._height = {int(pid): float(np.clip(x, 1.5, 2.0)) for pid, x in zip(tracks.ids, h)}
        self._walk = {}
        for pid, xy in zip(tracks.ids, tracks.xy):
            steps = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))]
            self._walk[int(pid)] = steps

    @property
    def time_range_s(self) -> tuple[float, float]:
        """(first, last) annotated time of the sequence, seconds."""
        return self.tracks.time_range_s

    def appearance(self, pid: int) -> Appearance:
        """Deterministic clothing for person ``pid`` with its estimated body height."""
        return replace(make_appearance(self.seed, int(pid)), height_m=self._height.get(int(pid), 1.75))

    def state(self, t: float) -> CrowdState:
        """:class:`~vsync_ros.data.crowd.CrowdState` of the people annotated at time ``t`` (seconds)."""
        f = float(t) * FPS
        ids, xy, vel, walk = [], [], [], []
        for pid, fr, p in zip(self.tracks.ids, self.tracks.frames, self.tracks.xy):
            if not fr[0] <= f <= fr[-1]:
                continue
            here = np.array([np.interp(f, fr, p[:, 0]), np.interp(f, fr, p[:, 1])])
            lo, hi = max(f - 1.0, fr[0]), min(f + 1.0, fr[-1])
            if hi > lo:
                a = np.array([np.interp(lo, fr, p[:, 0]), np.interp(lo, fr, p[:, 1])])
                b = np.array([np.interp(hi, fr, p[:, 0]), np.interp(hi, fr, p[:, 1])])
                v = (b - a) * FPS / (hi - lo)
            else:
                v = np.zeros(2)
            ids.append(int(pid))
            xy.append(here)
            vel.append(v)
            walk.append(float(np.interp(f, fr, self._walk[int(pid)])))
        n = len(ids)
        xy_a = np.asarray(xy, np.float64).reshape(n, 2)
        vel_a = np.asarray(vel, np.float64).reshape(n, 2)
        return CrowdState(np.asarray(ids, np.int64), xy_a, vel_a, np.arctan2(vel_a[:, 1], vel_a[:, 0]),
                          np.asarray(walk, np.float64))


def timeline_starts(n_frames: list[int], gap_s: float) -> list[int]:
    """Start frames (7 fps) of sequences of ``n_frames`` frames each, placed one after another on one axis.

    The first starts at frame 0; consecutive sequences are ``gap_s`` seconds apart, rounded up to whole frames.
    """
    starts, frame = [], 0
    for n in n_frames:
        starts.append(frame)
        frame += int(n) + int(math.ceil(gap_s * FPS))
    return starts


class PetsTimeline:
    """Several PETS2009 sequences one after another on one time axis, each belonging to a split.

    Sequence ``j`` occupies the global interval ``start_s[j] + time_range_s`` (seconds); the starts are
    whole frames (multiples of 1/7 s) and consecutive sequences are ``gap_s`` apart, so a reference
    grid ``t0 + k / 7`` with ``t0 = 0`` falls on annotated frames. Between sequences nobody is present.
    Person ids are made unique over the timeline: ``j * ID_STRIDE + annotated id``.

    It is a crowd for :class:`~vsync_ros.data.crowd_world.CrowdWorld` (``state`` / ``appearance``) and
    tells the data-set writer where frames may be rendered (:meth:`time_ranges`).

    Args:
        tracks: the sequences, in timeline order.
        splits: per sequence 'train', 'test' or 'any' (usable by both splits).
        seed: clothing seed (sequence ``j`` uses ``seed + j``).
        gap_s: time between the last frame of a sequence and the first of the next (s).
        data_root: where the annotations were read (recorded by :meth:`describe`; the data stay there).
    """

    ID_STRIDE = 100_000

    def __init__(self, tracks: list[PetsTracks], splits: list[str], seed: int = 0, gap_s: float = 60.0,
                 data_root: str | Path | None = None) -> None:
        if not tracks or len(tracks) != len(splits):
            raise ValueError('need one split per sequence and at least one sequence')
        bad = [s for s in splits if s not in ('train', 'test', 'any')]
        if bad:
            raise ValueError(f"splits must be 'train', 'test' or 'any', got {bad}")
        if gap_s < 0:
            raise ValueError(f'gap_s must be >= 0, got {gap_s}')
        self.crowds = [PetsCrowd(tr, seed=int(seed) + j) for j, tr in enumerate(tracks)]
        self.splits = list(splits)
        self.data_root = None if data_root is None else str(data_root)
        self.gap_s = float(gap_s)
        self.start_frames = timeline_starts([max(int(f[-1]) for f in tr.frames) + 1 for tr in tracks], self.gap_s)
        self.start_s = [f / FPS for f in self.start_frames]

    @property
    def names(self) -> list[str]:
        """Sequence names in timeline order."""
        return [c.tracks.name for c in self.crowds]

    def ranges_s(self) -> list[tuple[float, float]]:
        """Global (first, last) annotated time of every sequence, seconds."""
        return [(s + c.time_range_s[0], s + c.time_range_s[1]) for s, c in zip(self.start_s, self.crowds)]

    def time_ranges(self, split: str) -> list[tuple[float, float]]:
        """Global intervals (s) of the sequences usable by ``split`` ('train' / 'test')."""
        return [r for r, s in zip(self.ranges_s(), self.splits) if s in (split, 'any')]

    def locate(self, t: float, eps: float = 1e-6) -> tuple[int, float] | None:
        """(sequence index, local time in s) of global time ``t``, or None between sequences."""
        for j, (a, b) in enumerate(self.ranges_s()):
            if a - eps <= t <= b + eps:
                return j, float(min(max(t - self.start_s[j], a - self.start_s[j]), b - self.start_s[j]))
        return None

    def appearance(self, pid: int) -> Appearance:
        """Clothing and height of timeline person ``pid``."""
        j, local = divmod(int(pid), self.ID_STRIDE)
        return self.crowds[j].appearance(local)

    def state(self, t: float) -> CrowdState:
        """People of the sequence running at global time ``t`` (s); nobody between sequences."""
        hit = self.locate(float(t))
        if hit is None:
            z = np.zeros(0)
            return CrowdState(np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros((0, 2)), z, z.copy())
        j, local = hit
        st = self.crowds[j].state(local)
        return st._replace(ids=st.ids + j * self.ID_STRIDE)

    def describe(self) -> dict:
        """JSON-friendly description for manifests: data root and sequences (names, splits, placement)."""
        return {'type': 'pets2009', 'data_root': self.data_root, 'fps': FPS, 'gap_s': self.gap_s,
                'id_stride': self.ID_STRIDE,
                'sequences': [{'name': c.tracks.name, 'split': sp, 'start_s': st,
                               'time_range_s': [float(x) for x in c.time_range_s]}
                              for c, sp, st in zip(self.crowds, self.splits, self.start_s)]}
