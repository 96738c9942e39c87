"""``vsync-train``: train a counting or pose model (BaseS / BaseSU / BaseU or a synchronization method).

Examples::

    vsync-train --config config/train/small_base_s.yaml                 # BaseS: synchronized frames only
    vsync-train --config config/train/small_base_su.yaml                # BaseSU: fine-tune BaseS on unsynced
    vsync-train --config config/train/small_base_u.yaml                 # BaseU: unsynchronized frames only
    vsync-train --config config/train/small_cls_epi.yaml                # (a) synced pairs + l_W
    vsync-train --config config/train/small_cls_epi.yaml loss.sync_loss=sim loss.gamma=10   # (b) l_s
    vsync-train --config config/train/small_cls_epi.yaml loss.sync_loss=none                  # (c) l_p only
    vsync-train --config config/train/small_cls_cor.yaml data.root=data/plaza_const train.max_steps=50

Pose (``task: pose`` in the YAML; see :mod:`vsync_ros.engine.tasks.pose`)::

    vsync-train --config config/train/pose_small_base_u.yaml         # BaseU
    vsync-train --config config/train/pose_small_cls_epi.yaml        # CLS-epi, l_p + 0.01 l_s

Overrides are ``section.key=value`` (sections model, loss, train, data). The checkpoint written to
``train.out`` holds the weights, the full config, the calibration, the seed, a manifest of the data
used, the wall time and the metrics. Both tasks train in :func:`vsync_ros.engine.fit.fit`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vsync_ros.process import set_process_defaults


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog='vsync-train', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', type=Path, required=True, help='YAML config (config/train/*.yaml)')
    p.add_argument('overrides', nargs='*', help='section.key=value overrides, e.g. train.max_steps=20')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.add_argument('--print-config', action='store_true', help='print the resolved config and exit')
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vsync-train``: 0 on success, 2 on a config, data or checkpoint error."""
    args = build_parser().parse_args(argv)
    set_process_defaults()  # before torch loads: the imports below are deferred for that (and a fast --help)
    import yaml

    from vsync_ros.engine.checkpoint import CheckpointError
    from vsync_ros.engine.config import load_any_config
    from vsync_ros.engine.fit import fit
    from vsync_ros.yaml_config import ConfigError

    try:
        cfg = load_any_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f'vsync-train: {exc}', file=sys.stderr)
        return 2
    if args.print_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None))
        return 0
    try:
        fit(cfg, progress=not args.no_progress)
    except (CheckpointError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f'vsync-train: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
