"""Shared pieces of the real-data readers: array files (.h5 / .npz) and desynchronized frame sampling.

The published data sets ship HDF5 files. ``h5py`` is imported only when an ``.h5`` file is opened
(with a clear error if it is missing). The same layout with ``.npz`` files (same file stem, same
array keys) is accepted too, e.g. after converting with
``np.savez(f.replace('.h5', '.npz'), **{k: h5[k][()] for k in h5})``; npz arrays are loaded whole.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vsync_ros.data.density import resize_density
from vsync_ros.data.desync import DesyncConfig

ARRAY_EXTS = ('.h5', '.hdf5', '.npz')


class MissingDependencyError(ImportError):
    """An optional dependency (h5py) is needed to read this file."""


def find_array_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` with the first existing extension among .h5, .hdf5, .npz (None if absent)."""
    for ext in ARRAY_EXTS:
        p = Path(folder) / f'{stem}{ext}'
        if p.is_file():
            return p
    return None


class ArrayFile:
    """Read-only access to the named arrays of an .h5 or .npz file (arrays are read lazily by key)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._h5 = None
        self._npz: dict[str, np.ndarray] = {}
        self._pid = None
        if self.path.suffix.lower() not in ARRAY_EXTS:
            raise ValueError(f'{self.path}: expected one of {ARRAY_EXTS}')

    def _open_h5(self):
        if self._h5 is None or self._pid != os.getpid():  # h5py handles must not cross a fork
            try:
                import h5py
            except ImportError as exc:
                raise MissingDependencyError(
                    f'reading {self.path} needs h5py (pip install h5py), or convert the file to .npz with the '
                    'same array keys') from exc
            self._h5 = h5py.File(self.path, 'r')
            self._pid = os.getpid()
        return self._h5

    def keys(self) -> list[str]:
        """Array names in the file."""
        if self.path.suffix.lower() == '.npz':
            with np.load(self.path, allow_pickle=False) as z:
                return list(z.files)
        return list(self._open_h5().keys())

    def __getitem__(self, key: str):
        """The array (npz) or dataset (h5, sliceable without loading everything)."""
        if self.path.suffix.lower() == '.npz':
            if key not in self._npz:
                with np.load(self.path, allow_pickle=False) as z:
                    if key not in z.files:
                        raise KeyError(f'{self.path} has no array {key!r} (has {z.files})')
                    self._npz[key] = z[key]
            return self._npz[key]
        f = self._open_h5()
        if key not in f:
            raise KeyError(f'{self.path} has no dataset {key!r} (has {list(f.keys())})')
        return f[key]

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_h5'] = None
        return state


def to_unit_float(img: np.ndarray) -> np.ndarray:
    """Image array (H, W[, C]) as float32 in [0, 1]: uint8 / values above 1.5 are divided by 255."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    a = a.astype(np.float32)
    return a / 255.0 if a.size and float(a.max()) > 1.5 else a


