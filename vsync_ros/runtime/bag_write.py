"""``vsync-bag-write``: write a ``vsync-synth`` data-set split (or a live synthetic world) to a rosbag2.

Example::

    vsync-bag-write --data data/plaza_random --split test --out out/plaza_test_bag          # mcap
    vsync-bag-write --data data/plaza_random --split test --out out/plaza_test_db3 --storage sqlite3
    vsync-bag-eval --bag out/plaza_test_bag --checkpoint models/plaza_cls_epi.pt --offline
    vsync-bag-write --data data/plaza_random --out out/plaza_cam1_stops --stop-camera cam1:20   # reference outage

A data-set split is replayed as stored: each sample's frames (already desynchronized by the data set)
are stamped with the sample's reference time, one sample per 1/rate seconds; the reference camera's frame
is logged 10 ms after the others, so the sync node sees every sample's frames together, as ``vsync-eval``
does. Ground truth goes to ``/ground_truth/count`` and ``/ground_truth/density``.

``--stop-camera CAM:SECONDS`` (repeatable) simulates a camera outage: camera CAM (its name, e.g. ``cam1``, or
its view index, 0 = the reference) stops at SECONDS after the first sample, i.e. none of its frames of the
samples at or after that time is written (the other cameras and the ground truth go on). SECONDS = 0 means the
camera never publishes; a negative time, one after the last sample, an unknown camera or a camera given twice
is an error. The outage is recorded in the bag metadata (``vsync.outages``: view, camera, ``stop_s`` and the
stop as a stamp, ``stop_ns``), so ``vsync-bag-eval`` reports the estimates before and after it.

On an error (e.g. a missing image of the data set) the partly written bag folder is removed and the exit
code is 2, so the same command can be run again once the data set is fixed.
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from vsync_ros.runtime.bags import STORAGES, BagSummary, write_bag
from vsync_ros.runtime.schedules import desync_profile, with_stops
from vsync_ros.runtime.sources import DatasetSource

REFERENCE_DELAY_S = 0.01
STOP_OPTION = '--stop-camera'


@dataclass(frozen=True)
class CameraStop:
    """One ``--stop-camera CAM:SECONDS``: ``camera`` (a name or a view index, as given) stops at ``stop_s``.

    Attributes:
        text: the option value as given (quoted in error messages).
        camera: camera name or view index (text).
        stop_s: seconds after the first sample (finite, >= 0).
    """

    text: str
    camera: str
    stop_s: float

    @staticmethod
    def parse(text: str) -> CameraStop:
        """Parse ``CAM:SECONDS``.

        Raises:
            ValueError: not of that form, or SECONDS not a finite number >= 0 (the message names the option
                and the value).
        """
        cam, sep, seconds = text.rpartition(':')
        if not sep or not cam.strip():
            raise ValueError(f'{STOP_OPTION} {text!r}: expected CAM:SECONDS, a camera name (e.g. cam1) or view '
                             'index and the time in seconds after the first sample')
        try:
            stop_s = float(seconds)
        except ValueError:
            raise ValueError(f'{STOP_OPTION} {text!r}: SECONDS {seconds!r} is not a number') from None
        if not math.isfinite(stop_s) or stop_s < 0:
            raise ValueError(f'{STOP_OPTION} {text!r}: SECONDS must be a finite number >= 0 (seconds after the '
                             f'first sample), got {seconds!r}')
        return CameraStop(text, cam.strip(), stop_s)


def resolve_stops(stops: Sequence[CameraStop], names: Sequence[str], last_sample_s: float) -> dict[int, float]:
    """{view index: stop_s} of ``stops`` for cameras ``names`` whose last sample is at ``last_sample_s`` seconds.

    Raises:
        ValueError: an unknown camera or view index, a camera given twice, or a stop after the last sample
            (nothing would stop); the message names the option and the value.
    """
    out: dict[int, float] = {}
    for stop in stops:
        if stop.camera in names:
            view = list(names).index(stop.camera)
        elif stop.camera.isdigit() and int(stop.camera) < len(names):
            view = int(stop.camera)
        else:
            raise ValueError(f'{STOP_OPTION} {stop.text!r}: no camera {stop.camera!r} (cameras: {", ".join(names)}, '
                             f'or view indices 0-{len(names) - 1})')
        if view in out:
            raise ValueError(f'{STOP_OPTION} {stop.text!r}: camera {names[view]} is already stopped at {out[view]:g} s')
        if stop.stop_s > last_sample_s:
            raise ValueError(f'{STOP_OPTION} {stop.text!r}: {stop.stop_s:g} s is after the last sample '
                             f'({last_sample_s:g} s): the camera would never stop')
        out[view] = stop.stop_s
    return out


def write_dataset_bag(data: str | Path, split: str, out: str | Path, storage: str = 'mcap', encoding: str = 'rgb8',
                      progress: bool = True, stops: Sequence[CameraStop] = ()) -> BagSummary:
    """Write one split of a data set to a bag (see module docstring); returns the writer's summary.

    ``stops``: camera outages (``--stop-camera``), checked against the data set before anything is written.

    Raises:
        ValueError: a bad stop (see :func:`resolve_stops`), or the writer's errors (:func:`write_bag`).
    """
    from vsync_ros.data.dataset import SyncDataset

    ds = SyncDataset(data, split, load_sync=False)
    source = DatasetSource(ds, frames='input')
    stop_at = resolve_stops(stops, [c.name for c in source.cameras], float(source.times[-1]))
    profile = desync_profile('sync', len(source.cameras), source.rate_hz)
    views = list(profile.views)
    ref = profile.reference_view
    views[ref] = replace(views[ref], latency_s=REFERENCE_DELAY_S)
    profile = with_stops(replace(profile, views=views), stop_at)
    bar = tqdm(desc=f'bag {Path(out).name}', unit='msg', disable=not progress)
    last = [0]

    def tick(n: int) -> None:
        bar.update(n - last[0])
        last[0] = n

    try:
        # one tick per sample: stop half a period after the last sample's reference time
        duration_s = float(source.times[-1]) + 0.5 / source.rate_hz
        return write_bag(out, source, profile, duration_s, storage, encoding, progress=tick)
    finally:
        bar.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vsync-bag-write``."""
    ap = argparse.ArgumentParser(prog='vsync-bag-write', description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', required=True, type=Path, help='data-set folder written by vsync-synth')
    ap.add_argument('--split', default='test', help='split to write (default test)')
    ap.add_argument('--out', required=True, type=Path, help='output bag folder (must not exist)')
    ap.add_argument('--storage', default='mcap', choices=STORAGES, help='rosbag2 storage plugin (default mcap)')
    ap.add_argument('--encoding', default='rgb8', choices=('rgb8', 'bgr8', 'mono8'), help='image encoding')
    ap.add_argument(STOP_OPTION, action='append', default=[], metavar='CAM:SECONDS',
                    help='camera outage: CAM (name such as cam1, or view index; 0 = the reference) writes no frame '
                         'from SECONDS after the first sample on; repeatable, one per camera')
    ap.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    args = ap.parse_args(argv)
    if args.out.exists():
        print(f'vsync-bag-write: {args.out} exists; choose a new folder', file=sys.stderr)
        return 2
    try:
        stops = [CameraStop.parse(text) for text in args.stop_camera]
    except ValueError as exc:
        print(f'vsync-bag-write: {exc}; nothing was written to {args.out}', file=sys.stderr)
        return 2
    try:
        summary = write_dataset_bag(args.data, args.split, args.out, args.storage, args.encoding,
                                    not args.no_progress, stops)
    except (OSError, ValueError, KeyError) as exc:  # the partly written bag is already removed (write_bag)
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f'vsync-bag-write: {text}; nothing was written to {args.out}', file=sys.stderr)
        return 2
    outages = ''.join(f'; outage: {o.camera} stopped at {o.stop_s:g} s' for o in summary.outages)
    withheld = f' ({summary.stopped} frames not written)' if summary.outages else ''
    print(f'wrote {args.out} ({args.storage}): {summary.frames} frames, {summary.ground_truth} ground-truth '
          f'messages, {summary.dropped} missing frames{outages}{withheld}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
