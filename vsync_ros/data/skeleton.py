"""17-joint Human3.6M skeleton: joint order, kinematic tree, body shapes and forward kinematics.

Joint order (as in learnable-triangulation's Human3.6M labels)::

    0 RAnkle  1 RKnee  2 RHip  3 LHip  4 LKnee  5 LAnkle  6 Pelvis  7 Spine  8 Thorax
    9 HeadTop 10 RWrist 11 RElbow 12 RShoulder 13 LShoulder 14 LElbow 15 LWrist 16 Neck/Nose

Units are metres and radians. The *body frame* has its origin at the pelvis, x forward, y to the
person's left, z up; :func:`forward_kinematics` places it in the world (z up, floor z = 0) with a
position and a yaw about the vertical. Every child joint is ``parent + bone_length * unit_vector``,
so bone lengths are exactly those of the :class:`BodyShape` whatever the angles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    'RAnkle', 'RKnee', 'RHip', 'LHip', 'LKnee', 'LAnkle', 'Pelvis', 'Spine', 'Thorax', 'HeadTop',
    'RWrist', 'RElbow', 'RShoulder', 'LShoulder', 'LElbow', 'LWrist', 'Neck/Nose',
)
NUM_JOINTS = 17
PELVIS = 6
THORAX = 8
HEAD_TOP = 9
NOSE = 16
#: parent joint of each joint (-1 for the root, the pelvis)
PARENTS: tuple[int, ...] = (1, 2, 6, 6, 3, 4, -1, 6, 7, 16, 11, 12, 8, 8, 13, 14, 8)
#: (parent, child) pairs, one per bone (16 bones)
BONES: tuple[tuple[int, int], ...] = tuple((p, j) for j, p in enumerate(PARENTS) if p >= 0)
#: joint index of the mirrored joint (left <-> right)
FLIP_INDEX: tuple[int, ...] = (5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10, 16)

# bone name -> (parent, child); lengths of a 1.0-scale adult in metres (Human3.6M-like averages)
BONE_NAMES: dict[str, tuple[int, int]] = {
    'hip_r': (6, 2), 'hip_l': (6, 3), 'thigh_r': (2, 1), 'thigh_l': (3, 4), 'shin_r': (1, 0), 'shin_l': (4, 5),
    'spine': (6, 7), 'chest': (7, 8), 'neck': (8, 16), 'head': (16, 9),
    'shoulder_r': (8, 12), 'shoulder_l': (8, 13), 'upper_arm_r': (12, 11), 'upper_arm_l': (13, 14),
    'forearm_r': (11, 10), 'forearm_l': (14, 15),
}
MEAN_BONE_LENGTHS_M: dict[str, float] = {
    'hip': 0.13, 'thigh': 0.45, 'shin': 0.44, 'spine': 0.23, 'chest': 0.25, 'neck': 0.12, 'head': 0.12,
    'shoulder': 0.15, 'upper_arm': 0.28, 'forearm': 0.25,
}


def _rgb(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    return rng.uniform(lo, hi, size=3)


@dataclass
class BodyShape:
    """Bone lengths (metres), render radii (metres) and colours (RGB in [0, 1]) of one person.

    ``lengths`` keys are the (side-less) names of :data:`MEAN_BONE_LENGTHS_M`; left and right bones are
    equal. ``ankle_height_m`` is the ankle height above the floor when the foot is flat.
    """

    lengths: dict[str, float]
    radii: dict[str, float]
    colors: dict[str, np.ndarray] = field(default_factory=dict)
    ankle_height_m: float = 0.08

    @classmethod
    def sample(cls, rng: np.random.Generator) -> BodyShape:
        """Random plausible adult: overall scale U(0.88, 1.12), each bone jittered by up to +-6 %."""
        scale = rng.uniform(0.88, 1.12)
        lengths = {k: float(v * scale * rng.uniform(0.94, 1.06)) for k, v in MEAN_BONE_LENGTHS_M.items()}
        girth = scale * rng.uniform(0.85, 1.2)
        radii = {
            'thigh': 0.075 * girth, 'shin': 0.055 * girth, 'upper_arm': 0.048 * girth, 'forearm': 0.04 * girth,
            'foot': 0.045, 'torso_width': 0.17 * girth, 'torso_depth': 0.11 * girth,
            'hips': 0.1 * girth, 'shoulders': 0.065 * girth, 'neck': 0.05, 'head': 0.1 * scale,
        }
        skin_tone = rng.uniform(0.25, 1.0)
        skin = np.array([0.95, 0.75, 0.6]) * (0.45 + 0.55 * skin_tone)
        colors = {
            'shirt': _rgb(rng, 0.05, 0.95), 'pants': _rgb(rng, 0.05, 0.7), 'skin': skin,
            'hair': _rgb(rng, 0.02, 0.35) * np.array([1.0, 0.8, 0.6]), 'shoes': _rgb(rng, 0.02, 0.3),
        }
        # sleeves: short (skin forearms) or long (shirt forearms)
        colors['sleeve'] = colors['shirt'] if rng.random() < 0.5 else skin
        return cls(lengths, radii, colors, ankle_height_m=0.08 * scale)

    def bone_length(self, name: str) -> float:
        """Length (metres) of a bone of :data:`BONE_NAMES` (e.g. ``'thigh_r'``)."""
        return self.lengths[name.rsplit('_', 1)[0] if name[-2:] in ('_r', '_l') else name]

    def bone_lengths_array(self) -> np.ndarray:
        """(16,) lengths in the order of :data:`BONES`."""
        by_pair = {pair: self.bone_length(name) for name, pair in BONE_NAMES.items()}
        return np.array([by_pair[b] for b in BONES])


@dataclass
class PoseAngles:
    """Joint angles in the body frame (radians). Index 0 of each pair is the right side, 1 the left.

    Limb directions use ``limb_direction(pitch, abduction, side)``: pitch swings the limb forward
    from hanging straight down (pi/2 = horizontal forward), abduction lifts it sideways away from the
    body. The forearm and shin angles are absolute (body frame), not relative to the parent bone.
    """

    torso_pitch: float = 0.0      # forward lean of pelvis -> thorax
    torso_roll: float = 0.0       # sideways lean (positive: towards the person's left)
    head_pitch: float = 0.0       # extra forward tilt of the head
    head_yaw: float = 0.0         # head turn (positive: to the left)
    thigh_pitch: tuple[float, float] = (0.0, 0.0)
    thigh_abd: tuple[float, float] = (0.0, 0.0)
    shin_pitch: tuple[float, float] = (0.0, 0.0)
    upper_arm_pitch: tuple[float, float] = (0.0, 0.0)
    upper_arm_abd: tuple[float, float] = (0.12, 0.12)
    forearm_pitch: tuple[float, float] = (0.15, 0.15)
    forearm_abd: tuple[float, float] = (0.08, 0.08)


def limb_direction(pitch: float, abduction: float, side: float) -> np.ndarray:
    """Unit vector in the body frame; side = +1 for the left limb, -1 for the right one."""
    ca = math.cos(abduction)
    return np.array([math.sin(pitch) * ca, side * math.sin(abduction), -math.cos(pitch) * ca])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / math.sqrt(float(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]))


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (np.cross is slow for single vectors)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def yaw_matrix(yaw: float) -> np.ndarray:
    """(3, 3) rotation about the world z axis (body frame -> world frame)."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def body_frame_joints(shape: BodyShape, a: PoseAngles) -> np.ndarray:
    """(17, 3) joints in the body frame (pelvis at the origin)."""
    L = shape.lengths
    J = np.zeros((NUM_JOINTS, 3))
    left = np.array([0.0, 1.0, 0.0])
    # legs
    for side, (hip, knee, ankle) in ((-1, (2, 1, 0)), (1, (3, 4, 5))):
        k = 0 if side < 0 else 1
        J[hip] = side * L['hip'] * left
        J[knee] = J[hip] + L['thigh'] * limb_direction(a.thigh_pitch[k], a.thigh_abd[k], side)
        J[ankle] = J[knee] + L['shin'] * limb_direction(a.shin_pitch[k], a.thigh_abd[k], side)
    # spine and head
    up = _unit(np.array([math.sin(a.torso_pitch), math.sin(a.torso_roll), math.cos(a.torso_pitch)]))
    J[7] = L['spine'] * up
    J[8] = J[7] + L['chest'] * up
    fwd = _unit(_cross(left, up))
    lat = _cross(up, fwd)
    hp = a.torso_pitch + a.head_pitch
    head_up = _unit(np.array([math.sin(hp), math.sin(a.torso_roll), math.cos(hp)]))
    face = _unit(math.cos(a.head_yaw) * fwd + math.sin(a.head_yaw) * lat)
    face = _unit(face - float(face @ head_up) * head_up)
    J[16] = J[8] + L['neck'] * _unit(head_up + 0.45 * face)
    J[9] = J[16] + L['head'] * _unit(head_up - 0.25 * face)
    # arms
    for side, (sh, el, wr) in ((-1, (12, 11, 10)), (1, (13, 14, 15))):
        k = 0 if side < 0 else 1
        J[sh] = J[8] + L['shoulder'] * _unit(side * lat - 0.12 * up)
        J[el] = J[sh] + L['upper_arm'] * limb_direction(a.upper_arm_pitch[k], a.upper_arm_abd[k], side)
        J[wr] = J[el] + L['forearm'] * limb_direction(a.forearm_pitch[k], a.forearm_abd[k], side)
    return J


