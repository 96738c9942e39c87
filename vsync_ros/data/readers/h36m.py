"""Human3.6M as prepared for learnable-triangulation (labels ``.npy`` + ``processed/`` JPEG frames).

``labels_path`` is the ``human36m-multiview-labels-*.npy`` written by learnable-triangulation's
``generate-labels-npy-multiview.py``: a pickled dict (loaded with ``allow_pickle=True``, so only use
files you trust) with

* ``subject_names`` (e.g. S1, S5, ...), ``camera_names`` ('54138969', '55011271', '58860488',
  '60457274'), ``action_names`` ('Directions-1', ...),
* ``cameras``: structured array (n_subjects, n_cameras) with ``R`` (3, 3) world->camera, ``t``
  (3, 1) mm, ``K`` (3, 3), ``dist`` (5,) = k1, k2, p1, p2, k3,
* ``table``: structured array of rows ``subject_idx`` int8, ``action_idx`` int8, ``frame_idx``
  int16 (0-based 50 Hz frame), ``keypoints`` (17, 3) float32 world mm, ``bbox_by_camera_tlbr``
  (n_cameras, 4) int16 (all zeros = view missing).

Frames: ``<root>/<subject>/<action>/imageSequence[-undistorted]/<camera>/img_<frame_idx + 1:06d>.jpg``.
Splits: train S1, S5, S6, S7, S8; test S9, S11 (without S9 Greeting-2, SittingDown-2, Waiting-1 unless
``with_damaged_actions``). Joint order: the 17 joints of learnable-triangulation (MPII order + nose).

Desynchronization: each table row of the split is a reference frame; view ``i`` takes the frame
nearest to ``frame_idx + round(delta_i * 50)`` *among the frames present in the labels* for that
sequence and camera (h36m-fetch keeps every 4th train / 64th test frame; extract more frames for
exact offsets). ``offsets_s`` report the offsets actually used. If the first camera is missing, the
next valid one becomes the reference (the paper's rule).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vsync_ros.data.desync import STREAM_TEST, STREAM_TRAIN, DesyncConfig, h36m_test, h36m_train
from vsync_ros.data.storage import read_image
from vsync_ros.geometry.camera import Camera

FPS = 50.0
TRAIN_SUBJECTS = ('S1', 'S5', 'S6', 'S7', 'S8')
TEST_SUBJECTS = ('S9', 'S11')
DAMAGED = ('S9', ('Greeting-2', 'SittingDown-2', 'Waiting-1'))
JOINT_NAMES = ('RAnkle', 'RKnee', 'RHip', 'LHip', 'LKnee', 'LAnkle', 'Pelvis', 'Spine', 'Thorax', 'HeadTop', 'RWrist',
               'RElbow', 'RShoulder', 'LShoulder', 'LElbow', 'LWrist', 'Nose')


def load_labels(path: str | Path) -> dict:
    """Load and check a learnable-triangulation labels .npy (a pickled dict)."""
    labels = np.load(path, allow_pickle=True)
    labels = labels.item() if isinstance(labels, np.ndarray) and labels.dtype == object else labels
    for key in ('subject_names', 'camera_names', 'action_names', 'cameras', 'table'):
        if key not in labels:
            raise ValueError(f'{path}: labels lack {key!r}')
    table = labels['table']
    for field in ('subject_idx', 'action_idx', 'frame_idx', 'keypoints', 'bbox_by_camera_tlbr'):
        if field not in table.dtype.names:
            raise ValueError(f'{path}: table lacks field {field!r}')
    if table['keypoints'].shape[1:] != (17, 3):
        raise ValueError(f'{path}: keypoints must be (17, 3) per row, got {table["keypoints"].shape[1:]}')
    return labels


def camera_from_labels(labels: dict, subject_idx: int, camera_idx: int, width: int = 1000, height: int = 1000,
                       undistorted: bool = False) -> Camera:
    """Full-resolution :class:`Camera` (metres) of one subject / camera."""
    c = labels['cameras'][subject_idx, camera_idx]
    dist = np.zeros(5) if undistorted else np.asarray(c['dist'], np.float64)
    return Camera(str(labels['camera_names'][camera_idx]), width, height, np.asarray(c['K'], np.float64), dist,
                  np.asarray(c['R'], np.float64), np.asarray(c['t'], np.float64).reshape(3) / 1000.0)


def _square_ltrb(tlbr: np.ndarray, scale: float) -> tuple[int, int, int, int]:
    top, left, bottom, right = (int(x) for x in tlbr)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    side = max(right - left, bottom - top) * scale
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    side = int(round(side))
    return left, top, left + side, top + side


def _crop(img: np.ndarray, ltrb: tuple[int, int, int, int]) -> np.ndarray:
    """Crop with zero padding outside the image."""
    left, top, right, bottom = ltrb
    h, w = img.shape[:2]
    out = np.zeros((bottom - top, right - left, img.shape[2]), img.dtype)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, w), min(bottom, h)
    if x1 > x0 and y1 > y0:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = img[y0:y1, x0:x1]
    return out


def _adjust(cam: Camera, ltrb, size: tuple[int, int]) -> Camera:
    """Camera after cropping ``ltrb`` and resizing the crop to ``size`` (pixel-centre aligned)."""
    K = cam.K.copy()
    if ltrb is not None:
        K[0, 2] -= ltrb[0]
        K[1, 2] -= ltrb[1]
        w0, h0 = ltrb[2] - ltrb[0], ltrb[3] - ltrb[1]
    else:
        w0, h0 = cam.width, cam.height
    c = Camera(cam.name, w0, h0, K, cam.dist.copy(), cam.R.copy(), cam.t.copy())
    return c.scaled(*size) if (w0, h0) != tuple(size) else c


class Human36MDataset(Dataset):
    """Desynchronized Human3.6M samples (task 'pose').

    Args:
        root: the ``processed/`` folder (holding S1/, S5/, ...).
        labels_path: labels .npy (see the module docstring).
        split: 'train' or 'test'.
        desync: latency settings (default: ``h36m_train`` / ``h36m_test`` with kappa 8/50 s).
        image_size: output (w, h) of every view (default 384 x 384).
        crop: crop the square person box (scaled by ``scale_bbox``) of each view, as learnable
            triangulation does; otherwise resize the whole frame.
        undistorted: read ``imageSequence-undistorted`` (distortion set to 0 in the cameras).
        with_damaged_actions: keep the three damaged S9 sequences in the test split.
        retain_every_n: keep every n-th reference row.

    Samples: ``images`` / ``images_sync`` float32 (V, 3, h, w), ``offsets_s``, ``view_valid``,
    ``ref_view``, ``time_s`` (frame_idx / 50), ``joints_3d`` float32 (1, 17, 3) metres at the
    reference time, ``K`` (V, 3, 3), ``R`` (V, 3, 3), ``t`` (V, 3) metres, ``dist`` (V, 5) and
    ``proj_matrices`` (V, 3, 4) of the *input* frames' pixels (crops differ per frame), and
    ``K_sync`` (V, 3, 3) for the synchronized frames.
    """

    task = 'pose'

    def __init__(self, root, labels_path, split: str = 'train', desync: DesyncConfig | None = None,
                 image_size: tuple[int, int] = (384, 384), crop: bool = True, scale_bbox: float = 1.0,
                 undistorted: bool = False, with_damaged_actions: bool = False, retain_every_n: int = 1) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.root = Path(root)
        self.labels = load_labels(labels_path)
        self.split = split
        names = list(self.labels['subject_names'])
        subjects = [names.index(s) for s in (TRAIN_SUBJECTS if split == 'train' else TEST_SUBJECTS) if s in names]
        table = self.labels['table']
        mask = np.isin(table['subject_idx'], subjects)
        if split == 'test' and not with_damaged_actions and DAMAGED[0] in names:
            acts = [list(self.labels['action_names']).index(a) for a in DAMAGED[1] if a in self.labels['action_names']]
            mask &= ~((table['subject_idx'] == names.index(DAMAGED[0])) & np.isin(table['action_idx'], acts))
        self.rows = np.flatnonzero(mask)[::max(int(retain_every_n), 1)]
        self.n_views = len(self.labels['camera_names'])
        default = h36m_train if split == 'train' else h36m_test
        self.desync = desync or default(n_views=self.n_views)
        if self.desync.n_views != self.n_views:
            raise ValueError(f'desync config has {self.desync.n_views} views, the labels have {self.n_views} cameras')
        self.stream = STREAM_TRAIN if split == 'train' else STREAM_TEST
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.crop, self.scale_bbox, self.undistorted = crop, float(scale_bbox), undistorted
        # frames available per (subject, action): all rows of the table, sorted by frame
        key = table['subject_idx'].astype(np.int64) * 1000 + table['action_idx'].astype(np.int64)
        order = np.lexsort((table['frame_idx'], key))
        self._seq_rows: dict[int, np.ndarray] = {}
        uniq, starts = np.unique(key[order], return_index=True)
        bounds = list(starts) + [len(order)]
        for i, kk in enumerate(uniq):
            self._seq_rows[int(kk)] = order[bounds[i]:bounds[i + 1]]
        self._key = key
        self.manifest = {'format': 'human36m-learnable-triangulation', 'split': split, 'fps': FPS,
                         'desync': self.desync.to_dict(), 'camera_names': list(self.labels['camera_names'])}

    def __len__(self) -> int:
        return len(self.rows)

    def cameras(self, subject_idx: int, width: int = 1000, height: int = 1000) -> list[Camera]:
        """Full-resolution cameras of a subject."""
        return [camera_from_labels(self.labels, subject_idx, c, width, height, self.undistorted)
                for c in range(self.n_views)]

    def image_path(self, row: int, camera_idx: int) -> Path:
        """JPEG path of table row ``row`` seen by camera ``camera_idx``."""
        r = self.labels['table'][row]
        seq = 'imageSequence-undistorted' if self.undistorted else 'imageSequence'
        return (self.root / str(self.labels['subject_names'][r['subject_idx']])
                / str(self.labels['action_names'][r['action_idx']]) / seq
                / str(self.labels['camera_names'][camera_idx]) / f'img_{int(r["frame_idx"]) + 1:06d}.jpg')

    def _has_view(self, row: int, cam: int) -> bool:
        return bool(np.any(self.labels['table'][row]['bbox_by_camera_tlbr'][cam] != 0))

    def _nearest_row(self, row: int, cam: int, target_frame: int) -> int | None:
        """Row of the same sequence nearest to ``target_frame`` in which camera ``cam`` is present."""
        rows = self._seq_rows[int(self._key[row])]
        table = self.labels['table']
        ok = np.any(table['bbox_by_camera_tlbr'][rows, cam] != 0, axis=1)
        rows = rows[ok]
        if len(rows) == 0:
            return None
        frames = table['frame_idx'][rows].astype(np.int64)
        return int(rows[np.argmin(np.abs(frames - target_frame))])

    def _view(self, row: int, cam: int, base: Camera) -> tuple[np.ndarray, Camera]:
        img = read_image(self.image_path(row, cam))
        c = Camera(base.name, img.shape[1], img.shape[0], base.K, base.dist, base.R, base.t)
        ltrb = None
        if self.crop:
            ltrb = _square_ltrb(self.labels['table'][row]['bbox_by_camera_tlbr'][cam], self.scale_bbox)
            img = _crop(img, ltrb)
        out = cv2.resize(img, self.image_size, interpolation=cv2.INTER_AREA if img.shape[1] > self.image_size[0]
                         else cv2.INTER_LINEAR)
        return out.transpose(2, 0, 1).astype(np.float32) / 255.0, _adjust(c, ltrb, self.image_size)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        row = int(self.rows[k])
        table = self.labels['table']
        r = table[row]
        frame = int(r['frame_idx'])
        smp = self.desync.sample(k, self.stream)
        valid = np.array([bool(smp.valid[c]) and self._has_view(row, c) for c in range(self.n_views)])
        if not valid.any():
            raise ValueError(f'Human3.6M row {row}: no camera has this frame')
        ref = int(np.argmax(valid))
        cams = self.cameras(int(r['subject_idx']))
        w, h = self.image_size
        imgs = np.zeros((self.n_views, 3, h, w), np.float32)
        sync = np.zeros_like(imgs)
        offsets = np.zeros(self.n_views)
        Ks, Ks_sync, Ps = [], [], []
        for c in range(self.n_views):
            src = row
            if valid[c] and c != ref:
                src = self._nearest_row(row, c, frame + int(round(smp.offsets_s[c] * FPS)))
                valid[c] = src is not None
            cam_sync = cams[c]
            if self._has_view(row, c):
                sync[c], cam_sync = self._view(row, c, cams[c])
            cam_in = cam_sync
            if valid[c]:
                imgs[c], cam_in = self._view(src, c, cams[c])
                offsets[c] = (int(table['frame_idx'][src]) - frame) / FPS
            Ks.append(cam_in.K)
            Ks_sync.append(cam_sync.K)
            Ps.append(cam_in.P)
        return {
            'images': torch.from_numpy(imgs),
            'images_sync': torch.from_numpy(sync),
            'offsets_s': torch.tensor(offsets, dtype=torch.float32),
            'view_valid': torch.from_numpy(valid),
            'ref_view': torch.tensor(ref, dtype=torch.int64),
            'time_s': torch.tensor(frame / FPS, dtype=torch.float64),
            'index': torch.tensor(k, dtype=torch.int64),
            'joints_3d': torch.from_numpy(np.asarray(r['keypoints'], np.float32)[None] / 1000.0),
            'K': torch.tensor(np.stack(Ks), dtype=torch.float32),
            'K_sync': torch.tensor(np.stack(Ks_sync), dtype=torch.float32),
            'R': torch.tensor(np.stack([c.R for c in cams]), dtype=torch.float32),
            't': torch.tensor(np.stack([c.t for c in cams]), dtype=torch.float32),
            'dist': torch.tensor(np.stack([c.dist for c in cams]), dtype=torch.float32),
            'proj_matrices': torch.tensor(np.stack(Ps), dtype=torch.float32),
        }
