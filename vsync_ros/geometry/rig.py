"""A rig folder (cameras + ground region) and the ground coverage of its cameras.

Rig folder layout (written by ``vsync-rig import``)::

    DIR/rig.yaml              views in order, image sizes, ground region, sources, coverage settings
    DIR/cameras/<name>.yaml   one camera each, ROS camera_info YAML + ``extrinsics`` (metres)

Coverage: a ground cell is *seen* by a view when a person standing at its centre is in the image from feet
(z = 0) to head (z = ``head_m``), in front of the camera, and at least ``min_person_px`` pixels tall. The
automatic region is the bounding box of the cells seen by at least ``min_views`` views, snapped to the cell
grid (corners on multiples of the cell size). Pure NumPy; metres and pixels.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from vsync_ros.geometry.calibration import same_aspect
from vsync_ros.geometry.camera import CalibrationError, Camera, yaml_field
from vsync_ros.geometry.ground import GroundRegion

RIG_FILE = 'rig.yaml'
CAMERA_DIR = 'cameras'
RIG_FORMAT = 1
HEAD_HEIGHT_M = 1.7
"""Height of a standing person's head, metres."""
MIN_PERSON_PX = 24.0
"""Smallest image height (pixels) of a standing person for a view to count as seeing a cell."""
MAX_COVERAGE_CELLS = 4_000_000


@dataclass(frozen=True)
class CoverageSettings:
    """What "a view sees a ground cell" means.

    Attributes:
        head_m: head height of a standing person, metres.
        min_person_px: smallest image height of that person, pixels.
        min_views: views that must see a cell for the automatic region.
        max_range_m: largest horizontal distance from a camera to a cell it sees, metres (0: no limit; use it
            for rooms, whose walls the calibration does not know).
    """

    head_m: float = HEAD_HEIGHT_M
    min_person_px: float = MIN_PERSON_PX
    min_views: int = 2
    max_range_m: float = 0.0

    def __post_init__(self) -> None:
        if not (self.head_m > 0 and self.min_person_px >= 0 and self.min_views >= 1 and self.max_range_m >= 0):
            raise ValueError(f'invalid coverage settings {self}')


@dataclass
class Rig:
    """Cameras in view order, their ground region and where they came from.

    Attributes:
        cameras: calibrated cameras, metres.
        region: the ground region (counting grid), metres.
        sources: per camera, the file it was imported from.
        source_format: camera_info | tsai | h36m | opencv.
        source_unit: length unit of the source translations (m | mm).
        region_from: 'auto' (chosen from the coverage) or 'given'.
        coverage: the settings the coverage and the automatic region used.
        subject: Human3.6M subject of the extrinsics, else ''.
    """

    cameras: list[Camera]
    region: GroundRegion
    sources: list[str] = field(default_factory=list)
    source_format: str = 'camera_info'
    source_unit: str = 'm'
    region_from: str = 'auto'
    coverage: CoverageSettings = field(default_factory=CoverageSettings)
    subject: str = ''

    def __post_init__(self) -> None:
        check_camera_names(self.cameras, self.sources)


def check_camera_names(cameras: Sequence[Camera], sources: Sequence[str] = ()) -> None:
    """CalibrationError unless the camera names are unique and usable as file names."""
    seen: dict[str, int] = {}
    for i, cam in enumerate(cameras):
        where = f' ({sources[i]})' if i < len(sources) else ''
        if not cam.name or cam.name in ('.', '..') or any(ch in cam.name for ch in '/\\\0'):
            raise CalibrationError(f'camera name {cam.name!r}{where} cannot be a file name')
        if cam.name in seen:
            j = seen[cam.name]
            other = f' ({sources[j]})' if j < len(sources) else ''
            raise CalibrationError(f'two cameras are named {cam.name!r}: view {j}{other} and view {i}{where}')
        seen[cam.name] = i


