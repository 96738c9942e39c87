"""Worlds and data: synthetic crowd simulator + renderer, desync sampling, data-set writer and readers.

Heavy modules (torch datasets, readers) are imported on use; import them from their modules, e.g.
``from vsync_ros.data.dataset import SyncDataset``.
"""
from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
from vsync_ros.data.desync import DesyncConfig, DesyncSample, preset
from vsync_ros.data.generate import generate_dataset
from vsync_ros.data.world import World

__all__ = ['CrowdWorld', 'CrowdWorldConfig', 'DesyncConfig', 'DesyncSample', 'World', 'generate_dataset', 'preset']
