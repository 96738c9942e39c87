"""Helpers of the rig-folder tests (no tests here): small rig folders written at test time."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vsync_ros.geometry.camera import Camera
from vsync_ros.geometry.ground import GroundRegion
from vsync_ros.geometry.rig import Rig, write_rig

SQUARE = GroundRegion(0.0, 0.0, 12.0, 12.0, 0.4)
"""The 12 m x 12 m square the four cameras of :func:`square_cameras` look at."""
SPOTS = {'north': (6.0, 20.0, 6.5), 'east': (20.5, 6.5, 6.0), 'south': (5.5, -8.5, 6.5), 'west': (-8.0, 6.0, 7.0),
         'corner': (-6.0, -6.0, 7.5)}


def square_cameras(names=('north', 'east', 'south', 'west'), size: tuple[int, int] = (640, 480),
                   shift: dict[str, tuple[float, float, float]] | None = None) -> list[Camera]:
    """Cameras around :data:`SQUARE` looking at its centre (``shift``: extra metres per camera name)."""
    shift = shift or {}
    return [Camera.look_at(n, eye=np.add(SPOTS[n], shift.get(n, (0.0, 0.0, 0.0))), target=(6.0, 6.0, 0.0),
                           width=size[0], height=size[1], hfov_deg=62.0, dist=(-0.05, 0.01, 0.0, 0.0, 0.0))
            for n in names]


def write_square_rig(folder: Path, cameras: list[Camera] | None = None,
                     region: GroundRegion = SQUARE) -> Path:
    """A rig folder (rig.yaml + cameras/) of ``cameras`` (default :func:`square_cameras`) and ``region``."""
    write_rig(Rig(cameras if cameras is not None else square_cameras(), region, region_from='given'), folder)
    return folder