# ---------------------------------------------------------------------------------------------------- folder I/O
def write_rig(rig: Rig, folder: str | Path) -> Path:
    """Write ``rig`` as a rig folder (see the module docstring); returns the path of rig.yaml."""
    folder = Path(folder)
    (folder / CAMERA_DIR).mkdir(parents=True, exist_ok=True)
    views = []
    for i, cam in enumerate(rig.cameras):
        rel = f'{CAMERA_DIR}/{cam.name}.yaml'
        cam.to_yaml(folder / rel)
        view = {'name': cam.name, 'file': rel, 'image_size': [cam.width, cam.height]}
        if i < len(rig.sources):
            view['source'] = str(rig.sources[i])
        views.append(view)
    doc = {
        'rig_format': RIG_FORMAT,
        'views': views,
        'ground_region': {**{k: float(v) for k, v in rig.region.as_dict().items()}, 'from': rig.region_from},
        'source': {'format': rig.source_format, 'unit': rig.source_unit,
                   **({'subject': rig.subject} if rig.subject else {})},
        'coverage': {'head_m': float(rig.coverage.head_m), 'min_person_px': float(rig.coverage.min_person_px),
                     'min_views': int(rig.coverage.min_views), 'max_range_m': float(rig.coverage.max_range_m)},
    }
    path = folder / RIG_FILE
    path.write_text('# vsync_ros rig: cameras in view order (view 0 is the reference), ground region in metres\n'
                    + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))
    return path


def _field(doc: dict, keys: Sequence[str], path: Path):
    return yaml_field(doc, keys, path, what='rig file')


def _number(doc: dict, keys: Sequence[str], path: Path) -> float:
    value = _field(doc, keys, path)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CalibrationError(f'rig file {path}: field {".".join(keys)} must be a finite number, got {value!r}')
    return float(value)


def read_rig(folder: str | Path) -> Rig:
    """Read a rig folder written by :func:`write_rig`.

    Raises:
        CalibrationError: missing rig.yaml or camera file, a missing or malformed field (the message names the
            file and the field), or a camera file whose image size or name disagrees with rig.yaml.
    """
    folder = Path(folder)
    path = folder / RIG_FILE
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CalibrationError(f'cannot read rig file {path}: {exc}') from exc
    if not isinstance(doc, dict):
        raise CalibrationError(f'rig file {path} is not a YAML mapping')
    fmt = _field(doc, ('rig_format',), path)
    if fmt != RIG_FORMAT:
        raise CalibrationError(f'rig file {path}: field rig_format is {fmt!r}, this version reads {RIG_FORMAT}')
    views = _field(doc, ('views',), path)
    if not isinstance(views, list) or not views:
        raise CalibrationError(f'rig file {path}: field views must be a non-empty list')
    cams, sources = [], []
    for i, view in enumerate(views):
        if not isinstance(view, dict):
            raise CalibrationError(f'rig file {path}: field views[{i}] must be a mapping')
        rel = _field(view, ('file',), path) if 'file' in view else None
        if not isinstance(rel, str):
            raise CalibrationError(f'rig file {path}: field views[{i}].file must be a path')
        cam = Camera.from_yaml(folder / rel)
        size = view.get('image_size')
        if size is not None and list(size) != [cam.width, cam.height]:
            raise CalibrationError(f'rig file {path}: field views[{i}].image_size is {size} but {folder / rel} '
                                   f'is {cam.width}x{cam.height}')
        name = view.get('name', cam.name)
        if name != cam.name:
            raise CalibrationError(f'rig file {path}: field views[{i}].name is {name!r} but {folder / rel} names '
                                   f'{cam.name!r}')
        cams.append(cam)
        sources.append(str(view.get('source', '')))
    try:
        region = GroundRegion(*(_number(doc, ('ground_region', k), path)
                                for k in ('x0', 'y0', 'width_m', 'height_m', 'cell_m')))
    except CalibrationError as exc:
        if str(exc).startswith('rig file'):
            raise
        raise CalibrationError(f'rig file {path}: field ground_region: {exc}') from None
    cov = doc.get('coverage', {}) or {}
    try:
        settings = CoverageSettings(float(cov.get('head_m', HEAD_HEIGHT_M)),
                                    float(cov.get('min_person_px', MIN_PERSON_PX)), int(cov.get('min_views', 2)),
                                    float(cov.get('max_range_m', 0.0)))
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f'rig file {path}: field coverage: {exc}') from None
    src = doc.get('source', {}) or {}
    return Rig(cams, region, sources, str(src.get('format', 'camera_info')), str(src.get('unit', 'm')),
               str(_field(doc, ('ground_region',), path).get('from', 'given')), settings, str(src.get('subject', '')))


