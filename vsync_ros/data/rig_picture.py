"""Top-view coverage picture of a rig (OpenCV drawing, BGR).

Shows, on the ground plane with x to the right and y **up** (a map, unlike the density panels): how many
views see each ground cell (colour scale with a legend), each view's coverage outline in its colour, the
camera positions with their headings and names, the chosen ground region, and a metre grid.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from vsync_ros.geometry.camera import Camera
from vsync_ros.geometry.ground import GroundRegion
from vsync_ros.geometry.rig import Coverage, camera_heading

VIEW_COLOURS = [(200, 90, 0), (40, 150, 0), (170, 0, 170), (0, 110, 230), (120, 120, 0), (60, 60, 200),
                (0, 170, 170), (140, 70, 140)]  # BGR, readable on the light count colours
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BG = (255, 255, 255)
_UNSEEN = (236, 236, 236)


def count_colours(n_views: int) -> list[tuple[int, int, int]]:
    """BGR colour per count 0..n_views: light grey for 0, then light yellow -> dark red (YlOrRd-like)."""
    stops = np.array([[178, 236, 255], [76, 178, 254], [60, 78, 240], [38, 0, 128]], float)  # BGR
    out = [_UNSEEN]
    for k in range(1, n_views + 1):
        f = 0.0 if n_views == 1 else (k - 1) / (n_views - 1) * (len(stops) - 1)
        i = min(int(f), len(stops) - 2)
        c = stops[i] + (f - i) * (stops[i + 1] - stops[i])
        out.append(tuple(int(round(x)) for x in c))
    return out


def _nice_step(span: float, target: int = 8) -> float:
    raw = span / target
    mag = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return float(m * mag)
    return float(10 * mag)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.5, colour=(0, 0, 0),
          thickness: int = 1, halo: bool = False) -> None:
    org = (int(org[0]), int(org[1]))
    if halo:
        cv2.putText(img, text, org, _FONT, scale, (255, 255, 255), thickness + 3, cv2.LINE_AA)
    cv2.putText(img, text, org, _FONT, scale, colour, thickness, cv2.LINE_AA)


def draw_coverage(cameras: Sequence[Camera], coverage: Coverage, region: GroundRegion, title: str = '',
                  map_px: int = 820) -> np.ndarray:
    """The coverage picture as a BGR uint8 image.

    Args:
        cameras: the rig's cameras, in view order (metres).
        coverage: views seeing each cell (:func:`vsync_ros.geometry.rig.rig_coverage`).
        region: the chosen ground region, drawn as a black rectangle.
        title: first line of the picture.
        map_px: size of the longer side of the map, pixels.
    """
    grid, count = coverage.grid, coverage.count
    n = len(cameras)
    seen_any = count > 0
    centres = grid.cell_centers()
    half = grid.cell_m / 2
    xs = [region.x0, region.x0 + region.width_m] + [c.center[0] for c in cameras]
    ys = [region.y0, region.y0 + region.height_m] + [c.center[1] for c in cameras]
    if seen_any.any():
        xs += [centres[..., 0][seen_any].min() - half, centres[..., 0][seen_any].max() + half]
        ys += [centres[..., 1][seen_any].min() - half, centres[..., 1][seen_any].max() + half]
    pad = 0.04 * max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
    X0, X1, Y0, Y1 = min(xs) - pad, max(xs) + pad, min(ys) - pad, max(ys) + pad
    scale = map_px / max(X1 - X0, Y1 - Y0)  # pixels per metre
    mw, mh = int(np.ceil((X1 - X0) * scale)), int(np.ceil((Y1 - Y0) * scale))
    left, top, legend_w, bottom = 70, 60, 300, 55
    H, W = max(mh + top + bottom, 560), left + mw + 20 + legend_w
    img = np.full((H, W, 3), _BG, np.uint8)

    def to_px(x: np.ndarray | float, y: np.ndarray | float) -> tuple:
        return left + (np.asarray(x) - X0) * scale, top + (Y1 - np.asarray(y)) * scale

    # cells: colour every map pixel by the count of the cell under it
    colours = np.array(count_colours(n), np.uint8)
    px = np.arange(mw) + 0.5
    py = np.arange(mh) + 0.5
    wx, wy = X0 + px / scale, Y1 - py / scale
    col = np.floor((wx - grid.x0) / grid.cell_m).astype(int)
    row = np.floor((wy - grid.y0) / grid.cell_m).astype(int)
    rows, cols = grid.shape
    ok_c, ok_r = (col >= 0) & (col < cols), (row >= 0) & (row < rows)
    cell_count = np.zeros((mh, mw), int)
    rr, cc = np.meshgrid(np.clip(row, 0, rows - 1), np.clip(col, 0, cols - 1), indexing='ij')
    cell_count = np.where(ok_r[:, None] & ok_c[None, :], count[rr, cc], 0)
    img[top:top + mh, left:left + mw] = colours[cell_count]

    # metre grid and axis labels
    step = _nice_step(max(X1 - X0, Y1 - Y0))
    for gx in np.arange(np.ceil(X0 / step) * step, X1, step):
        u = int(round(to_px(gx, 0)[0]))
        cv2.line(img, (u, top), (u, top + mh), (205, 205, 205), 1)
        _text(img, f'{gx:g}', (u - 12, top + mh + 18), 0.45, (60, 60, 60))
    for gy in np.arange(np.ceil(Y0 / step) * step, Y1, step):
        v = int(round(to_px(0, gy)[1]))
        cv2.line(img, (left, v), (left + mw, v), (205, 205, 205), 1)
        _text(img, f'{gy:g}', (8, v + 5), 0.45, (60, 60, 60))
    cv2.rectangle(img, (left, top), (left + mw, top + mh), (90, 90, 90), 1)
    _text(img, 'x (m)', (left + mw // 2 - 20, top + mh + 42), 0.5, (40, 40, 40))
    _text(img, 'y (m)', (8, top - 10), 0.5, (40, 40, 40))

    # per-view coverage outlines
    for v in range(n):
        mask = coverage.seen[v].astype(np.uint8)
        if not mask.any():
            continue
        contours, _ = cv2.findContours(np.ascontiguousarray(mask), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            c = contour.reshape(-1, 2).astype(float)
            u, vv = to_px(grid.x0 + (c[:, 0] + 0.5) * grid.cell_m, grid.y0 + (c[:, 1] + 0.5) * grid.cell_m)
            pts = np.stack([u, vv], 1).round().astype(np.int32)
            cv2.polylines(img, [pts], True, VIEW_COLOURS[v % len(VIEW_COLOURS)], 2, cv2.LINE_AA)

    # chosen region
    (u0, v1), (u1, v0) = to_px(region.x0, region.y0), to_px(region.x0 + region.width_m, region.y0 + region.height_m)
    cv2.rectangle(img, (int(round(u0)), int(round(v0))), (int(round(u1)), int(round(v1))), (0, 0, 0), 3)
    _text(img, f'region {region.width_m:g} x {region.height_m:g} m', (u0 + 6, v0 + 20), 0.55, (0, 0, 0), 1,
          halo=True)

    # cameras: position, heading arrow, name
    arrow = 0.09 * map_px
    for v, cam in enumerate(cameras):
        colour = VIEW_COLOURS[v % len(VIEW_COLOURS)]
        u, vv = to_px(*cam.center[:2])
        az, _ = camera_heading(cam)
        du, dv = arrow * np.cos(np.radians(az)), -arrow * np.sin(np.radians(az))
        p0 = (int(round(u)), int(round(vv)))
        cv2.arrowedLine(img, p0, (int(round(u + du)), int(round(vv + dv))), colour, 3, cv2.LINE_AA, tipLength=0.25)
        cv2.circle(img, p0, 8, colour, -1, cv2.LINE_AA)
        cv2.circle(img, p0, 8, (0, 0, 0), 1, cv2.LINE_AA)
        # the name on the side away from the arrow
        (tw, th), _ = cv2.getTextSize(cam.name, _FONT, 0.6, 2)
        nu = u - np.sign(du) * (14 + tw / 2) - tw / 2 if abs(du) > 1 else u + 12
        nv = vv - np.sign(dv) * (16 + th / 2) + th / 2 if abs(dv) > 1 else vv - 12
        nu, nv = float(np.clip(nu, left + 3, left + mw - tw - 3)), float(np.clip(nv, top + th + 3, top + mh - 4))
        _text(img, cam.name, (nu, nv), 0.6, colour, 2, halo=True)

    # title and legend
    _text(img, title, (left, 26), 0.65, (0, 0, 0), 2)
    _text(img, f'top view, x right, y up; grid every {step:g} m', (left, 48), 0.45, (70, 70, 70))
    lx, ly = left + mw + 24, top + 8
    _text(img, 'views seeing a cell', (lx, ly), 0.55, (0, 0, 0), 1)
    for k, colour in enumerate(count_colours(n)):
        y = ly + 14 + 24 * k
        cv2.rectangle(img, (lx, y), (lx + 30, y + 18), colour, -1)
        cv2.rectangle(img, (lx, y), (lx + 30, y + 18), (120, 120, 120), 1)
        area = float((count == k).sum() * grid.cell_m ** 2) if k else 0.0
        label = f'{k}' + (f'   {area:,.0f} m2' if k else '   (not seen)')
        _text(img, label, (lx + 40, y + 14), 0.5)
    y = ly + 14 + 24 * (n + 1) + 20
    _text(img, 'views (outline = seen area)', (lx, y), 0.55)
    for v, cam in enumerate(cameras):
        y += 24
        colour = VIEW_COLOURS[v % len(VIEW_COLOURS)]
        cv2.line(img, (lx, y - 5), (lx + 30, y - 5), colour, 3)
        _text(img, f'{v}: {cam.name}  h {cam.center[2]:.1f} m', (lx + 40, y), 0.5, colour)
    y += 34
    cv2.rectangle(img, (lx, y - 14), (lx + 30, y + 2), (0, 0, 0), 3)
    _text(img, 'ground region', (lx + 40, y), 0.5)
    for line in (f'x0 {region.x0:g}  y0 {region.y0:g} m', f'{region.width_m:g} x {region.height_m:g} m, '
                 f'cell {region.cell_m:g} m', f'{region.shape[0]} x {region.shape[1]} cells'):
        y += 22
        _text(img, line, (lx + 40, y), 0.45, (50, 50, 50))
    return img


def write_coverage_png(path: str | Path, cameras: Sequence[Camera], coverage: Coverage, region: GroundRegion,
                       title: str = '') -> Path:
    """Draw :func:`draw_coverage` and write it as PNG; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), draw_coverage(cameras, coverage, region, title)):
        raise OSError(f'cannot write {path}')
    return path
