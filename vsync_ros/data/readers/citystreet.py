"""CityStreet in the MVMS / TNNLS layout (cameras 1, 3, 4 = file views 1, 2, 3).

Expected files below ``root``::

    dmaps/<split>/Street_view<v>_dmap_10.h5                 v = 1, 2, 3
        images        (N, 380, 676, 1)  grey frames
        density_maps  (N, 380, 676, 1)  head density (unscaled)
    GP_dmaps/<split>/Street_groundplane_<split>_dmaps_10.h5
        density_maps  (N, 768, 640, 1)  ground-plane density, 76.25 mm cells
    unsynced_images_h5/timeshift_[0+3-3]s/<split>/Street_<split>_view<v>_gray_images_unsynced.h5   v = 2, 3
    unsynced_images_h5/timeshift_random_3s/<split>/Street_<split>_view<v>_gray_images_random.h5    v = 2, 3
        images        (N, 380, 676, 1)  the TNNLS pre-extracted unsynchronized frames

The later release layout ``GT_density_maps/camera_view/<split>/...`` and
``GT_density_maps/ground_plane/<split>/...`` is found too. Splits: train = frames 636-1234 (300),
test = 1236-1634 (200), 1 fps in the paper (dt = 1 s).

``unsynced=None`` draws offsets with the given :class:`DesyncConfig` on the synchronized frames;
``'constant'`` or ``'random'`` uses the TNNLS pre-extracted frames instead (offsets reported as the
nominal (0, +3, -3) s for 'constant', NaN for 'random' since the draws were not released; their
camera-view densities are unknown, flagged by ``view_density_valid``).

The ground-plane map is 4 x 4 sum-pooled to 192 x 160 cells of 0.305 m (``gp_pool=4``, MVMS).
:data:`CITYSTREET_REGION` matches the MVMS projection grid (cell (i, j) centre at
X = -21.166 + 0.305 j, Y = -31.536 + 0.305 i metres).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vsync_ros.data.density import sum_pool
from vsync_ros.data.desync import STREAM_TEST, STREAM_TRAIN, DesyncConfig, citystreet
from vsync_ros.data.readers.common import (
    ArrayFile,
    DesyncFrameDataset,
    FrameSequence,
    find_array_file,
    to_chw_rgb,
    to_unit_float,
)
from vsync_ros.geometry.ground import GroundRegion

FPS = 1.0
CAMERAS = (1, 3, 4)  # dataset camera ids of file views 1, 2, 3
FRAMES = {'train': range(636, 1236, 2), 'test': range(1236, 1636, 2)}
CITYSTREET_REGION = GroundRegion(x0=-21.3185, y0=-31.6885, width_m=160 * 0.305, height_m=192 * 0.305, cell_m=0.305)
CITYSTREET_REGION_FULL = GroundRegion(x0=-21.3185, y0=-31.6885, width_m=640 * 0.07625, height_m=768 * 0.07625,
                                      cell_m=0.07625)
UNSYNCED_DIRS = {'constant': ('timeshift_[0+3-3]s', 'unsynced'), 'random': ('timeshift_random_3s', 'random')}
NOMINAL_CONSTANT_OFFSETS_S = (0.0, 3.0, -3.0)


def _first(root: Path, candidates: list[str], what: str) -> Path:
    for rel in candidates:
        folder, stem = rel.rsplit('/', 1)
        hit = find_array_file(root / folder, stem)
        if hit is not None:
            return hit
    raise FileNotFoundError(f'CityStreet: {what} not found below {root} (tried {candidates})')


class CityStreetSequence(FrameSequence):
    """The synchronized CityStreet frames of one split."""

    def __init__(self, root, split: str, gp_pool: int = 4) -> None:
        root = Path(root)
        if split not in FRAMES:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.views = [ArrayFile(_first(root, [f'dmaps/{split}/Street_view{v}_dmap_10',
                                              f'GT_density_maps/camera_view/{split}/Street_view{v}_dmap_10'],
                                       f'view {v} density file')) for v in (1, 2, 3)]
        self.gp = ArrayFile(_first(root, [f'GP_dmaps/{split}/Street_groundplane_{split}_dmaps_10',
                                          f'GT_density_maps/ground_plane/{split}/Street_groundplane_{split}_dmaps_10'],
                                   'ground-plane density file'))
        self.gp_pool = int(gp_pool)
        counts = [len(f['images']) for f in self.views] + [len(self.gp['density_maps'])]
        if len(set(counts)) != 1:
            raise ValueError(f'CityStreet {split}: frame counts differ between views / GP maps: {counts}')
        self.n_frames, self.n_views = counts[0], 3
        self.frame_numbers = list(FRAMES[split])[: self.n_frames]

    def image(self, view: int, idx: int) -> np.ndarray:
        """(380, 676) grey frame in [0, 1]."""
        return to_unit_float(self.views[view]['images'][idx])

    def view_density(self, view: int, idx: int) -> np.ndarray:
        """(380, 676) head density."""
        d = np.asarray(self.views[view]['density_maps'][idx], np.float32)
        return d[..., 0] if d.ndim == 3 else d

    def gp_density(self, idx: int) -> np.ndarray:
        """(192, 160) at 0.305 m (gp_pool 4) or (768, 640) at 76.25 mm (gp_pool 1)."""
        d = np.asarray(self.gp['density_maps'][idx], np.float32)
        d = d[..., 0] if d.ndim == 3 else d
        return d if self.gp_pool == 1 else sum_pool(d, self.gp_pool).astype(np.float32)


class CityStreetDataset(DesyncFrameDataset):
    """Desynchronized CityStreet samples (same keys as :class:`~vsync_ros.data.dataset.SyncDataset`).

    Args:
        root: data-set folder.
        split: 'train' or 'test'.
        desync: latency settings for ``unsynced=None`` (default CityStreet preset, random, kappa 3 s).
        unsynced: None, 'constant' or 'random' (see the module docstring).
        trim: drop reference frames within the largest offset of the sequence ends.
        image_size: resize frames to (w, h) (default: stored 676 x 380).
        gp_pool: 4 (192 x 160, 0.305 m) or 1 (768 x 640, 76.25 mm).
    """

    def __init__(self, root, split: str = 'train', desync: DesyncConfig | None = None, unsynced: str | None = None,
                 trim: bool = True, image_size: tuple[int, int] | None = None, gp_pool: int = 4) -> None:
        seq = CityStreetSequence(root, split, gp_pool)
        if unsynced not in (None, 'constant', 'random'):
            raise ValueError(f"unsynced must be None, 'constant' or 'random', got {unsynced!r}")
        self.unsynced = unsynced
        if unsynced is not None:
            trim = False
            desync = citystreet(mode=unsynced)
            folder, suffix = UNSYNCED_DIRS[unsynced]
            self.unsynced_files = [ArrayFile(_first(Path(root), [
                f'unsynced_images_h5/{folder}/{split}/Street_{split}_view{v}_gray_images_{suffix}'],
                f'{unsynced} unsynchronized frames of view {v}')) for v in (2, 3)]
            n = [len(f['images']) for f in self.unsynced_files]
            if any(x != seq.n_frames for x in n):
                raise ValueError(f'CityStreet: unsynchronized files have {n} frames, expected {seq.n_frames}')
        super().__init__([seq], desync or citystreet(), FPS, STREAM_TRAIN if split == 'train' else STREAM_TEST,
                         trim, image_size)
        self.region = CITYSTREET_REGION if gp_pool == 4 else CITYSTREET_REGION_FULL.with_cell(0.07625 * gp_pool)
        self.cameras = None
        self.manifest = {'format': 'citystreet-mvms', 'split': split, 'fps': FPS, 'unsynced': unsynced,
                         'desync': self.desync.to_dict(), 'camera_ids': list(CAMERAS), 'trim_frames': self.margin}

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        if self.unsynced is None:
            sample = super().__getitem__(k)
            sample['view_density_valid'] = sample['view_valid'].clone()
            return sample
        seq, ref = self.sequences[0], self._items[k][1]
        sync = [to_chw_rgb(seq.image(v, ref), self.image_size) for v in range(3)]
        imgs = [sync[0]] + [to_chw_rgb(to_unit_float(f['images'][ref]), self.image_size) for f in self.unsynced_files]
        hw = sync[0].shape[1:]
        dens_sync = np.stack([self._view_density(seq, v, ref, hw) for v in range(3)])
        dens = np.zeros_like(dens_sync)
        dens[0] = dens_sync[0]
        gp = seq.gp_density(ref)
        offsets = NOMINAL_CONSTANT_OFFSETS_S if self.unsynced == 'constant' else (0.0, float('nan'), float('nan'))
        return {
            'images': torch.from_numpy(np.stack(imgs)),
            'images_sync': torch.from_numpy(np.stack(sync)),
            'offsets_s': torch.tensor(offsets, dtype=torch.float32),
            'view_valid': torch.ones(3, dtype=torch.bool),
            'ref_view': torch.tensor(0, dtype=torch.int64),
            'time_s': torch.tensor(ref / FPS, dtype=torch.float64),
            'index': torch.tensor(k, dtype=torch.int64),
            'sequence': torch.tensor(0, dtype=torch.int64),
            'gp_density': torch.from_numpy(np.ascontiguousarray(gp[None])),
            'view_density': torch.from_numpy(dens[:, None]),
            'view_density_sync': torch.from_numpy(dens_sync[:, None]),
            'view_density_valid': torch.tensor([True, False, False]),
            'count': torch.tensor(float(gp.sum()), dtype=torch.float32),
        }
