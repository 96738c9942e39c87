"""A rig folder (``vsync-rig import``) as the camera set-up of the sync node, the replay and the launch (ROS-free).

The ``rig`` parameter of ``replay_node`` and ``sync_node`` and the ``rig`` argument of ``counting.launch.py``
take a preset name (``plaza``, ``studio``) or a rig folder: a folder holding ``rig.yaml``, named as the
package names its files (absolute, relative to the working directory or to the package share directory, or
``package://vsync_ros/...``; :func:`vsync_ros.paths.resolve`).

* :func:`find_rig_folder`: the folder a value names, or None for a preset name.
* :func:`deployment_rig`: the cameras (at their own image sizes, view 0 the reference) and ground region a
  value names; the sync node checks them against its model.
* :func:`rig_node_parameters`: the sync node parameters that make it listen to a rig folder's cameras on
  the topics ``replay_node`` publishes them on (``/<camera>/image_raw``, ``/<camera>/camera_info``).
"""
from __future__ import annotations

from pathlib import Path

from vsync_ros import paths
from vsync_ros.geometry import Camera, GroundRegion
from vsync_ros.geometry.presets import RIGS, rig
from vsync_ros.geometry.rig import RIG_FILE, is_rig_folder, read_rig
from vsync_ros.runtime.messages import IMAGE_TOPIC_FORMAT, INFO_TOPIC_FORMAT, topic_for


def find_rig_folder(value: str) -> Path | None:
    """The absolute rig folder ``value`` names, or None (empty, or a preset name: one of ``RIGS``).

    Raises:
        ValueError: ``value`` is neither a preset name nor a folder holding ``rig.yaml`` (the message says
            where it looked).
    """
    value = value.strip()
    if not value or value in RIGS:
        return None
    path = paths.resolve(value)
    if not is_rig_folder(path):
        raise ValueError(f'rig {value!r} is neither a preset ({" | ".join(RIGS)}) nor a rig folder: '
                         f'{path / RIG_FILE} does not exist (vsync-rig import writes one)')
    return path.resolve()


def rig_spec(value: str) -> str:
    """``value`` with a rig folder made absolute (a preset name as it is); ValueError as :func:`find_rig_folder`."""
    folder = find_rig_folder(value)
    return str(folder) if folder is not None else value.strip()


def deployment_rig(value: str) -> tuple[list[Camera], GroundRegion, str]:
    """(cameras, ground region, label) of a preset name or a rig folder.

    The cameras are at their calibrated image sizes (a preset's: its shipped size); ``label`` is the preset
    name or the absolute folder, for messages.

    Raises:
        ValueError: not a preset or rig folder; CalibrationError (a ValueError) naming the file and the field
            of a broken rig folder.
    """
    spec = rig_spec(value)
    cameras, region = rig(spec)
    return cameras, region, spec


def rig_node_parameters(value: str) -> dict[str, str | list[str] | list[int]]:
    """Sync node parameters for the rig folder ``value`` names ({} for a preset name or an empty value).

    ``rig`` (the absolute folder), ``camera_topics`` / ``camera_info_topics`` (``/<camera>/image_raw``,
    ``/<camera>/camera_info`` per view, as ``replay_node`` publishes them) and ``failover_order`` (views 1 .. V-1;
    view 0 is the reference). ``counting.launch.py rig:=DIR`` passes them over the params file.

    Raises:
        ValueError: as :func:`find_rig_folder`; CalibrationError for a broken rig folder.
    """
    folder = find_rig_folder(value)
    if folder is None:
        return {}
    cameras = read_rig(folder).cameras
    return {'rig': str(folder),
            'camera_topics': [topic_for(IMAGE_TOPIC_FORMAT, c) for c in cameras],
            'camera_info_topics': [topic_for(INFO_TOPIC_FORMAT, c) for c in cameras],
            'failover_order': list(range(1, len(cameras)))}
