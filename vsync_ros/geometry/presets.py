"""Example calibrated rigs shipped under ``config/cameras/``.

* plaza: 3 cameras, 384x288, on 5.5-6.5 m poles at the edges of a 20 m x 24 m square, each seeing
  74-81 % of it (PETS2009-like).
* studio: 4 cameras, 320x320, at 1.6-2.0 m in the corners of a capture room (Human3.6M-like).

:func:`rig` gives either by name, or the rig of a rig folder (``vsync-rig import``; the replay node's ``rig``
parameter). Run
``python -m vsync_ros.geometry.presets`` to (re)write the YAML files.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from vsync_ros.geometry.camera import Camera
from vsync_ros.geometry.ground import GroundRegion
from vsync_ros.geometry.rig import RIG_FILE, is_rig_folder, read_rig

PLAZA_REGION = GroundRegion(x0=0.0, y0=0.0, width_m=20.0, height_m=24.0, cell_m=0.1)
STUDIO_REGION = GroundRegion(x0=-2.5, y0=-2.5, width_m=5.0, height_m=5.0, cell_m=0.05)
RIGS = ('plaza', 'studio')


def plaza_cameras(width: int = 384, height: int = 288) -> list[Camera]:
    """Three outdoor cameras covering PLAZA_REGION (view 1 is the reference)."""
    cams = [
        Camera.look_at('cam1', eye=(-1.0, -2.0, 6.5), target=(8.0, 9.0, 0.0), width=384, height=288,
                       hfov_deg=58.0, dist=(-0.06, 0.01, 0.0, 0.0, 0.0)),
        Camera.look_at('cam2', eye=(22.0, 1.0, 6.0), target=(11.0, 12.0, 0.0), width=384, height=288,
                       hfov_deg=60.0, dist=(-0.05, 0.008, 0.0005, -0.0003, 0.0)),
        Camera.look_at('cam3', eye=(9.0, 26.5, 5.5), target=(10.0, 14.0, 0.0), width=384, height=288,
                       hfov_deg=64.0, dist=(-0.04, 0.0, 0.0, 0.0, 0.0)),
    ]
    return [c if (c.width, c.height) == (width, height) else c.scaled(width, height) for c in cams]


def studio_cameras(width: int = 320, height: int = 320) -> list[Camera]:
    """Four indoor cameras in the corners of a room, looking at its centre (view 1 is the reference)."""
    spots = [(-4.2, -3.6, 1.8), (4.0, -3.9, 1.6), (3.8, 4.1, 2.0), (-4.1, 3.7, 1.7)]
    cams = [Camera.look_at(f'cam{i + 1}', eye=eye, target=(0.0, 0.0, 0.9), width=320, height=320,
                           hfov_deg=52.0, dist=(-0.02 * (i % 2), 0.0, 0.0, 0.0, 0.0))
            for i, eye in enumerate(spots)]
    return [c if (c.width, c.height) == (width, height) else c.scaled(width, height) for c in cams]


def rig(name: str, image_scale: float = 1.0) -> tuple[list[Camera], GroundRegion]:
    """Cameras and ground region of a built-in rig (one of :data:`RIGS`) or of a rig folder.

    ``name``: 'plaza', 'studio', or the path of a rig folder (holding ``rig.yaml``, written by
    ``vsync-rig import``; its cameras at their own image sizes, in view order, and its ground region).
    Image sizes are scaled by ``image_scale`` (each side rounded to whole pixels, at least 8 pixels);
    the ground region is the rig's own.

    Raises:
        ValueError: neither a preset name nor a rig folder.
        CalibrationError: (a ValueError) an unreadable rig folder; the message names the file and the field.
    """
    if name == 'plaza':
        cams, region = plaza_cameras(), PLAZA_REGION
    elif name == 'studio':
        cams, region = studio_cameras(), STUDIO_REGION
    elif is_rig_folder(name):
        folder = read_rig(name)
        cams, region = folder.cameras, folder.region
    else:
        raise ValueError(f'unknown rig {name!r}: not plaza | studio, and {Path(name) / RIG_FILE} does not exist '
                         '(a rig folder is written by vsync-rig import)')
    if image_scale != 1.0:
        cams = [c.scaled(max(8, round(c.width * image_scale)), max(8, round(c.height * image_scale))) for c in cams]
    return cams, region


def write_presets(root: Path) -> list[Path]:
    """Write plaza/ and studio/ calibration YAMLs below ``root``; returns the written paths."""
    out = []
    for rig_name, cams in (('plaza', plaza_cameras()), ('studio', studio_cameras())):
        for cam in cams:
            path = root / rig_name / f'{cam.name}.yaml'
            cam.to_yaml(path)
            out.append(path)
    return out


def main() -> None:
    """Write the shipped example calibrations."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', type=Path, default=Path('config/cameras'), help='output folder')
    for path in write_presets(parser.parse_args().out):
        print(path)


if __name__ == '__main__':
    main()
