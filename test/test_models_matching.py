"""Correlation, its normalisation, and the epipolar-weighted variant."""
import numpy as np
import pytest
import torch

from vsync_ros.geometry import epipolar_weight_mask
from vsync_ros.models.counting.model import build_model
from vsync_ros.models.counting.random_inputs import tiny_model_config, tiny_rig
from vsync_ros.models.sync.matching import (
    ConcatMatching,
    CorrelationMatching,
    global_correlation,
    normalize_correlation,
)

torch.set_num_threads(1)


def test_global_correlation_layout():
    a = torch.rand(2, 5, 3, 4)   # reference
    b = torch.rand(2, 5, 3, 4)   # view i
    corr = global_correlation(a, b)
    assert corr.shape == (2, 12, 3, 4)
    # channel k = reference location (y0, x0) row-major, spatial = view-i location (y1, x1)
    y0, x0, y1, x1 = 2, 1, 0, 3
    expected = (a[1, :, y0, x0] * b[1, :, y1, x1]).sum()
    assert torch.allclose(corr[1, y0 * 4 + x0, y1, x1], expected)


def test_normalisation_per_reference_location():
    corr = global_correlation(torch.rand(1, 4, 3, 5), torch.rand(1, 4, 3, 5))
    plain = normalize_correlation(corr, rescale=False)
    assert torch.allclose(plain.sum(dim=(2, 3)), torch.ones(1, 15), atol=1e-5)
    scaled = normalize_correlation(corr, rescale=True)
    assert torch.allclose(scaled, plain * 15)
    zero = normalize_correlation(torch.zeros(1, 2, 3, 3), rescale=False)
    assert torch.all(torch.isfinite(zero)) and torch.all(zero == 0)  # +1e-8 guards empty channels


def test_concat_matching():
    m = ConcatMatching(4)
    assert m(torch.rand(1, 4, 3, 3), torch.rand(1, 4, 3, 3), (0, 1), 0).shape == (1, 8, 3, 3)
    assert m.out_channels((3, 3)) == 8


def test_epipolar_matching_is_weighted_then_normalised():
    w = torch.rand(12, 3, 4).numpy()
    m = CorrelationMatching({(0, 2, 1): w}, rescale=False)     # camera pair (0, 2), level 1
    a, b = torch.rand(1, 6, 3, 4), torch.rand(1, 6, 3, 4)
    out = m(a, b, (0, 2), 1)
    raw = global_correlation(a, b) * torch.from_numpy(w)
    assert torch.allclose(out, raw / (raw.sum(dim=(2, 3), keepdim=True) + 1e-8), atol=1e-6)
    assert torch.allclose(out.sum(dim=(2, 3)), torch.ones(1, 12), atol=1e-5)
    assert torch.equal(m.weights((0, 2), 1), torch.from_numpy(w))
    assert not m.state_dict()  # rebuilt from calibration, never saved
    with pytest.raises(KeyError):
        m(a, b, (2, 0), 1)     # the reversed pair has its own weights


def test_model_epipolar_buffers_come_from_the_geometry():
    cfg = tiny_model_config('cls_epi')
    cams, region = tiny_rig()
    model = build_model(cfg, cams, region)
    matching = model.cls.matching
    assert model.cls.pairs == [(0, 1), (0, 2)]   # counting: the reference is always camera 0
    for pair in ((0, 1), (0, 2)):
        for level in cfg.corr_levels:
            hw = cfg.feature_hw(level)
            buf = matching.weights(pair, level)
            assert buf.shape == (hw[0] * hw[1], *hw)
            expected = epipolar_weight_mask(cams[0], cams[pair[1]], stride=cfg.feature_stride(level),
                                            sigma=cfg.epipolar_sigma, kernel=cfg.epipolar_kernel,
                                            sigma_in_feature_px=False, ref_hw=hw, other_hw=hw)
            assert np.allclose(buf.numpy(), expected)
            assert float(buf.max()) <= 1.0 and float(buf.min()) >= 0.0
    # motion-net input width = number of reference locations
    net = model.cls.net((0, 1), 2)
    assert net is model.cls.nets[0]['2'] and model.cls.net((0, 2), 2) is model.cls.nets[1]['2']
    assert net.in_channels == cfg.feature_hw(2)[0] * cfg.feature_hw(2)[1]
    # CLS-cor has no epipolar buffers
    cor = build_model(tiny_model_config('cls_cor'), cams, region)
    assert not cor.cls.matching.use_epipolar
