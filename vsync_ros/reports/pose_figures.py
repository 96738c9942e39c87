"""Figure like the paper's Fig. 6: predicted and ground-truth skeletons projected into the four views.

Usage::

    python -m vsync_ros.reports.pose_figures --data data/pose_test_k64 --split test \
        --eval BaseU:runs/pose/eval_base_u_k64.json --eval CLS-epi:runs/pose/eval_cls_epi_k64.json \
        --out docs/img/pose_views.png

Rows: ground truth, then one row per method; columns: the views. Every panel shows the frame the
model was given for that view (unsynchronized: only the reference view is at the ground-truth time, so
the GT skeleton need not match the person in the other views, as in the paper's figure) with the 3D
skeleton of its row projected through that view's calibration. The predictions come from the
``per_frame`` entries (``pred_m``, ``gt_m``) of ``vsync-eval --json`` outputs; no model is run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from vsync_ros.data import storage
from vsync_ros.data.dataset import SyncDataset
from vsync_ros.data.skeleton import BONES

GT_COLOR = (40, 200, 40)
METHOD_COLORS = ((230, 60, 40), (40, 110, 240), (230, 160, 20), (170, 60, 200))


def draw_skeleton(image: np.ndarray, uv: np.ndarray, color: tuple[int, int, int], thickness: int = 2) -> np.ndarray:
    """Draw (17, 2) pixel joints (NaN / far-off skipped) with bones on an RGB uint8 image (in place)."""
    pts = np.asarray(uv, np.float64)
    ok = np.all(np.isfinite(pts), axis=1) & (np.abs(pts) < 1e4).all(axis=1)
    for a, b in BONES:
        if ok[a] and ok[b]:
            cv2.line(image, tuple(int(round(v)) for v in pts[a]), tuple(int(round(v)) for v in pts[b]), color,
                     thickness, cv2.LINE_AA)
    for p, good in zip(pts, ok):
        if good:
            cv2.circle(image, (int(round(p[0])), int(round(p[1]))), thickness + 1, color, -1, cv2.LINE_AA)
    return image


def pick_index(evals: dict[str, dict]) -> int:
    """Frame index where the first and last method differ most in MPJPE (index 0 with one method)."""
    names = list(evals)
    if len(names) < 2:
        return int(evals[names[0]]['per_frame'][0]['index'])
    a = {r['index']: r['mpjpe_mm'] for r in evals[names[0]]['per_frame']}
    b = {r['index']: r['mpjpe_mm'] for r in evals[names[-1]]['per_frame']}
    common = sorted(set(a) & set(b))
    return int(max(common, key=lambda k: a[k] - b[k]))


def _label(img: np.ndarray, text: str, org: tuple[int, int], color: tuple[int, int, int]) -> None:
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    x, y = org
    cv2.rectangle(img, (x - 2, y - h - 3), (x + w + 2, y + base), (0, 0, 0), -1)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)


def crop_box(uvs: list[np.ndarray], width: int, height: int, margin: float = 0.35, min_side: int = 40
             ) -> tuple[int, int, int]:
    """Square (x0, y0, side) in pixels around all finite (N, 2) points, inside a (width, height) image."""
    pts = np.concatenate([u.reshape(-1, 2) for u in uvs])
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    pts = pts[(pts[:, 0] > -width) & (pts[:, 0] < 2 * width) & (pts[:, 1] > -height) & (pts[:, 1] < 2 * height)]
    if not len(pts):
        return 0, 0, min(width, height)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    side = int(np.clip(max(hi - lo) * (1 + 2 * margin), min_side, min(width, height)))
    cx, cy = (lo + hi) / 2
    x0 = int(np.clip(round(cx - side / 2), 0, width - side))
    y0 = int(np.clip(round(cy - side / 2), 0, height - side))
    return x0, y0, side


def render_figure(dataset: SyncDataset, evals: dict[str, dict], index: int, panel_px: int = 240) -> np.ndarray:
    """(rows * panel_px, V * panel_px, 3) uint8 grid: GT row then one row per method.

    Each view is cropped to a square around all skeletons of that view (the same crop in every row).
    """
    rows_by_method = {}
    for name, data in evals.items():
        match = [r for r in data['per_frame'] if int(r['index']) == index]
        if not match:
            raise KeyError(f'{name}: frame {index} is not in its evaluation')
        rows_by_method[name] = match[0]
    gt = np.asarray(next(iter(rows_by_method.values()))['gt_m'])
    skeletons = [('ground truth', gt, GT_COLOR)] + [
        (f'{name}: {r["mpjpe_mm"]:.0f} / {r["abs_mpjpe_mm"]:.0f} mm', np.asarray(r['pred_m']),
         METHOD_COLORS[i % len(METHOD_COLORS)]) for i, (name, r) in enumerate(rows_by_method.items())]
    offsets = dataset.index['offsets_s'][index]
    frames, projections, boxes = [], [], []
    for v, cam in enumerate(dataset.cameras):
        path = dataset.frame_file(index, v)
        frames.append(storage.read_image(path) if path is not None
                      else np.zeros((dataset.height, dataset.width, 3), np.uint8))
        uvs = [cam.project(j.reshape(-1, 3))[0].reshape(-1, 2) for _, j, _ in skeletons]
        projections.append(uvs)
        boxes.append(crop_box(uvs, dataset.width, dataset.height))
    grid_rows = []
    for row, (label, _, color) in enumerate(skeletons):
        panels = []
        for v, cam in enumerate(dataset.cameras):
            x0, y0, side = boxes[v]
            scale = panel_px / side
            img = cv2.resize(frames[v][y0:y0 + side, x0:x0 + side], (panel_px, panel_px),
                             interpolation=cv2.INTER_LINEAR)
            uv = (projections[v][row] - [x0, y0] + 0.5) * scale - 0.5
            draw_skeleton(img, uv, color, 2)
            missing = dataset.frame_file(index, v) is None
            _label(img, f'{cam.name} missing' if missing else f'{cam.name} {offsets[v] * 50:+.0f}/50 s', (4, 14),
                   (255, 255, 255))
            if v == 0:
                _label(img, label, (4, panel_px - 6), color)
            panels.append(img)
        grid_rows.append(np.concatenate(panels, axis=1))
    return np.concatenate(grid_rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    """Entry point: write the PNG."""
    p = argparse.ArgumentParser(prog='python -m vsync_ros.reports.pose_figures', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, required=True, help='pose data set the evaluations ran on')
    p.add_argument('--split', default='test')
    p.add_argument('--eval', dest='evals', action='append', required=True, metavar='METHOD:PATH',
                   help='method name and vsync-eval --json file (repeat; the first and last pick the frame)')
    p.add_argument('--index', type=int, default=None, help='frame index (default: largest first-vs-last gap)')
    p.add_argument('--panel', type=int, default=240, help='panel side in pixels (default 240)')
    p.add_argument('--out', type=Path, default=Path('docs/img/pose_views.png'))
    args = p.parse_args(argv)
    try:
        evals = {}
        for spec in args.evals:
            name, path = spec.split(':', 1)
            evals[name] = json.loads(Path(path).read_text())
        dataset = SyncDataset(args.data, args.split, load_sync=False)
        index = pick_index(evals) if args.index is None else args.index
        image = render_figure(dataset, evals, index, args.panel)
    except (OSError, ValueError, KeyError) as exc:
        print(f'pose_figures: {exc}', file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    storage.write_image(args.out, image)
    print(f'wrote {args.out} (frame {index})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
