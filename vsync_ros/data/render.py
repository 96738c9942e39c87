"""Rasterise people as simple 3D bodies (convex solids) through a calibrated camera.

Each person is a set of convex solids (legs, shoes, torso, arms, neck) and head / hair / face discs
built from their ground position, heading, gait phase, height and width. Every solid is projected
with the true camera model (distortion included) and filled as the convex hull of its projected
vertices, which is exactly the silhouette of a convex solid under a pinhole camera. People are
drawn far to near (painter's algorithm; parts of one person also in depth order), a per-pixel
person depth is kept so static structures in front of a person can occlude them, and soft shadows
are cast on the ground away from the sun.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from vsync_ros.data.crowd import Appearance, CrowdState
from vsync_ros.geometry.camera import PLUMB_BOB, Camera, radial_factor, radial_slope

SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << SHIFT

# part name, ring size; parts are stored back to back in one vertex array
_PARTS = (('leg_l', 16), ('leg_r', 16), ('shoe_l', 16), ('shoe_r', 16), ('torso', 20), ('arm_l', 12),
          ('arm_r', 12), ('neck', 12))
_OFFSETS = {}
_n = 0
for _name, _size in _PARTS:
    _OFFSETS[_name] = (_n, _n + _size)
    _n += _size
N_VERTS = _n  # + 1 head centre appended at the end
_SPANS = [_OFFSETS[name] for name, _ in _PARTS]
_STARTS = np.array([sp[0] for sp in _SPANS])
_SIZES = np.array([sp[1] - sp[0] for sp in _SPANS], dtype=np.float64)
HEAD_RADIUS_FRAC = 0.065  # head radius / body height


def _radius_limit(camera: Camera) -> float:
    """Normalized radius up to which the camera's distortion is trusted for drawing.

    Beyond the radius where ``r (1 + k1 r^2 + k2 r^4 + k3 r^6)`` (plumb_bob; rational_polynomial: divided by
    ``1 + k4 r^2 + k5 r^4 + k6 r^6``) stops increasing the model folds back and maps points far outside the
    field of view into the image. Keep a margin outside the image.
    """
    key = camera.fingerprint()
    if key in _RLIM:
        return _RLIM[key]
    corners = np.array([[-0.5, -0.5], [camera.width - 0.5, -0.5], [-0.5, camera.height - 0.5],
                        [camera.width - 0.5, camera.height - 0.5]])
    r_corner = float(np.linalg.norm(camera.undistort_pixels(corners), axis=1).max())
    r = np.linspace(0, 6 * r_corner, 4000)
    if camera.distortion_model == PLUMB_BOB:
        k1, k2, _, _, k3 = camera.dist
        slope = 1 + 3 * k1 * r**2 + 5 * k2 * r**4 + 7 * k3 * r**6
    else:
        slope = radial_slope(camera.dist, r)  # NaN at a pole of the rational model
    bad = np.flatnonzero(~(slope > 0.2))
    r_mono = r[bad[0]] if len(bad) else r[-1]
    _RLIM[key] = float(max(min(2.0 * r_corner, 0.9 * r_mono), r_corner))
    return _RLIM[key]


_RLIM: dict[str, float] = {}


def project_for_drawing(camera: Camera, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like ``camera.project`` but with the radial distortion factor frozen beyond a safe radius.

    Identical to ``camera.project`` for everything near the image; far-away vertices of a polygon
    (e.g. a shadow right under the camera) keep a monotonic mapping instead of folding back into the
    picture, so convex hulls of projected solids stay correct where they are visible.
    """
    pc = camera.world_to_camera(points)
    depth = pc[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        xn = pc[:, :2] / depth[:, None]
    xn[depth <= 1e-9] = np.nan
    if camera.has_distortion:
        p1, p2 = camera.dist[2], camera.dist[3]
        rl = _radius_limit(camera)
        r2 = np.minimum((xn * xn).sum(1), rl * rl)
        radial = radial_factor(camera.dist, r2)
        r_true = np.sqrt((xn * xn).sum(1))
        shrink = np.where(r_true > rl, rl / np.maximum(r_true, 1e-12), 1.0)[:, None]
        xc = xn * shrink  # tangential terms evaluated at the clamped point, scaled back out
        x, y = xc[:, 0], xc[:, 1]
        rc2 = (xc * xc).sum(1)
        tx = 2 * p1 * x * y + p2 * (rc2 + 2 * x * x)
        ty = p1 * (rc2 + 2 * y * y) + 2 * p2 * x * y
        xn = xn * radial[:, None] + np.stack([tx, ty], 1) / shrink
    uv = xn @ camera.K[:2, :2].T + camera.K[:2, 2]
    return uv, depth


def head_centre_height(height_m: np.ndarray) -> np.ndarray:
    """Height (m) of the head centre of people of the given heights (annotation point of view maps)."""
    return np.asarray(height_m) * (1.0 - HEAD_RADIUS_FRAC)


def _ring(centre: np.ndarray, side: np.ndarray, fwd: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """(N, n, 3) points of horizontal ellipses: centre + a cos(phi) side + b sin(phi) fwd."""
    phi = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(phi)[None, :, None], np.sin(phi)[None, :, None]
    return centre[:, None, :] + a[:, None, None] * c * side[:, None, :] + b[:, None, None] * s * fwd[:, None, :]


def _cyl(bottom: np.ndarray, top: np.ndarray, side, fwd, a0, b0, a1, b1, n: int) -> np.ndarray:
    return np.concatenate([_ring(bottom, side, fwd, a0, b0, n // 2), _ring(top, side, fwd, a1, b1, n // 2)], 1)


def body_vertices(xy: np.ndarray, heading: np.ndarray, walk_m: np.ndarray, speed: np.ndarray,
                  height: np.ndarray, width: np.ndarray) -> np.ndarray:
    """(N, N_VERTS + 1, 3) world vertices of every body part (last row: head centre)."""
    n = len(xy)
    h, w = height, width
    fwd = np.stack([np.cos(heading), np.sin(heading), np.zeros(n)], 1)
    side = np.stack([-np.sin(heading), np.cos(heading), np.zeros(n)], 1)  # left
    base = np.c_[xy, np.zeros(n)]
    z = np.array([0.0, 0.0, 1.0])
    scale = h / 1.75
    amp = np.clip(speed / 1.0, 0.0, 1.0)
    phase = 2 * np.pi * walk_m / (1.35 * scale)
    swing = 0.24 * scale * amp * np.sin(phase)
    arm_swing = 0.17 * scale * amp * np.sin(phase)
    hip_z = 0.52 * h
    parts = []
    for sgn in (1.0, -1.0):  # left, right legs
        top = base + (sgn * 0.2 * w)[:, None] * side + hip_z[:, None] * z
        foot = base + (sgn * 0.17 * w)[:, None] * side + (sgn * swing)[:, None] * fwd
        parts.append(_cyl(foot + 0.07 * z, top, side, fwd, 0.11 * w, 0.11 * w, 0.17 * w, 0.17 * w, 16))
    for sgn in (1.0, -1.0):  # shoes
        foot = base + (sgn * 0.17 * w)[:, None] * side + (sgn * swing)[:, None] * fwd + 0.04 * fwd
        parts.append(_cyl(foot, foot + 0.08 * z, side, fwd, 0.11 * w, 0.13 + 0 * w, 0.11 * w, 0.12 + 0 * w, 16))
    parts.append(_cyl(base + (0.49 * h)[:, None] * z, base + (0.82 * h)[:, None] * z, side, fwd,
                      0.41 * w, 0.26 * w, 0.5 * w, 0.28 * w, 20))
    for sgn in (1.0, -1.0):  # arms (swing opposite to the same-side leg)
        top = base + (sgn * 0.41 * w)[:, None] * side + (0.8 * h)[:, None] * z
        hand = base + (sgn * 0.5 * w)[:, None] * side - (sgn * arm_swing)[:, None] * fwd + (0.45 * h)[:, None] * z
        parts.append(_cyl(hand, top, side, fwd, 0.07 * w, 0.07 * w, 0.1 * w, 0.1 * w, 12))
    neck_b, neck_t = base + (0.8 * h)[:, None] * z, base + (0.9 * h)[:, None] * z
    parts.append(_cyl(neck_b, neck_t, side, fwd, 0.11 * w, 0.11 * w, 0.1 * w, 0.1 * w, 12))
    head = base + head_centre_height(h)[:, None] * z
    parts.append(head[:, None, :])
    return np.concatenate(parts, 1)


@lru_cache(maxsize=4096)
def _part_colours(a: Appearance) -> list[tuple[int, int, int]]:
    """Colour of each part (in _PARTS order); limbs slightly darker than the torso."""
    arm = a.shirt if a.long_sleeves else a.skin
    cols = [a.trousers, a.trousers, a.shoes, a.shoes, a.shirt, arm, arm, a.skin]
    shade = [0.88, 0.88, 1.0, 1.0, 1.0, 0.88, 0.88, 1.0]
    return [tuple(int(c * f) for c in col) for col, f in zip(cols, shade)]


def _hull(uv: np.ndarray) -> np.ndarray:
    return cv2.convexHull(np.round(np.clip(uv, -1e5, 1e5) * _ONE).astype(np.int32))


def draw_shadows(canvas: np.ndarray, camera: Camera, state: CrowdState, apps: list[Appearance],
                 sun_dir: np.ndarray, ground_mask: np.ndarray | None = None, strength: float = 0.4) -> None:
    """Darken the ground where people cast their (soft) shadows; ``ground_mask`` limits it to ground pixels."""
    n = len(state.ids)
    if n == 0:
        return
    h = np.array([a.height_m for a in apps])
    w = np.array([a.width_m for a in apps])
    away = -sun_dir[:2] / np.linalg.norm(sun_dir[:2])
    length = h * np.linalg.norm(sun_dir[:2]) / sun_dir[2]
    phi = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    circ = np.stack([np.cos(phi), np.sin(phi)], 1)
    feet = state.xy[:, None, :] + (0.45 * w)[:, None, None] * circ[None]
    tip = state.xy[:, None, :] + (length[:, None, None] * away[None, None, :]) + (0.25 * w)[:, None, None] * circ[None]
    pts = np.concatenate([feet, tip], 1)  # (N, 24, 2)
    uv, depth = project_for_drawing(camera, np.c_[pts.reshape(-1, 2), np.zeros(n * 24)])
    uv = uv.reshape(n, 24, 2)
    ok = (depth.reshape(n, 24) > 0.1).all(1) & np.isfinite(uv).all((1, 2))
    mask = np.zeros(canvas.shape[:2], np.uint8)
    for i in np.flatnonzero(ok):
        cv2.fillConvexPoly(mask, _hull(uv[i]), 255, lineType=cv2.LINE_AA, shift=SHIFT)
    if ground_mask is not None:
        mask[~ground_mask] = 0
    if mask.any():
        mask = cv2.GaussianBlur(mask, (3, 3), 0)
        f = 1.0 - strength * mask.astype(np.float32) / 255.0
        canvas[:] = np.clip(canvas.astype(np.float32) * f[..., None], 0, 255).astype(np.uint8)


def draw_people(canvas: np.ndarray, camera: Camera, state: CrowdState, apps: list[Appearance],
                person_depth: np.ndarray, person_id: np.ndarray) -> None:
    """Draw everyone in ``state`` onto ``canvas`` (H, W, 3) uint8 RGB, far to near.

    ``person_depth`` (H, W) float32 and ``person_id`` (H, W) int32 are updated with the depth
    (m, along the optical axis, of the body centre) and id of the person covering each pixel.
    """
    n = len(state.ids)
    if n == 0:
        return
    h = np.array([a.height_m for a in apps])
    w = np.array([a.width_m for a in apps])
    speed = np.linalg.norm(state.vel, axis=1)
    verts = body_vertices(state.xy, state.heading, state.walk_m, speed, h, w)  # (N, V, 3)
    nv = verts.shape[1]
    uv, depth = project_for_drawing(camera, verts.reshape(-1, 3))
    uv, depth = uv.reshape(n, nv, 2), depth.reshape(n, nv)
    centre = camera.world_to_camera(np.c_[state.xy, 0.5 * h])[:, 2]
    H, W = canvas.shape[:2]
    fx = camera.K[0, 0]
    cam_xy = camera.center[:2]
    finite = np.isfinite(uv).all((1, 2)) & (depth > 0.1).all(1) & (centre > 0.3)
    uv_int = np.round(np.clip(np.where(np.isfinite(uv), uv, 0.0), -1e5, 1e5) * _ONE).astype(np.int32)
    lo, hi = uv.min(1), uv.max(1)
    visible = finite & (hi[:, 0] >= -2) & (hi[:, 1] >= -2) & (lo[:, 0] <= W + 1) & (lo[:, 1] <= H + 1)
    part_depth = np.add.reduceat(depth[:, :N_VERTS], _STARTS, axis=1) / _SIZES  # (N, n_parts)
    part_order = np.argsort(-part_depth, axis=1, kind='stable')
    for i in np.argsort(-centre, kind='stable'):
        if not visible[i]:
            continue
        a = apps[i]
        colours = _part_colours(a)
        pid = int(state.ids[i])
        d = float(centre[i])
        for j in part_order[i]:
            s, e = _SPANS[j]
            hull = cv2.convexHull(uv_int[i, s:e])
            cv2.fillConvexPoly(canvas, hull, colours[j], lineType=cv2.LINE_AA, shift=SHIFT)
            cv2.fillConvexPoly(person_depth, hull, d, lineType=cv2.LINE_8, shift=SHIFT)
            cv2.fillConvexPoly(person_id, hull, pid, lineType=cv2.LINE_8, shift=SHIFT)
        # head: hair and face discs, order depending on whether the person faces the camera
        rh = HEAD_RADIUS_FRAC * a.height_m
        hc = uv[i, -1]
        r_px = max(fx * rh / depth[i, -1], 0.6)
        to_cam = cam_xy - state.xy[i]
        facing = np.cos(state.heading[i]) * to_cam[0] + np.sin(state.heading[i]) * to_cam[1] > 0
        c_int = tuple(int(v) for v in np.round(hc * _ONE))
        hair_c = (c_int[0], c_int[1] - int(round(0.22 * r_px * _ONE)))
        discs = [(hair_c, 0.92 * r_px, a.hair), (c_int, 0.86 * r_px, a.skin)]
        if not facing:
            discs = discs[::-1]
        for cen, rad, col in discs:
            rr = max(int(round(rad * _ONE)), 1)
            cv2.circle(canvas, cen, rr, tuple(int(c) for c in col), -1, lineType=cv2.LINE_AA, shift=SHIFT)
            cv2.circle(person_depth, cen, rr, d, -1, lineType=cv2.LINE_8, shift=SHIFT)
            cv2.circle(person_id, cen, rr, pid, -1, lineType=cv2.LINE_8, shift=SHIFT)
