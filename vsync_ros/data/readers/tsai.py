"""Tsai camera calibration (PETS2009 ``View_00x.xml``) -> :class:`~vsync_ros.geometry.Camera`.

File format (millimetres)::

    <Camera name="View_001">
      <Geometry width height ncx nfx dx dy dpx dpy/>
      <Intrinsic focal kappa1 cx cy sx/>
      <Extrinsic tx ty tz rx ry rz/>
    </Camera>

Tsai model: ``X_c = R X_w + T`` with ``R = Rz(rz) Ry(ry) Rx(rx)``; undistorted sensor coordinates
``X_u = f x_c / z_c``; radial distortion ``X_u = X_d (1 + kappa1 r_d^2)`` (sensor mm); pixels
``u = sx X_d / dpx + cx``, ``v = Y_d / dpy + cy``. The pinhole part maps exactly onto K, R, t (t in
metres). Tsai's distortion is the inverse direction of plumb_bob, so it is converted by fitting
plumb_bob k1, k2, k3 and the focal scale over the image (see :func:`tsai_to_camera` for the residuals).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vsync_ros.geometry.camera import CalibrationError, Camera


@dataclass(frozen=True)
class TsaiParams:
    """Raw Tsai parameters (mm, rad)."""

    name: str
    width: int
    height: int
    dpx: float
    dpy: float
    focal: float
    kappa1: float
    cx: float
    cy: float
    sx: float
    T: np.ndarray
    rot: np.ndarray  # rx, ry, rz

    @property
    def R(self) -> np.ndarray:
        """(3, 3) world -> camera rotation Rz(rz) Ry(ry) Rx(rx)."""
        rx, ry, rz = self.rot
        sa, ca, sb, cb, sg, cg = np.sin(rx), np.cos(rx), np.sin(ry), np.cos(ry), np.sin(rz), np.cos(rz)
        return np.array([[cb * cg, cg * sa * sb - ca * sg, sa * sg + ca * cg * sb],
                         [cb * sg, sa * sb * sg + ca * cg, ca * sb * sg - cg * sa],
                         [-sb, cb * sa, ca * cb]])


def _tsai_number(root: ET.Element, element: str, key: str, path: Path) -> float:
    """The finite number in attribute ``key`` of child ``element``; CalibrationError naming file and field."""
    node = root.find(element)
    if node is None:
        raise CalibrationError(f'Tsai calibration {path} lacks element <{element}>')
    if key not in node.attrib:
        raise CalibrationError(f'Tsai calibration {path} lacks field {element}.{key}')
    try:
        value = float(node.attrib[key])
    except ValueError:
        raise CalibrationError(f'Tsai calibration {path}: field {element}.{key} must be a number, '
                               f'got {node.attrib[key]!r}') from None
    if not np.isfinite(value):
        raise CalibrationError(f'Tsai calibration {path}: field {element}.{key} is NaN or inf')
    return value


def read_tsai_params(path: str | Path) -> TsaiParams:
    """Parse a Tsai calibration XML file (lengths in mm, angles in rad).

    Raises:
        CalibrationError: unreadable file, missing element or attribute, text or NaN where a number belongs,
            or a non-positive size / focal length / pixel pitch; the message names the file and the field.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise CalibrationError(f'cannot read Tsai calibration {path}: {exc}') from exc
    num = {(el, key): _tsai_number(root, el, key, path)
           for el, keys in (('Geometry', ('width', 'height', 'dpx', 'dpy')),
                            ('Intrinsic', ('focal', 'kappa1', 'cx', 'cy', 'sx')),
                            ('Extrinsic', ('tx', 'ty', 'tz', 'rx', 'ry', 'rz')))
           for key in keys}
    for field in (('Geometry', 'width'), ('Geometry', 'height'), ('Geometry', 'dpx'), ('Geometry', 'dpy'),
                  ('Intrinsic', 'focal'), ('Intrinsic', 'sx')):
        if num[field] <= 0:
            raise CalibrationError(f'Tsai calibration {path}: field {".".join(field)} must be positive, '
                                   f'got {num[field]:g}')
    return TsaiParams(
        name=root.get('name', path.stem), width=int(num['Geometry', 'width']), height=int(num['Geometry', 'height']),
        dpx=num['Geometry', 'dpx'], dpy=num['Geometry', 'dpy'], focal=num['Intrinsic', 'focal'],
        kappa1=num['Intrinsic', 'kappa1'], cx=num['Intrinsic', 'cx'], cy=num['Intrinsic', 'cy'],
        sx=num['Intrinsic', 'sx'],
        T=np.array([num['Extrinsic', k] for k in ('tx', 'ty', 'tz')]),
        rot=np.array([num['Extrinsic', k] for k in ('rx', 'ry', 'rz')]))


