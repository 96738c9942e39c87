"""``vsync-bag-write``: write a ``vsync-synth`` data-set split (or a live synthetic world) to a rosbag2.

Example::

    vsync-bag-write --data data/plaza_random --split test --out out/plaza_test_bag          # mcap
    vsync-bag-write --data data/plaza_random --split test --out out/plaza_test_db3 --storage sqlite3
    vsync-bag-eval --bag out/plaza_test_bag --checkpoint models/plaza_cls_epi.pt --offline

A data-set split is replayed as stored: each sample's frames (already desynchronized by the data set)
are stamped with the sample's reference time, one sample per 1/rate seconds; the reference camera's frame
is logged 10 ms after the others, so the sync node sees every sample's frames together, as ``vsync-eval``
does. Ground truth goes to ``/ground_truth/count`` and ``/ground_truth/density``.

On an error (e.g. a missing image of the data set) the partly written bag folder is removed and the exit
code is 2, so the same command can be run again once the data set is fixed.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from vsync_ros.runtime.bags import STORAGES, BagSummary, write_bag
from vsync_ros.runtime.schedules import desync_profile
from vsync_ros.runtime.sources import DatasetSource

REFERENCE_DELAY_S = 0.01


def write_dataset_bag(data: str | Path, split: str, out: str | Path, storage: str = 'mcap', encoding: str = 'rgb8',
                      progress: bool = True) -> BagSummary:
    """Write one split of a data set to a bag (see module docstring); returns the writer's summary."""
    from vsync_ros.data.dataset import SyncDataset

    ds = SyncDataset(data, split, load_sync=False)
    source = DatasetSource(ds, frames='input')
    profile = desync_profile('sync', len(source.cameras), source.rate_hz)
    views = list(profile.views)
    ref = profile.reference_view
    views[ref] = replace(views[ref], latency_s=REFERENCE_DELAY_S)
    profile = replace(profile, views=views)
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
    ap.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    args = ap.parse_args(argv)
    if args.out.exists():
        print(f'vsync-bag-write: {args.out} exists; choose a new folder', file=sys.stderr)
        return 2
    try:
        summary = write_dataset_bag(args.data, args.split, args.out, args.storage, args.encoding,
                                    not args.no_progress)
    except (OSError, ValueError, KeyError) as exc:  # the partly written bag is already removed (write_bag)
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f'vsync-bag-write: {text}; nothing was written to {args.out}', file=sys.stderr)
        return 2
    print(f'wrote {args.out} ({args.storage}): {summary.frames} frames, {summary.ground_truth} ground-truth '
          f'messages, {summary.dropped} missing frames')
    return 0


if __name__ == '__main__':
    sys.exit(main())
