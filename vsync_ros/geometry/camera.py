"""Calibrated pinhole camera with ROS distortion models (camera_info convention).

World frame: metres, ground plane is z = 0, z points up. Camera frame: x right, y down, z forward
(optical frame). Extrinsics map world to camera: ``X_cam = R @ X_world + t``.

Distortion models (``sensor_msgs/CameraInfo.distortion_model``, OpenCV's coefficient order), applied to
normalized image coordinates ``x, y`` with ``r^2 = x^2 + y^2``:

* ``plumb_bob``: 5 coefficients k1, k2, p1, p2, k3; radial factor ``1 + k1 r^2 + k2 r^4 + k3 r^6``.
* ``rational_polynomial``: 8 coefficients k1, k2, p1, p2, k3, k4, k5, k6; radial factor
  ``(1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6)``.

Both add the tangential terms ``2 p1 x y + p2 (r^2 + 2 x^2)`` (x) and ``p1 (r^2 + 2 y^2) + 2 p2 x y`` (y).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from vsync_ros.yaml_config import nested_get

log = logging.getLogger(__name__)

ROTATION_TOLERANCE = 1e-5
"""Largest deviation ``max |R R^T - I|`` a rotation passed to :class:`Camera` may have."""

ROTATION_REPAIR_TOLERANCE = 1e-3
"""Largest deviation a rotation read by :meth:`Camera.from_yaml` may have; it is re-orthonormalised
(nearest rotation, with a warning) when above :data:`ROTATION_TOLERANCE`. A rotation written with 4
decimals deviates by about 1e-4."""


PLUMB_BOB = 'plumb_bob'
RATIONAL_POLYNOMIAL = 'rational_polynomial'
DISTORTION_COEFFICIENTS = {PLUMB_BOB: 5, RATIONAL_POLYNOMIAL: 8}
"""Supported ``distortion_model`` names and their number of coefficients."""


class CalibrationError(ValueError):
    """A calibration is malformed (wrong shape, non-finite values, non-rotation R, ...)."""


def rotation_deviation(R: np.ndarray) -> float:
    """``max |R R^T - I|`` of a (3, 3) matrix: 0 for an exact rotation (or reflection)."""
    R = np.asarray(R, dtype=np.float64)
    return float(np.max(np.abs(R @ R.T - np.eye(3))))


def nearest_rotation(R: np.ndarray) -> np.ndarray:
    """The rotation matrix closest to ``R`` in the Frobenius norm (``U V^T`` of the SVD ``R = U S V^T``).

    Raises:
        CalibrationError: ``R`` is closest to a reflection (negative determinant).
    """
    u, _, vt = np.linalg.svd(np.asarray(R, dtype=np.float64))
    rot = u @ vt
    if np.linalg.det(rot) < 0:
        raise CalibrationError('the matrix is a reflection (determinant < 0), not a rotation')
    return rot


def _yaml_numbers(doc: dict, keys: tuple[str, ...], path: Path, count: int) -> np.ndarray:
    """The ``count`` numbers at ``doc[keys[0]][keys[1]]...`` as float64, or CalibrationError naming file and field.

    Plain numbers (YAML int / float, also ``.nan``) are accepted; text, booleans and nested lists are not.
    Non-finite values and a wrong count are errors.
    """
    field_name = '.'.join(keys)
    value = yaml_field(doc, keys, path)
    values = value if isinstance(value, list) else [value]
    numbers = []
    for i, item in enumerate(values):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            where = f'{field_name}[{i}]' if isinstance(value, list) else field_name
            raise CalibrationError(f'calibration {path}: field {where} must be a number, got {item!r}')
        numbers.append(float(item))
    arr = np.asarray(numbers, dtype=np.float64)
    if arr.size != count:
        raise CalibrationError(f'calibration {path}: field {field_name} must have {count} numbers, got {arr.size}')
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f'calibration {path}: field {field_name} contains NaN or inf')
    return arr


def yaml_field(doc: dict, keys: Sequence[str], path: Path, what: str = 'calibration'):
    """``doc[keys[0]][keys[1]]...``; CalibrationError naming the file (a ``what`` file) and the missing field."""
    try:
        return nested_get(doc, keys)
    except KeyError as exc:
        raise CalibrationError(f'{what} {path} lacks field {exc.args[0]}') from None


def _yaml_size(doc: dict, key: str, path: Path) -> int:
    """A positive integer image size field, or CalibrationError naming file and field."""
    value = yaml_field(doc, (key,), path)
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral or value <= 0:
        raise CalibrationError(f'calibration {path}: field {key} must be a positive integer (pixels), got {value!r}')
    return int(value)


def _as_array(value, shape: tuple, what: str, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != int(np.prod(shape)):
        raise CalibrationError(f'camera {name!r}: {what} must have {int(np.prod(shape))} values, got {arr.size}')
    arr = arr.reshape(shape)
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f'camera {name!r}: {what} contains NaN or inf')
    return arr


def distortion_model_of(dist: np.ndarray, model: str = '') -> tuple[str, np.ndarray]:
    """(model, coefficients) of a distortion vector: the model's name and its full coefficient vector.

    Args:
        dist: distortion coefficients (any shape, raveled): plumb_bob takes at most 5 (missing trailing ones
            are 0), rational_polynomial exactly 8.
        model: ``plumb_bob``, ``rational_polynomial`` or '' (inferred: 8 values are rational_polynomial,
            at most 5 are plumb_bob).

    Returns:
        The model name and a float64 (5,) or (8,) coefficient array.

    Raises:
        CalibrationError: unknown model, a count the model does not take, or non-finite values (the caller
            adds the camera or file name).
    """
    dist = np.asarray(dist, dtype=np.float64).ravel()
    if not model:
        model = RATIONAL_POLYNOMIAL if dist.size == DISTORTION_COEFFICIENTS[RATIONAL_POLYNOMIAL] else PLUMB_BOB
    if model not in DISTORTION_COEFFICIENTS:
        raise CalibrationError(f'distortion model {model!r} is not supported (plumb_bob or rational_polynomial)')
    if model == PLUMB_BOB and dist.size > 5:
        raise CalibrationError(f'plumb_bob distortion needs <= 5 coefficients (k1 k2 p1 p2 k3), got {dist.size}')
    if model == RATIONAL_POLYNOMIAL and dist.size != 8:
        raise CalibrationError(f'rational_polynomial distortion needs 8 coefficients (k1 k2 p1 p2 k3 k4 k5 k6), '
                               f'got {dist.size}')
    if not np.all(np.isfinite(dist)):
        raise CalibrationError(f'{model} distortion coefficients contain NaN or inf')
    if dist.size < 5:
        dist = np.concatenate([dist, np.zeros(5 - dist.size)])
    return model, dist


def radial_factor(dist: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Radial distortion factor at squared normalized radii ``r2`` (N,); unitless.

    plumb_bob (5 coefficients): ``1 + k1 r^2 + k2 r^4 + k3 r^6``; rational_polynomial (8):
    ``(1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6)``.
    """
    if len(dist) == 5:
        k1, k2, _, _, k3 = dist
        return 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
    k1, k2, _, _, k3, k4, k5, k6 = dist
    return (1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2) / (1 + k4 * r2 + k5 * r2 * r2 + k6 * r2 * r2 * r2)


