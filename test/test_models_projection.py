"""Ground-plane projection and scale selection built from the geometry."""
import numpy as np
import torch

from vsync_ros.geometry import GroundRegion
from vsync_ros.geometry.presets import plaza_cameras
from vsync_ros.models.counting.projection import GroundProjection, ScaleSelection, reference_distance
from vsync_ros.models.sync.warp import pixel_grid

torch.set_num_threads(1)


def _setup():
    cams = plaza_cameras(192, 144)
    region = GroundRegion(0.0, 0.0, 20.0, 24.0, 0.4)
    return cams, region


def test_projection_samples_the_pixel_each_cell_projects_to():
    cams, region = _setup()
    stride, feat_hw, height = 4, (36, 48), 1.75
    proj = GroundProjection(cams, region, stride, feat_hw, height)
    assert proj.grid.shape == (3, 60, 50, 2) and proj.mask.shape == (3, 1, 60, 50)
    # feature map whose channels are its own (x, y) feature-pixel coordinates
    ramp = pixel_grid(*feat_hw)                                     # (1, 2, H, W)
    feats = ramp.unsqueeze(1).repeat(1, 3, 1, 1, 1)                 # (1, V, 2, H, W)
    out = proj(feats)[0]                                            # (V, 2, rows, cols)
    centers = region.cell_centers().reshape(-1, 2)
    pts = np.hstack([centers, np.full((len(centers), 1), height)])
    for v, cam in enumerate(cams):
        uv, _ = cam.project(pts)
        expected = (uv + 0.5) / stride - 0.5                        # image px -> feature px
        got = out[v].reshape(2, -1).T.numpy()
        mask = proj.mask[v, 0].reshape(-1).numpy() > 0
        assert mask.sum() > 300
        inner = mask & (expected[:, 0] > 0.5) & (expected[:, 0] < feat_hw[1] - 1.5) \
            & (expected[:, 1] > 0.5) & (expected[:, 1] < feat_hw[0] - 1.5)
        assert np.abs(got[inner] - expected[inner]).max() < 1e-3
        assert np.all(got[~mask] == 0)


def test_projection_of_a_spike_lands_on_its_cell():
    cams, region = _setup()
    proj = GroundProjection(cams, region, 4, (36, 48), 1.75)
    r, c = 30, 20
    x, y = region.cell_to_world(np.array([[r, c]]))[0]
    uv, _ = cams[1].project(np.array([[x, y, 1.75]]))
    fx, fy = (uv[0] + 0.5) / 4 - 0.5
    feats = torch.zeros(1, 1, 1, 36, 48)
    feats[0, 0, 0, int(round(fy)), int(round(fx))] = 1.0
    out = proj(feats, views=[1])[0, 0, 0]
    rr, cc = np.unravel_index(int(out.argmax()), out.shape)
    assert abs(rr - r) <= 1 and abs(cc - c) <= 1


def test_scale_selection_masks():
    cams, _ = _setup()
    sel = ScaleSelection(cams, 4, (36, 48), 0.875, 3)
    m = sel.masks()
    assert m.shape == (3, 3, 36, 48)
    assert torch.allclose(m.sum(dim=1), torch.ones(3, 36, 48), atol=1e-5)
    # at the reference depth (view 0 image centre) level 1 wins; far pixels prefer level 0
    assert int(m[0, :, 18, 24].argmax()) == 1
    d = sel.depth_ratio[0, 0]
    far = d == d.max()
    assert (m[0, 0][far] > m[0, 2][far]).all()
    assert reference_distance(cams[0], 0.875) > 5.0
    fused = sel([torch.ones(1, 3, 2, 36, 48) * k for k in range(3)])
    assert fused.shape == (1, 3, 2, 36, 48)