def foot_drop(shape: BodyShape, a: PoseAngles, smooth_m: float = 0.015, joints: np.ndarray | None = None) -> float:
    """Height of the pelvis above the floor that puts the lower ankle at ``shape.ankle_height_m``.

    The minimum over the two ankles is a soft minimum (log-sum-exp with scale ``smooth_m``), so the
    pelvis height stays C1-smooth when the stance leg changes; the lower ankle then floats at most
    ``smooth_m * log 2`` above its nominal height. ``joints``: precomputed body-frame joints of ``a``.
    """
    J = body_frame_joints(shape, a) if joints is None else joints
    drops = -np.array([J[0, 2], J[5, 2]])
    m = drops.max()
    soft = m + smooth_m * np.log(np.sum(np.exp((drops - m) / smooth_m))) if smooth_m > 0 else m
    return float(soft + shape.ankle_height_m)


def forward_kinematics(shape: BodyShape, angles: PoseAngles, root_xy, yaw: float,
                       pelvis_z: float | None = None) -> np.ndarray:
    """(17, 3) world joints (metres) for a body with its pelvis above ``root_xy`` facing ``yaw``.

    ``yaw`` is the heading of the body x axis (forward) in the world x-y plane. Without ``pelvis_z``
    the pelvis height keeps the lower foot on the floor (:func:`foot_drop`).
    """
    J = body_frame_joints(shape, angles)
    z = foot_drop(shape, angles) if pelvis_z is None else float(pelvis_z)
    root = np.array([float(root_xy[0]), float(root_xy[1]), z])
    return J @ yaw_matrix(yaw).T + root


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) joints -> (..., 16) bone lengths in the order of :data:`BONES`."""
    joints = np.asarray(joints)
    p = np.array([b[0] for b in BONES])
    c = np.array([b[1] for b in BONES])
    return np.linalg.norm(joints[..., c, :] - joints[..., p, :], axis=-1)


def body_axes(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward, left and up unit vectors of a (17, 3) world pose (from the hips and the spine)."""
    left = _unit(joints[3] - joints[2])
    up = _unit(joints[8] - joints[6])
    fwd = np.cross(left, np.array([0.0, 0.0, 1.0]))
    n = np.linalg.norm(fwd)
    fwd = fwd / n if n > 1e-6 else np.array([1.0, 0.0, 0.0])
    return fwd, left, up
