"""Motion net of Table I, and recovery of a known shift by a briefly trained motion net."""
import pytest
import torch
from torch.nn import functional as F

from vsync_ros.models.sync.matching import CorrelationMatching
from vsync_ros.models.sync.motion import MotionNet, grouped_layers, scaled_widths
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


@pytest.mark.parametrize('start', [0, 1])
def test_grouped_layers_equal_separate_nets_values_and_gradients(start):
    torch.manual_seed(0)
    nets = [MotionNet(12, 0.125, 5, 'tanh') for _ in range(3)]
    for net in nets:                       # a non-trivial output layer (it starts near zero)
        torch.nn.init.normal_(net.net[-1].weight, std=0.1)
    width = nets[0].first.out_channels
    xs = [torch.rand(2, 12 if start == 0 else width, 5, 7, requires_grad=True) for _ in nets]
    want = [net(x) if start == 0 else net.tail(x) for net, x in zip(nets, xs)]
    sum(w.square().sum() for w in want).backward()
    grads = [[None if p.grad is None else p.grad.clone() for p in net.parameters()] + [x.grad.clone()]
             for net, x in zip(nets, xs)]
    for net, x in zip(nets, xs):
        net.zero_grad(set_to_none=True)
        x.grad = None
    got = grouped_layers(nets, xs, start)
    sum(g.square().sum() for g in got).backward()
    for w, g in zip(want, got):
        assert g.shape == w.shape == (2, 2, 5, 7)
        assert torch.allclose(g, w, atol=1e-6) and float(w.detach().abs().max()) > 1e-3
    for net, x, before in zip(nets, xs, grads):
        after = [p.grad for p in net.parameters()] + [x.grad]
        # the same parameters get a gradient (with start 1 not the first conv), of the same value
        assert [a is None for a in after] == [b is None for b in before]
        assert sum(a is None for a in after) == (2 if start == 1 else 0)
        for b, a in zip(before, after):
            if a is not None:
                assert torch.allclose(a, b, atol=1e-5) and float(b.abs().max()) > 0


def test_grouped_layers_batch_a_shared_net_and_check_their_inputs():
    torch.manual_seed(1)
    net = MotionNet(6, 0.125, 3, 'relu')
    torch.nn.init.normal_(net.net[-1].weight, std=0.1)
    xs = [torch.rand(1, 6, 4, 4), torch.rand(1, 6, 4, 4)]
    got = grouped_layers([net, net], xs)
    for g, x in zip(got, xs):
        assert torch.allclose(g, net(x), atol=1e-6)
    with pytest.raises(ValueError, match='2 motion nets for 1 inputs'):
        grouped_layers([net, net], xs[:1])
