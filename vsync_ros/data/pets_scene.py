"""A PETS2009-like static scene for the real PETS2009 rig (scene style ``pets`` of a CrowdWorld).

The layout follows the real scene seen by View_001 (University of Reading campus), placed in the PETS
world frame (metres, ground z = 0) by back-projecting the reference frame through the real
calibration: lawn in front of View_001 (x < -10 m) and between the roads, a road running north
(x = -10 .. -4 m) with a branch east (y = -10 .. -3 m), a paved strip and kerbs along it, footpaths
across the lawn (one along y = 31.5 m where the far-field people of S1L1-2 walk) to a brick
building (x = 12 .. 24 m, y = -2 .. 12 m), more brick buildings to the north-east and south-east,
tree lines and far buildings around the edge, and lamp posts along the road (one where the real one
stands, at (-13.7, -10.6) m).

Rendering reuses :class:`~vsync_ros.data.scene.StaticScene`'s machinery (per-pixel ray casting of the
ground texture with mip-mapping, 2x supersampling, convex street furniture with a depth image);
buildings are ray-cast oriented boxes written into the structure depth image, so people behind them
are hidden. Nothing here changes the plaza scene (its rendering path and random draws are untouched).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vsync_ros.data.scene import (
    SUN_DIR,
    StaticScene,
    Structure,
    _pixel_rays,
    _value_noise,
    noisy_texture_pyramid,
    scene_box,
)
from vsync_ros.geometry.camera import Camera
from vsync_ros.geometry.ground import GroundRegion

#: ground colours (RGB, 0-255)
GRASS = np.array([74, 108, 46], np.float32)
ASPHALT = np.array([104, 105, 108], np.float32)
PAVING = np.array([128, 126, 120], np.float32)
KERB = np.array([176, 174, 166], np.float32)
GRAVEL = np.array([150, 142, 126], np.float32)
YELLOW = np.array([205, 175, 60], np.float32)
BRICK = np.array([150, 92, 70], np.float32)
SKY_LOW = np.array([214, 220, 226], np.float32)   # overcast winter sky
SKY_HIGH = np.array([176, 188, 204], np.float32)

#: road centre lines (x0, y0, x1, y1) and half widths, metres
ROADS = (((-7.0, -80.0, -7.0, 80.0), 3.0), ((-7.0, -6.5, 80.0, -6.5), 3.5))
#: paved strips (sidewalks) under the roads: segments and half widths, metres
PAVED = (((-2.3, -3.0, -2.3, 16.5), 1.8),)
#: gravel / concrete footpaths across the lawns: segments and half widths, metres
PATHS = (((-0.5, 16.0, 11.5, 16.5), 1.0), ((11.5, 16.5, 16.0, 31.5), 1.0), ((10.0, 31.5, 60.0, 31.5), 1.2))


@dataclass(frozen=True)
class Building:
    """A box-shaped building: centre (cx, cy), length along its heading, depth across it, height (m).

    ``angle_deg`` is the heading of the length axis from +x (counter-clockwise); ``colour`` RGB
    0-255; ``storey_m`` floor height; ``glass_band``: a ground floor of large dark windows.
    """

    cx: float
    cy: float
    length: float
    depth: float
    height: float
    angle_deg: float
    colour: tuple[int, int, int]
    storey_m: float = 3.2
    glass_band: bool = False

    def corners(self) -> np.ndarray:
        """(4, 2) footprint corners, metres."""
        a = math.radians(self.angle_deg)
        u = np.array([math.cos(a), math.sin(a)])
        v = np.array([-math.sin(a), math.cos(a)])
        hl, hd = self.length / 2, self.depth / 2
        c = np.array([self.cx, self.cy])
        return np.stack([c - hl * u - hd * v, c + hl * u - hd * v, c + hl * u + hd * v, c - hl * u + hd * v])

    def contains(self, xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """(N,) bool: ground points ``xy`` (N, 2) inside the footprint grown by ``margin`` metres."""
        a = math.radians(self.angle_deg)
        d = np.asarray(xy, np.float64).reshape(-1, 2) - np.array([self.cx, self.cy])
        lu = d[:, 0] * math.cos(a) + d[:, 1] * math.sin(a)
        lv = -d[:, 0] * math.sin(a) + d[:, 1] * math.cos(a)
        return (np.abs(lu) <= self.length / 2 + margin) & (np.abs(lv) <= self.depth / 2 + margin)


#: brick buildings around the lawns (clear of every annotated PETS2009 trajectory, see the tests)
BUILDINGS = (
    Building(18.0, 5.0, 14.0, 12.0, 9.5, 90.0, (150, 90, 68), glass_band=True),     # behind the lamp in View_001
    Building(30.0, 18.0, 12.0, 10.0, 11.0, 0.0, (158, 102, 78)),                    # north-east wing
    Building(22.0, 36.5, 26.0, 4.5, 12.0, 0.0, (146, 88, 66)),                      # far north (top left of View_001)
    Building(24.0, -20.0, 20.0, 10.0, 8.0, 0.0, (214, 206, 190), glass_band=True),  # across the east road
    Building(-26.0, 34.0, 20.0, 9.0, 10.0, 0.0, (152, 96, 74)),                     # north-west
    Building(8.0, -38.0, 16.0, 9.0, 7.0, 0.0, (160, 104, 80)),                      # south, seen by View_002/003
)
#: lamp posts (x, y) metres; the first stands where the real one does
LAMP_POSTS = ((-13.7, -10.6), (-11.6, 12.0), (-11.6, 34.0), (4.0, -11.8), (-13.4, -32.0))


def _segment_distance(gx: np.ndarray, gy: np.ndarray, seg: tuple[float, float, float, float]) -> np.ndarray:
    """Distance (m) of points (gx, gy) to the segment (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = seg
    dx, dy = x1 - x0, y1 - y0
    s = np.clip(((gx - x0) * dx + (gy - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    return np.hypot(gx - (x0 + s * dx), gy - (y0 + s * dy))


class PetsScene(StaticScene):
    """The PETS2009-like scene around ``region`` (deterministic from ``scene_seed``; see the module docstring).

    Args:
        region: the ground region people are counted in (PETS: :data:`~vsync_ros.data.readers.pets2009.PETS_REGION`).
        scene_seed: texture seed (the layout is fixed: it follows the real scene).
        cameras: cameras that must stay inside the scene box.
        furniture: place the lamp posts.
    """

    style = 'pets'

    def __init__(self, region: GroundRegion, scene_seed: int = 0, cameras: list[Camera] | None = None,
                 furniture: bool = True) -> None:
        self.region = region
        self.seed = int(scene_seed)
        rng = np.random.default_rng([self.seed, 202])
        for cam in cameras or []:
            if any(b.contains(cam.center[None, :2], 0.5)[0] for b in BUILDINGS):
                raise ValueError(f'camera {cam.name} stands inside a building of the PETS scene')
        self.box = scene_box(region, cameras)
        self.buildings = BUILDINGS
        self.structures = [Structure('post', x, y, 0.08, 0.08, 8.0, (70, 74, 72), (225, 225, 215))
                           for x, y in LAMP_POSTS] if furniture else []
        self._texture_pyramid = self._make_ground_texture(rng)
        self._edges = self._make_edges(rng)

    # ------------------------------------------------------------------ layout
    def obstacles(self) -> np.ndarray:
        """(M, 3) circles (x, y, radius) of the lamp posts and (covering) the building footprints."""
        circles = [tuple(c) for c in super().obstacles()]
        for b in self.buildings:
            n = max(1, int(math.ceil(b.length / b.depth)))
            r = 0.5 * math.hypot(b.length / n, b.depth)
            a = math.radians(b.angle_deg)
            for i in range(n):
                c = -b.length / 2 + (i + 0.5) * b.length / n
                circles.append((b.cx + c * math.cos(a), b.cy + c * math.sin(a), r))
        return np.asarray(circles, dtype=np.float64).reshape(-1, 3)

    # ------------------------------------------------------------------ ground texture
    def _make_ground_texture(self, rng: np.random.Generator) -> list[np.ndarray]:
        w, h, gx, gy = self._texel_grid()
        low = _value_noise(rng, (h, w), 90)    # ~3.6 m patches
        mid = _value_noise(rng, (h, w), 15)    # ~0.6 m
        fine = _value_noise(rng, (h, w), 3)
        # lawn: patchy green, slightly yellow in worn patches, faint mowing stripes (1.2 m)
        stripes = 0.03 * np.sign(np.sin(gx * (np.pi / 1.2) + 0.4 * gy * (np.pi / 1.2)))
        worn = np.clip(low, 0, 1)[..., None]
        img = GRASS[None, None, :] * (0.92 + 0.12 * low[..., None] + 0.06 * mid[..., None]
                                      + 0.05 * fine[..., None] + stripes[..., None])
        img = img * (1 - 0.25 * worn) + np.array([112, 118, 66], np.float32) * 0.25 * worn
        for seg, half in PATHS:
            d = _segment_distance(gx, gy, seg)
            m = d < half
            img[m] = GRAVEL * (0.94 + 0.06 * mid[m, None] + 0.04 * fine[m, None])
        for seg, half in PAVED:
            d = _segment_distance(gx, gy, seg)
            m = d < half
            img[m] = PAVING * (0.95 + 0.05 * low[m, None] + 0.03 * fine[m, None])
            slab = (np.abs(((gx + gy) / 0.6) % 1.0 - 0.5) < 0.04) & m
            img[slab] *= 0.85
        road_d = np.full(gx.shape, np.inf, np.float32)
        for seg, half in ROADS:
            road_d = np.minimum(road_d, _segment_distance(gx, gy, seg) - half)
        road = road_d < 0
        img[road] = ASPHALT * (0.93 + 0.06 * low[road, None] + 0.04 * mid[road, None] + 0.03 * fine[road, None])
        kerb = (road_d >= 0) & (road_d < 0.18)
        img[kerb] = KERB * (0.96 + 0.04 * fine[kerb, None])
        # double yellow lines along the south kerb of the east road, as in View_001
        east = (gx > -3.0) & road
        for off in (0.25, 0.45):
            line = east & (np.abs(gy - (-10.0 + off)) < 0.05)
            img[line] = YELLOW
        return noisy_texture_pyramid(img, 3.0, rng)

    # ------------------------------------------------------------------ edges of the scene box
    def _make_edges(self, rng: np.random.Generator) -> list[np.ndarray]:
        """Per box wall (x0, x1, y0, y1): (K, 6) rows [start, end, height, kind, shade, phase].

        kind 0 = tree line (dark green, ragged top), 1 = far brick building.
        """
        x0, y0, x1, y1 = self.box
        walls = []
        for length in (y1 - y0, y1 - y0, x1 - x0, x1 - x0):
            rows, s = [], 0.0
            while s < length:
                e = min(length, s + rng.uniform(10.0, 25.0))
                kind = float(rng.random() < 0.35)
                height = rng.uniform(8.0, 14.0) if kind else rng.uniform(9.0, 15.0)
                rows.append([s, e, height, kind, rng.uniform(0.85, 1.1), rng.uniform(0, 2 * np.pi)])
                s = e
            walls.append(np.asarray(rows))
        return walls

    @staticmethod
    def _facade(along: np.ndarray, z: np.ndarray, height: np.ndarray, base: np.ndarray, storey: float,
                glass_band: np.ndarray, seed: int) -> np.ndarray:
        """Brick facade colour (N, 3) at ``along`` / ``z`` metres: windows per storey, dark roof edge."""
        bay = along % 3.0
        floor = z % storey
        nfloor = np.floor(z / storey)
        win = (z > storey) & (bay > 0.8) & (bay < 2.2) & (floor > 0.9) & (floor < 2.5) & (z < height - 0.6)
        band = glass_band & (z > 0.3) & (z < 2.7) & (bay > 0.15) & (bay < 2.85)
        brick_n = ((np.floor(along / 0.23) * 73856093 + np.floor(z / 0.075) * 19349663 + seed) % 97) / 97.0
        col = base * (0.93 + 0.1 * brick_n[:, None])
        lit = ((np.floor(along / 3.0) * 31 + nfloor * 17 + seed) % 7) == 0
        glass = np.where(lit[:, None], np.array([150, 150, 140], np.float32), np.array([52, 58, 66], np.float32))
        col = np.where((win | band)[:, None], glass, col)
        frame = (win & ((np.abs(bay - 0.8) < 0.08) | (np.abs(bay - 2.2) < 0.08) | (np.abs(bay - 1.5) < 0.05)))
        col = np.where(frame[:, None], np.array([225, 225, 220], np.float32), col)
        col = np.where((z > height - 0.4)[:, None], col * 0.7, col)
        return col.astype(np.float32)

    # ------------------------------------------------------------------ rendering
    def render_background(self, camera: Camera, supersample: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 RGB background and (H, W) float32 camera depth (m) of buildings and posts (inf elsewhere)."""
        W, H = camera.width, camera.height
        cam = camera.scaled(W * supersample, H * supersample) if supersample > 1 else camera
        w, h = cam.width, cam.height
        gu, gv = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        rays = _pixel_rays(cam, np.stack([gu.ravel(), gv.ravel()], 1))
        c = cam.center
        axis = cam.R[2]
        n = len(rays)
        best = np.full(n, np.inf)
        solid = np.zeros(n, bool)  # building / tree hits (written to the depth image)
        a = np.clip(rays[:, 2] / 0.5, 0, 1)[:, None].astype(np.float32)
        colour = SKY_LOW * (1 - a) + SKY_HIGH * a
        x0, y0, x1, y1 = self.box
        with np.errstate(divide='ignore', invalid='ignore'):
            s_g = -c[2] / rays[:, 2]
        gp = c[None, :2] + s_g[:, None] * rays[:, :2]
        hit_g = (rays[:, 2] < -1e-6) & (s_g > 0)
        hit_g &= (gp[:, 0] >= x0) & (gp[:, 0] <= x1) & (gp[:, 1] >= y0) & (gp[:, 1] <= y1)
        best[hit_g] = s_g[hit_g]
        # edges of the box: tree lines and far buildings facing inward
        wall_defs = [(0, x0, 1, y0), (0, x1, 1, y0), (1, y0, 0, x0), (1, y1, 0, x0)]
        for wi, (ax, val, other, start) in enumerate(wall_defs):
            with np.errstate(divide='ignore', invalid='ignore'):
                s = (val - c[ax]) / rays[:, ax]
            z = c[2] + s * rays[:, 2]
            along = c[other] + s * rays[:, other] - start
            ok = (s > 0) & (s < best) & (z >= 0) & (along >= 0) & (along <= (y1 - y0 if ax == 0 else x1 - x0))
            if not ok.any():
                continue
            rows = self._edges[wi]
            idx = np.flatnonzero(ok)
            k = np.clip(np.searchsorted(rows[:, 1], along[idx], side='right'), 0, len(rows) - 1)
            kind, shade, ph = rows[k, 3], rows[k, 4], rows[k, 5]
            al, zz = along[idx], z[idx]
            ragged = rows[k, 2] + 1.5 * np.sin(al * 1.3 + ph) + 0.8 * np.sin(al * 3.7 + 2 * ph)
            top = np.where(kind > 0, rows[k, 2], ragged)
            inside = zz <= top
            tree = np.array([54, 72, 44], np.float32) * (0.85 + 0.15 * np.sin(al * 5.1 + zz * 3.3 + ph))[:, None]
            brick = self._facade(al, zz, top, BRICK * 0.95, 3.2, np.zeros(len(al), bool), wi)
            col = np.where((kind > 0)[:, None], brick, tree) * shade[:, None].astype(np.float32)
            hit = idx[inside]
            best[hit] = s[hit]
            colour[hit] = col[inside]
            solid[hit] = True
        # buildings: oriented boxes, slab intersection in each building's frame
        for bi, b in enumerate(self.buildings):
            ang = math.radians(b.angle_deg)
            ca, sa = math.cos(ang), math.sin(ang)
            o = np.array([(c[0] - b.cx) * ca + (c[1] - b.cy) * sa, -(c[0] - b.cx) * sa + (c[1] - b.cy) * ca, c[2]])
            d = np.stack([rays[:, 0] * ca + rays[:, 1] * sa, -rays[:, 0] * sa + rays[:, 1] * ca, rays[:, 2]], 1)
            lo = np.array([-b.length / 2, -b.depth / 2, 0.0])
            hi = np.array([b.length / 2, b.depth / 2, b.height])
            with np.errstate(divide='ignore', invalid='ignore'):
                t1 = (lo[None, :] - o[None, :]) / d
                t2 = (hi[None, :] - o[None, :]) / d
            tmin = np.where(np.isnan(t1), -np.inf, np.minimum(t1, t2))
            tmax = np.where(np.isnan(t1), np.inf, np.maximum(t1, t2))
            t_in = tmin.max(1)
            t_out = tmax.min(1)
            ok = (t_in <= t_out) & (t_in > 0) & (t_in < best)
            if not ok.any():
                continue
            idx = np.flatnonzero(ok)
            face = np.argmax(tmin[idx], axis=1)             # 0: +-x (length ends), 1: +-y (long sides), 2: roof
            p = o[None, :] + t_in[idx, None] * d[idx]
            along = np.where(face == 0, p[:, 1] + b.depth / 2, p[:, 0] + b.length / 2)
            zz = np.clip(p[:, 2], 0, b.height)
            base = np.array(b.colour, np.float32)
            col = self._facade(along, zz, np.full(len(idx), b.height), base, b.storey_m,
                               np.full(len(idx), b.glass_band) & (face == 1), 11 * bi)
            # side shading from the sun: the face normal (world) against the sun direction
            nl = np.zeros((len(idx), 2))
            nl[face == 0, 0] = np.sign(p[face == 0, 0])
            nl[face == 1, 1] = np.sign(p[face == 1, 1])
            nw = np.stack([nl[:, 0] * ca - nl[:, 1] * sa, nl[:, 0] * sa + nl[:, 1] * ca], 1)
            lit = 0.72 + 0.35 * np.clip(nw @ SUN_DIR[:2] / np.linalg.norm(SUN_DIR[:2]), 0, 1)
            col = col * lit[:, None].astype(np.float32)
            col[face == 2] = np.array([72, 70, 72], np.float32)
            best[idx] = t_in[idx]
            colour[idx] = col
            solid[idx] = True
        g = hit_g & (best == s_g)
        if g.any():
            foot = s_g[g] / cam.K[0, 0] / np.maximum(np.abs(rays[g, 2]), 0.05)
            colour[g] = self._ground_colour(gp[g], foot)
        far = np.where(np.isfinite(best), best, 200.0)
        fog = np.clip((far - 30.0) / 140.0, 0, 0.3)[:, None].astype(np.float32)
        colour = colour * (1 - fog) + SKY_LOW * fog
        img = np.clip(colour, 0, 255).reshape(h, w, 3).astype(np.uint8)
        depth = np.where(solid, best * (rays @ axis), np.inf).astype(np.float32).reshape(h, w)
        self._draw_structures(img, depth, cam)
        if supersample > 1:
            img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
            depth = depth.reshape(H, supersample, W, supersample).min(axis=(1, 3))
        return img, depth
