"""Contact sheet of a generated data set: all views + ground-plane GT, unsynchronized vs synchronized.

For each shown sample there are two rows:

* *input (unsynced)*: the reference frame and every other view at its own capture time (label:
  offset in seconds, or MISSING), then the ground-plane density GT at the reference time with the
  people's positions and the count;
* *synced (t_ref)*: every view at the reference time with the GT head points drawn on it, then the
  ground plane with each camera's visible area outlined.

The ground-plane panels show x to the right and y downward (row 0 = smallest y).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vsync_ros.data import storage
from vsync_ros.data.dataset import SyncDataset
from vsync_ros.geometry.ground import ground_sampling_grid

_VIEW_COLOURS = [(255, 80, 80), (80, 200, 255), (255, 210, 60), (160, 255, 120), (230, 120, 255)]


def _label(img: np.ndarray, text: str, colour=(255, 255, 255)) -> None:
    scale = max(0.32, img.shape[1] / 560.0)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(img, (0, 0), (tw + 6, th + base + 4), (0, 0, 0), -1)
    cv2.putText(img, text, (3, th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _gp_panel(density: np.ndarray, height: int, positions=None, region=None) -> np.ndarray:
    rows, cols = density.shape
    width = max(1, int(round(height * cols / rows)))
    d = density / max(float(density.max()), 1e-6)
    heat = cv2.applyColorMap((255 * np.clip(d, 0, 1)).astype(np.uint8), cv2.COLORMAP_INFERNO)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    panel = cv2.resize(heat, (width, height), interpolation=cv2.INTER_NEAREST)
    if positions is not None and region is not None and len(positions):
        px = (np.asarray(positions)[:, 0] - region.x0) / region.width_m * width
        py = (np.asarray(positions)[:, 1] - region.y0) / region.height_m * height
        for x, y in zip(px, py):
            cv2.circle(panel, (int(x), int(y)), 2, (80, 255, 120), -1, cv2.LINE_AA)
    return panel


def _coverage_panel(ds: SyncDataset, height: int) -> np.ndarray:
    region = ds.region
    rows, cols = region.shape
    width = max(1, int(round(height * cols / rows)))
    panel = np.full((height, width, 3), 40, np.uint8)
    for v, cam in enumerate(ds.cameras):
        _, mask = ground_sampling_grid(cam, region, height_m=0.0)
        m = cv2.resize(mask.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(panel, contours, -1, _VIEW_COLOURS[v % len(_VIEW_COLOURS)], 1, cv2.LINE_AA)
        c = cam.center
        cx = int(np.clip((c[0] - region.x0) / region.width_m * width, 4, width - 5))
        cy = int(np.clip((c[1] - region.y0) / region.height_m * height, 4, height - 5))
        cv2.circle(panel, (cx, cy), 3, _VIEW_COLOURS[v % len(_VIEW_COLOURS)], -1)
        cv2.putText(panel, cam.name, (4, height - 6 - 12 * (len(ds.cameras) - 1 - v)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.33, _VIEW_COLOURS[v % len(_VIEW_COLOURS)], 1, cv2.LINE_AA)
    return panel


def make_contact_sheet(root, out_path=None, split: str | None = None, indices=None, n_samples: int = 3) -> Path:
    """Write a contact-sheet PNG for the data set in ``root`` and return its path.

    Args:
        root: data-set folder.
        out_path: PNG to write (default ``<root>/contact_sheet.png``).
        split: split to show (default 'test' if present, else 'train').
        indices: sample indices (default ``n_samples`` evenly spaced).
        n_samples: number of samples when ``indices`` is None.
    """
    root = Path(root)
    manifest = storage.read_json(root / 'manifest.json')
    if split is None:
        split = 'test' if manifest['splits'].get('test', {}).get('n', 0) else 'train'
    ds = SyncDataset(root, split)
    n = len(ds)
    if indices is None:
        indices = sorted(set(np.linspace(0, n - 1, min(n_samples, n)).round().astype(int).tolist()))
    rows = []
    H = ds.height
    for k in indices:
        s = ds[k]
        gt = ds.raw_gt(k)
        top, bottom = [], []
        for v in range(ds.n_views):
            img = (s['images'][v].numpy().transpose(1, 2, 0) * 255).astype(np.uint8).copy()
            if bool(s['view_valid'][v]):
                off = float(s['offsets_s'][v])
                text = f'{ds.cameras[v].name} ref t={float(s["time_s"]):.2f}s' if v == int(s['ref_view']) \
                    else f'{ds.cameras[v].name} {off:+.2f}s'
                _label(img, text)
            else:
                _label(img, f'{ds.cameras[v].name} MISSING', (255, 90, 90))
            top.append(img)
            sync = (s['images_sync'][v].numpy().transpose(1, 2, 0) * 255).astype(np.uint8).copy()
            key = f'sync_v{v}_heads_uv' if f'sync_v{v}_heads_uv' in gt else f'v{v}_heads_uv'
            for u, vv in gt.get(key, np.zeros((0, 2))):
                cv2.circle(sync, (int(round(u)), int(round(vv))), 2, (0, 255, 0), 1, cv2.LINE_AA)
            if 'joints_3d' in gt:  # pose: reference-time joints projected into the synced frame
                uv, depth = ds.cameras[v].project(np.asarray(gt['joints_3d'], np.float64).reshape(-1, 3))
                for (u, vv), z in zip(uv, depth):
                    if z > 0 and np.isfinite(u) and np.isfinite(vv):
                        cv2.circle(sync, (int(round(u)), int(round(vv))), 2, (0, 255, 0), -1, cv2.LINE_AA)
            _label(sync, f'{ds.cameras[v].name} synced (t_ref)')
            bottom.append(sync)
        if ds.task == 'counting':
            gp = s['gp_density'][0].numpy()
            panel = _gp_panel(gp, H, gt.get('positions'), ds.region)
            _label(panel, f'GP GT count={float(s["count"]):.0f}')
            cover = _coverage_panel(ds, H)
            _label(cover, 'views on GP')
            top.append(panel)
            bottom.append(cover)
        rows.append(np.hstack(top))
        rows.append(np.hstack(bottom))
        rows.append(np.full((3, rows[-1].shape[1], 3), 255, np.uint8))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    d = manifest['desync']
    header = np.full((36, width, 3), 255, np.uint8)
    kappa = ', '.join(f'{x:g}' for x in d['kappa_s'])
    tau = ', '.join(f'{x:g}' for x in d['tau_s'])
    missing = ', '.join(f'{x:g}' for x in d['missing_prob'])
    lines = [f'{root.name} [{split}]  task={manifest["task"]}  mode={d["mode"]}  seed={manifest.get("seed")}  '
             'rows: input (unsynced) / synced at t_ref',
             f'dt={d["dt_s"]:.3g}s  tau=({tau})s  kappa=({kappa})s  missing=({missing})']
    for i, text in enumerate(lines):
        cv2.putText(header, text, (4, 14 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    sheet = np.vstack([header] + rows)
    out = Path(out_path) if out_path is not None else root / 'contact_sheet.png'
    storage.write_image(out, sheet, png_level=9)
    return out
