"""Readers (and an OpenCV writer) of calibration formats users bring, as :class:`Camera` objects.

* ``camera_info``: the package's own ROS camera_info YAML with an ``extrinsics`` block (:meth:`Camera.from_yaml`),
  one file per camera, or a folder of them.
* ``h36m``: the Human3.6M camera JSON (``intrinsics[cam]``: ``calibration_matrix``, ``distortion`` k1 k2 p1 p2 k3;
  ``extrinsics[subject][cam]``: ``R``, ``t`` in mm, world -> camera).
* ``opencv``: an OpenCV FileStorage YAML / XML per camera with ``K``, ``D`` and ``R`` (or ``rvec``, Rodrigues) and
  ``t``, world -> camera (``X_cam = R X_world + t``), as ``cv2.calibrateCamera`` / ``solvePnP`` produce them
  (``D`` with 4 or 5 values: plumb_bob; 8, or more with the extra ones 0: rational_polynomial, unless k4 k5 k6
  are 0 too).

The Tsai XML reader of PETS2009 is :mod:`vsync_ros.data.readers.tsai`.

All readers return cameras in the units of their source; :func:`to_metres` converts a rig whose translations
are in millimetres (declared, or detected from the camera heights by :func:`detect_length_unit`). Every error is
a :class:`CalibrationError` that names the file and the field.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vsync_ros.geometry.camera import CalibrationError, Camera

H36M_IMAGE_SIZE = (1000, 1002)
"""Human3.6M image size (width, height) in pixels."""

MM_HEIGHT_ABOVE = 150.0
"""Median camera height above which translations are taken to be millimetres (a camera is rarely 150 m up)."""

M_HEIGHT_BELOW = 60.0
"""Median camera height below which translations are taken to be metres (a camera is rarely 60 mm up)."""

CALIBRATION_SUFFIXES = ('.yaml', '.yml')

_OPENCV_KEYS = {
    'K': ('K', 'camera_matrix', 'cameraMatrix'),
    'D': ('D', 'dist_coeffs', 'distCoeffs', 'distortion_coefficients', 'dist'),
    'R': ('R', 'rotation_matrix'),
    'rvec': ('rvec', 'rvecs'),
    't': ('t', 'T', 'tvec', 'tvecs', 'translation'),
}


# ---------------------------------------------------------------------------------------------------- units
def detect_length_unit(cameras: Sequence[Camera]) -> str:
    """'m' or 'mm' from the cameras' heights above the ground plane (median of the centres' z).

    Raises:
        CalibrationError: the median height is between :data:`M_HEIGHT_BELOW` and :data:`MM_HEIGHT_ABOVE`
            (ambiguous: declare the unit).
    """
    height = float(np.median([abs(c.center[2]) for c in cameras]))
    if height >= MM_HEIGHT_ABOVE:
        return 'mm'
    if height <= M_HEIGHT_BELOW:
        return 'm'
    raise CalibrationError(f'cannot tell whether the translations are metres or millimetres (median camera '
                           f'height {height:g}): declare the unit (--units m or --units mm)')


def to_metres(cameras: Sequence[Camera], unit: str) -> list[Camera]:
    """The cameras with translations converted from ``unit`` ('m' or 'mm') to metres."""
    if unit not in ('m', 'mm'):
        raise ValueError(f'unit must be m or mm, got {unit!r}')
    scale = 1e-3 if unit == 'mm' else 1.0
    return [Camera(c.name, c.width, c.height, c.K, c.dist, c.R, c.t * scale, c.frame_id, c.distortion_model)
            for c in cameras]


def with_image_size(cameras: Sequence[Camera], image_size: tuple[int, int] | None) -> list[Camera]:
    """The cameras rescaled to ``image_size`` (width, height) pixels; unchanged when it is None."""
    if image_size is None:
        return list(cameras)
    return [c if (c.width, c.height) == tuple(image_size) else c.scaled(*image_size) for c in cameras]


# ---------------------------------------------------------------------------------------------------- camera_info
def calibration_files(inputs: Sequence[str | Path], suffixes: Sequence[str] = CALIBRATION_SUFFIXES) -> list[Path]:
    """Files of ``inputs`` in the given order; a folder stands for its files with ``suffixes``, sorted by name.

    Raises:
        CalibrationError: an input does not exist, or a folder has no calibration file.
    """
    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise CalibrationError(f'folder {path} has no calibration file ({", ".join(suffixes)})')
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise CalibrationError(f'calibration input {path} does not exist')
    return out


def read_camera_info_files(paths: Sequence[str | Path]) -> list[Camera]:
    """Cameras of camera_info YAML files with an ``extrinsics`` block (the package's format, metres)."""
    return [Camera.from_yaml(p) for p in paths]


# ---------------------------------------------------------------------------------------------------- Human3.6M
def _json_field(doc, keys: Sequence[str], path: Path):
    value = doc
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            where = '.'.join(keys[:depth + 1])
            choices = f' (has {", ".join(sorted(value))})' if isinstance(value, dict) and depth > 0 else ''
            raise CalibrationError(f'Human3.6M cameras {path} lack field {where}{choices}')
        value = value[key]
    return value


def _numbers(value, shape: tuple[int, ...], path: Path, field: str, kind: str) -> np.ndarray:
    """``value`` as a float64 array of ``shape``; CalibrationError naming file and field otherwise."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationError(f'{kind} {path}: field {field} must hold numbers, got {value!r}') from None
    if arr.size != int(np.prod(shape)):
        raise CalibrationError(f'{kind} {path}: field {field} must have {int(np.prod(shape))} numbers, '
                               f'got {arr.size}')
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f'{kind} {path}: field {field} contains NaN or inf')
    return arr.reshape(shape)


def h36m_subjects(path: str | Path) -> list[str]:
    """Subjects (S1, S5, ...) with extrinsics in a Human3.6M camera JSON."""
    return sorted(_read_json(Path(path)).get('extrinsics', {}))


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CalibrationError(f'cannot read Human3.6M cameras {path}: {exc}') from exc
    if not isinstance(doc, dict):
        raise CalibrationError(f'Human3.6M cameras {path} is not a JSON object')
    return doc


def read_h36m_cameras(path: str | Path, subject: str,
                      image_size: tuple[int, int] = H36M_IMAGE_SIZE) -> list[Camera]:
    """The four Human3.6M cameras of ``subject`` (translations in **mm**, as in the file).

    Args:
        path: ``camera-parameters.json`` (``intrinsics`` per camera id, ``extrinsics`` per subject and camera).
        subject: e.g. 'S1'; the extrinsics differ per subject.
        image_size: (width, height) of the images in pixels (Human3.6M: 1000 x 1002).
    """
    path = Path(path)
    doc = _read_json(path)
    intrinsics = _json_field(doc, ('intrinsics',), path)
    extrinsics = _json_field(doc, ('extrinsics', subject), path)
    if not isinstance(intrinsics, dict) or not intrinsics:
        raise CalibrationError(f'Human3.6M cameras {path}: field intrinsics must map camera ids to intrinsics')
    cams = []
    for cam_id in intrinsics:
        K = _numbers(_json_field(doc, ('intrinsics', cam_id, 'calibration_matrix'), path), (3, 3), path,
                     f'intrinsics.{cam_id}.calibration_matrix', 'Human3.6M cameras')
        dist = _numbers(_json_field(doc, ('intrinsics', cam_id, 'distortion'), path), (5,), path,
                        f'intrinsics.{cam_id}.distortion', 'Human3.6M cameras')
        if cam_id not in extrinsics:
            raise CalibrationError(f'Human3.6M cameras {path} lack field extrinsics.{subject}.{cam_id}')
        R = _numbers(_json_field(doc, ('extrinsics', subject, cam_id, 'R'), path), (3, 3), path,
                     f'extrinsics.{subject}.{cam_id}.R', 'Human3.6M cameras')
        t = _numbers(_json_field(doc, ('extrinsics', subject, cam_id, 't'), path), (3,), path,
                     f'extrinsics.{subject}.{cam_id}.t', 'Human3.6M cameras')
        try:
            cams.append(Camera(str(cam_id), image_size[0], image_size[1], K, dist, R, t))
        except CalibrationError as exc:
            raise CalibrationError(f'Human3.6M cameras {path} (camera {cam_id}, subject {subject}): {exc}') from None
    return cams


# ---------------------------------------------------------------------------------------------------- OpenCV
def _fs_node(fs, key: str):
    """The first non-empty FileStorage node among the aliases of ``key`` and the name it was found under."""
    for alias in _OPENCV_KEYS.get(key, (key,)):
        node = fs.getNode(alias)
        if not node.empty() and not node.isNone():
            return node, alias
    return None, key


def _fs_numbers(node, path: Path, field: str) -> np.ndarray:
    """Numbers of a FileStorage node: an ``!!opencv-matrix``, a sequence or a scalar."""
    if node.isMap():
        mat = node.mat()
        if mat is None:
            raise CalibrationError(f'OpenCV calibration {path}: field {field} is a mapping, not a matrix')
        return np.asarray(mat, dtype=np.float64).ravel()
    if node.isSeq():
        values = []
        for i in range(node.size()):
            item = node.at(i)
            if item.isSeq():
                values.extend(_fs_numbers(item, path, f'{field}[{i}]'))
            elif item.isReal() or item.isInt():
                values.append(item.real())
            else:
                raise CalibrationError(f'OpenCV calibration {path}: field {field}[{i}] must be a number')
        return np.asarray(values, dtype=np.float64)
    if node.isReal() or node.isInt():
        return np.array([node.real()])
    raise CalibrationError(f'OpenCV calibration {path}: field {field} must hold numbers, got {node.string()!r}')


def _fs_required(fs, key: str, path: Path, count: int) -> np.ndarray:
    node, name = _fs_node(fs, key)
    if node is None:
        aliases = ' / '.join(_OPENCV_KEYS.get(key, (key,)))
        raise CalibrationError(f'OpenCV calibration {path} lacks field {key} ({aliases})')
    values = _fs_numbers(node, path, name)
    if values.size != count:
        raise CalibrationError(f'OpenCV calibration {path}: field {name} must have {count} numbers, got {values.size}')
    if not np.all(np.isfinite(values)):
        raise CalibrationError(f'OpenCV calibration {path}: field {name} contains NaN or inf')
    return values


def _fs_size(fs, path: Path) -> tuple[int, int] | None:
    """(width, height) from image_width / image_height, width / height or image_size; None when absent."""
    for wkey, hkey in (('image_width', 'image_height'), ('width', 'height')):
        w, h = fs.getNode(wkey), fs.getNode(hkey)
        if not w.empty() and not h.empty():
            values = (_fs_numbers(w, path, wkey), _fs_numbers(h, path, hkey))
            break
    else:
        node, name = _fs_node(fs, 'image_size')
        if node is None:
            node, name = _fs_node(fs, 'imageSize')
        if node is None:
            return None
        both = _fs_numbers(node, path, name)
        if both.size != 2:
            raise CalibrationError(f'OpenCV calibration {path}: field {name} must be [width, height]')
        values = (both[:1], both[1:])
        wkey = hkey = name
    size = []
    for key, value in zip((wkey, hkey), values):
        if value.size != 1 or not float(value[0]).is_integer() or value[0] <= 0:
            raise CalibrationError(f'OpenCV calibration {path}: field {key} must be a positive integer (pixels)')
        size.append(int(value[0]))
    return size[0], size[1]


def read_opencv_yaml(path: str | Path, image_size: tuple[int, int] | None = None) -> Camera:
    """One camera from an OpenCV FileStorage file (YAML or XML), in the units of its ``t``.

    Fields (aliases in brackets): ``K`` (camera_matrix) 3x3 pixels; ``D`` (dist_coeffs) 4, 5, 8, 12 or 14
    coefficients k1 k2 p1 p2 [k3 [k4 k5 k6 ...]] in OpenCV's order: plumb_bob when k4 k5 k6 are 0 (or absent),
    else rational_polynomial; coefficients past k6 (thin prism, tilted sensor) must be 0; ``R`` 3x3 or ``rvec``
    (Rodrigues vector, rad); ``t`` (tvec); the image size from ``image_width`` / ``image_height``,
    ``width`` / ``height`` or ``image_size`` [w, h], else ``image_size`` must be given. The name is the
    ``name`` / ``camera_name`` field or the file stem.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f'OpenCV calibration {path} does not exist')
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except cv2.error as exc:
        raise CalibrationError(f'cannot read OpenCV calibration {path}: {str(exc).strip().splitlines()[-1]}') from None
    if not fs.isOpened():
        raise CalibrationError(f'cannot read OpenCV calibration {path}')
    try:
        K = _fs_required(fs, 'K', path, 9).reshape(3, 3)
        node, dname = _fs_node(fs, 'D')
        dist = np.zeros(5) if node is None else _fs_numbers(node, path, dname)
        if dist.size not in (4, 5, 8, 12, 14):
            raise CalibrationError(f'OpenCV calibration {path}: field {dname} must have 4, 5, 8, 12 or 14 '
                                   f'coefficients, got {dist.size}')
        if np.any(dist[8:] != 0):
            raise CalibrationError(f'OpenCV calibration {path}: field {dname} has non-zero coefficients past k6 '
                                   f'(thin-prism / tilted model); only plumb_bob k1 k2 p1 p2 k3 and '
                                   f'rational_polynomial k1 k2 p1 p2 k3 k4 k5 k6 are supported')
        if not np.all(np.isfinite(dist)):
            raise CalibrationError(f'OpenCV calibration {path}: field {dname} contains NaN or inf')
        dist = dist[:8] if np.any(dist[5:8] != 0) else dist[:5]
        if _fs_node(fs, 'R')[0] is not None:
            R = _fs_required(fs, 'R', path, 9).reshape(3, 3)
        elif _fs_node(fs, 'rvec')[0] is not None:
            R = cv2.Rodrigues(_fs_required(fs, 'rvec', path, 3).reshape(3, 1))[0]
        else:
            raise CalibrationError(f'OpenCV calibration {path} lacks field R (3x3 rotation) or rvec (Rodrigues)')
        t = _fs_required(fs, 't', path, 3)
        size = _fs_size(fs, path)
        name_node = fs.getNode('name') if not fs.getNode('name').empty() else fs.getNode('camera_name')
        name = name_node.string() if not name_node.empty() and name_node.isString() else path.stem
    finally:
        fs.release()
    if size is None:
        if image_size is None:
            raise CalibrationError(f'OpenCV calibration {path} lacks field image_width / image_height (or '
                                   f'image_size): give the image size (--image-size WxH)')
        size = tuple(image_size)
    try:
        cam = Camera(name, size[0], size[1], K, dist, R, t)
    except CalibrationError as exc:
        raise CalibrationError(f'OpenCV calibration {path}: {exc}') from None
    return with_image_size([cam], image_size)[0]


def write_opencv_yaml(camera: Camera, path: str | Path, rvec: bool = False) -> None:
    """Write ``camera`` as OpenCV FileStorage YAML (``K``, ``D``, ``R`` or ``rvec``, ``t``, image size, name)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    try:
        fs.write('name', camera.name)
        fs.write('image_width', int(camera.width))
        fs.write('image_height', int(camera.height))
        fs.write('K', np.asarray(camera.K, dtype=np.float64))
        fs.write('D', np.asarray(camera.dist, dtype=np.float64).reshape(1, -1))  # 5 plumb_bob, 8 rational
        if rvec:
            fs.write('rvec', cv2.Rodrigues(np.asarray(camera.R, dtype=np.float64))[0])
        else:
            fs.write('R', np.asarray(camera.R, dtype=np.float64))
        fs.write('t', np.asarray(camera.t, dtype=np.float64).reshape(3, 1))
    finally:
        fs.release()