def distort_normalized(xn: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Apply plumb_bob (5 coefficients) or rational_polynomial (8) distortion to (N, 2) normalized coordinates.

    Args:
        xn: (N, 2) undistorted normalized image coordinates (unitless, ``X / Z``).
        dist: (5,) k1 k2 p1 p2 k3 or (8,) k1 k2 p1 p2 k3 k4 k5 k6.

    Returns:
        (N, 2) distorted normalized coordinates (pixels = ``K[:2, :2] @ x + K[:2, 2]``).
    """
    x, y = xn[:, 0], xn[:, 1]
    r2 = x * x + y * y
    p1, p2 = dist[2], dist[3]
    radial = radial_factor(dist, r2)
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=1)


def undistort_normalized(xd: np.ndarray, dist: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Invert :func:`distort_normalized` by fixed-point iteration (as OpenCV's ``undistortPoints``).

    ``x <- (x_d - tangential(x)) / radial(x)``, ``iterations`` times, starting at ``x_d``.

    Args:
        xd: (N, 2) distorted normalized image coordinates.
        dist: (5,) plumb_bob or (8,) rational_polynomial coefficients.
        iterations: number of fixed-point steps.

    Returns:
        (N, 2) undistorted normalized coordinates.
    """
    x = xd.copy()
    if len(dist) == 5:
        k1, k2, p1, p2, k3 = dist
        for _ in range(iterations):
            r2 = np.sum(x * x, axis=1)
            radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
            dx = 2 * p1 * x[:, 0] * x[:, 1] + p2 * (r2 + 2 * x[:, 0] ** 2)
            dy = p1 * (r2 + 2 * x[:, 1] ** 2) + 2 * p2 * x[:, 0] * x[:, 1]
            x = np.stack([(xd[:, 0] - dx) / radial, (xd[:, 1] - dy) / radial], axis=1)
        return x
    k1, k2, p1, p2, k3, k4, k5, k6 = dist
    for _ in range(iterations):
        r2 = np.sum(x * x, axis=1)
        inv_radial = (1 + k4 * r2 + k5 * r2 * r2 + k6 * r2 * r2 * r2) / (1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2)
        dx = 2 * p1 * x[:, 0] * x[:, 1] + p2 * (r2 + 2 * x[:, 0] * x[:, 0])
        dy = p1 * (r2 + 2 * x[:, 1] * x[:, 1]) + 2 * p2 * x[:, 0] * x[:, 1]
        x = np.stack([(xd[:, 0] - dx) * inv_radial, (xd[:, 1] - dy) * inv_radial], axis=1)
    return x


def radial_slope(dist: np.ndarray, r: np.ndarray) -> np.ndarray:
    """d/dr of the distorted radius ``r * radial(r)`` at normalized radii ``r`` (N,); unitless.

    The radial mapping is monotonic while this is positive. For rational_polynomial the value is NaN
    where the denominator ``1 + k4 r^2 + k5 r^4 + k6 r^6`` is not positive (the model has a pole there).
    """
    r2 = r * r
    if len(dist) == 5:
        k1, k2, _, _, k3 = dist
        return 1 + 3 * k1 * r2 + 5 * k2 * r2 ** 2 + 7 * k3 * r2 ** 3
    k1, k2, _, _, k3, k4, k5, k6 = dist
    num = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
    den = 1 + k4 * r2 + k5 * r2 * r2 + k6 * r2 * r2 * r2
    dnum = k1 + 2 * k2 * r2 + 3 * k3 * r2 * r2  # d num / d r^2
    dden = k4 + 2 * k5 * r2 + 3 * k6 * r2 * r2
    with np.errstate(divide='ignore', invalid='ignore'):
        slope = ((num + 2 * r2 * dnum) * den - 2 * r2 * num * dden) / (den * den)
    return np.where(den > 0, slope, np.nan)


def monotonic_radius(dist: np.ndarray, r_max: float = 20.0, samples: int = 20001) -> float:
    """Normalized radius up to which the radial distortion of ``dist`` is monotonic (inf if up to ``r_max``).

    Sampled on ``linspace(0, r_max, samples)``: the last sample before the first one where
    :func:`radial_slope` is not positive (or a rational_polynomial denominator is not positive).
    """
    r = np.linspace(0.0, r_max, samples)
    slope = radial_slope(dist, r)
    bad = np.nonzero(~(slope > 0))[0]
    return float(r[bad[0] - 1]) if bad.size else float('inf')


@dataclass
class Camera:
    """A static calibrated camera.

    Attributes:
        name: camera name (also the default image ``frame_id``).
        width, height: image size in pixels.
        K: (3, 3) intrinsic matrix, pixels.
        dist: (5,) plumb_bob coefficients k1, k2, p1, p2, k3, or (8,) rational_polynomial coefficients
            k1, k2, p1, p2, k3, k4, k5, k6 (see the module docstring). At most 5 values without a model are
            plumb_bob (missing trailing ones are 0), 8 values are rational_polynomial.
        R: (3, 3) rotation world -> camera.
        t: (3,) translation world -> camera, metres.
        frame_id: optical frame name used on ROS messages.
        distortion_model: ``plumb_bob`` or ``rational_polynomial``; '' infers it from the number of
            coefficients. Always set after construction.
    """

    name: str
    width: int
    height: int
    K: np.ndarray
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    t: np.ndarray = field(default_factory=lambda: np.zeros(3))
    frame_id: str = ''
    distortion_model: str = ''

    def __post_init__(self) -> None:
        self.K = _as_array(self.K, (3, 3), 'K', self.name)
        try:
            self.distortion_model, self.dist = distortion_model_of(self.dist, self.distortion_model)
        except CalibrationError as exc:
            raise CalibrationError(f'camera {self.name!r}: {exc}') from None
        self.R = _as_array(self.R, (3, 3), 'R', self.name)
        self.t = _as_array(self.t, (3,), 't', self.name)
        self.width, self.height = int(self.width), int(self.height)
        if self.width <= 0 or self.height <= 0:
            raise CalibrationError(f'camera {self.name!r}: image size must be positive')
        if self.K[0, 0] <= 0 or self.K[1, 1] <= 0 or not np.allclose(self.K[2], [0, 0, 1]):
            raise CalibrationError(f'camera {self.name!r}: K must have positive fx, fy and last row [0 0 1]')
        if rotation_deviation(self.R) > ROTATION_TOLERANCE or np.linalg.det(self.R) < 0:
            raise CalibrationError(f'camera {self.name!r}: R is not a rotation matrix (max |R R^T - I| = '
                                   f'{rotation_deviation(self.R):.2g}, det {np.linalg.det(self.R):.3g})')
        if not self.frame_id:
            self.frame_id = f'{self.name}_optical'

    # ------------------------------------------------------------------ constructors
    @classmethod
    def look_at(cls, name: str, eye, target, width: int, height: int, hfov_deg: float,
                dist=(0.0, 0.0, 0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> Camera:
        """Camera at ``eye`` (metres) looking at ``target`` with horizontal field of view ``hfov_deg``."""
        eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
        forward = target - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, up)
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        R = np.stack([right, down, forward])
        f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
        K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
        return cls(name, width, height, K, np.asarray(dist, dtype=np.float64), R, -R @ eye)

    @classmethod
    def from_camera_info(cls, msg, R, t, name: str = '') -> Camera:
        """Build from a ``sensor_msgs/CameraInfo`` (fields k, d, width, height, distortion_model) plus extrinsics.

        ``distortion_model`` plumb_bob (empty: plumb_bob) takes at most 5 values in ``d`` (missing ones are 0),
        rational_polynomial exactly 8; anything else is a :class:`CalibrationError` naming the camera and the
        field.
        """
        model = getattr(msg, 'distortion_model', PLUMB_BOB) or PLUMB_BOB
        frame = getattr(getattr(msg, 'header', None), 'frame_id', '') or ''
        name = name or frame or 'camera'
        d = np.asarray(msg.d, dtype=np.float64).ravel()
        if model not in DISTORTION_COEFFICIENTS:
            raise CalibrationError(f'camera {name!r}: CameraInfo field distortion_model {model!r} is not supported '
                                   f'(plumb_bob or rational_polynomial)')
        if (model == PLUMB_BOB and d.size > 5) or (model == RATIONAL_POLYNOMIAL and d.size != 8):
            need = 'at most 5' if model == PLUMB_BOB else '8'
            raise CalibrationError(f'camera {name!r}: CameraInfo field d must have {need} numbers for '
                                   f'distortion_model {model}, got {d.size}')
        return cls(name, msg.width, msg.height, np.asarray(msg.k), d, R, t, frame_id=frame, distortion_model=model)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Camera:
        """Load a ROS camera_info YAML (camera_calibration_parsers layout) with an ``extrinsics`` block.

        A rotation that is a rotation only up to rounding (``max |R R^T - I|`` at most
        :data:`ROTATION_REPAIR_TOLERANCE`, e.g. written with 4 decimals) is replaced by the nearest rotation
        and a warning naming the file is logged.

        Raises:
            CalibrationError: unreadable file, missing field, text where a number belongs, NaN, or a matrix
                that is not a rotation; the message names the file and the field.
        """
        path = Path(path)
        try:
            doc = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise CalibrationError(f'cannot read calibration {path}: {exc}') from exc
        if not isinstance(doc, dict):
            raise CalibrationError(f'calibration {path} is not a YAML mapping')
        name = str(doc.get('camera_name', path.stem))
        model = doc.get('distortion_model', PLUMB_BOB)
        if model not in DISTORTION_COEFFICIENTS:
            raise CalibrationError(f'calibration {path}: field distortion_model {model!r} is not supported '
                                   f'(plumb_bob or rational_polynomial)')
        width, height = _yaml_size(doc, 'image_width', path), _yaml_size(doc, 'image_height', path)
        K = _yaml_numbers(doc, ('camera_matrix', 'data'), path, 9).reshape(3, 3)
        if isinstance(doc.get('distortion_coefficients'), dict) and 'data' in doc['distortion_coefficients']:
            coeffs = doc['distortion_coefficients']['data']
            n = len(coeffs) if isinstance(coeffs, list) else 1
            if model == PLUMB_BOB and n > 5:
                raise CalibrationError(f'calibration {path}: field distortion_coefficients.data must have at '
                                       f'most 5 numbers (plumb_bob), got {n}')
            if model == RATIONAL_POLYNOMIAL and n != 8:
                raise CalibrationError(f'calibration {path}: field distortion_coefficients.data must have 8 '
                                       f'numbers (rational_polynomial: k1 k2 p1 p2 k3 k4 k5 k6), got {n}')
            dist = _yaml_numbers(doc, ('distortion_coefficients', 'data'), path, n)
        elif model == RATIONAL_POLYNOMIAL:
            raise CalibrationError(f'calibration {path} lacks field distortion_coefficients.data (rational_polynomial '
                                   f'needs 8 numbers)')
        else:
            dist = np.zeros(5)
        R = _yaml_numbers(doc, ('extrinsics', 'rotation', 'data'), path, 9).reshape(3, 3)
        t = _yaml_numbers(doc, ('extrinsics', 'translation'), path, 3)
        deviation = rotation_deviation(R)
        if deviation > ROTATION_REPAIR_TOLERANCE or np.linalg.det(R) <= 0:
            raise CalibrationError(
                f'calibration {path}: field extrinsics.rotation.data is not a rotation matrix '
                f'(max |R R^T - I| = {deviation:.2g}, det {np.linalg.det(R):.3g}; at most '
                f'{ROTATION_REPAIR_TOLERANCE:g} is repaired)')
        if deviation > ROTATION_TOLERANCE:
            R = nearest_rotation(R)
            log.warning('calibration %s: extrinsics.rotation.data is a rotation only up to rounding '
                        '(max |R R^T - I| = %.2g); using the nearest rotation matrix', path, deviation)
        try:
            return cls(name=name, width=width, height=height, K=K, dist=dist, R=R, t=t,
                       frame_id=str(doc.get('frame_id', '')), distortion_model=model)
        except CalibrationError as exc:
            raise CalibrationError(f'calibration {path}: {exc}') from None

    def to_yaml(self, path: str | Path) -> None:
        """Write this camera as ROS camera_info YAML plus an ``extrinsics`` block (world -> camera, metres)."""
        P = np.hstack([self.K, np.zeros((3, 1))])
        doc = {
            'image_width': self.width,
            'image_height': self.height,
            'camera_name': self.name,
            'frame_id': self.frame_id,
            'camera_matrix': {'rows': 3, 'cols': 3, 'data': _floats(self.K)},
            'distortion_model': self.distortion_model,
            'distortion_coefficients': {'rows': 1, 'cols': int(self.dist.size), 'data': _floats(self.dist)},
            'rectification_matrix': {'rows': 3, 'cols': 3, 'data': _floats(np.eye(3))},
            'projection_matrix': {'rows': 3, 'cols': 4, 'data': _floats(P)},
            'extrinsics': {
                'world_frame': 'world',
                'rotation': {'rows': 3, 'cols': 3, 'data': _floats(self.R)},
                'translation': _floats(self.t),
            },
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))

    # ------------------------------------------------------------------ properties
    @property
    def center(self) -> np.ndarray:
        """(3,) camera centre in world coordinates, metres."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """(3, 4) pinhole projection matrix K [R | t] (ignores distortion)."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    @property
    def has_distortion(self) -> bool:
        """True when any distortion coefficient is non-zero."""
        return bool(np.any(self.dist != 0))

    def fingerprint(self) -> str:
        """Short hash of all calibration values (cache key; equal for equal calibrations)."""
        h = hashlib.sha1()
        if self.distortion_model != PLUMB_BOB:  # plumb_bob hashes as before the model name was stored
            h.update(self.distortion_model.encode())
        for arr in (self.K, self.dist, self.R, self.t, np.array([self.width, self.height], dtype=np.float64)):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        return h.hexdigest()[:16]

    def scaled(self, new_width: int, new_height: int) -> Camera:
        """The same camera for an image resized to (new_width, new_height) with pixel-centre alignment."""
        sx, sy = new_width / self.width, new_height / self.height
        K = self.K.copy()
        K[0, 0] *= sx
        K[0, 1] *= sx
        K[1, 1] *= sy
        K[0, 2] = sx * (K[0, 2] + 0.5) - 0.5
        K[1, 2] = sy * (K[1, 2] + 0.5) - 0.5
        return Camera(self.name, new_width, new_height, K, self.dist.copy(), self.R.copy(), self.t.copy(),
                      self.frame_id, self.distortion_model)

    # ------------------------------------------------------------------ projection
    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points (m) -> (N, 3) camera-frame points (m)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        return points @ self.R.T + self.t

    def distort(self, xn: np.ndarray) -> np.ndarray:
        """Apply the camera's distortion to (N, 2) normalized image coordinates (:func:`distort_normalized`)."""
        return distort_normalized(xn, self.dist)

    @property
    def max_distortion_radius(self) -> float:
        """Normalized radius up to which the radial distortion is monotonic (inf without distortion).

        Beyond it the polynomial folds back, so far out-of-view points would land inside the image;
        :meth:`project` returns NaN for them.
        """
        if not self.has_distortion:
            return float('inf')
        return monotonic_radius(self.dist)

    def project(self, points: np.ndarray, distort: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Project (N, 3) world points (m) to (N, 2) pixels; also returns (N,) depth along the optical axis (m).

        Points with depth <= 0 (behind the camera), or beyond the distortion model's monotonic range
        (far outside the field of view), get NaN pixel coordinates.
        """
        pc = self.world_to_camera(points)
        depth = pc[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            xn = pc[:, :2] / depth[:, None]
        xn[depth <= 1e-9] = np.nan
        if distort and self.has_distortion:
            with np.errstate(invalid='ignore'):
                xn[np.sum(xn * xn, axis=1) > self.max_distortion_radius ** 2] = np.nan
            xn = self.distort(xn)
        uv = xn @ self.K[:2, :2].T + self.K[:2, 2]
        return uv, depth

    def undistort_pixels(self, uv: np.ndarray, iterations: int = 20) -> np.ndarray:
        """(N, 2) distorted pixels -> (N, 2) undistorted normalized coordinates (fixed-point iteration)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        xd = (uv - self.K[:2, 2]) @ np.linalg.inv(self.K[:2, :2]).T
        if not self.has_distortion:
            return xd
        return undistort_normalized(xd, self.dist, iterations)

    def ideal_pixels(self, uv: np.ndarray) -> np.ndarray:
        """(N, 2) distorted pixels -> (N, 2) pixels of the distortion-free pinhole camera with the same K."""
        return self.undistort_pixels(uv) @ self.K[:2, :2].T + self.K[:2, 2]

    def pixel_rays(self, uv: np.ndarray) -> np.ndarray:
        """(N, 2) pixels -> (N, 3) unit ray directions in the world frame (origin: ``center``)."""
        xn = self.undistort_pixels(uv)
        d_cam = np.hstack([xn, np.ones((xn.shape[0], 1))])
        d_world = d_cam @ self.R  # R^T applied to each row
        return d_world / np.linalg.norm(d_world, axis=1, keepdims=True)

    def backproject_to_plane(self, uv: np.ndarray, height_m: float = 0.0) -> np.ndarray:
        """(N, 2) pixels -> (N, 3) world points where the rays meet the plane z = height_m.

        Rays parallel to the plane or meeting it behind the camera give NaN.
        """
        rays = self.pixel_rays(uv)
        c = self.center
        with np.errstate(divide='ignore', invalid='ignore'):
            s = (height_m - c[2]) / rays[:, 2]
        s[~np.isfinite(s) | (s <= 0)] = np.nan
        return c + s[:, None] * rays

    def in_image(self, uv: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """(N,) bool: pixel centres inside the image (finite and within [-0.5, size - 0.5])."""
        u, v = uv[:, 0], uv[:, 1]
        with np.errstate(invalid='ignore'):
            return (np.isfinite(u) & np.isfinite(v) & (u >= -0.5 - margin) & (u <= self.width - 0.5 + margin)
                    & (v >= -0.5 - margin) & (v <= self.height - 0.5 + margin))


def _floats(arr: np.ndarray) -> list:
    return [float(x) for x in np.asarray(arr).ravel()]


def load_cameras(paths) -> list[Camera]:
    """Load several calibration YAMLs in order."""
    return [Camera.from_yaml(p) for p in paths]


def cameras_at_resolution(cameras: Sequence[Camera], width: int, height: int) -> list[Camera]:
    """The cameras for images of (width, height) pixels: each one :meth:`Camera.scaled` when its size differs.

    Cameras already at that size are returned as they are (same objects, no copy).
    """
    return [c if (c.width, c.height) == (width, height) else c.scaled(width, height) for c in cameras]