def is_rig_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder holding a ``rig.yaml`` (a rig folder, as opposed to a preset rig name)."""
    return bool(str(path)) and (Path(path) / RIG_FILE).is_file()


def rig_name(folder: str | Path) -> str:
    """The name of a rig folder: its last path component (``rigs/mine`` -> ``mine``)."""
    return Path(folder).resolve().name


def cameras_at_size(cameras: Sequence[Camera], width: int, height: int, where: str = '') -> list[Camera]:
    """Every camera for images of ``width`` x ``height`` pixels (:meth:`Camera.scaled`; same objects when equal).

    All views of a model share one input size, so each camera must have that aspect ratio (within 1 %,
    :func:`~vsync_ros.geometry.calibration.same_aspect`): a camera of another aspect would be stretched here and
    its real frames refused by the model.

    Raises:
        CalibrationError: a camera of another aspect ratio; the message names it (and ``where``, e.g. the rig).
    """
    out = []
    for v, cam in enumerate(cameras):
        if not same_aspect(cam.width, cam.height, width, height):
            raise CalibrationError(
                f'{where + ": " if where else ""}view {v} ({cam.name}) is {cam.width}x{cam.height} px '
                f'(aspect {cam.width / cam.height:.3f}) but the images are {width}x{height} '
                f'(aspect {width / height:.3f}); all views share the model\'s input size, so give a size with '
                f'{cam.name}\'s aspect ratio or import the cameras at one aspect ratio')
        out.append(cam if (cam.width, cam.height) == (width, height) else cam.scaled(width, height))
    return out


# ---------------------------------------------------------------------------------------------------- coverage
def snap_region(x_lo: float, y_lo: float, x_hi: float, y_hi: float, cell_m: float) -> GroundRegion:
    """The smallest region on the ``cell_m`` grid (corners on multiples of ``cell_m``) containing the box (m)."""
    i0, j0 = math.floor(x_lo / cell_m + 1e-9), math.floor(y_lo / cell_m + 1e-9)
    i1, j1 = math.ceil(x_hi / cell_m - 1e-9), math.ceil(y_hi / cell_m - 1e-9)
    i1, j1 = max(i1, i0 + 1), max(j1, j0 + 1)
    return GroundRegion(round(i0 * cell_m, 9), round(j0 * cell_m, 9), round((i1 - i0) * cell_m, 9),
                        round((j1 - j0) * cell_m, 9), cell_m)


def person_range_m(camera: Camera, settings: CoverageSettings) -> float:
    """Distance (m) beyond which a standing person is shorter than ``min_person_px`` in this camera."""
    reach = 1e4 if settings.min_person_px <= 0 else \
        float(max(camera.K[0, 0], camera.K[1, 1]) * settings.head_m / settings.min_person_px)
    return min(reach, settings.max_range_m) if settings.max_range_m > 0 else reach


def search_area(cameras: Sequence[Camera], cell_m: float, settings: CoverageSettings) -> GroundRegion:
    """A grid (cell ``cell_m``) holding every ground cell any camera can see (image rays hitting z = 0 in range).

    Raises:
        CalibrationError: no camera sees the ground (world z must point up, ground at z = 0), or the area
            would have more than :data:`MAX_COVERAGE_CELLS` cells.
    """
    pts = [np.array([c.center[:2] for c in cameras])]
    for cam in cameras:
        gu, gv = np.meshgrid(np.linspace(-0.5, cam.width - 0.5, 65), np.linspace(-0.5, cam.height - 0.5, 49))
        hit = cam.backproject_to_plane(np.stack([gu.ravel(), gv.ravel()], 1), 0.0)
        dist = np.linalg.norm(hit[:, :2] - cam.center[:2], axis=1)
        keep = np.isfinite(dist) & (dist <= person_range_m(cam, settings) * 1.05)
        pts.append(hit[keep, :2])
    pts_all = np.concatenate(pts)
    if sum(len(p) for p in pts[1:]) == 0:
        raise CalibrationError('no camera sees the ground plane z = 0 within range: the world frame must have z up '
                               'and the ground at z = 0 (metres)')
    lo, hi = pts_all.min(axis=0) - 3 * cell_m, pts_all.max(axis=0) + 3 * cell_m
    grid = snap_region(lo[0], lo[1], hi[0], hi[1], cell_m)
    rows, cols = grid.shape
    if rows * cols > MAX_COVERAGE_CELLS:
        raise CalibrationError(f'the ground the cameras see spans {grid.width_m:g} m x {grid.height_m:g} m: '
                               f'{rows * cols} cells of {cell_m:g} m are too many (give a larger --cell or '
                               f'--min-person-px)')
    return grid


def view_coverage(cameras: Sequence[Camera], grid: GroundRegion, settings: CoverageSettings) -> np.ndarray:
    """(V, rows, cols) bool: view v sees a person standing at the centre of cell (row, col) of ``grid``."""
    centres = grid.cell_centers().reshape(-1, 2)
    feet = np.hstack([centres, np.zeros((len(centres), 1))])
    heads = np.hstack([centres, np.full((len(centres), 1), settings.head_m)])
    out = np.zeros((len(cameras), len(centres)), dtype=bool)
    for v, cam in enumerate(cameras):
        uv_f, d_f = cam.project(feet)
        uv_h, d_h = cam.project(heads)
        with np.errstate(invalid='ignore'):
            tall = np.linalg.norm(uv_f - uv_h, axis=1) >= settings.min_person_px
        near = np.linalg.norm(centres - cam.center[:2], axis=1) <= (settings.max_range_m or np.inf)
        out[v] = cam.in_image(uv_f) & cam.in_image(uv_h) & (d_f > 0) & (d_h > 0) & tall & near
    return out.reshape(len(cameras), *grid.shape)


def choose_region(grid: GroundRegion, seen: np.ndarray, min_views: int = 2) -> GroundRegion:
    """Bounding box (on the cell grid of ``grid``) of the cells seen by at least ``min_views`` views.

    Args:
        grid: the grid ``seen`` is computed on (corners on multiples of its cell size).
        seen: (V, rows, cols) bool from :func:`view_coverage`.
        min_views: views that must see a cell.

    Raises:
        CalibrationError: no cell is seen by ``min_views`` views.
    """
    count = seen.sum(axis=0)
    rows, cols = np.nonzero(count >= min_views)
    if rows.size == 0:
        raise CalibrationError(f'no ground cell is seen by {min_views} views (best: {int(count.max())}); give the '
                               f'region yourself (--region X0 Y0 W H) or lower --min-views')
    c = grid.cell_m
    return snap_region(grid.x0 + cols.min() * c, grid.y0 + rows.min() * c, grid.x0 + (cols.max() + 1) * c,
                       grid.y0 + (rows.max() + 1) * c, c)


@dataclass(frozen=True)
class Coverage:
    """Coverage of a rig's cameras on a grid.

    Attributes:
        grid: the grid ``seen`` is on (the search area, or a larger one containing the region).
        seen: (V, rows, cols) bool, view v sees the cell.
    """

    grid: GroundRegion
    seen: np.ndarray

    @property
    def count(self) -> np.ndarray:
        """(rows, cols) int: views seeing each cell."""
        return self.seen.sum(axis=0)

    def area_m2(self, min_views: int) -> float:
        """Ground area seen by at least ``min_views`` views, square metres."""
        return float((self.count >= min_views).sum() * self.grid.cell_m ** 2)

    def region_fraction(self, region: GroundRegion, min_views: int) -> float:
        """Fraction of the region's area whose cells are seen by at least ``min_views`` views."""
        inside = region.contains(self.grid.cell_centers().reshape(-1, 2)).reshape(self.grid.shape)
        if not inside.any():
            return 0.0
        return float((self.count[inside] >= min_views).mean())


