"""Static scene of the synthetic plaza: textured ground, surrounding buildings, sky, street furniture.

The background of each camera is ray-cast once (per pixel, through the camera's true model, with
2x supersampling): the ground texture is looked up where the ray meets z = 0 (mip-mapped by the
pixel footprint), building facades where it meets a wall of the surrounding box, and the sky
elsewhere. Street furniture (lamp posts, planters, benches) is drawn as convex 3D solids and also
written to a depth image so that people behind it are occluded correctly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vsync_ros.data.render import project_for_drawing
from vsync_ros.geometry.camera import Camera
from vsync_ros.geometry.ground import GroundRegion

TEXEL_M = 0.04  # ground texture resolution (m / texel)
SUN_DIR = np.array([0.55, -0.45, 0.70])  # direction toward the sun (unit after normalisation)
SUN_DIR = SUN_DIR / np.linalg.norm(SUN_DIR)


@dataclass(frozen=True)
class Structure:
    """A static object: 'post' (lamp post), 'planter' or 'bench' (boxes)."""

    kind: str
    x: float
    y: float
    sx: float  # size along x (m) (posts: radius)
    sy: float  # size along y (m)
    h: float  # height (m)
    color: tuple[int, int, int]
    top_color: tuple[int, int, int]

    def obstacle_circles(self) -> list[tuple[float, float, float]]:
        """Circles (x, y, r) approximating the footprint (for the pedestrian simulator)."""
        if self.kind == 'post':
            return [(self.x, self.y, self.sx + 0.1)]
        long_x = self.sx >= self.sy
        length, width = (self.sx, self.sy) if long_x else (self.sy, self.sx)
        n = max(1, int(math.ceil(length / max(width, 0.5))))
        r = 0.5 * math.hypot(length / n, width)
        out = []
        for i in range(n):
            c = -length / 2 + (i + 0.5) * length / n
            out.append((self.x + c, self.y, r) if long_x else (self.x, self.y + c, r))
        return out


RGB = tuple[float, float, float]


@dataclass(frozen=True)
class ScenePalette:
    """Base colours (RGB, 0-255) of the plaza's ground and buildings; the texture shading is applied on top.

    The default is the synthetic plaza's fixed palette. :meth:`draw` gives another palette for each seed
    (scene randomization, ``vsync-synth --scenes``).

    Attributes:
        paving, ring, band: plaza slabs, the ring mosaic around the centre, the border band.
        pavement, road, grass: the strip around the plaza, the asphalt beyond it, the corners near the walls.
        buildings: facade colours the buildings are drawn from (any number >= 1).
    """

    paving: RGB = (172, 164, 150)
    ring: RGB = (150, 80, 62)
    band: RGB = (112, 110, 108)
    pavement: RGB = (150, 150, 146)
    road: RGB = (78, 80, 84)
    grass: RGB = (82, 128, 58)
    buildings: tuple[RGB, ...] = ((168, 92, 70), (214, 200, 172), (190, 186, 178), (150, 150, 160), (226, 220, 205),
                                  (120, 96, 80), (200, 170, 130))

    @classmethod
    def draw(cls, seed: int) -> ScenePalette:
        """A random palette, deterministic from ``seed`` (its own random stream, apart from the layout's).

        Hue, saturation and brightness of every surface vary within plausible ranges: greyish paving from
        dark to light, coloured mosaics, green to dry grass, facades of any hue, mostly muted.
        """
        rng = np.random.default_rng([int(seed), 202])

        def hsv(h_deg: float, s: float, v: float) -> RGB:  # float HSV: H in degrees, S and V in [0, 1]
            rgb = cv2.cvtColor(np.array([[[h_deg, s, v]]], np.float32), cv2.COLOR_HSV2RGB)
            return tuple(float(round(255.0 * x)) for x in rgb.reshape(3))

        paving_h, paving_v = rng.uniform(0, 360), rng.uniform(0.45, 0.8)
        return cls(
            paving=hsv(paving_h, rng.uniform(0.0, 0.2), paving_v),
            ring=hsv(rng.uniform(0, 360), rng.uniform(0.3, 0.7), rng.uniform(0.35, 0.7)),
            band=hsv(paving_h, rng.uniform(0.0, 0.15), paving_v * rng.uniform(0.55, 0.8)),
            pavement=hsv(rng.uniform(0, 360), rng.uniform(0.0, 0.1), rng.uniform(0.45, 0.7)),
            road=hsv(rng.uniform(180, 260), rng.uniform(0.0, 0.12), rng.uniform(0.2, 0.4)),
            grass=hsv(rng.uniform(60, 130), rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.6)),
            buildings=tuple(hsv(rng.uniform(0, 360), rng.uniform(0.05, 0.5), rng.uniform(0.4, 0.92))
                            for _ in range(7)),
        )


PLAZA_PALETTE = ScenePalette()


def _value_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Smooth noise in [-1, 1] (bicubic upsampling of a coarse random grid)."""
    h, w = shape
    coarse = rng.uniform(-1, 1, size=(h // cell + 3, w // cell + 3)).astype(np.float32)
    up = cv2.resize(coarse, ((w // cell + 3) * cell, (h // cell + 3) * cell), interpolation=cv2.INTER_CUBIC)
    return up[cell:cell + h, cell:cell + w]


def _pixel_rays(cam: Camera, uv: np.ndarray) -> np.ndarray:
    """(N, 3) unit world rays of pixels (same model as ``Camera.pixel_rays``, OpenCV's iterative undistortion)."""
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 1e-10)
    xn = cv2.undistortPoints(uv.reshape(-1, 1, 2).astype(np.float64), cam.K, cam.dist, None, None, None, crit)
    d = np.concatenate([xn.reshape(-1, 2), np.ones((len(uv), 1))], 1) @ cam.R
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def _sample(tex: np.ndarray, mu: np.ndarray, mv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of (N,) texel coordinates (cv2.remap needs maps under 32767 rows)."""
    n = len(mu)
    cols = 1024
    rows = -(-n // cols)
    pad = rows * cols - n
    mu = np.concatenate([mu, np.zeros(pad, np.float32)]).reshape(rows, cols)
    mv = np.concatenate([mv, np.zeros(pad, np.float32)]).reshape(rows, cols)
    smp = cv2.remap(tex, mu, mv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return smp.reshape(-1, 3)[:n].astype(np.float32)


def scene_box(region: GroundRegion, cameras: list[Camera] | None) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) metres of a scene: the region plus 12 m, grown to keep every camera 4 m inside."""
    x0, y0 = region.x0 - 12.0, region.y0 - 12.0
    x1, y1 = region.x0 + region.width_m + 12.0, region.y0 + region.height_m + 12.0
    for cam in cameras or []:
        c = cam.center
        x0, y0 = min(x0, c[0] - 4.0), min(y0, c[1] - 4.0)
        x1, y1 = max(x1, c[0] + 4.0), max(y1, c[1] + 4.0)
    return float(x0), float(y0), float(x1), float(y1)


def noisy_texture_pyramid(img: np.ndarray, noise_std: float, rng: np.random.Generator,
                          levels: int = 5) -> list[np.ndarray]:
    """A ground texture with Gaussian grain, as uint8, and its ``levels`` pyrDown halvings (finest first).

    Args:
        img: (H, W, 3) float32 texture in grey levels (modified in place by the grain).
        noise_std: grain standard deviation, grey levels. rng: the scene's generator (draws once).
    """
    img += rng.normal(0, noise_std, size=img.shape).astype(np.float32)
    pyr = [np.clip(img, 0, 255).astype(np.uint8)]
    for _ in range(levels):
        pyr.append(cv2.pyrDown(pyr[-1]))
    return pyr


class StaticScene:
    """The static plaza around ``region`` (deterministic from ``scene_seed``).

    Args:
        region: the ground region people are counted in.
        scene_seed: layout / texture seed.
        cameras: cameras that must stay inside the building box.
        n_posts, n_planters, n_benches: street furniture inside the region (none if a side is under 10 m).
        palette: ground and facade colours (default: the fixed plaza palette); the layout and textures
            still come from ``scene_seed`` alone.
    """

    def __init__(self, region: GroundRegion, scene_seed: int = 0, cameras: list[Camera] | None = None,
                 n_posts: int = 4, n_planters: int = 2, n_benches: int = 2,
                 palette: ScenePalette = PLAZA_PALETTE) -> None:
        self.region = region
        self.seed = int(scene_seed)
        self.palette = palette
        rng = np.random.default_rng([self.seed, 101])
        self.box = scene_box(region, cameras)
        if min(region.width_m, region.height_m) < 10.0:  # no street furniture in small regions
            n_posts = n_planters = n_benches = 0
        self.structures = self._layout(rng, n_posts, n_planters, n_benches)
        self._texture_pyramid = self._make_ground_texture(rng)
        self._buildings = self._make_buildings(rng)

    # ------------------------------------------------------------------ layout
    def _layout(self, rng: np.random.Generator, n_posts: int, n_planters: int, n_benches: int) -> list[Structure]:
        r = self.region
        out: list[Structure] = []
        placed: list[tuple[float, float, float]] = []

        def spot(clear: float, edge: float) -> tuple[float, float]:
            for _ in range(200):
                x = r.x0 + rng.uniform(edge, r.width_m - edge)
                y = r.y0 + rng.uniform(edge, r.height_m - edge)
                if all(math.hypot(x - px, y - py) > clear + pr for px, py, pr in placed):
                    return x, y
            return x, y

        for _ in range(n_posts):
            x, y = spot(3.0, 1.5)
            placed.append((x, y, 0.5))
            out.append(Structure('post', x, y, 0.07, 0.07, 4.2, (55, 62, 58), (235, 232, 210)))
        for _ in range(n_planters):
            x, y = spot(4.0, 3.0)
            s = rng.uniform(1.2, 1.7)
            placed.append((x, y, s))
            stone = tuple(int(c) for c in rng.uniform(140, 185) * np.array([1.0, 0.97, 0.9]))
            out.append(Structure('planter', x, y, s, s, rng.uniform(0.45, 0.6), stone, (60, 110, 45)))
        for _ in range(n_benches):
            x, y = spot(3.5, 2.5)
            along_x = rng.random() < 0.5
            sx, sy = (1.8, 0.5) if along_x else (0.5, 1.8)
            placed.append((x, y, 1.0))
            out.append(Structure('bench', x, y, sx, sy, 0.45, (110, 72, 40), (150, 100, 58)))
        return out

    def obstacles(self) -> np.ndarray:
        """(M, 3) circles (x, y, radius) of all structures."""
        circles = [c for s in self.structures for c in s.obstacle_circles()]
        return np.asarray(circles, dtype=np.float64).reshape(-1, 3)

    # ------------------------------------------------------------------ ground texture
    def _texel_grid(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        """(width, height, x, y) of the ground texture: texel-centre coordinates (h, w) in metres over ``box``."""
        x0, y0, x1, y1 = self.box
        w = int(math.ceil((x1 - x0) / TEXEL_M))
        h = int(math.ceil((y1 - y0) / TEXEL_M))
        xs = x0 + (np.arange(w, dtype=np.float32) + 0.5) * TEXEL_M
        ys = y0 + (np.arange(h, dtype=np.float32) + 0.5) * TEXEL_M
        gx, gy = np.meshgrid(xs, ys)
        return w, h, gx, gy

    def _make_ground_texture(self, rng: np.random.Generator) -> list[np.ndarray]:
        w, h, gx, gy = self._texel_grid()
        r = self.region
        rx0, ry0, rx1, ry1 = r.x0, r.y0, r.x0 + r.width_m, r.y0 + r.height_m
        # distance outside the region (0 inside)
        ddx = np.maximum(np.maximum(rx0 - gx, gx - rx1), 0)
        ddy = np.maximum(np.maximum(ry0 - gy, gy - ry1), 0)
        d_out = np.sqrt(ddx * ddx + ddy * ddy)

        low = _value_noise(rng, (h, w), 60)  # ~2.4 m blotches
        mid = _value_noise(rng, (h, w), 12)
        img = np.empty((h, w, 3), np.float32)

        # plaza paving: 0.8 m slabs with individual shades and joints
        tile = 0.8
        ti = np.floor((gx - rx0) / tile).astype(np.int64)
        tj = np.floor((gy - ry0) / tile).astype(np.int64)
        shade = (((ti * 73856093) ^ (tj * 19349663) ^ (self.seed * 83492791)) % 1000).astype(np.float32) / 1000.0
        pal = self.palette
        base = np.array(pal.paving, np.float32)
        paving = base[None, None, :] * (0.93 + 0.1 * shade[..., None] + 0.05 * low[..., None] + 0.025 * mid[..., None])
        fx = (gx - rx0) / tile - ti
        fy = (gy - ry0) / tile - tj
        joint = (np.minimum(fx, 1 - fx) < 0.03 / tile) | (np.minimum(fy, 1 - fy) < 0.03 / tile)
        paving[joint] *= 0.72
        # a brick-red ring mosaic around the plaza centre, and a darker border band
        cx, cy = rx0 + r.width_m / 2, ry0 + r.height_m / 2
        rad = np.hypot(gx - cx, gy - cy)
        ring = (np.abs(rad - 3.2) < 0.45) | (np.abs(rad - 1.2) < 0.25)
        paving[ring] = np.array(pal.ring, np.float32) * (0.92 + 0.08 * mid[ring, None])
        band = (d_out == 0) & ((np.minimum(gx - rx0, rx1 - gx) < 0.5) | (np.minimum(gy - ry0, ry1 - gy) < 0.5))
        paving[band] = np.array(pal.band, np.float32) * (0.95 + 0.05 * mid[band, None])
        img[:] = paving

        # pavement strip (1.5-4 m outside), asphalt road beyond, grass in the corners near the walls
        side = (d_out > 1.5) & (d_out <= 4.0)
        img[side] = np.array(pal.pavement, np.float32) * (0.95 + 0.05 * low[side, None])
        road = d_out > 4.0
        img[road] = np.array(pal.road, np.float32) * (0.92 + 0.08 * low[road, None] + 0.04 * mid[road, None])
        # dashed lane markings 7.5 m outside the region
        lane = road & (np.abs(d_out - 7.5) < 0.08) & (((gx + gy) % 3.0) < 1.6)
        img[lane] = (225, 225, 215)
        grass = road & (d_out > 10.0)
        img[grass] = np.array(pal.grass, np.float32) * (0.85 + 0.15 * low[grass, None] + 0.08 * mid[grass, None])

        return noisy_texture_pyramid(img, 4.0, rng)

    # ------------------------------------------------------------------ buildings
    def _make_buildings(self, rng: np.random.Generator) -> list[np.ndarray]:
        """Per wall (x0, x1, y0, y1 order): (K, 6) rows [start, end, height, r, g, b] along the wall."""
        x0, y0, x1, y1 = self.box
        palette = np.array(self.palette.buildings, np.float64)
        walls = []
        for length in (y1 - y0, y1 - y0, x1 - x0, x1 - x0):
            rows, s = [], 0.0
            while s < length:
                e = min(length, s + rng.uniform(6.0, 14.0))
                col = palette[rng.integers(len(palette))] * rng.uniform(0.9, 1.08)
                rows.append([s, e, rng.uniform(6.0, 16.0), *col])
                s = e
            walls.append(np.asarray(rows))
        return walls

    # ------------------------------------------------------------------ rendering
    def _ground_colour(self, xy: np.ndarray, footprint_m: np.ndarray) -> np.ndarray:
        x0, y0 = self.box[0], self.box[1]
        level = np.clip(np.log2(np.maximum(footprint_m, 1e-6) / TEXEL_M), 0, len(self._texture_pyramid) - 1)
        lo = np.floor(level).astype(np.int64)
        frac = (level - lo).astype(np.float32)
        out = np.zeros((len(xy), 3), np.float32)
        for lv in range(len(self._texture_pyramid)):
            w_lo = (lo == lv) * (1 - frac)
            w_hi = (lo + 1 == lv) * frac
            wgt = w_lo + w_hi
            sel = wgt > 0
            if not sel.any():
                continue
            tex = self._texture_pyramid[lv]
            scale = TEXEL_M * 2 ** lv
            mu = ((xy[sel, 0] - x0) / scale - 0.5).astype(np.float32)
            mv = ((xy[sel, 1] - y0) / scale - 0.5).astype(np.float32)
            out[sel] += wgt[sel, None] * _sample(tex, mu, mv)
        return out

    def _facade_colour(self, wall: int, along: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self._buildings[wall]
        k = np.clip(np.searchsorted(rows[:, 1], along, side='right'), 0, len(rows) - 1)
        height = rows[k, 2]
        inside = z <= height
        col = rows[k, 3:6].astype(np.float32)
        # windows: 2.6 m bays, 3.2 m floors; shop band on the ground floor
        bay = (along - rows[k, 0]) % 2.6
        floor = z % 3.2
        win = (z > 3.2) & (bay > 0.6) & (bay < 1.9) & (floor > 1.0) & (floor < 2.5) & (z < height - 0.8)
        shop = (z > 0.4) & (z < 2.6) & (bay > 0.3) & (bay < 2.3)
        idx = (np.floor((along - rows[k, 0]) / 2.6) * 31 + np.floor(z / 3.2) * 17 + wall * 7) % 5
        glass = np.stack([70 + 8 * idx, 85 + 8 * idx, 105 + 6 * idx], 1).astype(np.float32)
        col = np.where((win | shop)[:, None], glass, col)
        cornice = (z > height - 0.35)
        col = np.where(cornice[:, None], col * 0.75, col)
        return col, inside

    def render_background(self, camera: Camera, supersample: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 RGB background and (H, W) float32 depth of structures (inf elsewhere)."""
        W, H = camera.width, camera.height
        cam = camera.scaled(W * supersample, H * supersample) if supersample > 1 else camera
        w, h = cam.width, cam.height
        gu, gv = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        rays = _pixel_rays(cam, np.stack([gu.ravel(), gv.ravel()], 1))
        c = cam.center
        n = len(rays)
        best = np.full(n, np.inf)
        colour = np.zeros((n, 3), np.float32)
        # sky gradient
        elev = np.clip(rays[:, 2], -0.2, 1.0)
        sky_lo = np.array([205, 220, 238], np.float32)
        sky_hi = np.array([112, 152, 212], np.float32)
        a = np.clip(elev / 0.6, 0, 1)[:, None].astype(np.float32)
        colour[:] = sky_lo * (1 - a) + sky_hi * a
        # ground
        with np.errstate(divide='ignore', invalid='ignore'):
            s_g = -c[2] / rays[:, 2]
        hit_g = (rays[:, 2] < -1e-6) & (s_g > 0)
        x0, y0, x1, y1 = self.box
        gp = c[None, :2] + s_g[:, None] * rays[:, :2]
        hit_g &= (gp[:, 0] >= x0) & (gp[:, 0] <= x1) & (gp[:, 1] >= y0) & (gp[:, 1] <= y1)
        best[hit_g] = s_g[hit_g]
        # walls: x = x0, x = x1, y = y0, y = y1 (facing inward)
        wall_defs = [(0, x0, 1, y0), (0, x1, 1, y0), (1, y0, 0, x0), (1, y1, 0, x0)]
        for wi, (axis, val, other, start) in enumerate(wall_defs):
            with np.errstate(divide='ignore', invalid='ignore'):
                s = (val - c[axis]) / rays[:, axis]
            ok = (s > 0) & (s < best)
            p_other = c[other] + s * rays[:, other]
            z = c[2] + s * rays[:, 2]
            along = p_other - start
            ok &= (z >= 0) & (along >= 0) & (along <= (y1 - y0 if axis == 0 else x1 - x0))
            if not ok.any():
                continue
            col, inside = self._facade_colour(wi, along[ok], z[ok])
            idx = np.flatnonzero(ok)[inside]
            best[idx] = s[idx]
            colour[idx] = col[inside] * (0.8 + 0.25 * (wi % 2))
        g = hit_g & (best == s_g)
        if g.any():
            # pixel footprint on the ground: distance * pixel angle / |cos(incidence)|
            dist = s_g[g]
            pix_angle = 1.0 / cam.K[0, 0]
            foot = dist * pix_angle / np.maximum(np.abs(rays[g, 2]), 0.05)
            colour[g] = self._ground_colour(gp[g], foot)
        # aerial perspective: distant things fade toward the horizon colour
        far = np.where(np.isfinite(best), best, 200.0)
        fog = np.clip((far - 25.0) / 150.0, 0, 0.35)[:, None].astype(np.float32)
        colour = colour * (1 - fog) + sky_lo * fog
        img = np.clip(colour, 0, 255).reshape(h, w, 3).astype(np.uint8)
        depth = np.full((h, w), np.inf, np.float32)
        self._draw_structures(img, depth, cam)
        if supersample > 1:
            img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
            depth = depth.reshape(H, supersample, W, supersample).min(axis=(1, 3))
        return img, depth

    def _draw_structures(self, img: np.ndarray, depth: np.ndarray, cam: Camera) -> None:
        order = sorted(self.structures, key=lambda s: -float(cam.world_to_camera([[s.x, s.y, s.h / 2]])[0, 2]))
        for s in order:
            d = float(cam.world_to_camera([[s.x, s.y, s.h / 2]])[0, 2])
            if d <= 0.3:
                continue
            if s.kind == 'post':
                ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
                ring = np.stack([s.x + s.sx * np.cos(ang), s.y + s.sx * np.sin(ang)], 1)
                solids = [(np.vstack([np.c_[ring, np.zeros(12)], np.c_[ring, np.full(12, s.h)]]), s.color)]
                head = np.stack([s.x + 0.22 * np.cos(ang), s.y + 0.22 * np.sin(ang)], 1)
                solids.append((np.vstack([np.c_[head, np.full(12, s.h - 0.1)], np.c_[head, np.full(12, s.h + 0.25)]]),
                               s.top_color))
            else:
                hx, hy = s.sx / 2, s.sy / 2
                corners = np.array([[s.x - hx, s.y - hy], [s.x + hx, s.y - hy], [s.x + hx, s.y + hy],
                                    [s.x - hx, s.y + hy]])
                box = np.vstack([np.c_[corners, np.zeros(4)], np.c_[corners, np.full(4, s.h)]])
                rim = 0.12 if s.kind == 'planter' else 0.0
                inner = corners + rim * np.sign(np.array([[s.x, s.y]]) - corners)
                top = np.c_[inner, np.full(4, s.h + 0.01)]
                lid = np.c_[corners, np.full(4, s.h)]
                solids = [(box, tuple(0.82 * c for c in s.color)), (lid, s.color), (top, s.top_color)]
            for pts, col in solids:
                uv, z = project_for_drawing(cam, pts)
                if np.any(z <= 0.05) or not np.all(np.isfinite(uv)):
                    continue
                hull = cv2.convexHull((uv * 16).round().astype(np.int32))
                shade = tuple(int(c) for c in col)
                cv2.fillConvexPoly(img, hull, shade, lineType=cv2.LINE_AA, shift=4)
                cv2.fillConvexPoly(depth, hull, float(d), lineType=cv2.LINE_8, shift=4)
