"""Continuous-time pedestrian simulator (social-force model) on a ground region.

People walk between random way-points at their preferred speed (1.0-1.6 m/s by default), steer
smoothly (velocity relaxes toward the desired one), avoid each other and static obstacles with
exponential repulsion (Helbing & Molnar), sometimes pause, and enter / leave through the border of
the walk area (the region plus a margin). The population follows a slowly varying target between
``n_people[0]`` and ``n_people[1]``.

The simulation runs on a fixed step (``sim_dt_s``) from ``t_start_s`` and is extended lazily; the
state at any time ``t`` is a cubic Hermite interpolation of the two surrounding steps, so positions
are smooth and every query at the same ``t`` returns the same numbers. Everything is a pure
function of the seed (the steps are always simulated in order, whatever the query order).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from vsync_ros.geometry.ground import GroundRegion


@dataclass(frozen=True)
class Appearance:
    """Body size and colours of one person (RGB uint8 triples)."""

    height_m: float
    width_m: float
    speed_mps: float
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shoes: tuple[int, int, int]
    long_sleeves: bool


_SKIN = np.array([[255, 219, 172], [241, 194, 125], [224, 172, 105], [198, 134, 66], [141, 85, 36],
                  [100, 60, 30], [234, 192, 160]], dtype=np.float64)
_HAIR = np.array([[30, 22, 18], [60, 40, 25], [95, 65, 40], [180, 150, 90], [140, 140, 140], [20, 20, 20],
                  [120, 60, 30]], dtype=np.float64)
_TROUSERS = np.array([[30, 40, 80], [25, 25, 30], [70, 70, 75], [170, 150, 110], [50, 60, 110], [90, 60, 40],
                      [200, 200, 195]], dtype=np.float64)


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return int(round(255 * r)), int(round(255 * g)), int(round(255 * b))


def _jitter(rng: np.random.Generator, rgb: np.ndarray, amount: float) -> tuple[int, int, int]:
    c = np.clip(rgb * rng.uniform(1 - amount, 1 + amount) + rng.normal(0, 6, 3), 0, 255)
    return tuple(int(round(x)) for x in c)


def make_appearance(seed: int, pid: int, height_range=(1.6, 1.9), width_range=(0.42, 0.55),
                    speed_range=(1.0, 1.6)) -> Appearance:
    """Deterministic appearance of person ``pid`` (varied, mostly saturated clothing colours)."""
    rng = np.random.default_rng([int(seed), 11, int(pid)])
    height = float(rng.uniform(*height_range))
    width = float(rng.uniform(*width_range)) * (0.9 + 0.1 * (height - 1.6) / 0.3)
    speed = float(rng.uniform(*speed_range))
    if rng.random() < 0.8:  # colourful top
        shirt = _hsv_to_rgb(rng.random(), rng.uniform(0.45, 0.95), rng.uniform(0.45, 0.95))
    else:  # neutral top: black / grey / white
        g = rng.choice([25.0, 90.0, 160.0, 235.0])
        shirt = _jitter(rng, np.array([g, g, g]), 0.08)
    if rng.random() < 0.65:
        trousers = _jitter(rng, _TROUSERS[rng.integers(len(_TROUSERS))], 0.12)
    else:
        trousers = _hsv_to_rgb(rng.random(), rng.uniform(0.3, 0.8), rng.uniform(0.25, 0.7))
    skin = _jitter(rng, _SKIN[rng.integers(len(_SKIN))], 0.06)
    hair = _jitter(rng, _HAIR[rng.integers(len(_HAIR))], 0.1)
    shoes = _jitter(rng, np.array([35.0, 30.0, 28.0]) * rng.uniform(0.6, 2.5), 0.1)
    return Appearance(height, width, speed, shirt, trousers, skin, hair, shoes, bool(rng.random() < 0.6))


class CrowdState(NamedTuple):
    """People present at one instant (arrays of length N, sorted by person id).

    Attributes:
        ids: (N,) int person ids (unique over the whole simulation).
        xy: (N, 2) ground position (m).
        vel: (N, 2) velocity (m/s).
        heading: (N,) walking direction angle (rad, atan2(vy, vx)); kept while standing.
        walk_m: (N,) distance walked so far (m), drives the gait animation.
    """

    ids: np.ndarray
    xy: np.ndarray
    vel: np.ndarray
    heading: np.ndarray
    walk_m: np.ndarray


@dataclass(frozen=True)
class CrowdParams:
    """Simulation parameters (defaults: a PETS2009-like plaza crowd).

    ``refill_hz``: extra entry rate per missing person (Hz per person below the target). At the fixed
    ``spawn_rate_hz`` (0.8 Hz) people leave about as fast as they come once some 40 are in the walk area,
    so larger targets are never reached; with ``refill_hz`` > 0 the entry rate is ``spawn_rate_hz +
    refill_hz * (target - present)`` (at most one person per simulation step), and the crowd follows
    targets up to 60 and more. 0 (the default) keeps the fixed rate (and the same trajectories as before).
    """

    n_people: tuple[int, int] = (10, 30)
    margin_m: float = 3.0
    speed_mps: tuple[float, float] = (1.0, 1.6)
    height_m: tuple[float, float] = (1.6, 1.9)
    width_m: tuple[float, float] = (0.42, 0.55)
    pause_prob: float = 0.25
    pause_s: tuple[float, float] = (1.0, 6.0)
    waypoints: tuple[int, int] = (1, 4)
    spawn_rate_hz: float = 0.8
    target_period_s: float = 40.0
    sim_dt_s: float = 0.1
    t_start_s: float = -60.0
    refill_hz: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.n_people
        if not (0 <= lo <= hi) or hi < 1:
            raise ValueError(f'n_people must be 0 <= min <= max, max >= 1; got {self.n_people}')
        if self.sim_dt_s <= 0 or self.margin_m < 0:
            raise ValueError('sim_dt_s must be > 0 and margin_m >= 0')
        if not (0 < self.speed_mps[0] <= self.speed_mps[1]):
            raise ValueError('speed range must be positive')
        if self.refill_hz < 0:
            raise ValueError(f'refill_hz must be >= 0, got {self.refill_hz}')


REFILL_ABOVE = 30  # the fixed entry rate sustains crowds up to about this many people
REFILL_HZ = 0.3  # extra entry rate per missing person (Hz) of larger crowds


def crowd_params(n_min: int, n_max: int) -> CrowdParams:
    """Crowd parameters for a target range of ``n_min``-``n_max`` people (``vsync-synth --people``).

    Up to :data:`REFILL_ABOVE` people: the defaults (the same crowds as ever). Larger maxima also refill
    the crowd faster (``refill_hz`` = :data:`REFILL_HZ`), so that e.g. 5-60 reaches 60 people.
    """
    return CrowdParams(n_people=(n_min, n_max), refill_hz=REFILL_HZ if n_max > REFILL_ABOVE else 0.0)


# social-force constants
_A_PEOPLE, _B_PEOPLE, _R_PEOPLE, _LAMBDA = 2.2, 0.35, 0.6, 0.35
_A_OBST, _B_OBST = 4.0, 0.25
_TAU_S = 0.55
_NOISE = 0.25  # m/s^2 random acceleration
_GOAL_TOL_M = 0.5
_OUTSIDE_M = 1.5  # people enter / leave this far outside the walk area


class CrowdSimulator:
    """Lazily extended social-force simulation; query with :meth:`state`.

    Args:
        region: the ground region of interest (people are counted inside it).
        params: simulation parameters.
        seed: random seed (trajectories and appearances).
        obstacles: (M, 3) static circles (x, y, radius) people avoid; way-points avoid them too.
    """

    def __init__(self, region: GroundRegion, params: CrowdParams | None = None, seed: int = 0,
                 obstacles: np.ndarray | None = None) -> None:
        self.region = region
        self.params = params or CrowdParams()
        self.seed = int(seed)
        self.obstacles = np.zeros((0, 3)) if obstacles is None else np.asarray(obstacles, np.float64).reshape(-1, 3)
        p = self.params
        m = p.margin_m
        self.walk_box = (region.x0 - m, region.y0 - m, region.x0 + region.width_m + m, region.y0 + region.height_m + m)
        self.capacity = int(p.n_people[1])
        self._rng = np.random.default_rng([self.seed, 3])
        self._knots: dict[int, float] = {}
        cap = self.capacity
        # live state
        self._pid = np.full(cap, -1, np.int64)
        self._pos = np.zeros((cap, 2))
        self._vel = np.zeros((cap, 2))
        self._heading = np.zeros(cap)
        self._walk = np.zeros(cap)
        self._goal = np.zeros((cap, 2))
        self._exiting = np.zeros(cap, bool)
        self._pause_until = np.full(cap, -np.inf)
        self._wp_left = np.zeros(cap, np.int64)
        self._speed = np.ones(cap)
        self._next_pid = 0
        self._t = p.t_start_s
        # history (grown by doubling)
        self._n_steps = 0
        self._h_pid = np.zeros((0, cap), np.int64)
        self._h_pos = np.zeros((0, cap, 2))
        self._h_vel = np.zeros((0, cap, 2))
        self._h_head = np.zeros((0, cap))
        self._h_walk = np.zeros((0, cap))
        self._initial_population()
        self._record()

    # ------------------------------------------------------------------ appearance / target
    def appearance(self, pid: int) -> Appearance:
        """Appearance (size, colours, preferred speed) of person ``pid``."""
        return _appearance_cached(self.seed, int(pid), self.params.height_m, self.params.width_m,
                                  self.params.speed_mps)

    def target_population(self, t: float) -> float:
        """Slowly varying target number of people in the walk area at time ``t``."""
        p = self.params
        lo, hi = p.n_people
        u = (t - p.t_start_s) / p.target_period_s
        k = math.floor(u)
        a, b = self._knot(k), self._knot(k + 1)
        w = 0.5 - 0.5 * math.cos(math.pi * (u - k))
        return float(a + (b - a) * w)

    def _knot(self, k: int) -> float:
        if k not in self._knots:
            lo, hi = self.params.n_people
            self._knots[k] = float(np.random.default_rng([self.seed, 7, k]).uniform(lo, hi))
        return self._knots[k]

    # ------------------------------------------------------------------ sampling helpers
    def _free(self, xy: np.ndarray, clearance: float) -> np.ndarray:
        if len(self.obstacles) == 0:
            return np.ones(len(xy), bool)
        d = np.linalg.norm(xy[:, None, :] - self.obstacles[None, :, :2], axis=2) - self.obstacles[None, :, 2]
        return (d > clearance).all(1)

    def _waypoint(self) -> np.ndarray:
        r = self.region
        for _ in range(50):
            if self._rng.random() < 0.85:  # mostly inside the region, sometimes in the margin
                xy = np.array([r.x0 + self._rng.uniform(0.5, r.width_m - 0.5),
                               r.y0 + self._rng.uniform(0.5, r.height_m - 0.5)])
            else:
                x0, y0, x1, y1 = self.walk_box
                xy = np.array([self._rng.uniform(x0, x1), self._rng.uniform(y0, y1)])
            if self._free(xy[None], 0.6)[0]:
                return xy
        return xy

    def _border_point(self) -> np.ndarray:
        x0, y0, x1, y1 = self.walk_box
        o = _OUTSIDE_M
        w, h = x1 - x0, y1 - y0
        s = self._rng.uniform(0, 2 * (w + h))
        if s < w:
            return np.array([x0 + s, y0 - o])
        if s < 2 * w:
            return np.array([x0 + s - w, y1 + o])
        if s < 2 * w + h:
            return np.array([x0 - o, y0 + s - 2 * w])
        return np.array([x1 + o, y0 + s - 2 * w - h])

    def _spawn(self, slot: int, xy: np.ndarray) -> None:
        pid = self._next_pid
        self._next_pid += 1
        app = self.appearance(pid)
        self._pid[slot] = pid
        self._pos[slot] = xy
        self._goal[slot] = self._waypoint()
        d = self._goal[slot] - xy
        head = math.atan2(d[1], d[0])
        self._heading[slot] = head
        self._speed[slot] = app.speed_mps
        self._vel[slot] = 0.8 * app.speed_mps * np.array([math.cos(head), math.sin(head)])
        self._walk[slot] = self._rng.uniform(0, 2.0)
        self._exiting[slot] = False
        self._pause_until[slot] = -np.inf
        lo, hi = self.params.waypoints
        self._wp_left[slot] = int(self._rng.integers(lo, hi + 1))

    def _initial_population(self) -> None:
        n = int(round(self.target_population(self._t)))
        x0, y0, x1, y1 = self.walk_box
        placed = 0
        for _ in range(n * 30):
            if placed >= min(n, self.capacity):
                break
            xy = np.array([self._rng.uniform(x0, x1), self._rng.uniform(y0, y1)])
            alive = self._pid >= 0
            if alive.any() and np.min(np.linalg.norm(self._pos[alive] - xy, axis=1)) < 0.9:
                continue
            if not self._free(xy[None], 0.5)[0]:
                continue
            self._spawn(placed, xy)
            placed += 1

    # ------------------------------------------------------------------ stepping
    def _record(self) -> None:
        n = self._n_steps
        if n >= len(self._h_pid):
            grow = max(64, len(self._h_pid))
            cap = self.capacity
            self._h_pid = np.concatenate([self._h_pid, np.full((grow, cap), -1, np.int64)])
            self._h_pos = np.concatenate([self._h_pos, np.zeros((grow, cap, 2))])
            self._h_vel = np.concatenate([self._h_vel, np.zeros((grow, cap, 2))])
            self._h_head = np.concatenate([self._h_head, np.zeros((grow, cap))])
            self._h_walk = np.concatenate([self._h_walk, np.zeros((grow, cap))])
        self._h_pid[n] = self._pid
        self._h_pos[n] = self._pos
        self._h_vel[n] = self._vel
        self._h_head[n] = self._heading
        self._h_walk[n] = self._walk
        self._n_steps += 1

    def _forces(self, alive: np.ndarray) -> np.ndarray:
        force = np.zeros_like(self._pos)
        idx = np.flatnonzero(alive)
        if len(idx) == 0:
            return force
        px, py = self._pos[idx, 0], self._pos[idx, 1]
        fx = np.zeros(len(idx))
        fy = np.zeros(len(idx))
        if len(idx) > 1:
            dx = px[:, None] - px[None, :]  # i - j
            dy = py[:, None] - py[None, :]
            dist = np.sqrt(dx * dx + dy * dy)
            np.fill_diagonal(dist, np.inf)
            inv = 1.0 / np.maximum(dist, 1e-6)
            dx *= inv
            dy *= inv
            mag = _A_PEOPLE * np.exp((_R_PEOPLE - dist) / _B_PEOPLE)
            mag += 8.0 * np.maximum(_R_PEOPLE - dist, 0.0)  # body compression
            hx, hy = np.cos(self._heading[idx]), np.sin(self._heading[idx])
            cos_phi = -(dx * hx[:, None] + dy * hy[:, None])  # other person in front -> cos_phi = 1
            mag *= _LAMBDA + (1 - _LAMBDA) * 0.5 * (1 + cos_phi)
            fx += (mag * dx).sum(1)
            fy += (mag * dy).sum(1)
        if len(self.obstacles):
            ox, oy, orad = self.obstacles[:, 0], self.obstacles[:, 1], self.obstacles[:, 2]
            dx = px[:, None] - ox[None, :]
            dy = py[:, None] - oy[None, :]
            dist = np.sqrt(dx * dx + dy * dy)
            inv = 1.0 / np.maximum(dist, 1e-6)
            gap = dist - orad[None, :] - 0.25
            mag = (_A_OBST * np.exp(-gap / _B_OBST) + 20.0 * np.maximum(-gap, 0.0)) * inv
            fx += (mag * dx).sum(1)
            fy += (mag * dy).sum(1)
        force[idx, 0] = fx
        force[idx, 1] = fy
        return force

    def _step(self) -> None:
        p = self.params
        dt = p.sim_dt_s
        t = self._t + dt
        alive = self._pid >= 0
        to_goal = self._goal - self._pos
        dist = np.sqrt((to_goal * to_goal).sum(1))
        direction = to_goal / np.maximum(dist, 1e-6)[:, None]
        slow = np.clip(dist / 0.8, 0.3, 1.0)
        paused = self._pause_until > t
        v_des = direction * (self._speed * slow * (~paused))[:, None]
        force = self._forces(alive)
        noise = self._rng.normal(0.0, _NOISE, size=self._pos.shape)
        acc = (v_des - self._vel) / _TAU_S + force + noise * (~paused)[:, None]
        vel = self._vel + dt * acc
        speed = np.sqrt((vel * vel).sum(1))
        vmax = 1.3 * self._speed
        vel *= np.minimum(1.0, vmax / np.maximum(speed, 1e-9))[:, None]
        vel[paused] *= 0.5  # come to rest quickly when pausing
        vel[~alive] = 0.0
        speed = np.sqrt((vel * vel).sum(1))
        self._pos = self._pos + vel * dt
        self._vel = vel
        moving = speed > 0.25
        new_head = np.arctan2(vel[:, 1], vel[:, 0])
        # smooth heading: turn toward the velocity direction, at most 4 rad/s
        dh = (new_head - self._heading + np.pi) % (2 * np.pi) - np.pi
        self._heading = np.where(moving, self._heading + np.clip(dh, -4 * dt, 4 * dt), self._heading)
        self._walk = self._walk + speed * dt
        self._t = t

        # goals reached
        to_goal = self._goal - self._pos
        dist = np.sqrt((to_goal * to_goal).sum(1))
        reached = alive & (dist < _GOAL_TOL_M) & ~paused
        n_alive = int(alive.sum())
        target = self.target_population(t)
        for i in np.flatnonzero(reached):
            if self._exiting[i]:
                self._pid[i] = -1
                n_alive -= 1
                continue
            self._wp_left[i] -= 1
            if self._rng.random() < p.pause_prob:
                self._pause_until[i] = t + self._rng.uniform(*p.pause_s)
            if self._wp_left[i] <= 0 or n_alive > target + 1:
                self._goal[i] = self._border_point()
                self._exiting[i] = True
            else:
                self._goal[i] = self._waypoint()
        # people pushed far away (should not happen) leave silently
        x0, y0, x1, y1 = self.walk_box
        far = (self._pid >= 0) & ((self._pos[:, 0] < x0 - 4) | (self._pos[:, 0] > x1 + 4)
                                  | (self._pos[:, 1] < y0 - 4) | (self._pos[:, 1] > y1 + 4))
        self._pid[far] = -1
        # spawn
        alive = self._pid >= 0
        rate = p.spawn_rate_hz
        if p.refill_hz > 0:
            rate += p.refill_hz * max(0.0, target - float(alive.sum()))
        if alive.sum() < target and self._rng.random() < rate * dt:
            xy = self._border_point()
            free_slots = np.flatnonzero(~alive)
            if len(free_slots) and (not alive.any() or np.min(np.linalg.norm(self._pos[alive] - xy, axis=1)) > 1.0):
                self._spawn(int(free_slots[0]), xy)
        self._record()

    def _ensure(self, t: float) -> None:
        p = self.params
        need = int(math.floor((t - p.t_start_s) / p.sim_dt_s)) + 2
        while self._n_steps < need:
            self._step()

    # ------------------------------------------------------------------ queries
    def state(self, t: float) -> CrowdState:
        """People present at time ``t`` (s); smooth (cubic Hermite) between simulation steps."""
        p = self.params
        if not math.isfinite(t) or t < p.t_start_s:
            raise ValueError(f'time {t} s is before the simulation start {p.t_start_s} s')
        self._ensure(t)
        u = (t - p.t_start_s) / p.sim_dt_s
        k = min(int(math.floor(u)), self._n_steps - 2)
        a = u - k
        pid0, pid1 = self._h_pid[k], self._h_pid[k + 1]
        present = pid0 >= 0
        both = present & (pid0 == pid1)
        dt = p.sim_dt_s
        p0, p1 = self._h_pos[k], self._h_pos[k + 1]
        v0, v1 = self._h_vel[k], self._h_vel[k + 1]
        h00, h10, h01, h11 = 2 * a**3 - 3 * a**2 + 1, a**3 - 2 * a**2 + a, -2 * a**3 + 3 * a**2, a**3 - a**2
        xy_h = h00 * p0 + h10 * dt * v0 + h01 * p1 + h11 * dt * v1
        xy_e = p0 + a * dt * v0  # leaving between the two steps: extrapolate
        xy = np.where(both[:, None], xy_h, xy_e)
        vel = np.where(both[:, None], (1 - a) * v0 + a * v1, v0)
        hd0, hd1 = self._h_head[k], self._h_head[k + 1]
        dh = (hd1 - hd0 + np.pi) % (2 * np.pi) - np.pi
        heading = np.where(both, hd0 + a * dh, hd0)
        walk = np.where(both, (1 - a) * self._h_walk[k] + a * self._h_walk[k + 1], self._h_walk[k])
        order = np.argsort(pid0[present], kind='stable')
        sel = np.flatnonzero(present)[order]
        return CrowdState(pid0[sel].copy(), xy[sel], vel[sel], heading[sel], walk[sel])


@lru_cache(maxsize=4096)
def _appearance_cached(seed: int, pid: int, height_range, width_range, speed_range) -> Appearance:
    return make_appearance(seed, pid, height_range, width_range, speed_range)
