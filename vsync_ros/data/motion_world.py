"""Synthetic motion world for multi-view 3D pose: people with a 17-joint skeleton seen by static cameras.

Each person has a random :class:`~vsync_ros.data.skeleton.BodyShape` (bone lengths, girth, colours)
and one motion type, a smooth deterministic function of time t (seconds, any real t):

========  ====  =============================================================================
motion    code  description
========  ====  =============================================================================
idle      0     standing, weight shift, arm and head sway, slow heading drift
walk      1     walking around a circle (0.7-1.3 m radius) with a gait cycle tied to speed
turn      2     turning on the spot while stepping in place
wave      3     standing, one arm raised and waving in bouts of a few seconds
sit       4     cycles of sitting down on an (invisible) seat, sitting, standing up, standing
========  ====  =============================================================================

Rendering is ray casting through every pixel of the true (distorted) camera model: limbs, hips,
shoulders, neck, hands and feet are capsules, torso and head are ellipsoids, so occlusion between
body parts and between people is depth-correct. The background is a textured room (tiled floor,
panelled walls, ceiling) seen through the same rays, so the floor texture follows the ground-plane
projection. Images are deterministic in (seed, view, t); mild sensor noise is seeded by them too.

World frame: metres, z up, floor z = 0 (as in :mod:`vsync_ros.geometry`).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from vsync_ros.data.skeleton import (
    NUM_JOINTS,
    BodyShape,
    PoseAngles,
    body_axes,
    body_frame_joints,
    foot_drop,
    yaw_matrix,
)
from vsync_ros.geometry.camera import Camera

MOTIONS: tuple[str, ...] = ('idle', 'walk', 'turn', 'wave', 'sit')
MOTION_CODES: dict[str, int] = {name: i for i, name in enumerate(MOTIONS)}

#: rendered body parts; label value of part k of person p is ``p * len(PART_NAMES) + k``
PART_NAMES: tuple[str, ...] = (
    'head', 'torso', 'hips', 'shoulders', 'neck', 'upper_arm_r', 'forearm_r', 'hand_r', 'upper_arm_l',
    'forearm_l', 'hand_l', 'thigh_r', 'shin_r', 'foot_r', 'thigh_l', 'shin_l', 'foot_l',
)
PART_INDEX: dict[str, int] = {name: i for i, name in enumerate(PART_NAMES)}
BACKGROUND_LABEL = -1


# ---------------------------------------------------------------------------------------------- helpers
def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def plateau_cycle(t: float, hold0: float, rise: float, hold1: float, fall: float, offset: float = 0.0) -> float:
    """Periodic C1-smooth signal in [0, 1]: 0 for ``hold0`` s, rises, 1 for ``hold1`` s, falls."""
    period = hold0 + rise + hold1 + fall
    tau = (t + offset) % period
    if tau < hold0:
        return 0.0
    if tau < hold0 + rise:
        return float(_smoothstep((tau - hold0) / rise))
    if tau < hold0 + rise + hold1:
        return 1.0
    return float(1.0 - _smoothstep((tau - hold0 - rise - hold1) / fall))


def _pair(right: float, left: float) -> tuple[float, float]:
    return (float(right), float(left))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _hash01(*arrays: np.ndarray, salt: float = 0.0) -> np.ndarray:
    """Deterministic pseudo-random values in [0, 1) from integer lattice coordinates."""
    acc = np.full(np.broadcast(*arrays).shape, salt, dtype=np.float64)
    for k, a in enumerate(arrays):
        acc = acc + np.asarray(a, dtype=np.float64) * (12.9898 + 65.233 * k)
    return np.modf(np.abs(np.sin(acc) * 43758.5453))[0]


# ---------------------------------------------------------------------------------------------- motions
class _Motions:
    """Motion functions: (t seconds, params) -> (xy, yaw, angles, feet_anchored).

    ``xy`` is the pelvis position for unanchored motions (walk) and the mid-point of the ankles for
    feet-anchored ones (the pelvis is then placed so the feet stay planted).
    """

    @staticmethod
    def _idle(t: float, p: dict):
        w = 2 * np.pi * t
        sway = np.sin(w * p['sway_hz'] + p['ph'][0])
        a = PoseAngles(
            torso_pitch=0.04 + 0.02 * np.sin(w * 0.2 + p['ph'][1]), torso_roll=0.03 * sway,
            head_pitch=0.08 + 0.08 * np.sin(w * 0.13 + p['ph'][2]),
            head_yaw=0.5 * np.sin(w * 0.09 + p['ph'][3]),
            thigh_abd=_pair(0.05 - 0.025 * sway, 0.05 + 0.025 * sway),
            thigh_pitch=_pair(0.02, -0.02), shin_pitch=_pair(0.0, -0.03),
            upper_arm_pitch=_pair(0.08 * np.sin(w * 0.3 + p['ph'][4]), 0.08 * np.sin(w * 0.27 + p['ph'][5])),
            upper_arm_abd=_pair(0.12, 0.12), forearm_pitch=_pair(0.3 + p['arm_bend'], 0.25 + p['arm_bend']),
            forearm_abd=_pair(0.05, 0.05),
        )
        yaw = p['yaw0'] + 0.3 * np.sin(w * 0.05 + p['ph'][6])
        return np.asarray(p['anchor']), yaw, a, True

    @staticmethod
    def _walk(t: float, p: dict):
        theta = p['theta0'] + p['dir'] * p['speed'] * t / p['radius']
        xy = np.asarray(p['center']) + p['radius'] * np.array([np.cos(theta), np.sin(theta)])
        yaw = theta + p['dir'] * np.pi / 2
        phi = 2 * np.pi * p['gait_hz'] * t + p['ph'][0]
        hip_amp, arm_amp = p['hip_amp'], p['arm_amp']
        thigh, shin, upper, fore = [], [], [], []
        for leg_phase in (phi, phi + np.pi):  # right, left
            th = hip_amp * np.sin(leg_phase)
            knee = 0.08 + 1.0 * ((1.0 + np.cos(leg_phase + 0.4)) / 2.0) ** 3
            thigh.append(th)
            shin.append(th - knee)
            ua = -arm_amp * np.sin(leg_phase)  # arm swings against the leg of its side
            upper.append(ua)
            fore.append(ua + 0.25 + 0.1 * (1.0 + np.sin(-leg_phase)))
        a = PoseAngles(
            torso_pitch=0.05 + 0.04 * p['speed'], torso_roll=0.03 * np.sin(phi),
            head_pitch=0.05, head_yaw=0.1 * np.sin(2 * np.pi * 0.1 * t + p['ph'][1]),
            thigh_pitch=_pair(*thigh), thigh_abd=_pair(0.03, 0.03), shin_pitch=_pair(*shin),
            upper_arm_pitch=_pair(*upper), upper_arm_abd=_pair(0.1, 0.1),
            forearm_pitch=_pair(*fore), forearm_abd=_pair(0.06, 0.06),
        )
        return xy, yaw, a, False

    @staticmethod
    def _turn(t: float, p: dict):
        yaw = p['yaw0'] + p['omega'] * t
        phi = 2 * np.pi * p['step_hz'] * t + p['ph'][0]
        thigh, shin, upper = [], [], []
        for leg_phase in (phi, phi + np.pi):
            lift = max(0.0, np.sin(leg_phase)) ** 2
            thigh.append(0.35 * lift)
            shin.append(0.35 * lift - 0.7 * lift)
            upper.append(0.1 * np.sin(leg_phase + np.pi))
        a = PoseAngles(
            torso_pitch=0.06, torso_roll=0.02 * np.sin(phi), head_pitch=0.05,
            head_yaw=0.25 * np.sign(p['omega']),
            thigh_pitch=_pair(*thigh), thigh_abd=_pair(0.06, 0.06), shin_pitch=_pair(*shin),
            upper_arm_pitch=_pair(*upper), upper_arm_abd=_pair(0.15, 0.15),
            forearm_pitch=_pair(upper[0] + 0.3, upper[1] + 0.3), forearm_abd=_pair(0.08, 0.08),
        )
        return np.asarray(p['anchor']), yaw, a, True

    @staticmethod
    def _wave(t: float, p: dict):
        _, yaw, a, _ = _Motions._idle(t, p)
        e = plateau_cycle(t, p['rest_s'], 0.7, p['wave_s'], 0.7, offset=p['ph'][7])
        osc = np.sin(2 * np.pi * p['wave_hz'] * t + p['ph'][8])
        k = p['side']
        ua_p = list(a.upper_arm_pitch)
        ua_a = list(a.upper_arm_abd)
        fa_p = list(a.forearm_pitch)
        fa_a = list(a.forearm_abd)
        ua_p[k] = (1 - e) * ua_p[k] + e * 0.35
        ua_a[k] = (1 - e) * ua_a[k] + e * (p['raise_rad'] + 0.05 * osc)
        fa_p[k] = (1 - e) * fa_p[k] + e * -0.3
        fa_a[k] = (1 - e) * fa_a[k] + e * (2.6 + 0.38 * osc)
        a.upper_arm_pitch, a.upper_arm_abd = _pair(*ua_p), _pair(*ua_a)
        a.forearm_pitch, a.forearm_abd = _pair(*fa_p), _pair(*fa_a)
        a.head_yaw = (1 - e) * a.head_yaw
        return np.asarray(p['anchor']), yaw, a, True

    @staticmethod
    def _sit(t: float, p: dict):
        s = plateau_cycle(t, p['stand_s'], p['down_s'], p['sit_s'], p['up_s'], offset=p['ph'][0])
        bump = np.sin(np.pi * s)
        w = 2 * np.pi * t
        a = PoseAngles(
            torso_pitch=0.05 + 0.5 * bump + 0.08 * s, torso_roll=0.0,
            head_pitch=0.05 - 0.2 * bump, head_yaw=0.3 * s * np.sin(w * 0.11 + p['ph'][1]),
            thigh_pitch=_pair(1.45 * s, 1.5 * s), thigh_abd=_pair(0.04 + 0.08 * s, 0.04 + 0.08 * s),
            shin_pitch=_pair(-0.4 * bump + 0.1 * s, -0.4 * bump + 0.05 * s),
            upper_arm_pitch=_pair(0.35 * s + 0.3 * bump, 0.35 * s + 0.3 * bump),
            upper_arm_abd=_pair(0.12, 0.12),
            forearm_pitch=_pair(0.2 + 1.05 * s, 0.2 + 1.05 * s), forearm_abd=_pair(0.05, 0.05),
        )
        return np.asarray(p['anchor']), p['yaw0'], a, True


def motion_state(motion: str, t: float, params: dict) -> tuple[np.ndarray, float, PoseAngles, bool]:
    """(xy, yaw, angles, feet_anchored) of ``motion`` at time t (see :class:`_Motions`)."""
    return getattr(_Motions, f'_{motion}')(float(t), params)


def sample_motion_params(rng: np.random.Generator, motion: str, shape: BodyShape) -> dict:
    """Random parameters of ``motion`` for a body ``shape`` (placement is set by :func:`place_motion`)."""
    if motion not in MOTION_CODES:
        raise ValueError(f'unknown motion {motion!r}; choose from {MOTIONS}')
    p: dict = {'ph': rng.uniform(0, 2 * np.pi, size=10), 'sway_hz': rng.uniform(0.15, 0.35),
               'arm_bend': rng.uniform(0.0, 0.3)}
    leg = shape.lengths['thigh'] + shape.lengths['shin']
    if motion == 'walk':
        speed = rng.uniform(0.7, 1.3)
        p.update(speed=speed, radius=rng.uniform(0.6, 1.0), gait_hz=speed / (1.55 * leg),
                 hip_amp=0.25 + 0.12 * speed, arm_amp=0.15 + 0.15 * speed)
    elif motion == 'turn':
        p.update(omega=float(rng.choice([-1.0, 1.0])) * rng.uniform(0.5, 1.2), step_hz=rng.uniform(0.8, 1.2))
    elif motion == 'wave':
        p.update(side=int(rng.integers(2)), wave_hz=rng.uniform(1.3, 2.3), rest_s=rng.uniform(1.0, 3.0),
                 wave_s=rng.uniform(2.0, 4.0), raise_rad=rng.uniform(1.2, 1.6))
    elif motion == 'sit':
        p.update(stand_s=rng.uniform(1.0, 2.5), down_s=rng.uniform(1.2, 2.0), sit_s=rng.uniform(1.5, 3.0),
                 up_s=rng.uniform(1.2, 2.0))
    return p


def _wrap(angle: float) -> float:
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


def place_motion(motion: str, params: dict, t0: float, pelvis_xy, feet_xy, yaw: float) -> dict:
    """Placement of a motion starting at time t0 from a person at ``pelvis_xy`` / ``feet_xy`` facing ``yaw``.

    Feet-anchored motions keep the feet where they are and start with heading ``yaw``. Walking
    follows a circle through the pelvis position whose centre lies towards the room centre (so a
    walker never gets farther from the centre than max(start distance, 2 radius)), in the
    direction closer to the current heading.
    """
    p = dict(params)
    if motion == 'walk':
        start = np.asarray(pelvis_xy, dtype=np.float64)
        norm = np.linalg.norm(start)
        u = start / norm if norm > 1e-6 else np.array([np.cos(yaw + np.pi / 2), np.sin(yaw + np.pi / 2)])
        R = p['radius']
        center = start - R * u
        theta_k = float(np.arctan2(u[1], u[0]))
        direction = min((-1.0, 1.0), key=lambda d: abs(_wrap(theta_k + d * np.pi / 2 - yaw)))
        # unwrap: the walking heading theta + dir * pi / 2 starts within pi of the current heading
        theta_k += 2 * np.pi * round((yaw - theta_k - direction * np.pi / 2) / (2 * np.pi))
        p.update(center=center, dir=direction, theta0=theta_k - direction * p['speed'] * t0 / R)
        return p
    p['anchor'] = np.asarray(feet_xy, dtype=np.float64)
    if motion in ('idle', 'wave'):
        p['yaw0'] = yaw - 0.3 * np.sin(2 * np.pi * 0.05 * t0 + p['ph'][6])
    elif motion == 'turn':
        p['yaw0'] = yaw - p['omega'] * t0
    else:
        p['yaw0'] = yaw
    return p


@dataclass
class MotionSegment:
    """A motion with its parameters, active from ``start_s`` (seconds)."""

    motion: str
    params: dict
    start_s: float


class Person:
    """One simulated person: a body shape and a motion, or a schedule of motions.

    Without a schedule (``segment_s`` None) the person does ``first.motion`` forever. With a schedule,
    segment k starts at ``k * segment_s``: its motion is drawn from ``motions`` (seeded by
    ``(seed, index, k)``), it starts from the pose where segment k-1 is at that time and the two are
    blended (angles, pelvis position, heading) over ``blend_s`` seconds with a C1 smoothstep, so joints
    stay continuous and bone lengths constant. Times before 0 belong to segment 0.
    """

    def __init__(self, shape: BodyShape, first: MotionSegment, segment_s: float | None = None, blend_s: float = 1.0,
                 motions: Sequence[str] = MOTIONS, seed: int = 0, index: int = 0):
        if segment_s is not None and not segment_s > blend_s > 0:
            raise ValueError(f'need segment_s > blend_s > 0, got {segment_s}, {blend_s}')
        self.shape = shape
        self.segment_s = segment_s
        self.blend_s = blend_s
        self.motions = tuple(motions)
        self.seed = seed
        self.index = index
        self._segments: dict[int, MotionSegment] = {0: first}

    @property
    def motion(self) -> str:
        """Motion of the first segment."""
        return self._segments[0].motion

    @property
    def params(self) -> dict:
        """Parameters of the first segment."""
        return self._segments[0].params

    @property
    def motion_code(self) -> int:
        """Integer code (:data:`MOTION_CODES`) of the first segment's motion."""
        return MOTION_CODES[self.motion]

    def segment_index(self, t: float) -> int:
        """Index of the segment active at time t."""
        return 0 if self.segment_s is None else max(0, int(np.floor(t / self.segment_s)))

    def segment(self, k: int) -> MotionSegment:
        """Segment k (built on first use from the end state of segment k - 1)."""
        for i in range(max(self._segments) + 1, k + 1):
            t0 = i * self.segment_s
            prev = self._segments[i - 1]
            pelvis_xy, yaw, angles = self._root_state(prev, t0)
            J = body_frame_joints(self.shape, angles)
            feet_xy = pelvis_xy + yaw_matrix(yaw)[:2, :2] @ (0.5 * (J[0, :2] + J[5, :2]))
            rng = np.random.default_rng([self.seed, self.index, i, 0x5e6])
            motion = self.motions[int(rng.integers(len(self.motions)))]
            if motion == prev.motion and len(self.motions) > 1:
                motion = self.motions[int(rng.integers(len(self.motions)))]
            params = place_motion(motion, sample_motion_params(rng, motion, self.shape), t0, pelvis_xy, feet_xy,
                                  yaw)
            self._segments[i] = MotionSegment(motion, params, t0)
        return self._segments[k]

    def _root_state(self, seg: MotionSegment, t: float) -> tuple[np.ndarray, float, PoseAngles]:
        """(pelvis xy, yaw, angles) of one segment's motion at time t."""
        xy, yaw, angles, feet_anchor = motion_state(seg.motion, t, seg.params)
        if feet_anchor:  # keep the mid-point of the ankles above the anchor (feet planted)
            J = body_frame_joints(self.shape, angles)
            xy = xy - yaw_matrix(yaw)[:2, :2] @ (0.5 * (J[0, :2] + J[5, :2]))
        return np.asarray(xy, dtype=np.float64), float(yaw), angles

    def _blend_weight(self, t: float, k: int) -> float:
        if k == 0 or self.segment_s is None:
            return 1.0
        return float(_smoothstep((t - k * self.segment_s) / self.blend_s))

    def motion_at(self, t: float) -> str:
        """Motion name at time t (the previous segment's during the first half of a blend)."""
        k = self.segment_index(t)
        return self.segment(k - 1 if self._blend_weight(t, k) < 0.5 else k).motion

    def state(self, t: float) -> tuple[np.ndarray, float, PoseAngles]:
        """(pelvis xy, yaw, angles) at time t, blended across segment boundaries."""
        t = float(t)
        k = self.segment_index(t)
        xy, yaw, angles = self._root_state(self.segment(k), t)
        w = self._blend_weight(t, k)
        if w < 1.0:
            xy0, yaw0, a0 = self._root_state(self.segment(k - 1), t)
            xy = (1 - w) * xy0 + w * xy
            yaw = (1 - w) * yaw0 + w * yaw    # headings are unwrapped to start within pi (place_motion)
            angles = PoseAngles(**{f.name: _lerp(getattr(a0, f.name), getattr(angles, f.name), w)
                                   for f in fields(PoseAngles)})
        return xy, yaw, angles

    def joints(self, t: float) -> np.ndarray:
        """(17, 3) world joints in metres at time t."""
        xy, yaw, angles = self.state(t)
        J = body_frame_joints(self.shape, angles)
        root = np.array([xy[0], xy[1], foot_drop(self.shape, angles, joints=J)])
        return J @ yaw_matrix(yaw).T + root


