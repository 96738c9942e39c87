"""PETS2009 on its real camera geometry and real crowd motion, as a world for the data-set writer.

The real rig (Tsai calibration of views 1-3), the real per-person ground trajectories of the annotated
sequences (placed one after another on one time axis, :class:`~vsync_ros.data.readers.pets_tracks.PetsTimeline`),
the PETS-like static scene (:mod:`~vsync_ros.data.pets_scene`) and the MVMS ground grid
(:data:`~vsync_ros.data.readers.pets2009.PETS_REGION`, 152 x 177 cells of 0.4 m). Frames are rendered,
never read: the data root is only read for calibration and annotations, and a data set written
from this world records the root and the sequence names, not the data.

Data root layout (see its README)::

    <root>/calibration/View_00{1,2,3}.xml      Tsai calibration (mm)
    <root>/annotations/PETS2009-<seq>.xml      View_001 boxes of every person, 7 fps
"""
from __future__ import annotations

from pathlib import Path

from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
from vsync_ros.data.desync import STREAM_TEST, STREAM_TRAIN, DesyncConfig
from vsync_ros.data.generate import frame_sets
from vsync_ros.data.readers.pets2009 import PETS_REGION, pets_cameras
from vsync_ros.data.readers.pets_tracks import TEST_TRACKS, TRAIN_TRACKS, PetsTimeline, PetsTracks


def available_sequences(data_root: str | Path) -> list[str]:
    """Names of the annotated sequences below ``data_root/annotations`` (sorted)."""
    folder = Path(data_root) / 'annotations'
    return sorted(p.stem.removeprefix('PETS2009-') for p in folder.glob('PETS2009-*.xml'))


def check_data_root(data_root: str | Path, sequences: list[str]) -> Path:
    """``data_root`` as a Path after checking its calibration and the annotation files of ``sequences``.

    Raises:
        FileNotFoundError: a missing calibration file or annotation file (named, with the sequences found).
    """
    root = Path(data_root)
    for v in (1, 2, 3):
        f = root / 'calibration' / f'View_{v:03d}.xml'
        if not f.is_file():
            raise FileNotFoundError(f'PETS2009 data root {root}: no {f.relative_to(root)} (calibration of view {v})')
    have = available_sequences(root)
    missing = [s for s in sequences if s not in have]
    if missing:
        raise FileNotFoundError(f'PETS2009 data root {root}: no annotations for {", ".join(missing)} '
                                f'(found: {", ".join(have) or "none"})')
    return root


def pets_timeline(data_root: str | Path, train: tuple[str, ...] | list[str] = TRAIN_TRACKS,
                  test: tuple[str, ...] | list[str] = TEST_TRACKS, sequences: list[str] | None = None,
                  seed: int = 0, gap_s: float = 60.0) -> PetsTimeline:
    """The sequences' real trajectories on one time axis.

    Args:
        data_root: PETS2009 data root (module docstring).
        train, test: sequences of each split (default: the MVMS split, train S2L2 + S2L3, test S1L1-1,
            S1L1-2, S1L2-1, S1L2-2); train sequences come first on the time axis.
        sequences: instead of train / test: these sequences serve both splits (the test split then starts
            after the train frames and a gap, as for the synthetic worlds).
        seed: clothing seed. gap_s: time between consecutive sequences (s).
    """
    if sequences is not None:
        names, splits = list(sequences), ['any'] * len(sequences)
    else:
        names, splits = [*train, *test], ['train'] * len(train) + ['test'] * len(test)
    if not names:
        raise ValueError('no PETS2009 sequence given')
    if len(set(names)) != len(names):
        raise ValueError(f'a sequence is given twice: {names}')
    root = check_data_root(data_root, names)
    view1 = pets_cameras(root / 'calibration', (768, 576))[0]
    tracks = [PetsTracks.from_annotations(root / 'annotations' / f'PETS2009-{n}.xml', view1) for n in names]
    return PetsTimeline(tracks, splits, seed=seed, gap_s=gap_s, data_root=root)


def pets_world(data_root: str | Path, timeline: PetsTimeline | None = None,
               config: CrowdWorldConfig | None = None, **timeline_kw) -> CrowdWorld:
    """A CrowdWorld of the real PETS2009 rig, the PETS-like scene and real trajectories.

    Args:
        data_root: PETS2009 data root (calibration read from ``<root>/calibration``).
        timeline: the trajectories (default: :func:`pets_timeline` of ``data_root`` with ``timeline_kw``).
        config: world settings (image size, densities, noise, seeds); its ``scene`` is set to 'pets' and
            its ``rig`` to 'pets2009' (what data-set manifests record). Default: 384 x 288 frames, 0.4 m
            ground cells.
    """
    cfg = (config or CrowdWorldConfig(image_size=(384, 288))).with_(scene='pets', rig='pets2009')
    root = check_data_root(data_root, [])
    if timeline is None:
        timeline = pets_timeline(root, seed=cfg.seed, **timeline_kw)
    cams = pets_cameras(root / 'calibration', cfg.image_size)
    return CrowdWorld(cfg, cameras=cams, region=PETS_REGION, crowd=timeline)


def frame_set_counts(timeline: PetsTimeline, desync: DesyncConfig) -> list[dict]:
    """Per sequence: frames, kept frame sets and dropped ones for ``desync`` (no rendering).

    Uses the same rule as the data-set writer (:func:`~vsync_ros.data.generate.frame_sets`): a reference
    frame is kept when every view time ``t + offset_i`` lies in the sequence's annotated interval.
    Sequences of the test split use the test offset stream, the others the train stream.
    """
    rows = []
    for name, split, rng in zip(timeline.names, timeline.splits, timeline.ranges_s()):
        stream = STREAM_TEST if split == 'test' else STREAM_TRAIN
        kept, dropped = frame_sets(desync, stream, [rng])
        frames = round((rng[1] - rng[0]) * desync_fps(desync)) + 1
        rows.append({'sequence': name, 'split': split, 'frames': frames, 'kept': len(kept), 'dropped': dropped})
    return rows


def desync_fps(desync: DesyncConfig) -> float:
    """Reference frames per second of ``desync`` (1 / dt)."""
    return 1.0 / desync.dt_s
