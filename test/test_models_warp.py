"""Warping and flow upsampling conventions."""
import pytest
import torch

from vsync_ros.models.sync.warp import pixel_grid, upsample_flow, warp

torch.set_num_threads(1)


def test_identity_flow_is_identity():
    x = torch.rand(2, 5, 7, 9)
    out = warp(x, torch.zeros(2, 2, 7, 9))
    assert torch.equal(out, x) or torch.allclose(out, x, atol=1e-6)


def test_integer_shift_matches_roll_and_channel_order():
    x = torch.rand(1, 3, 10, 12)
    flow = torch.zeros(1, 2, 10, 12)
    flow[:, 0] = 2.0   # x (columns)
    flow[:, 1] = -1.0  # y (rows)
    out = warp(x, flow)
    # out(r, c) = x(r - 1, c + 2)
    expected = torch.roll(x, shifts=(1, -2), dims=(2, 3))
    assert torch.allclose(out[:, :, 1:, :-2], expected[:, :, 1:, :-2], atol=1e-6)
    assert torch.all(out[:, :, 0] == 0) and torch.all(out[:, :, :, -2:] == 0)  # zero padding outside


def test_fractional_shift_is_bilinear_and_mask_applies():
    x = pixel_grid(6, 8)[:, :1].repeat(1, 2, 1, 1)  # value = column index
    flow = torch.zeros(1, 2, 6, 8)
    flow[:, 0] = 0.25
    out = warp(x, flow, mask=torch.ones(1, 1, 6, 8) * 0.5)
    assert torch.allclose(out[..., :-1], 0.5 * (x[..., :-1] + 0.25), atol=1e-5)


def test_upsample_flow_scales_pixels_per_octave():
    flow = torch.ones(1, 2, 4, 5)
    flow[:, 1] = -3.0
    up = upsample_flow(flow, (8, 10))
    assert up.shape == (1, 2, 8, 10)
    assert torch.allclose(up[:, 0], torch.full((1, 8, 10), 2.0))
    assert torch.allclose(up[:, 1], torch.full((1, 8, 10), -6.0))
    assert upsample_flow(flow, (4, 5)) is flow


def test_warp_rejects_mismatched_flow():
    with pytest.raises(ValueError):
        warp(torch.rand(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))
