r"""Fully connected networks in the NTK parameterization (Jacot, Gabriel, Hongler 2018).

:math:`h^{l+1} = \frac{\sigma_w}{\sqrt{n_l}} W^{l+1} \phi(h^l) + \sigma_b b^{l+1}` with every entry of
:math:`W^l, b^l` drawn from N(0, 1) and :math:`\phi(h^0) = x` for the input. As the widths grow, the
outputs at initialization become a Gaussian process with the NNGP kernel and gradient descent on
the parameters follows the kernel gradient flow of the NTK, both given in closed form by
:func:`dltheory.probes.ntk.fc_kernels` for the same ``sigma_w``, ``sigma_b`` and activation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dltheory.core.errors import check_choice, check_float, check_int


class Erf(nn.Module):
    """:math:`\\operatorname{erf}(x)` elementwise (the activation with a closed-form infinite-width kernel)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.erf(x)


NTK_ACTIVATIONS = {"relu": nn.ReLU, "erf": Erf, "tanh": nn.Tanh, "identity": nn.Identity}


class NTKLinear(nn.Module):
    r""":math:`y = \frac{\sigma_w}{\sqrt{n_{in}}} x W^\top + \sigma_b b`, with W (out, in) and b drawn from N(0, 1)."""

    def __init__(self, fan_in: int, fan_out: int, *, sigma_w: float = 1.0, sigma_b: float = 0.0, generator: torch.Generator,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.fan_in, self.sigma_w, self.sigma_b = fan_in, sigma_w, sigma_b
        dev = generator.device
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, generator=generator, dtype=dtype, device=dev))
        self.bias = nn.Parameter(torch.randn(fan_out, generator=generator, dtype=dtype, device=dev)) if sigma_b > 0 else None

    def forward(self, x: Tensor) -> Tensor:
        y = x @ self.weight.T * (self.sigma_w / math.sqrt(self.fan_in))
        return y + self.sigma_b * self.bias if self.bias is not None else y


def ntk_mlp(sizes: Sequence[int], *, activation: str = "relu", sigma_w: float = 1.0, sigma_b: float = 0.0, generator: torch.Generator,
            dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """An NTK-parameterized MLP ``sizes = [d_in, n_1, ..., n_L, d_out]`` (modules ``linear1, act1, ..., linear{L+1}``); no bias when sigma_b = 0."""
    sizes = [check_int(f"sizes[{i}]", s, minimum=1) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"`sizes` must hold at least the input and output sizes; got {sizes}.")
    activation = check_choice("activation", activation, NTK_ACTIVATIONS)
    sigma_w = check_float("sigma_w", sigma_w, minimum=0.0)
    sigma_b = check_float("sigma_b", sigma_b, minimum=0.0)
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        layers.append((f"linear{i}", NTKLinear(a, b, sigma_w=sigma_w, sigma_b=sigma_b, generator=generator, dtype=dtype)))
        if i < len(sizes) - 1:
            layers.append((f"act{i}", NTK_ACTIVATIONS[activation]()))
    from collections import OrderedDict

    return nn.Sequential(OrderedDict(layers))