def rig_coverage(cameras: Sequence[Camera], cell_m: float, settings: CoverageSettings,
                 region: GroundRegion | None = None) -> Coverage:
    """Coverage of ``cameras`` on a ``cell_m`` grid spanning what they see (and ``region`` if given)."""
    grid = search_area(cameras, cell_m, settings)
    if region is not None:
        x0, y0 = min(grid.x0, region.x0), min(grid.y0, region.y0)
        x1 = max(grid.x0 + grid.width_m, region.x0 + region.width_m)
        y1 = max(grid.y0 + grid.height_m, region.y0 + region.height_m)
        grid = snap_region(x0, y0, x1, y1, cell_m)
    return Coverage(grid, view_coverage(cameras, grid, settings))


def camera_heading(camera: Camera) -> tuple[float, float]:
    """(azimuth, tilt) of the optical axis in degrees: azimuth from +x towards +y, tilt below the horizon."""
    axis = camera.R[2]  # optical axis in world coordinates
    return (float(np.degrees(np.arctan2(axis[1], axis[0]))),
            float(np.degrees(np.arcsin(np.clip(-axis[2], -1.0, 1.0)))))


def horizontal_fov_deg(camera: Camera) -> float:
    """Horizontal field of view of the distortion-free pinhole, degrees."""
    cx = camera.K[0, 2]
    fx = camera.K[0, 0]
    return float(np.degrees(np.arctan((cx + 0.5) / fx) + np.arctan((camera.width - 0.5 - cx) / fx)))
