"""``vsync-eval``: error of a checkpoint on a data-set split (counting: MAE, NAE; pose: MPJPE).

Example::

    vsync-eval --checkpoint runs/small_cls_epi.pt --data data/plaza --split test --json runs/eval_cls_epi.json

The model is rebuilt from the checkpoint's own config and calibration; the data set's cameras and
ground region must match them (a mismatch stops with a message naming the field). ``--sync`` feeds the
synchronized frames instead of the unsynchronized ones (an upper bound / BaseS-on-synced reference);
``--zero-flow`` runs a counting sync model with every flow set to zero (what its weights do without
synchronization). Counting results include GAME(L), L = 0..3, and, on data sets of recorded sequences
(``vsync-synth --world pets``), a per-sequence breakdown.

Pose checkpoints (``task: pose``) are detected from the checkpoint: the output is MPJPE (pelvis-aligned)
and absolute MPJPE in mm, overall and per motion type (see :mod:`vsync_ros.engine.tasks.pose`);
``--root-source gt`` centres the volume on the ground-truth pelvis instead of the DLT estimate.

Lost cameras (counting): ``--drop-view V`` (repeatable) evaluates with view V missing in every frame set
(image zeroed, ``view_valid`` False, as a data set stores a missing view). When the reference view 0 is
missing a sync model follows the node's fail-over: the other views are fused as captured, without
warping (``--failover unsynced``, the default with these options; ``as_trained`` runs the model
unchanged, which is what a plain evaluation does with a data-set sample that lacks view 0).
``--each-view-missing`` prints the MAE with all views and with each single view missing, and the ratio
to the all-views MAE (stored under ``each_view_missing`` with ``--json``)::

    vsync-eval --checkpoint models/plaza_cls_epi.pt --data data/plaza --drop-view 0
    vsync-eval --checkpoint models/plaza_cls_epi.pt --data data/plaza --each-view-missing --json runs/lost.json

``--fallback-checkpoint F`` evaluates the pair the node runs with its ``fallback_checkpoint`` parameter: the
frame sets without view 0 (``--fallback-when reference``) or with any view missing (``any_missing``) are
estimated by F, a model of the same rig (:class:`vsync_ros.inference.fallback.FallbackPipeline`)::

    vsync-eval --checkpoint models/plaza_cls_epi.pt --fallback-checkpoint models/plaza_base_u.pt \
        --data data/plaza --each-view-missing

``--device cuda`` without CUDA runs on the CPU and prints a note to stderr
(:func:`vsync_ros.engine.device.select_device`). The evaluation itself is the task's ``evaluate``
(:func:`vsync_ros.engine.tasks.counting.evaluate_model`, :func:`vsync_ros.engine.tasks.pose.evaluate_pose_model`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from vsync_ros.process import set_process_defaults


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog='vsync-eval', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', required=True, type=Path, help='checkpoint written by vsync-train')
    p.add_argument('--data', required=True, type=Path, help='data-set folder (vsync-synth layout)')
    p.add_argument('--split', default='test', help='split to evaluate (default test)')
    p.add_argument('--sync', action='store_true', help='feed the synchronized frames instead of the unsynchronized')
    p.add_argument('--zero-flow', action='store_true',
                   help='counting sync models: warp with a zero flow (the same weights without synchronization)')
    p.add_argument('--drop-view', type=int, action='append', default=[], metavar='V',
                   help='counting: make view V (0-based, 0 = the reference) missing in every frame set; repeatable '
                        '(--drop-view 1 --drop-view 2)')
    p.add_argument('--each-view-missing', action='store_true',
                   help='counting: evaluate with all views, then with each single view missing; prints the MAE '
                        'of each and its ratio to the all-views MAE')
    p.add_argument('--failover', choices=['unsynced', 'as_trained'], default=None,
                   help='counting sync models, frame sets without view 0: unsynced = fuse the other views as '
                        'captured, as the node fails over (default with --drop-view / --each-view-missing); '
                        'as_trained = run the model unchanged (default otherwise)')
    p.add_argument('--fallback-checkpoint', type=Path, default=None,
                   help='counting: a second checkpoint of the same rig that estimates the degraded frame sets '
                        '(see --fallback-when), as the node does with its fallback_checkpoint parameter')
    p.add_argument('--fallback-when', choices=['reference', 'any_missing'], default='reference',
                   help='with --fallback-checkpoint: reference = frame sets without view 0 go to the fallback '
                        'model (default); any_missing = frame sets with any view missing')
    p.add_argument('--json', type=Path, default=None, help='write metrics and per-frame predictions here')
    p.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'])
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (0 = default)')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.add_argument('--root-source', choices=['dlt', 'gt'], default=None,
                   help='pose only: cube centre from DLT of the root heatmaps (default, as trained) or the GT pelvis')
    return p


def error_text(exc: BaseException) -> str:
    """The message of an error for the command line (a KeyError's own text, without the repr quotes)."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vsync-eval``: 0 on success, 2 on a data or checkpoint error."""
    args = build_parser().parse_args(argv)
    set_process_defaults()  # before torch loads: the imports below are deferred for that (and a fast --help)
    import torch

    from vsync_ros.data.storage import DatasetError
    from vsync_ros.engine.checkpoint import CheckpointError, load_checkpoint
    from vsync_ros.engine.device import select_device
    from vsync_ros.engine.tasks import task_named

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device, note = select_device(args.device)
    if note:
        print(f'vsync-eval: {note}', file=sys.stderr)
    t0 = time.perf_counter()
    try:
        ckpt0 = load_checkpoint(args.checkpoint)  # its task and cell size decide how the data set is read
        task = task_named(ckpt0.task)
        model, ckpt, dataset = task.open_evaluation(ckpt0, args.data, args.split, args.sync, device)
    except (CheckpointError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f'vsync-eval: {error_text(exc)}', file=sys.stderr)
        return 2
    if args.zero_flow:
        if not hasattr(model, 'zero_flow'):
            print(f'vsync-eval: --zero-flow is a counting option; {args.checkpoint} is a {ckpt.task} checkpoint',
                  file=sys.stderr)
            return 2
        if ckpt.config.model.method == 'base':
            print(f'vsync-eval: --zero-flow needs a sync model; {args.checkpoint} is a base model (it has no flow)',
                  file=sys.stderr)
            return 2
        model.zero_flow = True
    lost = {}  # counting: views made missing and the fail-over of a missing reference
    if args.drop_view or args.each_view_missing or args.failover:
        if ckpt.task != 'counting':
            print(f'vsync-eval: --drop-view, --each-view-missing and --failover are counting options; '
                  f'{args.checkpoint} is a {ckpt.task} checkpoint', file=sys.stderr)
            return 2
        if args.drop_view and args.each_view_missing:
            print('vsync-eval: give --drop-view or --each-view-missing, not both', file=sys.stderr)
            return 2
        lost = {'drop_views': sorted(set(args.drop_view)),
                'failover': args.failover or ('unsynced' if args.drop_view or args.each_view_missing else 'as_trained')}
    backup = {}  # counting: the fallback model for degraded frame sets
    if args.fallback_checkpoint is not None:
        if ckpt.task != 'counting':
            print(f'vsync-eval: --fallback-checkpoint is a counting option; {args.checkpoint} is a {ckpt.task} '
                  'checkpoint', file=sys.stderr)
            return 2
        try:
            fb_model, _, _ = task.open_evaluation(load_checkpoint(args.fallback_checkpoint), args.data, args.split,
                                                  args.sync, device)
        except (CheckpointError, FileNotFoundError, KeyError, ValueError) as exc:
            print(f'vsync-eval: fallback checkpoint {args.fallback_checkpoint}: {error_text(exc)}', file=sys.stderr)
            return 2
        backup = {'fallback': fb_model, 'fallback_when': args.fallback_when}
    try:
        result = task.evaluate(model, dataset, device, args.sync, args.batch_size, not args.no_progress,
                               desc=f'eval {args.split}', root_source=args.root_source, **lost, **backup)
        table = None
        if args.each_view_missing:
            from vsync_ros.engine.tasks.counting import each_view_missing
            table = each_view_missing(model, dataset, device, args.sync, args.batch_size, not args.no_progress,
                                      lost['failover'], all_views=result, **backup)
    except (DatasetError, OSError) as exc:  # a missing / corrupt image or ground-truth file of a sample
        print(f'vsync-eval: {error_text(exc)}', file=sys.stderr)
        return 2
    except ValueError as exc:  # e.g. a --drop-view outside the data set's views
        print(f'vsync-eval: {error_text(exc)}', file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    head = {'checkpoint': str(args.checkpoint), 'data': str(args.data), 'split': args.split, 'sync_input': args.sync,
            'zero_flow': args.zero_flow, **lost}
    if backup:
        head.update(fallback_checkpoint=str(args.fallback_checkpoint), fallback_when=args.fallback_when)
    summary = task.eval_summary(head, ckpt, dataset, result, wall, root_source=args.root_source)
    where = f'{args.data}/{args.split}{" (sync input)" if args.sync else ""}{" (zero flow)" if args.zero_flow else ""}'
    if backup:
        where += f' (fallback {args.fallback_checkpoint} when {args.fallback_when})'
    if lost.get('drop_views'):
        where += f' (view{"s" if len(lost["drop_views"]) > 1 else ""} {", ".join(map(str, lost["drop_views"]))} ' \
                 f'missing, fail-over {lost["failover"]})'
    print(task.eval_line(ckpt, where, result, wall))
    if table is not None:
        from vsync_ros.engine.tasks.counting import format_each_view_missing
        summary['each_view_missing'] = table
        print(format_each_view_missing(table))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
