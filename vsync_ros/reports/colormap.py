"""Colour-map a ground-plane density map to an rgb8 image for RViz (ROS-free)."""
from __future__ import annotations

import cv2
import numpy as np

COLORMAPS = {'turbo': cv2.COLORMAP_TURBO, 'viridis': cv2.COLORMAP_VIRIDIS, 'jet': cv2.COLORMAP_JET,
             'inferno': cv2.COLORMAP_INFERNO}


def colorize_density(density: np.ndarray, vmax: float = 0.0, colormap: str = 'turbo') -> np.ndarray:
    """(rows, cols) density -> (rows, cols, 3) uint8 RGB.

    Args:
        density: people per cell; negative values and NaN are shown as 0.
        vmax: density mapped to the top colour; ``<= 0`` scales each map by its own maximum.
        colormap: one of :data:`COLORMAPS`.

    Row i / column j of the output is cell (i, j) of the ground grid (rows follow +y, columns +x),
    the same layout as the ``32FC1`` density image.
    """
    if colormap not in COLORMAPS:
        raise ValueError(f'unknown colormap {colormap!r} (choose from {", ".join(COLORMAPS)})')
    d = np.nan_to_num(np.asarray(density, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if d.ndim != 2:
        raise ValueError(f'density must be 2-D, got shape {d.shape}')
    top = float(vmax) if vmax > 0 else float(d.max(initial=0.0))
    scaled = np.clip(d / max(top, 1e-12), 0.0, 1.0)
    bgr = cv2.applyColorMap(np.round(scaled * 255).astype(np.uint8), COLORMAPS[colormap])
    return np.ascontiguousarray(bgr[:, :, ::-1])
