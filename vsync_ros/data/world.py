"""The ``World`` protocol: a scene that can be rendered from every camera at any time.

A world is continuous in time: ``render(view, t)`` and ``ground_truth(t)`` can be queried at any
``t`` (seconds) within the world's span, so synchronized and unsynchronized frames of one scene come
from the same underlying motion. Implementations: :class:`vsync_ros.data.crowd_world.CrowdWorld`
(task 'counting') and ``vsync_ros.data.motion_world.MotionWorld`` (task 'pose').

Ground-truth keys (all numpy arrays):

* counting: ``positions`` (N, 2) m of the people inside the region, ``gp_density`` (rows, cols)
  float32 on the world's ground grid, ``view_density`` (V, H, W) float32 image density of heads,
  ``count`` scalar (N).
* pose: ``joints_3d`` (P, 17, 3) m, ``motion`` (P,) int codes.

Optional hooks used by the data-set writer when present:

* ``frame_annotations(view, t) -> dict[str, np.ndarray]``: per-frame labels stored with each
  camera frame (the crowd world returns ``heads_uv``, the head pixels of that view at time ``t``).
* ``describe() -> dict``: JSON-serialisable description written to the manifest.
* ``region``: the :class:`~vsync_ros.geometry.GroundRegion` of ``gp_density``.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from vsync_ros.geometry.camera import Camera

TASKS = ('counting', 'pose')


@runtime_checkable
class World(Protocol):
    """A time-continuous multi-camera scene."""

    cameras: list[Camera]
    task: str

    def render(self, view: int, t: float) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame of camera ``view`` at time ``t`` (s), at the camera's resolution."""
        ...

    def ground_truth(self, t: float) -> dict[str, np.ndarray]:
        """Task ground truth at time ``t`` (s)."""
        ...
