"""Motion net of Table I, and recovery of a known shift by a briefly trained motion net."""
import pytest
import torch
from torch.nn import functional as F

from vsync_ros.models.sync.matching import CorrelationMatching
from vsync_ros.models.sync.motion import MotionNet, scaled_widths
from vsync_ros.models.sync.warp import warp

torch.set_num_threads(1)


def test_table_one_layers():
    net = MotionNet(432)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.in_channels, *c.kernel_size) for c in convs] == [
        (128, 432, 5, 5), (128, 128, 5, 5), (64, 128, 5, 5), (64, 64, 5, 5), (32, 64, 5, 5), (2, 32, 5, 5)]
    assert scaled_widths(0.25) == [32, 32, 16, 16, 8]
    out = MotionNet(10, 0.25)(torch.rand(3, 10, 6, 7))
    assert out.shape == (3, 2, 6, 7)
    assert out.abs().max() < 0.5  # starts near the identity warp


def _blur(x: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    k = torch.arange(-4, 5, dtype=torch.float32)
    k = torch.exp(-k ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), padding=(0, 4), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), padding=(4, 0), groups=c)


def _shifted_pair(n: int, shift: torch.Tensor, h: int = 8, w: int = 10, c: int = 8, pad: int = 6):
    """Random smooth non-negative maps a and b with b(x) = a(x - shift) (shift (n, 2) in pixels, x then y)."""
    big = _blur(torch.randn(n, c, h + 2 * pad, w + 2 * pad))
    big = F.relu(big / big.std())
    a = big[:, :, pad:pad + h, pad:pad + w]
    flow = -shift.view(n, 2, 1, 1).expand(n, 2, h + 2 * pad, w + 2 * pad)
    b = warp(big, flow)[:, :, pad:pad + h, pad:pad + w]
    return a, b


@pytest.mark.slow  # trains
def test_known_shift_is_recovered_by_trained_motion_net():
    """Train on maps shifted by +d or -d with the warping loss only; the net must read the correlation
    to tell the two apart, and its flow must land on the true shift (pixels of the map)."""
    torch.manual_seed(0)
    d = torch.tensor([1.5, -1.0])
    match = CorrelationMatching(None, rescale=True)
    net = MotionNet(match.out_channels((8, 10)), width_factor=0.25, activation='tanh')
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(300):
        sign = torch.randint(0, 2, (8, 1)) * 2 - 1
        a, b = _shifted_pair(8, d * sign)
        flow = net(match(a, b, (0, 1), 0))
        loss = F.mse_loss(warp(b, flow)[..., 2:-2, 2:-2], a[..., 2:-2, 2:-2])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for sign in (1.0, -1.0):
            shift = (d * sign).expand(4, 2)
            a, b = _shifted_pair(4, shift)
            flow = net(match(a, b, (0, 1), 0))[..., 2:-2, 2:-2]
            mean = flow.mean(dim=(0, 2, 3))
            assert torch.allclose(mean, d * sign, atol=0.3), (sign, mean)
            before = F.mse_loss(b[..., 2:-2, 2:-2], a[..., 2:-2, 2:-2])
            after = F.mse_loss(warp(b, net(match(a, b, (0, 1), 0)))[..., 2:-2, 2:-2], a[..., 2:-2, 2:-2])
            assert after < 0.35 * before
