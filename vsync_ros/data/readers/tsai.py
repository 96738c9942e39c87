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
plumb_bob k1, k2, k3 and the focal scale over the image, or, where that polynomial cannot follow Tsai's
distortion within :data:`TSAI_PLUMB_BOB_TOLERANCE_PX`, ROS's rational_polynomial model (see
:func:`tsai_fit` for the residuals).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vsync_ros.geometry.camera import PLUMB_BOB, RATIONAL_POLYNOMIAL, CalibrationError, Camera, monotonic_radius

TSAI_PLUMB_BOB_TOLERANCE_PX = 0.005
"""Largest plumb_bob fit error (pixels, over the image) :func:`tsai_to_camera` accepts before it fits the
rational_polynomial model instead (half the 0.01 px the import promises, for the pixels between grid nodes)."""

RATIONAL_FIT_EXTENT = 1.5
"""The rational_polynomial fit covers this many times the image (about its centre), where Tsai's distortion is
monotonic, so the model also follows Tsai just outside the image instead of only inside it."""

_GRID = (97, 73)  # fit grid nodes across the image (u, v)


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


def _tsai_grid(p: TsaiParams, extent: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit grid: distorted sensor coordinates ``xd_mm, yd_mm`` (M,) (mm) and Tsai-undistorted normalized ``xu, yu``.

    The grid spans the image (pixel edges -0.5 .. size - 0.5) scaled by ``extent`` about the image centre; with
    ``extent > 1`` the nodes where Tsai's distortion is not monotonic (``1 + 3 kappa1 r_d^2 <= 0``) are dropped.
    """
    us, vs = np.linspace(-0.5, p.width - 0.5, _GRID[0]), np.linspace(-0.5, p.height - 0.5, _GRID[1])
    if extent != 1.0:
        cu, cv = (p.width - 1) / 2, (p.height - 1) / 2
        us, vs = cu + extent * (us - cu), cv + extent * (vs - cv)
    gu, gv = np.meshgrid(us, vs)
    xd_mm = (gu.ravel() - p.cx) * p.dpx / p.sx
    yd_mm = (gv.ravel() - p.cy) * p.dpy
    rd2 = xd_mm ** 2 + yd_mm ** 2
    if extent != 1.0:
        keep = 1 + 3 * p.kappa1 * rd2 > 0
        xd_mm, yd_mm, rd2 = xd_mm[keep], yd_mm[keep], rd2[keep]
    return xd_mm, yd_mm, xd_mm * (1 + p.kappa1 * rd2) / p.focal, yd_mm * (1 + p.kappa1 * rd2) / p.focal


def _fit_plumb_bob(p: TsaiParams, iterations: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimax plumb_bob fit over the image: (K (3, 3) pixels, dist (5,), largest grid error in pixels)."""
    fx, fy = p.sx * p.focal / p.dpx, p.focal / p.dpy
    xd_mm, yd_mm, xu, yu = _tsai_grid(p)
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
    dist = np.array([a1 / a0, a2 / a0, 0.0, 0.0, a3 / a0])
    return K, dist, _grid_error_px(p, K, dist)


def _fit_rational(p: TsaiParams, iterations: int, extent: float = RATIONAL_FIT_EXTENT,
                  ) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimax rational_polynomial fit: (K (3, 3) pixels = Tsai's pinhole, dist (8,), largest image grid error px).

    Model (pixels, per axis): ``b = f xu N(r^2) / D(r^2)`` with ``N = 1 + k1 r^2 + k2 r^4 + k3 r^6``,
    ``D = 1 + k4 r^2 + k5 r^4 + k6 r^6`` and ``b`` Tsai's distorted offset from the principal point. Multiplied
    by ``D`` it is linear in k1..k6 (``f xu (N - 1) - b (D - 1) = b - f xu``); each step solves it by least
    squares with rows divided by the previous ``D`` (Sanathanan-Koerner, so the pixel residual is what is
    minimised) and Lawson's minimax weights. k4..k6 are free, the tangential p1 = p2 = 0 and the focal
    length is Tsai's (``D -> 1`` at the centre, where Tsai's distortion vanishes too).
    """
    fx, fy = p.sx * p.focal / p.dpx, p.focal / p.dpy
    xd_mm, yd_mm, xu, yu = _tsai_grid(p, extent)
    r2 = xu ** 2 + yu ** 2
    powers = np.stack([r2, r2 ** 2, r2 ** 3], 1)
    bx, by = fx * xd_mm / p.focal, fy * yd_mm / p.focal
    b = np.concatenate([bx, by])  # pixels from the principal point
    model = np.concatenate([fx * xu, fy * yu])  # undistorted pixels from the principal point
    A = np.concatenate([np.concatenate([fx * xu[:, None] * powers, -bx[:, None] * powers], 1),
                        np.concatenate([fy * yu[:, None] * powers, -by[:, None] * powers], 1)])
    rhs = b - model
    weights, den = np.ones(len(b)), np.ones(len(b))
    for _ in range(iterations):
        scale = weights / den
        k = np.linalg.lstsq(A * scale[:, None], rhs * scale, rcond=None)[0]
        den = np.concatenate([1 + powers @ k[3:]] * 2)
        residual = np.abs(model * np.concatenate([1 + powers @ k[:3]] * 2) / den - b)
        weights = weights * np.sqrt(residual / max(residual.max(), 1e-15) + 1e-3)
        weights /= weights.max()
    K = np.array([[fx, 0, p.cx], [0, fy, p.cy], [0, 0, 1]])
    dist = np.array([k[0], k[1], 0.0, 0.0, k[2], k[3], k[4], k[5]])
    return K, dist, _grid_error_px(p, K, dist)


def _grid_error_px(p: TsaiParams, K: np.ndarray, dist: np.ndarray) -> float:
    """Largest pixel distance between Tsai's image grid pixels and the fitted model's projection of their rays."""
    xd_mm, yd_mm, xu, yu = _tsai_grid(p)
    cam = Camera('fit', p.width, p.height, K, dist)
    with np.errstate(invalid='ignore'):
        uv, _ = cam.project(np.stack([xu, yu, np.ones_like(xu)], 1))
    ref = np.stack([p.sx * xd_mm / p.dpx + p.cx, yd_mm / p.dpy + p.cy], 1)
    err = np.linalg.norm(uv - ref, axis=1)
    return float(np.max(np.where(np.isfinite(err), err, np.inf)))


def tsai_fit(p: TsaiParams, model: str = 'auto', iterations: int = 60) -> tuple[np.ndarray, np.ndarray, float]:
    """Pinhole + distortion equivalent to a Tsai calibration's intrinsics.

    Tsai's radial distortion maps distorted to undistorted coordinates; ROS's models map the other way, so
    a model is fitted over a dense grid of image pixels (``xu``: Tsai-undistorted normalized coordinates,
    ``r = |xu|``), minimax in pixels (Lawson's iteratively reweighted least squares):

    * ``plumb_bob``: ``u = a0 fx xu (1 + k1 r^2 + k2 r^4 + k3 r^6) + cx`` with the common focal scale ``a0``
      free, which lowers the largest error about 8 times against a plain least-squares fit of k1, k2, k3.
    * ``rational_polynomial``: k1..k6 with Tsai's focal length, fitted over :data:`RATIONAL_FIT_EXTENT` times
      the image (see :func:`_fit_rational`).
    * ``auto`` (what the import uses): plumb_bob when its largest error over the image is at most
      :data:`TSAI_PLUMB_BOB_TOLERANCE_PX` (the more common model, and the cameras of earlier versions stay
      as they were), else rational_polynomial when it is closer and monotonic over the image.

    Largest differences from :func:`tsai_project` over the full-size PETS2009 images (20000 random pixels,
    ``test/test_rig_import.py``): View_001 0.0001 px and View_003 0.0032 px (plumb_bob); View_002 (665 px focal
    length, strong barrel distortion) 0.0003 px with rational_polynomial, where plumb_bob's best is 0.095 px.

    Returns:
        (K (3, 3) pixels, dist (5,) plumb_bob or (8,) rational_polynomial, largest grid error in pixels).
    """
    if model not in ('auto', PLUMB_BOB, RATIONAL_POLYNOMIAL):
        raise ValueError(f'model must be auto, plumb_bob or rational_polynomial, got {model!r}')
    if model == RATIONAL_POLYNOMIAL:
        return _fit_rational(p, iterations)
    fit = _fit_plumb_bob(p, iterations)
    if model == PLUMB_BOB or fit[2] <= TSAI_PLUMB_BOB_TOLERANCE_PX:
        return fit
    rational = _fit_rational(p, iterations)
    _, _, xu, yu = _tsai_grid(p)
    r_corner = float(np.hypot(xu, yu).max())  # largest normalized radius of the image (Tsai-undistorted)
    if rational[2] < fit[2] and monotonic_radius(rational[1]) > r_corner:
        return rational
    return fit


def tsai_to_camera(p: TsaiParams, name: str | None = None, iterations: int = 60, model: str = 'auto') -> Camera:
    """Pinhole + fitted distortion camera (metres) equivalent to a Tsai calibration (see :func:`tsai_fit`).

    Args:
        p: the Tsai parameters (mm).
        name: camera name (default: the file's camera name).
        iterations: reweighting steps of the minimax fit.
        model: ``auto`` (plumb_bob when it reproduces Tsai within :data:`TSAI_PLUMB_BOB_TOLERANCE_PX`, else
            rational_polynomial), ``plumb_bob`` or ``rational_polynomial``.
    """
    K, dist, _ = tsai_fit(p, model, iterations)
    return Camera(name or p.name, p.width, p.height, K, dist, p.R, p.T / 1000.0)


def read_tsai_xml(path: str | Path, name: str | None = None, image_size: tuple[int, int] | None = None) -> Camera:
    """Load a Tsai XML as a :class:`Camera`, optionally rescaled to ``image_size`` (width, height)."""
    cam = tsai_to_camera(read_tsai_params(path), name)
    if image_size is not None and (cam.width, cam.height) != tuple(image_size):
        cam = cam.scaled(*image_size)
    return cam
