"""Figures of ``vsync-demo`` (ROS-free, OpenCV only): per-frame panels and a count-over-time plot.

Panel layout (one PNG per reference frame); every caption sits *above* the tile it describes, and each
row has a heading, so a camera caption never reads as the title of the density map under it::

    title: frame, reference time, capture offsets
    row heading: what the cameras delivered
    | cam1 caption            | cam2 caption          | cam3 caption          |
    | cam1 image (reference)  | cam2 image (t + off)  | cam3 image (t + off)  |
    row heading: ground-plane density, top view
    | ground truth caption    | model 1 caption       | model 2 caption ...   |
    | GT density              | model 1 density       | model 2 density       |

Densities share one colour scale per frame (the largest value of GT and all models), colour map turbo;
the maps are drawn with rows along +y of the ground grid (top = y0), as the ``~/density`` image. The true
positions of the people can be marked on every density map (small white rings), which makes people that
a model places where nobody stands visible at a glance.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from vsync_ros.reports.colormap import colorize_density

TILE_W, TILE_H = 240, 180   # pixels of one tile (camera image or density map)
CAPTION_H = 38              # two-line caption strip above each tile
HEADING_H = 24              # row heading strip
TITLE_H = 28
GAP = 6                     # pixels between tiles of a row
BG = (24, 24, 24)           # RGB
FG = (235, 235, 235)
DIM = (160, 160, 160)
SERIES_COLOURS = [(255, 140, 0), (0, 200, 255), (120, 220, 80), (230, 80, 200), (250, 230, 60)]  # RGB, models
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.45, colour=FG, thickness: int = 1) -> None:
    cv2.putText(img, text, org, FONT, scale, colour, thickness, cv2.LINE_AA)


def _fitted_text(img: np.ndarray, text: str, org: tuple[int, int], max_w: int, scale: float = 0.45,
                 colour=FG) -> None:
    """Draw ``text`` at ``org``, shrinking the font until it fits ``max_w`` pixels."""
    while scale > 0.3 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > max_w:
        scale -= 0.02
    _text(img, text, org, scale, colour)


def _placement(h: int, w: int) -> tuple[float, int, int]:
    """Scale and (y, x) offset that fit an (h, w) image into a TILE_W x TILE_H tile, centred."""
    s = min(TILE_W / w, TILE_H / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    return s, (TILE_H - nh) // 2, (TILE_W - nw) // 2


def _fit(img: np.ndarray, interpolation: int) -> np.ndarray:
    """Scale (H, W, 3) to fit TILE_W x TILE_H keeping the aspect ratio, centred on the background."""
    h, w = img.shape[:2]
    s, y, x = _placement(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(img, (nw, nh), interpolation=interpolation)
    tile = np.full((TILE_H, TILE_W, 3), BG, np.uint8)
    tile[y:y + nh, x:x + nw] = small
    return tile


def _density_tile(density: np.ndarray, vmax: float, people_rc: np.ndarray | None) -> np.ndarray:
    """Colour-mapped density fitted to a tile, with a ring at each true position (``people_rc``, cell units)."""
    tile = _fit(colorize_density(density, vmax), cv2.INTER_NEAREST)
    if people_rc is not None and len(people_rc):
        s, y0, x0 = _placement(*density.shape[:2])
        for r, c in np.asarray(people_rc, np.float64).reshape(-1, 2):
            centre = (int(round(x0 + (c + 0.5) * s)), int(round(y0 + (r + 0.5) * s)))
            cv2.circle(tile, centre, 4, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def _captioned(tile: np.ndarray, lines: Sequence[str], colour=FG) -> np.ndarray:
    """The tile with its caption (one or two lines; the first in ``colour``) in a strip above it."""
    out = np.full((CAPTION_H + TILE_H, TILE_W, 3), BG, np.uint8)
    for i, line in enumerate(list(lines)[:2]):
        _fitted_text(out, line, (4, 15 + 17 * i), TILE_W - 8, colour=colour if i == 0 else DIM)
    out[CAPTION_H:] = tile
    return out


def _heading(text: str, width: int) -> np.ndarray:
    strip = np.full((HEADING_H, width, 3), BG, np.uint8)
    cv2.line(strip, (4, 3), (width - 5, 3), (70, 70, 70), 1)
    _fitted_text(strip, text, (4, 18), width - 8, 0.45, DIM)
    return strip


def frame_panel(images: Sequence[np.ndarray | None], camera_captions: Sequence[str | Sequence[str]],
                gt_density: np.ndarray | None, gt_count: float, densities: dict[str, np.ndarray],
                model_captions: dict[str, Sequence[str]], title: str, people_rc: np.ndarray | None = None,
                camera_heading: str = 'what the cameras delivered',
                density_heading: str = 'ground-plane density, top view (rings: where the people really are)',
                ) -> np.ndarray:
    """Compose one demo frame: camera images on top, GT and model density maps below, captions above tiles.

    Args:
        images: per view (H, W, 3) uint8 RGB as published (None: not published).
        camera_captions: per view, a caption line or up to two lines (name, capture-time offset).
        gt_density: (rows, cols) ground-truth people per cell (None: not available).
        gt_count: ground-truth count.
        densities: per model label, (rows, cols) estimated density.
        model_captions: per model label, up to two caption lines (the first is drawn in the model's colour).
        title: text of the title bar.
        people_rc: (N, 2) true positions as fractional (row, col) cell indices of the density grid (cell
            centres at integers), marked on every density map; None: no markers.
        camera_heading / density_heading: headings of the two rows.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    cams = []
    for im, cap in zip(images, camera_captions):
        tile = _fit(im, cv2.INTER_AREA) if im is not None else np.full((TILE_H, TILE_W, 3), BG, np.uint8)
        cams.append(_captioned(tile, [cap] if isinstance(cap, str) else cap))
    maps = [d for d in [gt_density, *densities.values()] if d is not None]
    vmax = max([float(np.max(d)) for d in maps] + [1e-6])
    lower = []
    if gt_density is not None:
        lower.append(_captioned(_density_tile(gt_density, vmax, people_rc),
                                ['ground truth', f'{gt_count:.0f} people']))
    for i, (label, dens) in enumerate(densities.items()):
        lower.append(_captioned(_density_tile(dens, vmax, people_rc), model_captions.get(label, [label]),
                                SERIES_COLOURS[i % len(SERIES_COLOURS)]))
    ncols = max(len(cams), len(lower))
    blank = np.full((CAPTION_H + TILE_H, TILE_W, 3), BG, np.uint8)
    gap = np.full((CAPTION_H + TILE_H, GAP, 3), BG, np.uint8)

    def row(tiles: list[np.ndarray]) -> np.ndarray:
        padded = tiles + [blank] * (ncols - len(tiles))
        parts = [gap]
        for t in padded:
            parts += [t, gap]
        return np.hstack(parts)
    top, bottom = row(cams), row(lower)
    width = top.shape[1]
    head = np.full((TITLE_H, width, 3), BG, np.uint8)
    _fitted_text(head, title, (6, 19), width - 12, 0.5)
    foot = np.full((GAP, width, 3), BG, np.uint8)
    return np.vstack([head, _heading(camera_heading, width), top, _heading(density_heading, width), bottom, foot])


def count_plot(gt: Sequence[float], preds: dict[str, Sequence[float]], title: str, width: int = 720,
               height: int = 320) -> np.ndarray:
    """Counts per frame: ground truth (white) and each model (coloured); title line, legend line under it.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    img = np.full((height, width, 3), BG, np.uint8)
    left, right, top, bottom = 48, 12, 52, 30
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
    _fitted_text(img, title, (6, 18), width - 12, 0.45)
    x = left + 6
    for label, _, colour in series:
        cv2.line(img, (x, 36), (x + 18, 36), colour, 2)
        _text(img, label, (x + 22, 40), 0.42)
        x += 36 + cv2.getTextSize(label, FONT, 0.42, 1)[0][0]
    return img


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 RGB image as PNG (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise OSError(f'cannot write {path}')
    return path
