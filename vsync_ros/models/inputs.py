"""Image preprocessing shared by the data set, evaluation and the inference pipeline (ROS-free).

One definition of "what the network sees" so that ``vsync-eval`` on a data set and the live pipeline on
the same frames give the same numbers:

1. RGB uint8 (H, W, 3) -> float32 (3, H, W) in [0, 1] (``x / 255``; what :class:`SyncDataset` stores);
2. when the frame is not at the model's input size, area interpolation
   (``torch.nn.functional.interpolate(mode='area')``) to (image_height, image_width);
3. a missing view is an all-zero image with ``view_valid = False`` (the model zeroes its features).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from vsync_ros.geometry.calibration import same_aspect


class InputImageError(ValueError):
    """A frame given to the pipeline is not an (H, W, 3) uint8 RGB image of a usable size."""


def rgb_to_float(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 in [0, 1], exactly as the data set reader does."""
    return image.transpose(2, 0, 1).astype(np.float32) / 255.0


def resize_views(images: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
    """(B, V, C, H, W) -> (B, V, C, image_hw) by area interpolation; returned unchanged when already that size.

    This is the resize of ``vsync_ros.engine.tasks.common.prepare_batch`` (and training).
    """
    if tuple(images.shape[-2:]) == tuple(image_hw):
        return images
    b, v = images.shape[:2]
    resized = F.interpolate(images.flatten(0, 1), size=tuple(image_hw), mode='area')
    return resized.reshape(b, v, *resized.shape[1:])


def check_frame(image, image_hw: tuple[int, int], name: str = 'frame') -> np.ndarray:
    """Validate one RGB frame for a model with input size ``image_hw`` = (H, W); returns it as an ndarray.

    Raises:
        InputImageError: not a numpy array, not uint8, not 3 channels, empty, or another aspect ratio
            than the model input (more than 1 % off; other sizes with the same aspect are resized).
    """
    if not isinstance(image, np.ndarray):
        raise InputImageError(f'{name}: expected a numpy array (H, W, 3) uint8 RGB, got {type(image).__name__}')
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputImageError(f'{name}: expected (H, W, 3) RGB, got shape {image.shape} '
                              '(convert grey / RGBA / BGR images to RGB first)')
    if image.dtype != np.uint8:
        raise InputImageError(f'{name}: expected dtype uint8 (0-255), got {image.dtype}')
    h, w = image.shape[:2]
    if h < 1 or w < 1:
        raise InputImageError(f'{name}: empty image {image.shape}')
    mh, mw = image_hw
    if not same_aspect(w, h, mw, mh):
        raise InputImageError(f'{name}: {w}x{h} has another aspect ratio than the model input {mw}x{mh}')
    return image


def frames_to_batch(frames: Sequence[np.ndarray | None], image_hw: tuple[int, int],
                    names: Sequence[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Model input of one multi-view sample.

    Args:
        frames: per view, (H, W, 3) uint8 RGB (any size with the model's aspect ratio) or None (missing).
        image_hw: (height, width) of the network input, pixels.
        names: view names for error messages.

    Returns:
        images (1, V, 3, H, W) float32 in [0, 1] (zeros for missing views), view_valid (1, V) bool.

    Raises:
        InputImageError: a frame is malformed (see :func:`check_frame`).
    """
    h, w = image_hw
    views = []
    valid = []
    for v, frame in enumerate(frames):
        if frame is None:
            views.append(torch.zeros(3, h, w))
            valid.append(False)
            continue
        name = f'view {v}' + (f' ({names[v]})' if names is not None and v < len(names) else '')
        arr = torch.from_numpy(rgb_to_float(check_frame(frame, image_hw, name)))
        views.append(resize_views(arr[None, None], image_hw)[0, 0])
        valid.append(True)
    return torch.stack(views)[None], torch.tensor([valid], dtype=torch.bool)
