r"""A small convolutional network: [conv 3x3 -> activation -> 2x2 pool] x L -> linear.

The layout of the ``convnet`` of Cohen et al. 2021 (official code ``archs.convnet``, used
for their CNN experiments on CIFAR-10) at any input size and width: each block keeps the
spatial size (3x3 kernel, padding 1) and halves it by pooling, so an ``s x s`` input ends
as ``widths[-1] x (s / 2^L) x (s / 2^L)`` features before the linear read-out. Weights are
drawn from an explicit generator with :func:`dltheory.models.mlp.init_weight`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from dltheory.core.errors import check_choice, check_float, check_int
from dltheory.models.mlp import ACTIVATIONS, activation_module, init_bias, init_weight

POOLINGS = ("max", "avg", "none")


def convnet(in_channels: int, widths: Sequence[int], num_outputs: int, *, image_size: int,
            activation: str = "relu", pooling: str = "max", bias: bool = True, init: str = "pytorch",
            gain: float = 1.0, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    r"""A CNN on ``(N, in_channels, image_size, image_size)`` inputs.

    .. math:: z_{l} = \operatorname{pool}(\sigma(K_l * z_{l-1} + b_l)),\quad f(x) = W \operatorname{vec}(z_L) + b

    Args:
        in_channels: channels of the input images.
        widths: output channels of each conv block (at least one).
        num_outputs: size of the linear read-out.
        image_size: side of the square input; must be divisible by ``2^len(widths)`` when
            pooling.
        activation: nonlinearity name (:data:`dltheory.models.mlp.ACTIVATIONS`).
        pooling: ``"max"``, ``"avg"`` (2x2, stride 2) or ``"none"``.
        bias: whether convs and the read-out have biases.
        init: weight init scheme (:data:`dltheory.models.mlp.INITS`); conv fan-in is
            ``channels * 9``, fan-out ``out_channels * 9``.
        gain: multiplier of every layer's init scale.
        generator: draws the initialization (its device is the parameters' device).
        dtype: parameter dtype.

    Returns:
        ``nn.Sequential`` with modules ``conv{l}, act{l}, pool{l}`` (l = 1..L), ``flatten``,
        ``linear``.

    Cost: :math:`9 \sum_l c_{l-1} c_l s_l^2` multiply-adds per image for the convs, with
    :math:`s_l` the side at block l.
    """
    in_channels = check_int("in_channels", in_channels, minimum=1)
    num_outputs = check_int("num_outputs", num_outputs, minimum=1)
    image_size = check_int("image_size", image_size, minimum=1)
    widths = [check_int(f"widths[{i}]", w, minimum=1) for i, w in enumerate(widths)]
    if not widths:
        raise ValueError("`widths` must hold at least one conv width; got [].")
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("pooling", pooling, POOLINGS)
    gain = check_float("gain", gain, minimum=0.0)
    if not isinstance(bias, bool):
        raise TypeError(f"`bias` must be a bool; got {bias!r}.")
    if pooling != "none" and image_size % (2 ** len(widths)) != 0:
        raise ValueError(f"`image_size` must be divisible by 2^{len(widths)} = {2 ** len(widths)} with pooling; got {image_size}.")
    draw = dict(init=init, gain=gain, generator=generator, dtype=dtype)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    size, prev = image_size, in_channels
    for i, w in enumerate(widths):
        conv = torch.nn.utils.skip_init(nn.Conv2d, prev, w, 3, padding=1, bias=bias, dtype=dtype, device=generator.device)
        conv.weight = nn.Parameter(init_weight((w, prev, 3, 3), fan_in=prev * 9, fan_out=w * 9, **draw))
        if bias:
            conv.bias = nn.Parameter(init_bias(w, fan_in=prev * 9, **draw))
        layers[f"conv{i + 1}"] = conv
        layers[f"act{i + 1}"] = activation_module(activation)
        if pooling != "none":
            layers[f"pool{i + 1}"] = nn.MaxPool2d(2) if pooling == "max" else nn.AvgPool2d(2)
            size //= 2
        prev = w
    features = prev * size * size
    lin = torch.nn.utils.skip_init(nn.Linear, features, num_outputs, bias=bias, dtype=dtype, device=generator.device)
    lin.weight = nn.Parameter(init_weight((num_outputs, features), fan_in=features, fan_out=num_outputs, **draw))
    if bias:
        lin.bias = nn.Parameter(init_bias(num_outputs, fan_in=features, **draw))
    layers["flatten"] = nn.Flatten()
    layers["linear"] = lin
    return nn.Sequential(layers)
