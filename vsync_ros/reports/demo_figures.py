"""Figures of ``vsync-demo`` (ROS-free, OpenCV only): per-frame panels and a count-over-time plot.

Panel layout (one PNG per reference frame)::

    | cam1 (reference, t)      | cam2 (t + offset)  | cam3 (t + offset)  |
    | GT density, count        | model 1, count     | model 2, count ... |

Densities share one colour scale per frame (the largest value of GT and all models), colour map turbo;
the maps are drawn with rows along +y of the ground grid (top = y0), as the ``~/density`` image.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from vsync_ros.reports.colormap import colorize_density

TILE_W, TILE_H = 240, 180   # pixels of one tile (camera image or density map)
LABEL_H = 22                # caption strip under each tile
TITLE_H = 28
BG = (24, 24, 24)           # RGB
FG = (235, 235, 235)
SERIES_COLOURS = [(255, 140, 0), (0, 200, 255), (120, 220, 80), (230, 80, 200), (250, 230, 60)]  # RGB, models


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.45, colour=FG, thickness: int = 1) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def _fit(img: np.ndarray, interpolation: int) -> np.ndarray:
    """Scale (H, W, 3) to fit TILE_W x TILE_H keeping the aspect ratio, centred on the background."""
    h, w = img.shape[:2]
    s = min(TILE_W / w, TILE_H / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(img, (nw, nh), interpolation=interpolation)
    tile = np.full((TILE_H, TILE_W, 3), BG, np.uint8)
    y, x = (TILE_H - nh) // 2, (TILE_W - nw) // 2
    tile[y:y + nh, x:x + nw] = small
    return tile


def _captioned(tile: np.ndarray, caption: str, colour=FG) -> np.ndarray:
    out = np.full((TILE_H + LABEL_H, TILE_W, 3), BG, np.uint8)
    out[:TILE_H] = tile
    _text(out, caption, (6, TILE_H + 16), colour=colour)
    return out


def frame_panel(images: Sequence[np.ndarray | None], camera_captions: Sequence[str], gt_density: np.ndarray | None,
                gt_count: float, densities: dict[str, np.ndarray], counts: dict[str, float], title: str) -> np.ndarray:
    """Compose one demo frame: camera images on top, GT and model density maps below.

    Args:
        images: per view (H, W, 3) uint8 RGB as published (None: not published).
        camera_captions: one caption per view (name and capture-time offset).
        gt_density: (rows, cols) ground-truth people per cell (None: not available).
        gt_count: ground-truth count.
        densities / counts: per model label, (rows, cols) estimated density and count.
        title: text of the title bar.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    cams = [_captioned(_fit(im, cv2.INTER_AREA) if im is not None else np.full((TILE_H, TILE_W, 3), BG, np.uint8),
                       cap) for im, cap in zip(images, camera_captions)]
    maps = [d for d in [gt_density, *densities.values()] if d is not None]
    vmax = max([float(np.max(d)) for d in maps] + [1e-6])
    lower = []
    if gt_density is not None:
        lower.append(_captioned(_fit(colorize_density(gt_density, vmax), cv2.INTER_NEAREST),
                                f'ground truth: {gt_count:.0f} people'))
    for i, (label, dens) in enumerate(densities.items()):
        err = counts[label] - gt_count
        lower.append(_captioned(_fit(colorize_density(dens, vmax), cv2.INTER_NEAREST),
                                f'{label}: {counts[label]:.1f} ({err:+.1f})', SERIES_COLOURS[i % len(SERIES_COLOURS)]))
    ncols = max(len(cams), len(lower))
    blank = np.full((TILE_H + LABEL_H, TILE_W, 3), BG, np.uint8)

    def row(tiles: list[np.ndarray]) -> np.ndarray:
        return np.hstack(tiles + [blank] * (ncols - len(tiles)))
    body = np.vstack([row(cams), row(lower)])
    head = np.full((TITLE_H, body.shape[1], 3), BG, np.uint8)
    _text(head, title, (6, 19), 0.5)
    return np.vstack([head, body])


def count_plot(gt: Sequence[float], preds: dict[str, Sequence[float]], title: str, width: int = 720,
               height: int = 300) -> np.ndarray:
    """Counts per frame: ground truth (white) and each model (coloured), with a legend. (H, W, 3) uint8 RGB."""
    img = np.full((height, width, 3), BG, np.uint8)
    left, right, top, bottom = 48, 12, 30, 30
    n = len(gt)
    values = [float(v) for v in gt] + [float(v) for p in preds.values() for v in p if np.isfinite(v)]
    vmax = max(values + [1.0]) * 1.1
    w, h = width - left - right, height - top - bottom

    def xy(i: int, v: float) -> tuple[int, int]:
        x = left + (i / max(n - 1, 1)) * w
        return int(round(x)), int(round(top + h - v / vmax * h))
    cv2.rectangle(img, (left, top), (left + w, top + h), (90, 90, 90), 1)
    for frac in (0.0, 0.5, 1.0):
        y = int(round(top + h - frac * h))
        _text(img, f'{frac * vmax:.0f}', (4, y + 4), 0.4)
    _text(img, 'frame', (left + w // 2 - 20, height - 8), 0.4)
    _text(img, '0', (left - 4, top + h + 16), 0.4)
    _text(img, str(max(n - 1, 0)), (left + w - 12, top + h + 16), 0.4)
    series = [('ground truth', gt, FG)] + [(label, p, SERIES_COLOURS[i % len(SERIES_COLOURS)])
                                           for i, (label, p) in enumerate(preds.items())]
    for _, vals, colour in series:
        pts = [xy(i, float(v)) for i, v in enumerate(vals) if np.isfinite(v)]
        if len(pts) > 1:
            cv2.polylines(img, [np.array(pts, np.int32)], False, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, p, 2, colour, -1, cv2.LINE_AA)
    x = left + 6
    for label, _, colour in series:
        cv2.line(img, (x, 16), (x + 18, 16), colour, 2)
        _text(img, label, (x + 22, 20), 0.42)
        x += 30 + 9 * len(label)
    _text(img, title, (max(left, width - 9 * len(title)), 20), 0.42)
    return img


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 RGB image as PNG (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise OSError(f'cannot write {path}')
    return path
