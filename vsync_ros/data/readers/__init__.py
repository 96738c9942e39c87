"""Readers for the published layouts of PETS2009, CityStreet (MVMS / TNNLS) and Human3.6M (learnable triangulation).

Each returns samples with the keys of :class:`vsync_ros.data.dataset.SyncDataset`.
May import: the rest of the data layer, geometry, the base modules.
"""
from vsync_ros.data.readers.citystreet import CITYSTREET_REGION, CityStreetDataset, CityStreetSequence
from vsync_ros.data.readers.common import ArrayFile, DesyncFrameDataset, MissingDependencyError
from vsync_ros.data.readers.h36m import Human36MDataset, load_labels
from vsync_ros.data.readers.pets2009 import PETS_REGION, PETS2009Dataset, PETSSequence, pets_cameras
from vsync_ros.data.readers.tsai import read_tsai_params, read_tsai_xml, tsai_project

__all__ = [
    'CITYSTREET_REGION', 'PETS_REGION', 'ArrayFile', 'CityStreetDataset', 'CityStreetSequence', 'DesyncFrameDataset',
    'Human36MDataset', 'MissingDependencyError', 'PETS2009Dataset', 'PETSSequence', 'load_labels', 'pets_cameras',
    'read_tsai_params', 'read_tsai_xml', 'tsai_project',
]
