"""On-disk layout of a generated data set and byte-reproducible writers.

::

    <root>/
      manifest.json                 format, task, views, image size, GT grid and sigmas,
                                    world description + seed, desync parameters, splits
      cameras/<name>.yaml           calibration at the stored image size (ROS camera_info + extrinsics)
      contact_sheet.png             optional preview (all views + ground-plane GT, synced vs unsynced)
      <split>/                      split = train | test (disjoint in time)
        index.json                  per sample: time_s, offsets_s (V), view_valid (V), ref_view, frame_time_s (V)
        frames/v<i>/<k:06d>.png     input frame of view i for sample k (v0 = reference at time_s;
                                    others at time_s + offsets_s[i]); absent when the view is missing
        sync/v<i>/<k:06d>.png       frame of view i at time_s, stored only when it differs from the
                                    input frame (offset != 0 or view missing); otherwise use frames/
        gt/<k:06d>.npz              ground truth at time_s (counting: positions, person_ids, heights_m,
                                    count, gp_density on the manifest's region) and per-frame labels
                                    'v<i>_<key>' (input frames) / 'sync_v<i>_<key>' (sync frames),
                                    e.g. v1_heads_uv (M, 2) pixels of the heads in that frame.

Images are RGB PNG (lossless) or JPEG. All files are written deterministically: the same seed and
settings give byte-identical files (fixed zip timestamps in .npz, sorted JSON keys).
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np

FORMAT = 'vsync-synth'
FORMAT_VERSION = 1
IMAGE_EXT = {'png': '.png', 'jpg': '.jpg', 'jpeg': '.jpg'}


class DatasetError(ValueError):
    """A file of a data set is missing, unreadable or corrupt; the message names the file (and the sample)."""


def frame_path(root: Path, split: str, view: int, k: int, ext: str, sync: bool = False) -> Path:
    """Path of the input (or synchronized) frame of ``view`` for sample ``k``."""
    return Path(root) / split / ('sync' if sync else 'frames') / f'v{view}' / f'{k:06d}{ext}'


def gt_path(root: Path, split: str, k: int) -> Path:
    """Path of the ground-truth archive of sample ``k``."""
    return Path(root) / split / 'gt' / f'{k:06d}.npz'


def save_npz(path: Path, arrays: dict[str, np.ndarray], compress: bool = True) -> None:
    """Write an .npz readable by ``np.load`` whose bytes depend only on the arrays (fixed timestamps)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, 'w', compression=method) as zf:
        for name in sorted(arrays):
            arr = np.asarray(arrays[name])
            arr = arr if arr.flags.c_contiguous else arr.copy(order="C")
            if arr.dtype == object:
                raise TypeError(f'array {name!r} has dtype object; only plain numeric arrays are stored')
            info = zipfile.ZipInfo(name + '.npy', date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.external_attr = 0o644 << 16
            data = io.BytesIO()
            np.lib.format.write_array(data, arr, allow_pickle=False)
            zf.writestr(info, data.getvalue())
    path.write_bytes(buf.getvalue())


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz (no pickles).

    Raises:
        DatasetError: the file is missing or not a readable .npz (the message names it).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DatasetError(f'{path} is missing') from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f'{path} is corrupt (not a readable .npz): {exc}') from None


def write_json(path: Path, obj) -> None:
    """Deterministic JSON (sorted keys, 1-space indent, trailing newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, sort_keys=True, indent=1, allow_nan=True) + '\n')


def read_json(path: Path):
    """Parse a JSON file.

    Raises:
        DatasetError: the file is missing, unreadable or not valid JSON (the message names it and, for
            bad JSON, the line and column).
    """
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise DatasetError(f'{path} is missing') from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f'cannot read {path}: {exc}') from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f'{path} is corrupt (not valid JSON): {exc}') from None


def write_image(path: Path, rgb: np.ndarray, jpeg_quality: int = 95, png_level: int = 1) -> None:
    """Write an (H, W, 3) uint8 RGB image as PNG (zlib level ``png_level``) or JPEG (by extension)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if path.suffix.lower() in ('.jpg', '.jpeg') else \
        [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)]
    ok, data = cv2.imencode(path.suffix, bgr, params)
    if not ok:
        raise OSError(f'cannot encode image {path}')
    path.write_bytes(data.tobytes())


def read_image(path: Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB (grey images are replicated).

    Raises:
        FileNotFoundError: no file at ``path`` (the message names it).
        OSError: the file cannot be read or decoded.
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f'image {path} is missing') from None
    except OSError as exc:
        raise OSError(f'cannot read image {path}: {exc}') from None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise OSError(f'cannot decode image {path} (empty or corrupt)')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