def to_chw_rgb(img: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """(H, W), (H, W, 1) or (H, W, 3) image in [0, 1] -> (3, h, w) float32, resized to ``size`` (w, h)."""
    a = np.asarray(img, np.float32)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if size is not None and (a.shape[1], a.shape[0]) != tuple(size):
        interp = cv2.INTER_AREA if size[0] < a.shape[1] else cv2.INTER_LINEAR
        a = cv2.resize(a, tuple(size), interpolation=interp)
    if a.ndim == 2:
        a = np.repeat(a[None], 3, axis=0)
    else:
        a = a.transpose(2, 0, 1)
    return np.ascontiguousarray(a, dtype=np.float32)


def squeeze_map(m) -> np.ndarray:
    """(H, W) float32 from (H, W) or (H, W, 1)."""
    a = np.asarray(m, np.float32)
    return a[..., 0] if a.ndim == 3 else a


class FrameSequence:
    """Interface of a synchronized multi-view sequence (one recording) used by :class:`DesyncFrameDataset`."""

    n_frames: int
    n_views: int

    def image(self, view: int, idx: int) -> np.ndarray:
        """(H, W[, C]) image of ``view`` at frame ``idx``, float in [0, 1]."""
        raise NotImplementedError

    def view_density(self, view: int, idx: int) -> np.ndarray | None:
        """(H, W) head density of ``view`` at frame ``idx`` (unscaled), or None if unavailable."""
        return None

    def gp_density(self, idx: int) -> np.ndarray:
        """(rows, cols) ground-plane density at frame ``idx`` (unscaled)."""
        raise NotImplementedError


def frame_offset_indices(ref_idx: int, offsets_s: np.ndarray, fps: float, n_frames: int) -> np.ndarray:
    """Frame index of each view: ``ref_idx + round(offset * fps)``, clipped to the sequence."""
    idx = ref_idx + np.round(np.asarray(offsets_s) * fps).astype(np.int64)
    return np.clip(idx, 0, n_frames - 1)


class DesyncFrameDataset(Dataset):
    """Desynchronized samples drawn from synchronized frame sequences (real data sets).

    Reference frame ``r`` of a sequence is paired with frame ``r + round(delta_i * fps)`` of view
    ``i`` (``delta`` from ``desync.sample``; ``desync.dt_s`` is not used: the data's frame rate
    is). With ``trim=True`` (the authors' choice: 35 frames at 7 fps for PETS2009) reference frames
    closer than ``ceil(max|delta| * fps)`` to either end are dropped, otherwise indices are clipped.
    ``offsets_s`` report the offsets actually applied (after rounding / clipping).

    Samples have the keys of :class:`vsync_ros.data.dataset.SyncDataset` (counting task).
    """

    task = 'counting'

    def __init__(self, sequences: Sequence[FrameSequence], desync: DesyncConfig, fps: float, stream: int = 0,
                 trim: bool = True, image_size: tuple[int, int] | None = None,
                 view_density_size: tuple[int, int] | None = None) -> None:
        self.sequences = list(sequences)
        if not self.sequences:
            raise ValueError('no sequences')
        n_views = self.sequences[0].n_views
        if desync.n_views != n_views:
            raise ValueError(f'desync config has {desync.n_views} views, the data have {n_views}')
        self.desync, self.fps, self.stream, self.trim = desync, float(fps), int(stream), trim
        self.image_size = tuple(image_size) if image_size is not None else None
        self.view_density_size = tuple(view_density_size) if view_density_size is not None else self.image_size
        self.n_views = n_views
        margin = int(math.ceil(desync.max_abs_offset_s * self.fps - 1e-9)) if trim else 0
        self.margin = margin
        self._items = [(s, r) for s, seq in enumerate(self.sequences)
                       for r in range(margin, seq.n_frames - margin)]

    def __len__(self) -> int:
        return len(self._items)

    def _view_density(self, seq: FrameSequence, view: int, idx: int, shape: tuple[int, int]) -> np.ndarray:
        d = seq.view_density(view, idx)
        if d is None:
            return np.zeros(shape, np.float32)
        d = squeeze_map(d)
        if self.view_density_size is not None:
            d = resize_density(d, *self.view_density_size)
        return d

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        s_idx, ref = self._items[k]
        seq = self.sequences[s_idx]
        smp = self.desync.sample(k, self.stream)
        idx = frame_offset_indices(ref, smp.offsets_s, self.fps, seq.n_frames)
        idx[smp.ref_view] = ref
        imgs, imgs_sync, dens, dens_sync = [], [], [], []
        for v in range(self.n_views):
            sync_img = to_chw_rgb(seq.image(v, ref), self.image_size)
            imgs_sync.append(sync_img)
            imgs.append(to_chw_rgb(seq.image(v, int(idx[v])), self.image_size) if smp.valid[v]
                        else np.zeros_like(sync_img))
            hw = sync_img.shape[1:]
            dens_sync.append(self._view_density(seq, v, ref, hw))
            dens.append(self._view_density(seq, v, int(idx[v]), hw) if smp.valid[v] else np.zeros(hw, np.float32))
        offsets = np.where(smp.valid, (idx - ref) / self.fps, 0.0)
        gp = squeeze_map(seq.gp_density(ref))
        return {
            'images': torch.from_numpy(np.stack(imgs)),
            'images_sync': torch.from_numpy(np.stack(imgs_sync)),
            'offsets_s': torch.tensor(offsets, dtype=torch.float32),
            'view_valid': torch.tensor(smp.valid, dtype=torch.bool),
            'ref_view': torch.tensor(smp.ref_view, dtype=torch.int64),
            'time_s': torch.tensor(ref / self.fps, dtype=torch.float64),
            'index': torch.tensor(k, dtype=torch.int64),
            'sequence': torch.tensor(s_idx, dtype=torch.int64),
            'gp_density': torch.from_numpy(np.ascontiguousarray(gp[None])),
            'view_density': torch.from_numpy(np.stack(dens)[:, None]),
            'view_density_sync': torch.from_numpy(np.stack(dens_sync)[:, None]),
            'count': torch.tensor(float(gp.sum()), dtype=torch.float32),
        }
