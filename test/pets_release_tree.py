"""A tiny fake of the MVMS release of PETS2009 (``dmaps/<scenario>/<time>/...``), written as compressed .npz.

Every frame encodes its index and view in its grey value, ``(10 * i + v) % 256`` (v = 1..3), its head
density has one person of mass ``i + 1`` (stored x1000, as the release), and its ground map holds ``i + 1``
people in one 0.1 m cell (plus 5 outside the 708 x 608 crop, which the reader drops).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vsync_ros.data.readers.pets2009 import TEST_SEQUENCES, TRAIN_SEQUENCES

#: a real Tsai calibration file (PETS2009 View_001)
VIEW_001 = """<?xml version="1.0" encoding="UTF-8"?>
<Camera name="View_001">
  <Geometry width="768" height="576" ncx="7.95e+02" nfx="7.52e+02" dx="4.85e-03" dy="4.65e-03"
            dpx="5.1273271277e-03" dpy="4.6500000000e-03"/>
  <Intrinsic focal="5.5549183034e+00" kappa1="5.1113043639e-03" cx="3.2422149053e+02" cy="2.8256650051e+02"
             sx="1.0937855397e+00"/>
  <Extrinsic tx="8.2873214225e+02" ty="-3.1754796051e+03" tz="3.5469298547e+04" rx="2.0405458695e+00"
             ry="-8.9337703748e-01" rz="-4.3056124791e-01"/>
</Camera>
"""


def write_calibration(root: Path) -> Path:
    """``root/calibration/View_00{1,2,3}.xml`` (all three View_001's camera, renamed); returns the folder."""
    folder = Path(root) / 'calibration'
    folder.mkdir(parents=True, exist_ok=True)
    for v in (1, 2, 3):
        (folder / f'View_{v:03d}.xml').write_text(VIEW_001.replace('View_001', f'View_{v:03d}'))
    return folder


def grey_level(frame: int, view: int) -> int:
    """Grey value of ``frame`` of ``view`` (1-based) in the fake release."""
    return (10 * frame + view) % 256


def write_sequence(root: Path, scenario: str, time: str, tag: str, n: int, sub: str = '',
                   size: tuple[int, int] = (288, 384), gp_size: tuple[int, int] = (710, 610)) -> None:
    """Write one sequence of ``n`` frames (``size`` = (h, w) of the frames; ``gp_size`` of the ground maps)."""
    folder = Path(root) / 'dmaps' / scenario / time / 'train_test' / sub
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    for v in (1, 2, 3):
        images = np.zeros((n, h, w, 1), np.uint8)
        dens = np.zeros((n, h, w, 1), np.float32)
        for i in range(n):
            images[i] = grey_level(i, v)
            dens[i, h // 2, (w // 2 + i) % w] = 1000.0 * (i + 1)  # stored x1000
        np.savez_compressed(folder / f'PETS_{tag}_view{v}_train_test_10.npz', images=images, density_maps=dens)
    gp_dir = Path(root) / 'dmaps' / scenario / time / 'GP_maps'
    gp_dir.mkdir(parents=True, exist_ok=True)
    gp = np.zeros((n, *gp_size, 1), np.float32)
    for i in range(n):
        gp[i, 100 % gp_size[0], 200 % gp_size[1]] = i + 1  # i + 1 people in one cell
    gp[:, -1, -1] = 5.0  # outside the 708 x 608 crop: must be dropped
    np.savez_compressed(gp_dir / f'PETS_{tag}_groundplane_dmaps_10.npz', density_maps=gp)


def write_release(root: Path, n_frames: dict[str, int] | int) -> None:
    """Every sequence of the MVMS split; ``n_frames`` per tag (or one number for all)."""
    for scenario, time, tag in (*TRAIN_SEQUENCES, *TEST_SEQUENCES):
        n = n_frames if isinstance(n_frames, int) else n_frames[tag]
        write_sequence(root, scenario, time, tag, n)