def _lerp(a, b, w: float):
    if isinstance(a, tuple):
        return tuple((1 - w) * x + w * y for x, y in zip(a, b))
    return (1 - w) * a + w * b


def sample_person(rng: np.random.Generator, motion: str, anchor: np.ndarray, segment_s: float | None = None,
                  blend_s: float = 1.0, motions: Sequence[str] = MOTIONS, seed: int = 0, index: int = 0) -> Person:
    """A random person starting with ``motion`` at ``anchor`` (x, y metres), random heading."""
    shape = BodyShape.sample(rng)
    params = sample_motion_params(rng, motion, shape)
    yaw = rng.uniform(-np.pi, np.pi)
    params = place_motion(motion, params, 0.0, anchor, anchor, yaw)
    return Person(shape, MotionSegment(motion, params, 0.0), segment_s, blend_s, motions, seed, index)


# ---------------------------------------------------------------------------------------------- rendering
def intersect_capsules(origin: np.ndarray, dirs: np.ndarray, a: np.ndarray, b: np.ndarray,
                       r: np.ndarray) -> np.ndarray:
    """Ray distances to K capsules for N rays from one origin: (N, 3) unit dirs -> (K, N), inf = miss."""
    ba = b - a                                   # (K, 3)
    oa = origin[None] - a                        # (K, 3)
    baba = np.sum(ba * ba, 1)[:, None]           # (K, 1)
    bard = ba @ dirs.T                           # (K, N)
    baoa = np.sum(ba * oa, 1)[:, None]
    rdoa = oa @ dirs.T
    oaoa = np.sum(oa * oa, 1)[:, None]
    rr = (r * r)[:, None]
    qa = baba - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa * baoa - rr * baba
    h = qb * qb - qa * qc
    out = np.full(bard.shape, np.inf)
    with np.errstate(invalid='ignore', divide='ignore'):
        # the capsule is the union of a finite cylinder and two end spheres: first entry = min of the three
        t_body = (-qb - np.sqrt(h)) / qa
        y = baoa + t_body * bard
        body = (h >= 0) & (qa > 1e-12 * baba) & (y > 0) & (y < baba) & (t_body > 0)
        out[body] = t_body[body]
        for cap in (a, b):
            oc = origin[None] - cap                 # (K, 3)
            cb = oc @ dirs.T                        # (K, N)
            cc = np.sum(oc * oc, 1)[:, None] - rr
            hh = cb * cb - cc
            t_cap = -cb - np.sqrt(hh)
            ok = (hh >= 0) & (t_cap > 0) & (t_cap < out)
            out[ok] = t_cap[ok]
    return out


