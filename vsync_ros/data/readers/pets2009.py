"""PETS2009 in the MVMS / TNNLS layout (views 1-3, ground-plane density maps from the MVMS release).

Expected files below ``root`` (the ``dmaps`` folder of the release, or its parent)::

    dmaps/<scenario>/<time>/train_test/[10_10/]PETS_<seq>_view<v>_train_test_10.h5
        images        (N, 288, 384, 1)  grey frames (uint8 or float; scaled to [0, 1] here)
        density_maps  (N, 288, 384, 1)  head density x1000 (divided by 1000 here)
    dmaps/<scenario>/<time>/GP_maps/PETS_<seq>_groundplane_dmaps_10.h5
        density_maps  (N, 710, 610, 1)  ground-plane density, 0.1 m cells

Sequences (MVMS splits): train S1L3/14_17 (S1L3_1), S1L3/14_33 (S1L3_2), S2L2/14_55 (S2L2_1),
S2L3/14_41 (S2L3_1), 1105 frames; test S1L1/13_57 (S1L1_1), S1L1/13_59 (S1L1_2), S1L2/14_06
(S1L2_1), S1L2/14_31 (S1L2_2), 794 frames. With 35-frame trimming (5 s at 7 fps) these become the
paper's 825 / 514 frames.

The ground-plane map is cropped to 708 x 608 and 4 x 4 sum-pooled to 177 x 152 cells of 0.4 m
(``gp_pool=4``, as MVMS) or kept at 0.1 m (``gp_pool=1``, 710 x 610). :data:`PETS_REGION` places
the 0.4 m cells where the MVMS projection grid does (cell (i, j) centre at X = -30.599 + 0.4 j,
Y = -44.599 + 0.4 i metres in the PETS world frame; the authors' two implementations differ by one
cell). ``.npz`` files with the same stems and keys are accepted in place of ``.h5``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vsync_ros.data.density import sum_pool
from vsync_ros.data.desync import STREAM_TEST, STREAM_TRAIN, DesyncConfig, pets
from vsync_ros.data.readers.common import ArrayFile, DesyncFrameDataset, FrameSequence, find_array_file, to_unit_float
from vsync_ros.data.readers.tsai import read_tsai_xml
from vsync_ros.geometry.camera import Camera
from vsync_ros.geometry.ground import GroundRegion

FPS = 7.0
VIEWS = (1, 2, 3)
TRAIN_SEQUENCES = (('S1L3', '14_17', 'S1L3_1'), ('S1L3', '14_33', 'S1L3_2'), ('S2L2', '14_55', 'S2L2_1'),
                   ('S2L3', '14_41', 'S2L3_1'))
TEST_SEQUENCES = (('S1L1', '13_57', 'S1L1_1'), ('S1L1', '13_59', 'S1L1_2'), ('S1L2', '14_06', 'S1L2_1'),
                  ('S1L2', '14_31', 'S1L2_2'))
#: 0.4 m ground grid of the MVMS PETS2009 model (177 rows x 152 cols), PETS world frame, metres.
PETS_REGION = GroundRegion(x0=-30.799, y0=-44.799, width_m=152 * 0.4, height_m=177 * 0.4, cell_m=0.4)
#: full-resolution 0.1 m grid of the GT files (710 x 610), same corner.
PETS_REGION_FULL = GroundRegion(x0=-30.799, y0=-44.799, width_m=61.0, height_m=71.0, cell_m=0.1)
VIEW_DENSITY_SCALE = 1e-3  # PETS camera-view maps are stored x1000


def _dmaps_root(root: Path) -> Path:
    return root / 'dmaps' if (root / 'dmaps').is_dir() else root


def _find(folder: Path, stem: str) -> Path:
    hit = find_array_file(folder, stem)
    if hit is None:
        for sub in sorted(p for p in folder.rglob('*') if p.is_dir()):
            hit = find_array_file(sub, stem)
            if hit is not None:
                break
    if hit is None:
        raise FileNotFoundError(f'PETS2009: no {stem}.h5/.npz below {folder}')
    return hit


class PETSSequence(FrameSequence):
    """One PETS2009 sequence (3 synchronized views + ground-plane GT)."""

    def __init__(self, root: Path, scenario: str, time: str, tag: str, gp_pool: int = 4,
                 view_density_scale: float = VIEW_DENSITY_SCALE) -> None:
        base = _dmaps_root(Path(root)) / scenario / time
        if not base.is_dir():
            raise FileNotFoundError(f'PETS2009: sequence folder {base} not found')
        self.name = tag
        self.views = [ArrayFile(_find(base / 'train_test', f'PETS_{tag}_view{v}_train_test_10')) for v in VIEWS]
        self.gp = ArrayFile(_find(base / 'GP_maps', f'PETS_{tag}_groundplane_dmaps_10'))
        self.gp_pool = int(gp_pool)
        self.view_density_scale = float(view_density_scale)
        counts = [len(f['images']) for f in self.views] + [len(self.gp['density_maps'])]
        if len(set(counts)) != 1:
            raise ValueError(f'PETS2009 {tag}: frame counts differ between views / GP maps: {counts}')
        self.n_frames = counts[0]
        self.n_views = len(VIEWS)

    def image(self, view: int, idx: int) -> np.ndarray:
        """(288, 384) grey frame in [0, 1]."""
        return to_unit_float(self.views[view]['images'][idx])

    def view_density(self, view: int, idx: int) -> np.ndarray:
        """(288, 384) head density (unscaled)."""
        d = np.asarray(self.views[view]['density_maps'][idx], np.float32)
        return (d[..., 0] if d.ndim == 3 else d) * self.view_density_scale

    def gp_density(self, idx: int) -> np.ndarray:
        """Ground-plane density: (177, 152) at 0.4 m (gp_pool 4) or (710, 610) at 0.1 m (gp_pool 1)."""
        d = np.asarray(self.gp['density_maps'][idx], np.float32)
        d = d[..., 0] if d.ndim == 3 else d
        if self.gp_pool == 1:
            return d
        return sum_pool(d[:708, :608], self.gp_pool).astype(np.float32)


def pets_cameras(calibration_dir: str | Path, image_size: tuple[int, int] = (384, 288)) -> list[Camera]:
    """Cameras of views 1-3 from the Tsai files ``View_001.xml`` .. ``View_003.xml``, at ``image_size``."""
    d = Path(calibration_dir)
    return [read_tsai_xml(d / f'View_{v:03d}.xml', name=f'view{v}', image_size=image_size) for v in VIEWS]


class PETS2009Dataset(DesyncFrameDataset):
    """Desynchronized PETS2009 samples (same keys as :class:`~vsync_ros.data.dataset.SyncDataset`).

    Args:
        root: folder holding ``dmaps/`` (or the ``dmaps`` folder itself).
        split: 'train' or 'test' (MVMS sequences), or pass ``sequences`` explicitly.
        desync: latency settings (default: PETS preset, random, kappa 5 s); its frame offsets are
            ``round(delta * 7)`` frames.
        trim: drop reference frames within the largest offset of a sequence end (default True).
        image_size: resize frames (and view densities, sum-preserving) to (w, h); default 384 x 288.
        gp_pool: 4 (177 x 152 at 0.4 m, MVMS) or 1 (710 x 610 at 0.1 m).
        calibration_dir: folder with ``View_00{1,2,3}.xml`` (Tsai) to fill :attr:`cameras`.
    """

    def __init__(self, root, split: str = 'train', desync: DesyncConfig | None = None, trim: bool = True,
                 image_size: tuple[int, int] | None = None, gp_pool: int = 4, calibration_dir=None,
                 sequences=None) -> None:
        if sequences is None:
            if split not in ('train', 'test'):
                raise ValueError(f"split must be 'train' or 'test', got {split!r}")
            sequences = TRAIN_SEQUENCES if split == 'train' else TEST_SEQUENCES
        seqs = [PETSSequence(Path(root), sc, tm, tag, gp_pool) for sc, tm, tag in sequences]
        super().__init__(seqs, desync or pets(), FPS, STREAM_TRAIN if split == 'train' else STREAM_TEST, trim,
                         image_size)
        self.region = PETS_REGION if gp_pool == 4 else PETS_REGION_FULL.with_cell(0.1 * gp_pool)
        size = self.image_size or (384, 288)
        self.cameras = pets_cameras(calibration_dir, size) if calibration_dir is not None else None
        self.manifest = {'format': 'pets2009-mvms', 'split': split, 'fps': FPS, 'desync': self.desync.to_dict(),
                         'sequences': [s.name for s in seqs], 'trim_frames': self.margin}
