r"""Fully connected networks in the NTK parameterization (Jacot, Gabriel, Hongler 2018).

:math:`h^{l+1} = \frac{\sigma_w}{\sqrt{n_l}} W^{l+1} \phi(h^l) + \sigma_b b^{l+1}` with every entry of
:math:`W^l, b^l` drawn from N(0, 1) and :math:`\phi(h^0) = x` for the input. As the widths grow, the
outputs at initialization become a Gaussian process with the NNGP kernel and gradient descent on
the parameters follows the kernel gradient flow of the NTK, both given in closed form by
:func:`dltheory.probes.ntk.fc_kernels` for the same ``sigma_w``, ``sigma_b`` and activation.

Convolutional networks in the same parameterization (:class:`NTKConv2d`, :func:`ntk_cnn`): a q x q convolution with
stride 1 and "same" output size, :math:`z_c(p) = \frac{\sigma_w}{\sqrt{C_{in} q^2}}\sum_{c',\delta} W_{c c' \delta}\,a_{c'}(p + \delta)
+ \sigma_b b_c` (N(0, 1) entries; circular or zero padding), whose infinite-width kernels are
:func:`dltheory.probes.ntk.cnn_kernels` (Arora, Du, Hu, Li, Salakhutdinov, Wang, NeurIPS 2019).
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


class NTKConv2d(nn.Module):
    r"""A q x q convolution, stride 1, output the size of the input, in the NTK parameterization.

    .. math:: z_c(p) = \frac{\sigma_w}{\sqrt{C_{in} q^2}}\sum_{c'=1}^{C_{in}}\sum_{\delta\in\{-r..r\}^2} W_{c,c',\delta}\,x_{c'}(p+\delta) + \sigma_b b_c,
       \qquad r = (q-1)/2,

    with every entry of W (out, in, q, q) and b drawn from N(0, 1); ``padding="circular"`` wraps the image around
    (any image size, even smaller than the kernel), ``"zeros"`` reads zeros outside it. Input (n, C_in, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *, padding: str = "circular", sigma_w: float = 1.0,
                 sigma_b: float = 0.0, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1)
        out_channels = check_int("out_channels", out_channels, minimum=1)
        kernel_size = check_int("kernel_size", kernel_size, minimum=1)
        if kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be an odd int >= 1 (the output keeps the input's size); got {kernel_size}.")
        self.padding = check_choice("padding", padding, ("circular", "zeros"))
        self.sigma_w = check_float("sigma_w", sigma_w, minimum=0.0)
        self.sigma_b = check_float("sigma_b", sigma_b, minimum=0.0)
        self.in_channels, self.kernel_size = in_channels, kernel_size
        dev = generator.device
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size, generator=generator, dtype=dtype, device=dev))
        self.bias = nn.Parameter(torch.randn(out_channels, generator=generator, dtype=dtype, device=dev)) if sigma_b > 0 else None

    def pad(self, x: Tensor) -> Tensor:
        """``x`` (n, C, H, W) padded by kernel_size // 2 on each side, circularly or with zeros: what the kernel slides over."""
        r = self.kernel_size // 2
        if r == 0:
            return x
        if self.padding == "zeros":
            return torch.nn.functional.pad(x, (r, r, r, r))
        if r <= min(x.shape[2], x.shape[3]):  # wrap by concatenation (its backward is cheaper than indexing's)
            x = torch.cat([x[:, :, -r:], x, x[:, :, :r]], 2)
            return torch.cat([x[:, :, :, -r:], x, x[:, :, :, :r]], 3)
        hi = torch.arange(-r, x.shape[2] + r, device=x.device) % x.shape[2]  # images smaller than the kernel's reach: by indexing
        wi = torch.arange(-r, x.shape[3] + r, device=x.device) % x.shape[3]
        return x[:, :, hi][:, :, :, wi]

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"`x` must have shape (n, {self.in_channels}, H, W); got {tuple(x.shape)}.")
        y = torch.nn.functional.conv2d(self.pad(x), self.weight) * (self.sigma_w / math.sqrt(self.in_channels * self.kernel_size ** 2))
        return y + self.sigma_b * self.bias[:, None, None] if self.bias is not None else y


class GlobalAvgPool(nn.Module):
    """(n, C, H, W) -> (n, C): the mean over the pixels."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3))


def ntk_cnn(in_channels: int, channels: int, depth: int, num_outputs: int, *, image_size: tuple[int, int] | int, kernel_size: int = 3,
            pooling: str = "flatten", activation: str = "relu", padding: str = "circular", sigma_w: float = math.sqrt(2.0), sigma_b: float = 0.0,
            generator: torch.Generator, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    r"""An NTK-parameterized CNN: ``depth`` :class:`NTKConv2d` layers of ``channels`` channels, each followed by the activation,
    then ``pooling`` (``"flatten"``: all C H W features; ``"gap"``: the mean over the pixels, C features) and an
    :class:`NTKLinear` readout to ``num_outputs`` (modules ``conv1, act1, ..., pool, readout``). The default
    :math:`\sigma_w^2 = 2` is Arora et al.'s :math:`c_\sigma = 2` for ReLU. Its infinite-width kernels are
    :func:`dltheory.probes.ntk.cnn_kernels` with the same arguments.
    """
    in_channels = check_int("in_channels", in_channels, minimum=1)
    channels = check_int("channels", channels, minimum=1)
    depth = check_int("depth", depth, minimum=1)
    num_outputs = check_int("num_outputs", num_outputs, minimum=1)
    pooling = check_choice("pooling", pooling, ("flatten", "gap"))
    activation = check_choice("activation", activation, NTK_ACTIVATIONS)
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    h, w = check_int("image_size[0]", h, minimum=1), check_int("image_size[1]", w, minimum=1)
    layers: list[tuple[str, nn.Module]] = []
    c_in = in_channels
    for i in range(1, depth + 1):
        layers.append((f"conv{i}", NTKConv2d(c_in, channels, kernel_size, padding=padding, sigma_w=sigma_w, sigma_b=sigma_b, generator=generator, dtype=dtype)))
        layers.append((f"act{i}", NTK_ACTIVATIONS[activation]()))
        c_in = channels
    layers.append(("pool", nn.Flatten() if pooling == "flatten" else GlobalAvgPool()))
    fan_in = channels * h * w if pooling == "flatten" else channels
    layers.append(("readout", NTKLinear(fan_in, num_outputs, sigma_w=sigma_w, sigma_b=sigma_b, generator=generator, dtype=dtype)))
    from collections import OrderedDict

    return nn.Sequential(OrderedDict(layers))


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
