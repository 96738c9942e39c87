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
plumb_bob k1, k2, k3 over the image (sub-0.01 px for the PETS cameras).
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


def read_tsai_params(path: str | Path) -> TsaiParams:
    """Parse a Tsai calibration XML file."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise CalibrationError(f'cannot read Tsai calibration {path}: {exc}') from exc
    try:
        geo, intr, ext = root.find('Geometry').attrib, root.find('Intrinsic').attrib, root.find('Extrinsic').attrib
        return TsaiParams(
            name=root.get('name', path.stem), width=int(float(geo['width'])), height=int(float(geo['height'])),
            dpx=float(geo['dpx']), dpy=float(geo['dpy']), focal=float(intr['focal']), kappa1=float(intr['kappa1']),
            cx=float(intr['cx']), cy=float(intr['cy']), sx=float(intr['sx']),
            T=np.array([float(ext['tx']), float(ext['ty']), float(ext['tz'])]),
            rot=np.array([float(ext['rx']), float(ext['ry']), float(ext['rz'])]))
    except (AttributeError, KeyError, ValueError) as exc:
        raise CalibrationError(f'Tsai calibration {path} is missing a field: {exc}') from exc


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


def tsai_to_camera(p: TsaiParams, name: str | None = None) -> Camera:
    """Pinhole + fitted plumb_bob camera (metres) equivalent to a Tsai calibration."""
    fx, fy = p.sx * p.focal / p.dpx, p.focal / p.dpy
    K = np.array([[fx, 0, p.cx], [0, fy, p.cy], [0, 0, 1]])
    # distorted normalized coordinates over the image, -> undistorted with Tsai's forward formula
    gu, gv = np.meshgrid(np.linspace(0, p.width - 1, 33), np.linspace(0, p.height - 1, 25))
    xd_mm = (gu.ravel() - p.cx) * p.dpx / p.sx
    yd_mm = (gv.ravel() - p.cy) * p.dpy
    rd2 = xd_mm ** 2 + yd_mm ** 2
    xu, yu = xd_mm * (1 + p.kappa1 * rd2) / p.focal, yd_mm * (1 + p.kappa1 * rd2) / p.focal
    xd, yd = xd_mm / p.focal, yd_mm / p.focal
    r2 = xu ** 2 + yu ** 2
    powers = np.stack([r2, r2 ** 2, r2 ** 3], 1)
    A = np.concatenate([xu[:, None] * powers, yu[:, None] * powers])
    b = np.concatenate([xd - xu, yd - yu])
    k1, k2, k3 = np.linalg.lstsq(A, b, rcond=None)[0]
    return Camera(name or p.name, p.width, p.height, K, np.array([k1, k2, 0.0, 0.0, k3]), p.R, p.T / 1000.0)


def read_tsai_xml(path: str | Path, name: str | None = None, image_size: tuple[int, int] | None = None) -> Camera:
    """Load a Tsai XML as a :class:`Camera`, optionally rescaled to ``image_size`` (width, height)."""
    cam = tsai_to_camera(read_tsai_params(path), name)
    if image_size is not None and (cam.width, cam.height) != tuple(image_size):
        cam = cam.scaled(*image_size)
    return cam
