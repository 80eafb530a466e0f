r"""Fully connected networks: :math:`x \mapsto W_L\,\sigma(\cdots \sigma(W_1 x + b_1)\cdots) + b_L`.

:func:`mlp` builds an ``nn.Sequential`` from a list of layer sizes, an activation name and
per-layer bias and init-gain options, drawing every weight from an explicit
``torch.Generator`` (the global RNG is neither read nor advanced). :func:`init_weight`
is the one weight initializer of the model zoo (also used by :mod:`dltheory.models.conv`).

Init schemes (fan-in :math:`n_\text{in}`, fan-out :math:`n_\text{out}`, gain :math:`g`):

- ``"pytorch"``: weights and biases :math:`U(-g/\sqrt{n_\text{in}}, g/\sqrt{n_\text{in}})`
  (the default of ``nn.Linear`` / ``nn.Conv2d``);
- ``"xavier_normal"``: :math:`N(0, g^2\, 2/(n_\text{in}+n_\text{out}))`, zero biases
  (Glorot & Bengio 2010);
- ``"lecun_normal"``: :math:`N(0, g^2/n_\text{in})`, zero biases (LeCun et al. 1998);
- ``"he_normal"``: :math:`N(0, 2 g^2/n_\text{in})`, zero biases (He et al. 2015).

Example (the 1-100-1 tanh regression net of Cohen et al. 2021, official code
``archs.make_one_layer_network``)::

    net = mlp([1, 100, 1], activation="tanh", bias=[True, False], init="xavier_normal",
              gains=[1.9, 1.0], generator=torch_generator(0, "init"))
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from dltheory.core.errors import check_choice, check_float, check_int

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "leaky_relu": nn.LeakyReLU,
    "hardtanh": nn.Hardtanh,
    "identity": nn.Identity,
}
INITS = ("pytorch", "xavier_normal", "lecun_normal", "he_normal")


NORMS = ("none", "batch", "layer")


def activation_module(name: str) -> nn.Module:
    """A fresh activation module by name (one of :data:`ACTIVATIONS`)."""
    check_choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


def init_weight(shape: Sequence[int], *, fan_in: int, fan_out: int, init: str, gain: float,
                generator: torch.Generator, dtype: torch.dtype) -> Tensor:
    r"""A weight tensor of ``shape`` drawn by scheme ``init`` (see the module docstring).

    Cost: one draw of ``prod(shape)`` numbers from ``generator`` (on its device).
    """
    check_choice("init", init, INITS)
    dev = generator.device
    if init == "pytorch":
        bound = gain / math.sqrt(fan_in)
        return (2 * torch.rand(tuple(shape), generator=generator, dtype=dtype, device=dev) - 1) * bound
    var = {"xavier_normal": 2.0 / (fan_in + fan_out), "lecun_normal": 1.0 / fan_in, "he_normal": 2.0 / fan_in}[init]
    return gain * math.sqrt(var) * torch.randn(tuple(shape), generator=generator, dtype=dtype, device=dev)


def init_bias(size: int, *, fan_in: int, init: str, gain: float, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
    """A bias vector: uniform like the weights for ``"pytorch"``, zeros otherwise."""
    if init == "pytorch":
        return init_weight((size,), fan_in=fan_in, fan_out=size, init=init, gain=gain, generator=generator, dtype=dtype)
    return torch.zeros(size, dtype=dtype, device=generator.device)


def _per_layer(name: str, value, n: int, kind: type) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(f"`{name}` must be a single value or one per layer ({n}); got {len(values)} values.")
    for v in values:
        if kind is bool and not isinstance(v, bool):
            raise TypeError(f"`{name}` must hold bools; got {v!r}.")
    return values


def mlp(sizes: Sequence[int], *, activation: str = "relu", bias: bool | Sequence[bool] = True,
        init: str = "pytorch", gains: float | Sequence[float] = 1.0, norm: str = "none", norm_affine: bool = True, generator: torch.Generator,
        dtype: torch.dtype = torch.float32) -> nn.Sequential:
    r"""A fully connected network with layer sizes ``sizes = [d_in, h_1, ..., h_{L-1}, d_out]``.

    .. math:: f(x) = W_L\,\sigma(W_{L-1} \cdots \sigma(W_1 \operatorname{vec}(x) + b_1) \cdots) + b_L

    The input is flattened from dimension 1 on (images work as they are); no activation
    after the last layer. Parameter names are ``linear{l}.weight`` / ``linear{l}.bias``,
    ``l = 1..L``.

    Args:
        sizes: at least two positive ints (input size, hidden widths, output size).
        activation: name of the nonlinearity (:data:`ACTIVATIONS`).
        bias: whether each layer has a bias (one bool, or one per layer).
        init: weight init scheme (:data:`INITS`).
        gains: multiplier of each layer's init scale (one float, or one per layer).
        norm: ``"none"``, ``"batch"`` (``nn.BatchNorm1d``) or ``"layer"`` (``nn.LayerNorm``)
            after each hidden linear layer, before its activation (both with their default
            affine parameters, initialized to 1 and 0, unless ``norm_affine=False``). With
            BatchNorm the function does not change when a hidden layer's weights are scaled, so
            the gradient is orthogonal to them (:math:`\langle W_l, \nabla_{W_l} L\rangle = 0`).
        norm_affine: whether the normalization layers have their affine scale and shift.
        generator: draws the initialization (its device is the parameters' device).
        dtype: parameter dtype.

    Returns:
        ``nn.Sequential`` with modules ``flatten, linear1, [norm1,] act1, ..., linearL``.

    Cost: :math:`\sum_l h_{l-1} h_l` multiply-adds per example.
    """
    sizes = [check_int(f"sizes[{i}]", s, minimum=1) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"`sizes` must hold at least 2 layer sizes (input and output); got {sizes}.")
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("norm", norm, NORMS)
    n = len(sizes) - 1
    biases = _per_layer("bias", bias, n, bool)
    gain_list = [check_float(f"gains[{i}]", g, minimum=0.0) for i, g in enumerate(_per_layer("gains", gains, n, float))]
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    for i in range(n):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        lin = torch.nn.utils.skip_init(nn.Linear, fan_in, fan_out, bias=biases[i], dtype=dtype, device=generator.device)
        lin.weight = nn.Parameter(init_weight((fan_out, fan_in), fan_in=fan_in, fan_out=fan_out, init=init, gain=gain_list[i], generator=generator, dtype=dtype))
        if biases[i]:
            lin.bias = nn.Parameter(init_bias(fan_out, fan_in=fan_in, init=init, gain=gain_list[i], generator=generator, dtype=dtype))
        layers[f"linear{i + 1}"] = lin
        if i < n - 1:
            if norm == "batch":
                layers[f"norm{i + 1}"] = nn.BatchNorm1d(fan_out, affine=norm_affine, dtype=dtype, device=generator.device)
            elif norm == "layer":
                layers[f"norm{i + 1}"] = nn.LayerNorm(fan_out, elementwise_affine=norm_affine, dtype=dtype, device=generator.device)
            layers[f"act{i + 1}"] = activation_module(activation)
    return nn.Sequential(layers)


class ResidualMLP(nn.Module):
    r"""A fully connected residual network: :math:`h_0 = \sigma(W_\text{in}x)`, :math:`h_{b+1} = h_b + \alpha\,V_b\,\sigma(U_b h_b)`, output :math:`W_\text{out}\sigma(h_B)`.

    ``blocks`` blocks of two ``width x width`` linear layers each (2 * blocks hidden layers, the same
    weight count as a plain :func:`mlp` with that many ``width x width`` layers), identity shortcuts
    (He et al., CVPR 2016, with two-layer branches as in their basic block; fully connected, no
    normalization), He-normal weights and zero biases. The branch scale :math:`\alpha = 1/\sqrt{B}` keeps
    the forward variance bounded in depth at initialization (without it, each block doubles it in
    expectation and deep nets overflow). ``shortcuts=False`` drops the identity and the scale, giving
    the plain network :math:`h_{b+1} = \sigma(V_b\,\sigma(U_b h_b))` of the same layers.

    Args:
        d_in, width, d_out: input size, hidden width, outputs.
        blocks: residual blocks B >= 1.
        shortcuts: identity shortcuts (True) or a plain stack (False).
        generator: draws the weights (its device is the parameters').
        dtype: parameter dtype.
    """

    def __init__(self, d_in: int, width: int, d_out: int, *, blocks: int, shortcuts: bool = True, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        d_in, width, d_out = (check_int(n, v, minimum=1) for n, v in (("d_in", d_in), ("width", width), ("d_out", d_out)))
        self.blocks = check_int("blocks", blocks, minimum=1)
        self.shortcuts = bool(shortcuts)
        self.alpha = self.blocks**-0.5 if self.shortcuts else 1.0

        def linear(fi: int, fo: int) -> nn.Linear:
            lin = torch.nn.utils.skip_init(nn.Linear, fi, fo, dtype=dtype, device=generator.device)
            lin.weight = nn.Parameter(init_weight((fo, fi), fan_in=fi, fan_out=fo, init="he_normal", gain=1.0, generator=generator, dtype=dtype))
            lin.bias = nn.Parameter(torch.zeros(fo, dtype=dtype, device=generator.device))
            return lin

        self.input = linear(d_in, width)
        self.branch_in = nn.ModuleList([linear(width, width) for _ in range(self.blocks)])
        self.branch_out = nn.ModuleList([linear(width, width) for _ in range(self.blocks)])
        self.output = linear(width, d_out)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.input(x.flatten(1)))
        for u, v in zip(self.branch_in, self.branch_out, strict=True):
            z = v(torch.relu(u(h)))
            h = h + self.alpha * z if self.shortcuts else torch.relu(z)
        return self.output(torch.relu(h) if self.shortcuts else h)
