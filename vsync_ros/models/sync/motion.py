"""Motion-estimation net of the paper's Table I."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

TABLE_I_WIDTHS = (128, 128, 64, 64, 32)


def scaled_widths(width_factor: float) -> list[int]:
    """Hidden widths of Table I (128, 128, 64, 64, 32) times ``width_factor`` (rounded, at least 2)."""
    return [max(2, int(round(c * width_factor))) for c in TABLE_I_WIDTHS]


def _activation(name: str) -> nn.Module:
    if name == 'relu':
        return nn.ReLU(inplace=True)
    if name == 'leaky_relu':
        return nn.LeakyReLU(0.1, inplace=True)
    if name == 'tanh':
        return nn.Tanh()
    raise ValueError(f'unknown activation {name!r}')


class MotionNet(nn.Module):
    """Six k x k convs: in -> 128 -> 128 -> 64 -> 64 -> 32 -> 2 (widths x ``width_factor``), 'same' padding.

    Input (N, in_channels, H, W): a matching result (concatenation or correlation) or concatenated
    projected features. Output (N, 2, H, W): flow in pixels of the input map (channel 0 = x, 1 = y;
    see :mod:`vsync_ros.models.sync.warp`). The hidden layers use ``activation``; the output is linear and
    initialised small so training starts near the identity warp.
    """

    def __init__(self, in_channels: int, width_factor: float = 1.0, kernel: int = 5, activation: str = 'relu',
                 out_init_std: float = 1e-3):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        gain = 'tanh' if activation == 'tanh' else 'relu'
        for cout in scaled_widths(width_factor):
            conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
            nn.init.kaiming_normal_(conv.weight, nonlinearity=gain)
            nn.init.zeros_(conv.bias)
            layers += [conv, _activation(activation)]
            cin = cout
        out = nn.Conv2d(cin, 2, kernel, padding=kernel // 2)
        nn.init.normal_(out.weight, std=out_init_std)
        nn.init.zeros_(out.bias)
        layers.append(out)
        self.net = nn.Sequential(*layers)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, 2, H, W) flow in pixels of this map."""
        return self.net(x)

    @property
    def first(self) -> nn.Conv2d:
        """The first conv (weight (O, C_in, k, k)), linear in the input."""
        return self.net[0]

    def tail(self, h: torch.Tensor) -> torch.Tensor:
        """Everything after the first conv: (N, O, H, W) pre-activation -> (N, 2, H, W) flow."""
        return self.net[1:](h)


def grouped_layers(nets: Sequence[MotionNet], inputs: Sequence[torch.Tensor], start: int = 0) -> list[torch.Tensor]:
    """``[net.net[start:](x) for net, x in zip(nets, inputs)]`` with one op per layer for all the nets.

    Several small motion nets (one per camera pair, same layout) cost mostly per-op overhead on the CPU,
    so their convs run as one grouped convolution (the inputs concatenated along channels, the weights
    along output channels, ``groups = len(nets)``) and their activations as one call. When every entry
    of ``nets`` is the same module (shared motion nets) the inputs are stacked along the batch instead.
    Same values as the separate calls up to float rounding; gradients flow to every net's parameters.

    Args:
        nets: motion nets of identical layout (same widths, kernel and activation); modules of another
            type are called one by one (``start`` 0 only).
        inputs: one (N, C_n, H, W) tensor per net, all with the same N, H, W; C_n the input channels of
            layer ``start`` (``in_channels`` for 0, the first conv's outputs for 1).
        start: first layer to apply (0 = the whole net, 1 = after the first conv, see :meth:`MotionNet.tail`).

    Returns:
        one (N, 2, H, W) flow per net, in the order of ``nets``.
    """
    if len(nets) != len(inputs):
        raise ValueError(f'{len(nets)} motion nets for {len(inputs)} inputs')
    if not all(isinstance(net, MotionNet) for net in nets):   # any other flow module: one call each
        if start:
            raise ValueError('grouped_layers(start > 0) needs MotionNet instances')
        return [net(x) for net, x in zip(nets, inputs)]
    if len(nets) == 1:
        return [nets[0].net[start:](inputs[0])]
    if all(net is nets[0] for net in nets):
        batch = [x.shape[0] for x in inputs]
        return list(nets[0].net[start:](torch.cat(list(inputs), 0)).split(batch, 0))
    groups = len(nets)
    x = torch.cat(list(inputs), 1)
    for i in range(start, len(nets[0].net)):
        layer = nets[0].net[i]
        if isinstance(layer, nn.Conv2d):
            convs = [net.net[i] for net in nets]
            weight = torch.cat([c.weight for c in convs], 0)
            bias = torch.cat([c.bias for c in convs], 0) if layer.bias is not None else None
            x = F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, groups)
        else:
            x = layer(x)
    return list(x.chunk(groups, 1))