def intersect_ellipsoids(origin: np.ndarray, dirs: np.ndarray, centers: np.ndarray, axes: np.ndarray,
                         radii: np.ndarray) -> np.ndarray:
    """Ray distances to K ellipsoids (centres (K, 3), axes (K, 3, 3) rows, radii (K, 3)) -> (K, N)."""
    o = np.einsum('kij,kj->ki', axes, origin[None] - centers) / radii       # (K, 3)
    d = np.einsum('kij,nj->kni', axes, dirs) / radii[:, None]               # (K, N, 3)
    qa = np.sum(d * d, -1)
    qb = np.einsum('kni,ki->kn', d, o)
    qc = np.sum(o * o, -1)[:, None] - 1.0
    h = qb * qb - qa * qc
    with np.errstate(invalid='ignore'):
        t = (-qb - np.sqrt(h)) / qa
    return np.where((h >= 0) & (t > 0), t, np.inf)


@dataclass
class _Primitives:
    """Render primitives of one person at one time (world metres)."""

    cap_a: np.ndarray
    cap_b: np.ndarray
    cap_r: np.ndarray
    cap_part: np.ndarray
    ell_c: np.ndarray
    ell_axes: np.ndarray
    ell_r: np.ndarray
    ell_part: np.ndarray
    face: np.ndarray       # head forward unit vector (two-tone head: skin face, hair back)
    head_up: np.ndarray


