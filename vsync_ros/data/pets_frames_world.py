"""PETS2009's real frames and ground-truth maps (the MVMS release) as a world for the data-set writer.

The rendered PETS2009 world (:mod:`~vsync_ros.data.pets_world`) draws the real annotated people in a
made-up scene. A user who has the MVMS release of PETS2009 (real 384 x 288 grey frames of views 1-3 and
the authors' ground-plane density maps, read by :mod:`~vsync_ros.data.readers.pets2009`) writes the same
kind of data set from the real pixels with this world: ``vsync-synth OUT --world pets-frames
--frames-root RELEASE --data-root PETS_ROOT``. Training, evaluation and the PETS2009 reports then run
on it unchanged.

The sequences are placed one after another on one time axis (train sequences first, ``gap_s`` apart),
like :class:`~vsync_ros.data.readers.pets_tracks.PetsTimeline`, so a time ``t`` (s) names a sequence and
its frame ``round((t - start) * 7)``. Use a latency with ``quantum_s = 1/7`` so every offset is a whole
frame (``vsync-synth`` sets it for this world).

Ground truth per reference time: ``gp_density`` (177, 152) at 0.4 m on
:data:`~vsync_ros.data.readers.pets2009.PETS_REGION` and ``count`` (its sum). There are no person
positions in the release: a data set of this world can be read at an integer multiple of 0.4 m only
(:class:`~vsync_ros.data.dataset.SyncDataset` sum-pools the stored map). Per frame, the release's
head density of that view at the stored image size is kept as ``density`` (labels ``v<i>_density``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vsync_ros.data.crowd_world import resize_frame
from vsync_ros.data.density import resize_density
from vsync_ros.data.readers.pets2009 import (
    FPS,
    PETS_REGION,
    TEST_SEQUENCES,
    TRAIN_SEQUENCES,
    PETSSequence,
    pets_cameras,
)
from vsync_ros.data.readers.pets_tracks import timeline_starts

#: where the density of every frame comes from (recorded in the data set's manifest)
VIEW_DENSITY_FROM = 'density'


def sequence_name(tag: str) -> str:
    """Report name of a release sequence tag ('S1L1_1' -> 'S1L1-1', as the annotated sequences are named)."""
    return tag.replace('_', '-')


class PetsFramesWorld:
    """Real PETS2009 frames of views 1-3 and their ground truth, queryable at the sequences' frame times.

    Args:
        frames_root: the MVMS release (the folder holding ``dmaps/``, or ``dmaps`` itself).
        calibration_dir: folder with the Tsai files ``View_00{1,2,3}.xml``.
        image_size: stored (width, height), pixels; frames and head densities are resized to it.
        train, test: (scenario, time, tag) of the sequences of each split (default: the MVMS split).
        gap_s: time between consecutive sequences on the time axis, seconds.

    Raises:
        FileNotFoundError: a sequence folder or array file of the release, or a calibration file, is missing
            (the message names it).
        ValueError: a sequence's views and ground maps have different frame counts.
    """

    task = 'counting'
    view_density_from = VIEW_DENSITY_FROM

    def __init__(self, frames_root: str | Path, calibration_dir: str | Path,
                 image_size: tuple[int, int] = (384, 288), train=TRAIN_SEQUENCES, test=TEST_SEQUENCES,
                 gap_s: float = 60.0) -> None:
        self.frames_root = Path(frames_root)
        specs = [*train, *test]
        if not specs:
            raise ValueError('no PETS2009 sequence given')
        self.sequences = [PETSSequence(self.frames_root, sc, tm, tag, gp_pool=4) for sc, tm, tag in specs]
        self.splits = ['train'] * len(train) + ['test'] * len(test)
        self.names = [sequence_name(tag) for _, _, tag in specs]
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.cameras = pets_cameras(calibration_dir, self.image_size)
        self.region = PETS_REGION
        self.gap_s = float(gap_s)
        self.start_frames = timeline_starts([seq.n_frames for seq in self.sequences], self.gap_s)

    def ranges_s(self) -> list[tuple[float, float]]:
        """(first, last) frame time of every sequence on the time axis, seconds."""
        return [(s / FPS, (s + seq.n_frames - 1) / FPS) for s, seq in zip(self.start_frames, self.sequences)]

    def time_ranges(self, split: str) -> list[tuple[float, float]]:
        """Intervals (s) of the sequences of ``split`` ('train' / 'test')."""
        return [r for r, s in zip(self.ranges_s(), self.splits) if s == split]

    def locate(self, t: float) -> tuple[int, int]:
        """(sequence index, frame index) of time ``t`` (s): the nearest frame of the sequence running then.

        Raises:
            ValueError: ``t`` is outside every sequence (more than half a frame from its ends).
        """
        for j, seq in enumerate(self.sequences):
            idx = int(round(float(t) * FPS)) - self.start_frames[j]
            if 0 <= idx < seq.n_frames:
                return j, idx
        raise ValueError(f'PETS2009 frames ({self.frames_root}): no sequence has a frame at t = {t:.3f} s '
                         f'(sequences at {[(round(a, 3), round(b, 3)) for a, b in self.ranges_s()]} s)')

    def render(self, view: int, t: float) -> np.ndarray:
        """(H, W, 3) uint8 RGB of view ``view`` (0-based) at ``t``: the real grey frame, resized."""
        j, idx = self.locate(t)
        grey = np.clip(self.sequences[j].image(view, idx), 0.0, 1.0)  # (288, 384[, 1]) in [0, 1]
        grey = grey[..., 0] if grey.ndim == 3 else grey
        rgb = np.repeat((grey * 255.0 + 0.5).astype(np.uint8)[..., None], 3, axis=2)
        return resize_frame(rgb, *self.image_size)

    def ground_truth(self, t: float) -> dict[str, np.ndarray]:
        """``gp_density`` (177, 152) at 0.4 m (people per cell) and ``count`` at ``t``."""
        j, idx = self.locate(t)
        gp = np.asarray(self.sequences[j].gp_density(idx), np.float32)
        return {'gp_density': gp, 'count': np.asarray(float(gp.sum()))}

    def frame_annotations(self, view: int, t: float) -> dict[str, np.ndarray]:
        """``density``: (H, W) float32 head density of that frame at the stored size (each person sums to 1)."""
        j, idx = self.locate(t)
        d = np.asarray(self.sequences[j].view_density(view, idx), np.float32)
        return {'density': resize_density(d, *self.image_size)}

    def describe(self) -> dict:
        """Manifest description: the release folder and the sequences' placement (``source.sequences``)."""
        return {'type': 'pets2009-frames', 'rig': 'pets2009', 'frames_root': str(self.frames_root),
                'region': self.region.as_dict(), 'cameras': [c.name for c in self.cameras],
                'source': {'type': 'pets2009-frames', 'fps': FPS, 'gap_s': self.gap_s,
                           'sequences': [{'name': n, 'split': sp, 'start_s': s / FPS,
                                          'time_range_s': [0.0, (seq.n_frames - 1) / FPS]}
                                         for n, sp, s, seq in zip(self.names, self.splits, self.start_frames,
                                                                  self.sequences)]}}
