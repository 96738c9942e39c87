"""The PETS2009 results figure: the real rig's ground coverage above one desynchronized test frame set.

Top: which ground cells each of the three real PETS2009 cameras sees (views per cell, the MVMS ground
region, camera positions and headings; :func:`vsync_ros.data.rig_picture.draw_coverage`). Bottom: the
three camera images of one random-latency test frame set with their capture offsets, and the ground-
truth, BaseU and CLS-epi ground-plane densities (:func:`vsync_ros.reports.demo_figures.frame_panel`).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vsync_ros.data.dataset import SyncDataset
from vsync_ros.data.rig_picture import draw_coverage
from vsync_ros.geometry.rig import CoverageSettings, cameras_at_size, rig_coverage, view_coverage
from vsync_ros.reports.demo_figures import frame_panel, write_png

PETS2009_SIZE = (768, 576)  # the PETS2009 cameras' own image size (pixels): coverage is judged at it
MARGIN_M = 4.0              # ground margin (metres) around the seen area in the cropped density tiles


def crop_to_seen(seen: np.ndarray, cell_m: float, margin_m: float = MARGIN_M) -> tuple[slice, slice]:
    """Row and column slices of the bounding box of the cells any view sees, plus ``margin_m``.

    Args:
        seen: (rows, cols) bool, on the density grid. cell_m: its cell size, metres.
    """
    rows, cols = np.nonzero(seen)
    if rows.size == 0:
        return slice(None), slice(None)
    m = int(np.ceil(margin_m / cell_m))
    return (slice(max(0, rows.min() - m), min(seen.shape[0], rows.max() + m + 1)),
            slice(max(0, cols.min() - m), min(seen.shape[1], cols.max() + m + 1)))


def pick_frame(dataset: SyncDataset, candidates: int = 30) -> int:
    """Index of a test frame set with both other views far from the reference time and many people.

    Among the ``candidates`` frame sets with the largest min over views 2, 3 of |offset| (s), the one
    with the most annotated people (the first on ties).
    """
    offsets = np.abs(np.asarray(dataset.index['offsets_s'], np.float64))
    far = np.argsort(-offsets[:, 1:].min(axis=1), kind='stable')[:candidates]
    counts = [float(dataset.raw_gt(int(k))['count']) for k in far]
    return int(far[int(np.argmax(counts))])


def results_figure(data: str | Path, base_u: str | Path, cls_epi: str | Path, out: str | Path,
                   k: int | None = None) -> Path:
    """Draw and write the figure (PNG) for the test split of ``data`` with the two checkpoints.

    Args:
        data: a ``vsync-synth --world pets`` data set (its cameras are the real rig).
        base_u, cls_epi: counting checkpoints of that rig (their cell size decides the density grid).
        out: PNG path. k: the test frame set (default :func:`pick_frame`).
    """
    import torch

    from vsync_ros.engine.checkpoint import load_checkpoint, load_model
    from vsync_ros.engine.tasks.common import prepare_batch

    cell = load_checkpoint(base_u).region.cell_m
    ds = SyncDataset(data, 'test', gp_cell_m=cell, load_sync=False)
    k = pick_frame(ds) if k is None else k
    sample = ds[k]
    batch = {key: v.unsqueeze(0) for key, v in sample.items()}
    densities, captions = {}, {}
    gt_count = float(sample['count'])
    for label, path in (('BaseU', base_u), ('CLS-epi', cls_epi)):
        model, _ = load_model(path, cameras=ds.cameras, region=ds.region, map_location='cpu')
        model.eval()
        with torch.no_grad():
            b = prepare_batch(batch, (model.cfg.image_height, model.cfg.image_width), torch.device('cpu'), False)
            res = model({'images': b['images'], 'view_valid': b['view_valid']}, with_sync_targets=False)
        densities[label] = (res['density'][0, 0] / model.cfg.density_scale).numpy()
        pred = float(res['count'][0])
        captions[label] = [label, f'{pred:.1f} people ({pred - gt_count:+.1f})']
    region = ds.region
    full_size_cams = cameras_at_size(ds.cameras, *PETS2009_SIZE)
    coverage = rig_coverage(full_size_cams, region.cell_m, CoverageSettings(), region)
    seen_any = view_coverage(full_size_cams, region, CoverageSettings()).any(axis=0)   # on the density grid
    rs, cs = crop_to_seen(seen_any, region.cell_m)
    gt = ds.raw_gt(k)
    xy = np.asarray(gt['positions'], np.float64).reshape(-1, 2) if 'positions' in gt else np.zeros((0, 2))
    people_rc = np.stack([(xy[:, 1] - region.y0) / region.cell_m - 0.5 - (rs.start or 0),
                          (xy[:, 0] - region.x0) / region.cell_m - 0.5 - (cs.start or 0)], 1)
    offsets = [float(x) for x in sample['offsets_s']]
    images = [ds.read_frame(k, v) for v in range(ds.n_views)]
    cam_caps = [[c.name, 'reference' if v == 0 else f'shows the scene at t{offsets[v]:+.2f} s']
                for v, c in enumerate(ds.cameras)]
    seq = ds.sequence_of(float(sample['time_s'])) or ''
    panel = frame_panel(images, cam_caps, sample['gp_density'][0].numpy()[rs, cs], gt_count,
                        {label: d[rs, cs] for label, d in densities.items()}, captions,
                        f'PETS2009 {seq} test frame set {k}, random latency (kappa 5 s); training seed 0',
                        people_rc, density_heading='ground-plane density, top view, cropped to the area the '
                        'cameras see (rings: annotated people)')
    cov = cv2.cvtColor(draw_coverage(full_size_cams, coverage, region,
                                     'PETS2009 views 1-3 (real calibration): views per ground cell, MVMS region'),
                       cv2.COLOR_BGR2RGB)
    width = max(cov.shape[1], panel.shape[1])

    def pad(img: np.ndarray) -> np.ndarray:
        canvas = np.full((img.shape[0], width, 3), 255, np.uint8)
        x = (width - img.shape[1]) // 2
        canvas[:, x:x + img.shape[1]] = img
        return canvas
    return write_png(out, np.vstack([pad(cov), pad(panel)]))