def body_primitives(shape: BodyShape, joints: np.ndarray) -> _Primitives:
    """Capsules and ellipsoids of a (17, 3) world pose; every joint lies inside some primitive."""
    J = joints
    rad = shape.radii
    fwd, left, up = body_axes(J)
    caps = []

    def cap(a, b, r, part):
        caps.append((a, b, r, PART_INDEX[part]))

    cap(J[2], J[3], rad['hips'], 'hips')
    cap(J[12], J[13], rad['shoulders'], 'shoulders')
    cap(J[8], J[16], rad['neck'], 'neck')
    for s, (sh, el, wr, hip, kn, an) in (('r', (12, 11, 10, 2, 1, 0)), ('l', (13, 14, 15, 3, 4, 5))):
        cap(J[sh], J[el], rad['upper_arm'], f'upper_arm_{s}')
        cap(J[el], J[wr], rad['forearm'], f'forearm_{s}')
        hand_dir = _unit(J[wr] - J[el])
        cap(J[wr], J[wr] + 0.07 * hand_dir, rad['forearm'] * 1.15, f'hand_{s}')
        cap(J[hip], J[kn], rad['thigh'], f'thigh_{s}')
        cap(J[kn], J[an], rad['shin'], f'shin_{s}')
        cap(J[an], J[an] + 0.15 * fwd - np.array([0.0, 0.0, 0.035]), rad['foot'], f'foot_{s}')
    cap_a = np.array([c[0] for c in caps])
    cap_b = np.array([c[1] for c in caps])
    cap_r = np.array([c[2] for c in caps], dtype=np.float64)
    cap_part = np.array([c[3] for c in caps])
    # torso ellipsoid: pelvis to thorax, flattened front-to-back
    t_up = _unit(J[8] - J[6])
    t_lat = J[13] - J[12]
    t_lat = _unit(t_lat - np.dot(t_lat, t_up) * t_up)
    t_fwd = np.cross(t_lat, t_up)
    half = 0.5 * np.linalg.norm(J[8] - J[6])
    # head ellipsoid: below the head top, oriented by thorax -> head top and the nose direction
    h_up = _unit(J[9] - J[8])
    face = J[16] - J[8]
    face = face - np.dot(face, h_up) * h_up
    face = _unit(face) if np.linalg.norm(face) > 1e-6 else fwd
    h_lat = np.cross(h_up, face)
    rz = rad['head'] * 1.12
    head_c = J[9] - 0.8 * rz * h_up
    ell_c = np.stack([head_c, 0.5 * (J[6] + J[8]) + 0.01 * t_up])
    ell_axes = np.stack([np.stack([face, h_lat, h_up]), np.stack([t_fwd, t_lat, t_up])])
    ell_r = np.array([[rad['head'] * 0.95, rad['head'] * 0.85, rz],
                      [rad['torso_depth'], rad['torso_width'], half + 0.07]])
    return _Primitives(cap_a, cap_b, cap_r, cap_part, ell_c, ell_axes, ell_r,
                       np.array([PART_INDEX['head'], PART_INDEX['torso']]), face, h_up)