def tsai_project(p: TsaiParams, points_mm: np.ndarray) -> np.ndarray:
    """Reference Tsai projection of (N, 3) world points (mm) to (N, 2) pixels (distortion solved exactly)."""
    pc = np.asarray(points_mm, np.float64) @ p.R.T + p.T
    xu = p.focal * pc[:, 0] / pc[:, 2]
    yu = p.focal * pc[:, 1] / pc[:, 2]
    ru = np.hypot(xu, yu)
    # solve ru = rd (1 + k rd^2) for rd by Newton iteration
    rd = ru.copy()
    for _ in range(30):
        f = rd + p.kappa1 * rd ** 3 - ru
        rd -= f / (1 + 3 * p.kappa1 * rd ** 2)
    scale = np.where(ru > 0, rd / np.maximum(ru, 1e-12), 1.0)
    xd, yd = xu * scale, yu * scale
    return np.stack([p.sx * xd / p.dpx + p.cx, yd / p.dpy + p.cy], 1)


def tsai_to_camera(p: TsaiParams, name: str | None = None, iterations: int = 60) -> Camera:
    """Pinhole + fitted plumb_bob camera (metres) equivalent to a Tsai calibration.

    Tsai's radial distortion maps distorted to undistorted coordinates; plumb_bob maps the other way, so
    the plumb_bob polynomial is fitted: ``u = a0 fx xu (1 + k1 r^2 + k2 r^4 + k3 r^6) + cx`` over a dense
    grid of image pixels (``xu``: Tsai-undistorted normalized coordinates, ``r = |xu|``). The fit is
    minimax in pixels (Lawson's iteratively reweighted least squares), and the common focal scale ``a0``
    is free, which lowers the largest error about 8 times against a plain least-squares fit of k1, k2, k3.
    Largest differences from :func:`tsai_project` over the full-size PETS2009 images: View_001 0.0001 px,
    View_003 0.003 px, View_002 (665 px focal length, strong distortion) 0.095 px, the plumb_bob limit.
    """
    fx, fy = p.sx * p.focal / p.dpx, p.focal / p.dpy
    gu, gv = np.meshgrid(np.linspace(-0.5, p.width - 0.5, 97), np.linspace(-0.5, p.height - 0.5, 73))
    xd_mm = (gu.ravel() - p.cx) * p.dpx / p.sx
    yd_mm = (gv.ravel() - p.cy) * p.dpy
    rd2 = xd_mm ** 2 + yd_mm ** 2
    xu, yu = xd_mm * (1 + p.kappa1 * rd2) / p.focal, yd_mm * (1 + p.kappa1 * rd2) / p.focal
    r2 = xu ** 2 + yu ** 2
    powers = np.stack([np.ones_like(r2), r2, r2 ** 2, r2 ** 3], 1)
    A = np.concatenate([fx * xu[:, None] * powers, fy * yu[:, None] * powers])  # pixels
    b = np.concatenate([fx * xd_mm / p.focal, fy * yd_mm / p.focal])
    weights = np.ones(len(b))
    for _ in range(iterations):
        a0, a1, a2, a3 = np.linalg.lstsq(A * weights[:, None], b * weights, rcond=None)[0]
        residual = np.abs(A @ np.array([a0, a1, a2, a3]) - b)
        weights = weights * np.sqrt(residual / max(residual.max(), 1e-15) + 1e-3)
        weights /= weights.max()
    K = np.array([[a0 * fx, 0, p.cx], [0, a0 * fy, p.cy], [0, 0, 1]])
    return Camera(name or p.name, p.width, p.height, K, np.array([a1 / a0, a2 / a0, 0.0, 0.0, a3 / a0]), p.R,
                  p.T / 1000.0)


def read_tsai_xml(path: str | Path, name: str | None = None, image_size: tuple[int, int] | None = None) -> Camera:
    """Load a Tsai XML as a :class:`Camera`, optionally rescaled to ``image_size`` (width, height)."""
    cam = tsai_to_camera(read_tsai_params(path), name)
    if image_size is not None and (cam.width, cam.height) != tuple(image_size):
        cam = cam.scaled(*image_size)
    return cam
