"""Torch ``Dataset`` over a data set written by :func:`vsync_ros.data.generate.generate_dataset`.

Every sample is a dict of tensors with fixed shapes (the default DataLoader collate works):

* ``images`` float32 (V, 3, H, W) in [0, 1]: view 0 = reference at ``time_s``, view i the
  unsynchronized frame at ``time_s + offsets_s[i]``; zeros where the view is missing,
* ``images_sync`` float32 (V, 3, H, W): every view at ``time_s`` (supervision for the warping loss),
* ``offsets_s`` float32 (V,), ``view_valid`` bool (V,), ``ref_view`` int64 (acting reference:
  first valid view), ``time_s`` float64, ``index`` int64,
* counting: ``gp_density`` float32 (1, rows, cols) on :attr:`SyncDataset.region`, ``view_density``
  float32 (V, 1, H, W) head density of the frames actually input (zeros if missing; from the stored
  head pixels ``v<i>_heads_uv`` or, for real data, a stored map ``v<i>_density``),
  ``view_density_sync`` float32 (V, 1, H, W) of the synchronized frames, ``count`` float32 (),
* pose: ``joints_3d`` float32 (P, 17, 3) metres (and ``motion`` int64 (P,) when stored).

Densities are unscaled (each person sums to 1).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vsync_ros.data import storage
from vsync_ros.data.density import ground_density, image_density, sum_pool
from vsync_ros.geometry.camera import Camera
from vsync_ros.geometry.ground import GroundRegion


class SyncDataset(Dataset):
    """One split of a generated data set.

    Args:
        root: data-set folder (holding manifest.json).
        split: 'train' or 'test'.
        gp_cell_m: ground-plane density cell size; default the stored one. Another value recomputes
            the map from the stored positions (same sigma), or, for a data set without positions (real
            data), sum-pools the stored map by an integer factor (DatasetError for another cell).
        load_sync: read the synchronized frames (set False to save time when they are not needed;
            ``images_sync`` is then omitted).

    Raises:
        FileNotFoundError: ``root`` holds no manifest.json.
        KeyError: ``split`` is not in the data set.
        DatasetError: a corrupt manifest / index, or (when a sample is read) a missing or corrupt image or
            ground-truth file; the message names the file (and the sample).
        CalibrationError: a bad camera YAML (the message names the file and the field).
    """

    def __init__(self, root, split: str = 'train', gp_cell_m: float | None = None, load_sync: bool = True) -> None:
        self.root = Path(root)
        mpath = self.root / 'manifest.json'
        if not mpath.is_file():
            raise FileNotFoundError(f'{self.root} holds no manifest.json: not a vsync-synth data set')
        self.manifest: dict = storage.read_json(mpath)
        if not isinstance(self.manifest, dict):
            raise storage.DatasetError(f'{mpath} is not a JSON object')
        if self.manifest.get('format') != storage.FORMAT:
            raise storage.DatasetError(f'{mpath}: unknown format {self.manifest.get("format")!r}')
        if int(self.manifest.get('format_version', 0)) > storage.FORMAT_VERSION:
            raise storage.DatasetError(
                f'{mpath}: format version {self.manifest["format_version"]} is newer than this reader')
        try:
            splits = list(self.manifest['splits'])
            self.task: str = self.manifest['task']
            camera_files = list(self.manifest['cameras'])
            self.width, self.height = (int(x) for x in self.manifest['image_size'])
            stored = GroundRegion(**self.manifest['region']) if 'region' in self.manifest else None
        except KeyError as exc:
            raise storage.DatasetError(f'{mpath} lacks field {exc}') from None
        except (TypeError, ValueError) as exc:
            raise storage.DatasetError(f'{mpath}: malformed field: {exc}') from None
        if split not in splits:
            raise KeyError(f'split {split!r} not in {sorted(splits)} (of {mpath})')
        self.split = split
        self.cameras: list[Camera] = [Camera.from_yaml(self.root / p) for p in camera_files]
        self.n_views = len(self.cameras)
        self.ext = self.manifest.get('image_ext', '.png')
        self.load_sync = load_sync
        self._stored_region = stored
        self.region: GroundRegion | None = stored.with_cell(gp_cell_m) if (stored and gp_cell_m) else stored
        gt = self.manifest.get('gt', {})
        self.gp_sigma_m = float(gt.get('gp_sigma_m', 1.0))
        self.view_sigma_px = float(gt.get('view_sigma_px', 3.0 * self.width / 384.0))
        ipath = self.root / split / 'index.json'
        self.index = storage.read_json(ipath)
        try:
            self._n = int(self.index['n'])
        except (KeyError, TypeError, ValueError) as exc:
            raise storage.DatasetError(f'{ipath} lacks a valid field n: {exc}') from None

    def sequence_of(self, time_s: float) -> str | None:
        """The name of the recorded sequence a reference time (s) falls in, or None.

        Only worlds built from recorded sequences (``--world pets``) have them: the manifest's
        ``world.source.sequences`` entries place each sequence's ``time_range_s`` at its ``start_s``.
        """
        source = (self.manifest.get('world') or {}).get('source') or {}
        for seq in source.get('sequences', []):
            try:
                start = float(seq['start_s'])
                lo, hi = (float(x) for x in seq['time_range_s'])
                name = str(seq['name'])
            except (KeyError, TypeError, ValueError) as exc:
                raise storage.DatasetError(f'{self.root / "manifest.json"}: malformed world.source.sequences '
                                           f'entry {seq!r}: {exc}') from None
            if start + lo - 1e-6 <= time_s <= start + hi + 1e-6:
                return name
        return None

    def __len__(self) -> int:
        return self._n

    # ------------------------------------------------------------------ raw access
    def frame_file(self, k: int, view: int, sync: bool = False) -> Path | None:
        """Path of an input / synchronized frame (None for a missing input frame)."""
        if sync:
            p = storage.frame_path(self.root, self.split, view, k, self.ext, sync=True)
            if p.is_file():
                return p
        if not self.index['view_valid'][k][view]:
            return None
        return storage.frame_path(self.root, self.split, view, k, self.ext)

    def raw_gt(self, k: int) -> dict[str, np.ndarray]:
        """All stored ground-truth arrays of sample ``k`` (including variable-length ones).

        Raises:
            DatasetError: the archive is missing or corrupt (the message names the file and the sample).
        """
        try:
            return storage.load_npz(storage.gt_path(self.root, self.split, k))
        except storage.DatasetError as exc:
            raise storage.DatasetError(f'data set {self.root}, {self.split} sample {k}: ground truth {exc}') from None

    def read_frame(self, k: int, view: int, sync: bool = False) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB of an input / synchronized frame (None for a missing input frame).

        Raises:
            DatasetError: the file is missing, unreadable or not the manifest's size (the message names
                the file, the sample and the view).
        """
        p = self.frame_file(k, view, sync)
        if p is None:
            return None
        where = f'data set {self.root}, {self.split} sample {k}, view {view}'
        try:
            rgb = storage.read_image(p)
        except OSError as exc:
            raise storage.DatasetError(f'{where}: {exc}') from None
        if rgb.shape != (self.height, self.width, 3):
            raise storage.DatasetError(f'{where}: image {p} is {rgb.shape[1]}x{rgb.shape[0]}, the manifest says '
                                       f'{self.width}x{self.height}')
        return rgb

    def _images(self, k: int, sync: bool) -> np.ndarray:
        out = np.zeros((self.n_views, 3, self.height, self.width), np.float32)
        for v in range(self.n_views):
            rgb = self.read_frame(k, v, sync)
            if rgb is not None:
                out[v] = rgb.transpose(2, 0, 1).astype(np.float32) / 255.0
        return out

    def _view_density(self, gt: dict, k: int, sync: bool) -> np.ndarray:
        out = np.zeros((self.n_views, 1, self.height, self.width), np.float32)
        valid = self.index['view_valid'][k]
        for v in range(self.n_views):
            prefix = f'sync_v{v}_' if sync and (f'sync_v{v}_heads_uv' in gt or f'sync_v{v}_density' in gt) else f'v{v}_'
            if prefix == f'v{v}_' and not valid[v]:
                continue
            if prefix + 'density' in gt:  # a stored map (real data sets, e.g. PETS2009's release)
                out[v, 0] = self._stored_map(gt, prefix + 'density', k, (self.height, self.width))
            elif prefix + 'heads_uv' in gt:
                out[v, 0] = image_density(gt[prefix + 'heads_uv'], self.width, self.height, self.view_sigma_px)
        return out

    def _stored_map(self, gt: dict, key: str, k: int, shape: tuple[int, int]) -> np.ndarray:
        d = np.asarray(gt[key], np.float32)
        if d.shape != shape:
            raise storage.DatasetError(f'data set {self.root}, {self.split} sample {k}: ground truth {key} is '
                                       f'{d.shape}, expected {shape}')
        return d

    def _gp_density(self, gt: dict, k: int) -> np.ndarray:
        """(rows, cols) ground-plane density on :attr:`region`.

        From the stored positions when the cell differs from the stored one; a data set without positions
        (real data: stored maps only) is sum-pooled by an integer factor of its stored cell.
        """
        stored = self._stored_region
        if self.region is None or self.region == stored:
            return self._stored_map(gt, 'gp_density', k, stored.shape if stored else np.shape(gt['gp_density']))
        if 'positions' in gt:
            return ground_density(gt['positions'], self.region, self.gp_sigma_m)
        factor = self.region.cell_m / stored.cell_m
        if abs(factor - round(factor)) > 1e-6 or round(factor) < 1:
            raise storage.DatasetError(
                f'data set {self.root}: ground truth holds density maps of {stored.cell_m:g} m cells and no '
                f'positions (field positions); a {self.region.cell_m:g} m cell needs an integer multiple of '
                f'{stored.cell_m:g} m')
        gp = sum_pool(self._stored_map(gt, 'gp_density', k, stored.shape), int(round(factor)))
        rows, cols = self.region.shape
        return np.ascontiguousarray(gp[:rows, :cols], np.float32)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        if not 0 <= k < self._n:
            raise IndexError(k)
        idx = self.index
        sample: dict[str, torch.Tensor] = {
            'images': torch.from_numpy(self._images(k, sync=False)),
            'offsets_s': torch.tensor(idx['offsets_s'][k], dtype=torch.float32),
            'view_valid': torch.tensor(idx['view_valid'][k], dtype=torch.bool),
            'ref_view': torch.tensor(int(idx['ref_view'][k]), dtype=torch.int64),
            'time_s': torch.tensor(float(idx['time_s'][k]), dtype=torch.float64),
            'index': torch.tensor(k, dtype=torch.int64),
        }
        if self.load_sync:
            sample['images_sync'] = torch.from_numpy(self._images(k, sync=True))
        gt = self.raw_gt(k)
        if self.task == 'counting':
            gp = self._gp_density(gt, k)
            sample['gp_density'] = torch.from_numpy(np.ascontiguousarray(gp[None]))
            sample['view_density'] = torch.from_numpy(self._view_density(gt, k, sync=False))
            sample['view_density_sync'] = torch.from_numpy(self._view_density(gt, k, sync=True))
            sample['count'] = torch.tensor(float(gt['count']), dtype=torch.float32)
        elif self.task == 'pose':
            sample['joints_3d'] = torch.from_numpy(np.asarray(gt['joints_3d'], np.float32))
            if 'motion' in gt:
                sample['motion'] = torch.from_numpy(np.asarray(gt['motion'], np.int64))
        return sample