def _part_colors(shape: BodyShape) -> np.ndarray:
    c = shape.colors
    table = {
        'head': c['skin'], 'torso': c['shirt'], 'hips': c['pants'], 'shoulders': c['shirt'], 'neck': c['skin'],
        'upper_arm_r': c['shirt'], 'upper_arm_l': c['shirt'], 'forearm_r': c['sleeve'], 'forearm_l': c['sleeve'],
        'hand_r': c['skin'], 'hand_l': c['skin'], 'thigh_r': c['pants'], 'thigh_l': c['pants'],
        'shin_r': c['pants'], 'shin_l': c['pants'], 'foot_r': c['shoes'], 'foot_l': c['shoes'],
    }
    return np.array([table[name] for name in PART_NAMES])


class MotionWorld:
    """People moving in a textured room, seen by calibrated cameras (the data ``World`` contract).

    Args:
        cameras: the rig; images are rendered at each camera's resolution.
        n_people: number of people. Person 0 stays near the room centre (the one to use for P = 1).
        seed: everything (bodies, motions, textures, light, noise) is deterministic in the seed.
        motions: motion names to draw from (default: all of :data:`MOTIONS`); with a single name
            every person does that motion. Person p starts with ``motions[p % len]`` after a seeded
            shuffle.
        segment_s: None = each person keeps one motion forever; else every ``segment_s`` seconds each
            person switches to a motion drawn from ``motions`` (seeded), blended over ``blend_s``
            seconds from where the previous one left off (see :class:`Person`).
        blend_s: transition time between scheduled motions (seconds).
        noise_std: Gaussian sensor noise (std in 0-255 units, seeded by (seed, view, t)); 0 disables.
        min_separation_m: minimum distance between the anchors of different people.
        centre_xy: ground point (x, y metres) the people move around and the room is centred on (default the
            origin, where the studio rig looks); e.g. the centre of an imported rig's ground region.
        rig_source: where the cameras came from (``{'name', 'folder'}`` of a rig folder; recorded in data-set
            manifests), or None.

    Attributes:
        cameras: list of :class:`Camera`.
        task: ``'pose'``.
        people: list of :class:`Person`.
        anchors: (P, 2) start positions of the people (metres, world frame).
        centre: (3,) the room centre on the floor (metres).
    """

    task = 'pose'

    def __init__(self, cameras: Sequence[Camera], n_people: int = 1, seed: int = 0,
                 motions: Sequence[str] | None = None, segment_s: float | None = None, blend_s: float = 1.0,
                 noise_std: float = 2.0, min_separation_m: float = 0.9,
                 centre_xy: Sequence[float] = (0.0, 0.0), rig_source: dict | None = None):
        if n_people < 1:
            raise ValueError('n_people must be >= 1')
        self.cameras = list(cameras)
        self.seed = int(seed)
        self.centre = np.array([float(centre_xy[0]), float(centre_xy[1]), 0.0])
        self.rig_source = rig_source
        self.noise_std = float(noise_std)
        rng = np.random.default_rng([self.seed, 0x5e1])
        names = list(motions) if motions else list(MOTIONS)
        for m in names:
            if m not in MOTION_CODES:
                raise ValueError(f'unknown motion {m!r}; choose from {MOTIONS}')
        rng.shuffle(names)
        anchors: list[np.ndarray] = []
        for p in range(n_people):
            radius = 0.5 if p == 0 else 1.6
            for _ in range(200):
                r, ang = radius * np.sqrt(rng.random()), rng.uniform(-np.pi, np.pi)
                cand = np.array([r * np.cos(ang), r * np.sin(ang)])
                if all(np.linalg.norm(cand - q) >= min_separation_m for q in anchors):
                    break
            anchors.append(cand)
        self.anchors = np.array(anchors) + self.centre[:2] if self.centre.any() else np.array(anchors)
        self._motions, self._segment_s, self._blend_s = sorted(set(names)), segment_s, blend_s
        self.people = [sample_person(rng, names[p % len(names)], anchors[p], segment_s, blend_s, sorted(set(names)),
                                     self.seed, p) for p in range(n_people)]
        self._colors = [_part_colors(person.shape) for person in self.people]
        # scene appearance
        self._light = _unit(np.array([*rng.normal(size=2) * 0.6, 1.5]))
        self._ambient = rng.uniform(0.4, 0.55)
        self._floor = {
            'tile': rng.uniform(0.35, 0.8), 'c1': rng.uniform(0.25, 0.8, 3), 'c2': rng.uniform(0.25, 0.8, 3),
            'checker': rng.random() < 0.5, 'salt': rng.uniform(0, 100),
            'rug_c': rng.uniform(0.1, 0.7, 3), 'rug_xy': rng.uniform(-0.6, 0.6, 2), 'rug_hw': rng.uniform(0.5, 1.4, 2),
            'rug': rng.random() < 0.7,
        }
        self._wall = {'c': rng.uniform(0.35, 0.9, 3), 'panel': rng.uniform(0.6, 1.5), 'salt': rng.uniform(0, 100),
                      'stripe_z': rng.uniform(0.8, 1.4), 'stripe_c': rng.uniform(0.1, 0.9, 3)}
        centres = np.array([c.center for c in self.cameras]) - self.centre
        half = max(6.0, float(np.max(np.abs(centres[:, :2]))) + 1.5)
        self._room_lo = self.centre + np.array([-half, -half, 0.0])
        self._room_hi = self.centre + np.array([half, half, max(3.2, float(centres[:, 2].max()) + 1.0)])
        self._rays: dict[int, np.ndarray] = {}
        self._last_joints: tuple[float, np.ndarray] | None = None
        self._backgrounds: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ contract
    def joints(self, t: float) -> np.ndarray:
        """(P, 17, 3) float64 world joints (metres) at time t (seconds)."""
        t = float(t)
        if self._last_joints is None or self._last_joints[0] != t:
            joints = np.stack([p.joints(t) for p in self.people])
            self._last_joints = (t, joints + self.centre if self.centre.any() else joints)
        return self._last_joints[1].copy()

    def ground_truth(self, t: float) -> dict[str, np.ndarray]:
        """``{'joints_3d': (P, 17, 3) float32 metres, 'motion': (P,) int64 motion codes}`` at time t.

        The motion code is the one of :meth:`Person.motion_at` (see :data:`MOTION_CODES`).
        """
        return {'joints_3d': self.joints(t).astype(np.float32),
                'motion': np.array([MOTION_CODES[p.motion_at(t)] for p in self.people], dtype=np.int64)}

    def render(self, view: int, t: float, return_labels: bool = False):
        """(H, W, 3) uint8 RGB image of camera ``view`` at time t.

        With ``return_labels`` also returns (H, W) int32 labels: -1 background, else
        ``person * len(PART_NAMES) + part`` (:data:`PART_NAMES`).
        """
        cam = self.cameras[view]
        rgb, labels = self._render_float(view, float(t))
        if self.noise_std > 0:
            rgb = rgb + self._noise_rng(view, t).normal(0.0, self.noise_std / 255.0, size=rgb.shape)
        img = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8).reshape(cam.height, cam.width, 3)
        if return_labels:
            return img, labels.reshape(cam.height, cam.width)
        return img

    def frame_annotations(self, view: int, t: float) -> dict[str, np.ndarray]:
        """Per-frame labels of camera ``view`` at time ``t``.

        Returns ``joints_uv`` (P, 17, 2) float32 pixels (true, distorted projection; NaN behind the
        camera) and ``joints_depth`` (P, 17) float32 metres.
        """
        J = self.joints(t)
        uv, depth = self.cameras[view].project(J.reshape(-1, 3))
        return {'joints_uv': uv.reshape(len(self.people), -1, 2).astype(np.float32),
                'joints_depth': depth.reshape(len(self.people), -1).astype(np.float32)}

    def describe(self) -> dict:
        """JSON-serialisable description (for data-set manifests)."""
        d = {'type': 'motion', 'seed': self.seed, 'n_people': len(self.people), 'motions': list(self._motions),
             'segment_s': self._segment_s, 'blend_s': self._blend_s, 'noise_std': self.noise_std,
             'cameras': [c.name for c in self.cameras],
             'people': [{'first_motion': p.motion, 'bone_lengths_m': {k: round(v, 4) for k, v in
                                                                     p.shape.lengths.items()}}
                        for p in self.people]}
        if self.centre.any():  # the studio's origin is left out, as before
            d['centre_xy'] = [float(self.centre[0]), float(self.centre[1])]
        return d

    def background(self, view: int) -> np.ndarray:
        """(H, W, 3) uint8 image of the empty room (no people, no noise)."""
        cam = self.cameras[view]
        bg = self._background(view)
        return np.clip(np.round(bg * 255.0), 0, 255).astype(np.uint8).reshape(cam.height, cam.width, 3)

    # ------------------------------------------------------------------ internals
    def _noise_rng(self, view: int, t: float) -> np.random.Generator:
        key = hashlib.sha1(np.array([self.seed, view], dtype=np.int64).tobytes()
                           + np.float64(t).tobytes()).digest()
        return np.random.default_rng(int.from_bytes(key[:8], 'little'))

    def _pixel_rays(self, view: int) -> np.ndarray:
        if view not in self._rays:
            cam = self.cameras[view]
            u, v = np.meshgrid(np.arange(cam.width, dtype=np.float64), np.arange(cam.height, dtype=np.float64))
            self._rays[view] = cam.pixel_rays(np.stack([u.ravel(), v.ravel()], 1))
        return self._rays[view]

    def _background(self, view: int) -> np.ndarray:
        if view not in self._backgrounds:
            self._backgrounds[view] = self._shade_room(self.cameras[view].center, self._pixel_rays(view))
        return self._backgrounds[view]

    def _shade_room(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """(N, 3) float RGB in [0, 1] of the room surfaces hit by rays from inside the room."""
        with np.errstate(divide='ignore', invalid='ignore'):
            t_hi = (self._room_hi - origin) / dirs
            t_lo = (self._room_lo - origin) / dirs
        t_axis = np.where(dirs > 0, t_hi, np.where(dirs < 0, t_lo, np.inf))
        t_axis[~np.isfinite(t_axis) | (t_axis <= 0)] = np.inf
        axis = np.argmin(t_axis, 1)
        t = t_axis[np.arange(len(dirs)), axis]
        p = origin + t[:, None] * dirs - self.centre  # room coordinates: the textures are laid out around the centre
        out = np.empty((len(dirs), 3))
        floor = (axis == 2) & (dirs[:, 2] < 0)
        ceiling = (axis == 2) & ~floor
        wall = axis != 2
        out[floor] = self._floor_texture(p[floor, :2])
        out[ceiling] = np.array([0.85, 0.85, 0.82]) * (0.9 + 0.1 * _hash01(np.floor(p[ceiling, :2]))[:, :1])
        # walls: horizontal coordinate along the wall and height
        s = np.where(axis[wall] == 0, p[wall, 1], p[wall, 0])
        wid = np.where(axis[wall] == 0, np.sign(p[wall, 0]), 2 + np.sign(p[wall, 1]))
        out[wall] = self._wall_texture(s, p[wall, 2], wid)
        return out

    def _floor_texture(self, xy: np.ndarray) -> np.ndarray:
        f = self._floor
        g = xy / f['tile']
        cell = np.floor(g)
        frac = g - cell
        h = _hash01(cell[:, 0], cell[:, 1], salt=f['salt'])[:, None]
        parity = ((cell[:, 0] + cell[:, 1]) % 2)[:, None] if f['checker'] else (h > 0.7)
        base = np.where(parity, f['c1'], f['c2']) * (0.82 + 0.3 * h)
        grout = np.minimum(np.minimum(frac[:, 0], 1 - frac[:, 0]), np.minimum(frac[:, 1], 1 - frac[:, 1]))
        base = base * np.where(grout < 0.03, 0.55, 1.0)[:, None]
        grain = (np.sin(xy[:, 0] * 23.0 + 3 * np.sin(xy[:, 1] * 7.0)) * np.sin(xy[:, 1] * 19.0 + xy[:, 0] * 3.0))
        base = base * (1.0 + 0.06 * grain)[:, None]
        # a rug (seeded size, place and colour) near the capture area
        rug = np.all(np.abs(xy - f['rug_xy']) < f['rug_hw'], axis=1) & f['rug']
        rug_c = f['rug_c'] * (0.85 + 0.15 * np.sin(xy[:, 0] * 40.0))[:, None]
        return np.clip(np.where(rug[:, None], rug_c, base), 0, 1)

    def _wall_texture(self, s: np.ndarray, z: np.ndarray, wall_id: np.ndarray) -> np.ndarray:
        w = self._wall
        panel = np.floor(s / w['panel'])
        h = _hash01(panel, wall_id, salt=w['salt'])[:, None]
        col = w['c'] * (0.8 + 0.3 * h)
        col = col * np.where(np.abs(s / w['panel'] - panel - 0.5) > 0.47, 0.7, 1.0)[:, None]
        stripe = np.abs(z - w['stripe_z']) < 0.08
        col = np.where(stripe[:, None], w['stripe_c'], col)
        # posters: one per panel where the hash says so
        hp = _hash01(panel, wall_id, salt=w['salt'] + 7.0)
        poster = (hp > 0.55) & (z > 1.5) & (z < 2.3) & (np.abs(s / w['panel'] - panel - 0.5) < 0.3)
        pc = np.stack([_hash01(panel, wall_id, salt=w['salt'] + k) for k in (11.0, 13.0, 17.0)], 1)
        col = np.where(poster[:, None], pc * (0.8 + 0.2 * np.sin(z * 30.0))[:, None], col)
        col = col * np.where(z < 0.12, 0.4, 1.0)[:, None]
        return np.clip(col, 0, 1)

    def _render_float(self, view: int, t: float) -> tuple[np.ndarray, np.ndarray]:
        cam = self.cameras[view]
        rays = self._pixel_rays(view)
        origin = cam.center
        rgb = self._background(view).copy()
        labels = np.full(len(rays), BACKGROUND_LABEL, dtype=np.int32)
        zbuf = np.full(len(rays), np.inf)
        joints = self.joints(t)
        for pi, (person, J) in enumerate(zip(self.people, joints)):
            idx = self._candidate_pixels(cam, J)
            if idx.size == 0:
                continue
            prim = body_primitives(person.shape, J)
            d = rays[idx]
            T = np.concatenate([self._capsule_hits(cam, idx, d, prim),
                                intersect_ellipsoids(origin, d, prim.ell_c, prim.ell_axes, prim.ell_r)])
            k = np.argmin(T, 0)
            tk = T[k, np.arange(len(idx))]
            hit = np.isfinite(tk) & (tk < zbuf[idx])
            if not hit.any():
                continue
            idx, d, k, tk = idx[hit], d[hit], k[hit], tk[hit]
            pts = origin + tk[:, None] * d
            normals, parts = self._normals(prim, k, pts)
            color = self._colors[pi][parts]
            if np.any(parts == PART_INDEX['head']):
                hsel = parts == PART_INDEX['head']
                back = (normals[hsel] @ prim.face < -0.1) | (normals[hsel] @ prim.head_up > 0.55)
                color[hsel] = np.where(back[:, None], person.shape.colors['hair'], color[hsel])
            shade = self._ambient + (1 - self._ambient) * np.clip(normals @ self._light, 0, 1)
            rgb[idx] = np.clip(color * shade[:, None], 0, 1)
            zbuf[idx] = tk
            labels[idx] = pi * len(PART_NAMES) + parts
        return rgb, labels

    @staticmethod
    def _capsule_hits(cam: Camera, idx: np.ndarray, dirs: np.ndarray, prim: _Primitives) -> np.ndarray:
        """(K, N) capsule ray distances, each capsule tested only on the pixels of its image box."""
        K = len(prim.cap_r)
        out = np.full((K, len(idx)), np.inf)
        u, v = idx % cam.width, idx // cam.width
        uv, depth = cam.project(np.concatenate([prim.cap_a, prim.cap_b]))
        f = max(cam.K[0, 0], cam.K[1, 1])
        for k in range(K):
            ends, dk = uv[[k, K + k]], depth[[k, K + k]]
            if np.all(dk > 0.05) and np.all(np.isfinite(ends)):
                pad = prim.cap_r[k] * f / dk.min() + 2.0
                lo, hi = ends.min(0) - pad, ends.max(0) + pad
                sel = np.nonzero((u >= lo[0]) & (u <= hi[0]) & (v >= lo[1]) & (v <= hi[1]))[0]
            else:
                sel = np.arange(len(idx))
            if sel.size:
                out[k, sel] = intersect_capsules(cam.center, dirs[sel], prim.cap_a[k:k + 1], prim.cap_b[k:k + 1],
                                                 prim.cap_r[k:k + 1])[0]
        return out

    @staticmethod
    def _normals(prim: _Primitives, k: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_cap = len(prim.cap_r)
        normals = np.zeros_like(pts)
        parts = np.empty(len(k), dtype=np.int64)
        cap = k < n_cap
        if cap.any():
            kc = k[cap]
            a, b = prim.cap_a[kc], prim.cap_b[kc]
            ba = b - a
            h = np.clip(np.sum((pts[cap] - a) * ba, 1) / np.sum(ba * ba, 1), 0, 1)
            normals[cap] = _unit(pts[cap] - a - h[:, None] * ba)
            parts[cap] = prim.cap_part[kc]
        ell = ~cap
        if ell.any():
            ke = k[ell] - n_cap
            local = np.einsum('nij,nj->ni', prim.ell_axes[ke], pts[ell] - prim.ell_c[ke]) / prim.ell_r[ke] ** 2
            normals[ell] = _unit(np.einsum('nji,nj->ni', prim.ell_axes[ke], local))
            parts[ell] = prim.ell_part[ke]
        return normals, parts

    @staticmethod
    def _candidate_pixels(cam: Camera, joints: np.ndarray, margin_m: float = 0.3) -> np.ndarray:
        """Flat indices of the pixels inside the (generous) image bounding box of a person."""
        uv, depth = cam.project(joints)
        if np.any(depth <= 0.05) or not np.all(np.isfinite(uv)):
            return np.arange(cam.width * cam.height)
        pad = margin_m * max(cam.K[0, 0], cam.K[1, 1]) / depth.min() + 2
        u0, v0 = np.floor(uv.min(0) - pad).astype(int)
        u1, v1 = np.ceil(uv.max(0) + pad).astype(int)
        u0, v0 = max(u0, 0), max(v0, 0)
        u1, v1 = min(u1, cam.width - 1), min(v1, cam.height - 1)
        if u1 < u0 or v1 < v0:
            return np.zeros(0, dtype=np.int64)
        uu, vv = np.meshgrid(np.arange(u0, u1 + 1), np.arange(v0, v1 + 1))
        return (vv * cam.width + uu).ravel()


__all__ = [
    'BACKGROUND_LABEL', 'MOTIONS', 'MOTION_CODES', 'MotionWorld', 'NUM_JOINTS', 'PART_INDEX', 'PART_NAMES',
    'MotionSegment', 'Person', 'body_primitives', 'intersect_capsules', 'intersect_ellipsoids', 'motion_state',
    'place_motion', 'plateau_cycle', 'sample_motion_params', 'sample_person',
]
