r"""The permutation symmetry of a network, derived from its ``torch.fx`` graph (see
:mod:`dltheory.probes.permutation`, which re-exports :func:`permutation_spec`).

Permuting the hidden units of a layer (the rows of the weight and bias that produce them and
the columns of the weights that read them) leaves the network function unchanged
(Hecht-Nielsen 1990). Which parameter axes must share one permutation follows from the
computation graph; a symbolic trace plus one forward pass of an example input (on a copy,
for the shapes) gives it:

- every Linear / Conv output starts a new space of units; elementwise ops (activations,
  dropout, scalar arithmetic), BatchNorm, LayerNorm over the channel dim, pooling, reshapes
  and reductions over other dims carry the space along;
- ``a + b`` (residual streams) and a parameter read at two places join spaces: they must be
  permuted by the SAME permutation (union-find over spaces);
- ``F.pad`` / ``torch.cat`` along the channel dim embed a space into a larger one at an
  offset. The larger space then splits into blocks (partition refinement), each with its own
  permutation: the option-A shortcut of ResNet-20 (He et al. 2016), which zero-pads 16
  channels to 32, leaves the 16 carried channels under the previous stage's permutation and
  the 16 padded ones under a new one;
- a flatten of ``(C, H, W)`` maps channel ``c`` to the block of features ``c*H*W .. c*H*W+H*W-1``
  (``inner = H*W`` in :class:`PermutedAxis`);
- inputs and outputs are never permuted; whatever reaches them is fixed. Any other module or
  op that touches a hidden axis raises :class:`UnsupportedModuleError`;
- a parameter or buffer read with ``get_attr`` (``x * self.scale[None, :, None]``, a clamp
  bound) is permuted with the units it broadcasts against; one that another op reads as it
  is (``torch.roll(self.s, 1)``, a raw ``F.linear`` weight) is never permuted, so the units
  it meets stay fixed (sound, at the price of that symmetry).

Cost: linear in the graph size, plus the partition refinement (a few passes over the units of
the spaces joined by padding or concatenation).
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import Tensor, nn

from dltheory.core.errors import DltheoryError

__all__ = ["SUPPORTED", "PermutationGroup", "PermutationSpec", "PermutedAxis", "UnsupportedModuleError", "permutation_spec"]

class UnsupportedModuleError(DltheoryError, ValueError):
    """The traced network uses a module or op whose permutation symmetry is not derived here."""


SUPPORTED = (
    "Linear, Conv1d/2d/3d, ConvTranspose1d/2d (groups=1); BatchNorm1d/2d/3d; LayerNorm; GroupNorm with 1 or C "
    "groups; elementwise activations (ReLU, GELU, Tanh, Sigmoid, SiLU, ELU, LeakyReLU, Softplus, Hardtanh, ...), "
    "Softmax/LogSoftmax, Dropout, Identity; Max/Avg/AdaptiveAvg/AdaptiveMax pooling, Upsample/interpolate; Flatten/view/reshape/"
    "squeeze/unsqueeze; mean/sum/amax over dims; slicing with full channel slices; elementwise arithmetic and "
    "residual adds; F.pad and torch.cat along channels"
)

# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class PermutedAxis:
    """One tensor axis a group acts on.

    Attributes:
        name: parameter or buffer name (state-dict key).
        axis: the tensor axis.
        units: the unit slots of the group on this axis, in group order (unit ``j`` of the
            group is slot ``units[j]``).
        inner: consecutive entries per unit slot (``H*W`` for a flattened ``(C, H, W)``
            feature map; 1 otherwise). Slot ``u`` covers entries ``u*inner .. u*inner+inner-1``.
        buffer: a buffer (BatchNorm running statistics), skipped when absent from a
            parameter dict.
    """

    name: str
    axis: int
    units: tuple[int, ...]
    inner: int = 1
    buffer: bool = False

    def positions(self, device: torch.device | None = None) -> Tensor:
        """The entries along ``axis`` in group order, ``(len(units) * inner,)``."""
        u = torch.as_tensor(self.units, dtype=torch.long, device=device)
        return (u[:, None] * self.inner + torch.arange(self.inner, device=device)).reshape(-1)

    def __repr__(self) -> str:
        k = len(self.units)
        sel = "" if self.units == tuple(range(k)) else f", units={_ranges(self.units)}"
        inner = "" if self.inner == 1 else f", inner={self.inner}"
        return f"{self.name}[axis {self.axis}{sel}{inner}]"


@dataclass(frozen=True)
class PermutationGroup:
    """Hidden units sharing one permutation.

    Attributes:
        name: where the units are made (module name, with the unit slots for a block).
        size: number of units k (the permutation is of ``range(k)``).
        axes: every tensor axis the permutation acts on.
        sites: ``(fx node name, channel dim, unit slots)`` where the units' activations are
            read by :func:`activation_matching` (post-activation, summed stream for residuals).
    """

    name: str
    size: int
    axes: tuple[PermutedAxis, ...]
    sites: tuple[tuple[str, int, tuple[int, ...]], ...] = ()

    def __repr__(self) -> str:
        return f"PermutationGroup({self.name!r}, size={self.size}, axes=[{', '.join(map(repr, self.axes))}])"


@dataclass(frozen=True)
class PermutationSpec:
    """The permutation symmetry of a network: groups of tensor axes permuted together.

    Attributes:
        groups: the permutation groups (hidden units only; input/output axes are fixed).
        fixed: ``(name, axis)`` pairs (or blocks of them, e.g. the input part of a
            concatenation) that read the input or reach the output: never permuted.
    """

    groups: tuple[PermutationGroup, ...]
    fixed: tuple[tuple[str, int], ...] = ()

    @property
    def names(self) -> list[str]:
        """Group names, in order."""
        return [g.name for g in self.groups]

    def __getitem__(self, name: str) -> PermutationGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(f"no permutation group {name!r}; groups are {self.names}.")

    def __repr__(self) -> str:
        lines = [f"PermutationSpec({len(self.groups)} groups, {sum(g.size for g in self.groups)} units)"]
        lines += [f"  {g.name} (size {g.size}): {', '.join(map(repr, g.axes))}" for g in self.groups]
        return "\n".join(lines)


def _ranges(units: Iterable[int]) -> str:
    out, u = [], sorted(units)
    i = 0
    while i < len(u):
        j = i
        while j + 1 < len(u) and u[j + 1] == u[j] + 1:
            j += 1
        out.append(f"{u[i]}:{u[j] + 1}")
        i = j + 1
    return ",".join(out)


# --------------------------------------------------------------------------- tracing

_ELEMENTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.GELU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.ELU, nn.SELU, nn.CELU, nn.LeakyReLU, nn.Softplus,
    nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Softsign, nn.Tanhshrink, nn.PReLU, nn.Identity,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Softmax, nn.LogSoftmax,
)
_POOL_MODULES = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
    nn.Upsample,
)
_ELEMENTWISE_FUNCTIONS = {
    F.relu, F.relu6, F.gelu, F.silu, F.elu, F.selu, F.celu, F.leaky_relu, F.softplus, F.hardtanh, F.mish,
    F.hardswish, F.hardsigmoid, F.dropout, F.softmax, F.log_softmax, torch.relu, torch.tanh, torch.sigmoid,
    torch.exp, torch.abs, torch.sqrt, torch.square, torch.neg, torch.softmax, torch.log_softmax, F.tanh, F.sigmoid,
    torch.clamp, torch.nn.functional.dropout1d, torch.nn.functional.dropout2d, operator.neg, operator.pos,
}
_ELEMENTWISE_METHODS = {
    "relu", "relu_", "tanh", "tanh_", "sigmoid", "sigmoid_", "exp", "abs", "sqrt", "square", "neg", "clamp", "clamp_",
    "contiguous", "clone", "detach", "float", "double", "to", "type_as", "softmax", "log_softmax", "pow",
}
_CAST_METHODS = {"contiguous", "clone", "detach", "float", "double", "to", "type_as"}
_BINARY = {operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd, operator.isub, operator.imul,
           torch.add, torch.sub, torch.mul, torch.div, torch.maximum, torch.minimum}
_BINARY_METHODS = {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_"}
_REDUCE_FUNCTIONS = {torch.mean, torch.sum, torch.amax, torch.amin}
_REDUCE_METHODS = {"mean", "sum", "amax", "amin"}
_RESHAPE_FUNCTIONS = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze}
_RESHAPE_METHODS = {"view", "reshape", "flatten", "squeeze", "unsqueeze"}
_POOL_FUNCTIONS = {F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
                   F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.adaptive_max_pool2d,
                   F.interpolate}
_SHAPE_QUERIES = {"size", "dim", "numel"}


@dataclass(frozen=True)
class _Chan:
    """A traced value carrying a space of units along ``dim`` (``inner`` entries per unit)."""

    space: int
    dim: int
    inner: int = 1


class _Fixed:  # a tensor derived only from inputs / constants: its axes are never permuted
    pass


FIXED = _Fixed()


@dataclass(frozen=True)
class _Param:
    """A parameter/buffer read with get_attr; ``axes[i]`` is its original axis at dim i (None: inserted)."""

    name: str
    shape: tuple[int, ...]
    axes: tuple[int | None, ...]

    def view_as(self, shape: tuple[int, ...]) -> _Param | None:
        """The same tensor with size-1 dims inserted or removed, or None for another reshape."""
        src = [(n, a) for n, a in zip(self.shape, self.axes, strict=True) if n != 1]
        if [n for n, _ in src] != [n for n in shape if n != 1]:
            return None
        it = iter(src)
        return _Param(self.name, tuple(shape), tuple(next(it)[1] if n != 1 else None for n in shape))


@dataclass(frozen=True)
class _RepairSite:
    node: str          # fx node whose output is corrected (layer output, or the BatchNorm right after it)
    module: str        # module the correction is folded into
    kind: str          # "layer" (Linear/Conv: weight rows, bias) or "norm" (BatchNorm: weight, bias)
    dim: int           # channel dim of the node output


@dataclass
class _Analysis:
    spec: PermutationSpec
    repair_sites: list[_RepairSite]


class _ShapeRecorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.shapes: dict[str, tuple[int, ...] | None] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        self.shapes[n.name] = tuple(out.shape) if isinstance(out, Tensor) else None
        return out


def _where(node: fx.Node, gm: fx.GraphModule) -> str:
    if node.op == "call_module":
        return f"module '{node.target}' ({type(gm.get_submodule(node.target)).__name__})"
    stack = node.meta.get("nn_module_stack") or {}
    owner = ""
    if stack:
        path, (_, typ) = list(stack.items())[-1]
        owner = f" in module '{path}' ({getattr(typ, '__name__', typ)})"
    target = getattr(node.target, "__name__", node.target)
    return f"op '{target}' (fx node '{node.name}'){owner}"


class _Builder:
    """Walks the fx graph, building spaces, their unions, embeddings and tensor attachments."""

    def __init__(self, gm: fx.GraphModule, shapes: dict[str, tuple[int, ...] | None]):
        self.gm, self.shapes = gm, shapes
        self.parent: list[int] = []
        self.size: list[int] = []
        self.origin: list[str] = []
        self.fixed: set[int] = set()
        self.links: list[tuple[int, int, int]] = []  # (outer space, offset, inner space)
        self.attach: dict[tuple[str, int], tuple[int, int]] = {}  # (name, axis) -> (space, inner)
        self.carriers: list[tuple[str, int, int, str]] = []  # (node, space, dim, kind)
        self.repair: list[_RepairSite] = []
        self.fixed_reads: list[tuple[str, int]] = []  # layer input axes reading the network input
        self.frozen: set[str] = set()  # parameters read by ops that do not permute them: never permuted
        self.env: dict[str, Any] = {}

    # union-find over spaces
    def new(self, n: int, origin: str, *, fixed: bool = False) -> int:
        self.parent.append(len(self.parent))
        self.size.append(n)
        self.origin.append(origin)
        if fixed:
            self.fixed.add(len(self.parent) - 1)
        return len(self.parent) - 1

    def find(self, s: int) -> int:
        while self.parent[s] != s:
            self.parent[s] = self.parent[self.parent[s]]
            s = self.parent[s]
        return s

    def union(self, a: int, b: int, node: fx.Node) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] != self.size[rb]:
            raise UnsupportedModuleError(f"{_where(node, self.gm)} joins unit spaces of sizes {self.size[ra]} and {self.size[rb]}.")
        lo, hi = min(ra, rb), max(ra, rb)
        self.parent[hi] = lo
        if hi in self.fixed:
            self.fixed.add(lo)

    def mark_fixed(self, s: int) -> None:
        self.fixed.add(self.find(s))

    def attach_axis(self, name: str, axis: int, chan: _Chan, node: fx.Node) -> None:
        key = (name, axis)
        if key in self.attach:
            space, inner = self.attach[key]
            if inner != chan.inner:
                raise UnsupportedModuleError(f"{_where(node, self.gm)}: tensor '{name}' axis {axis} is read with two unit layouts.")
            self.union(space, chan.space, node)
        else:
            self.attach[key] = (chan.space, chan.inner)

    # helpers
    def val(self, a: Any) -> Any:
        return self.env[a.name] if isinstance(a, fx.Node) else None

    def shape(self, a: Any) -> tuple[int, ...] | None:
        return self.shapes.get(a.name) if isinstance(a, fx.Node) else None

    def unsupported(self, node: fx.Node, why: str = "") -> UnsupportedModuleError:
        why = f" ({why})" if why else ""
        return UnsupportedModuleError(
            f"cannot derive the permutation symmetry through {_where(node, self.gm)}{why}. Supported: {SUPPORTED}. "
            "Other modules and ops may only touch inputs or outputs, never a permuted hidden axis.")

    def touches(self, node: fx.Node) -> list[Any]:
        vals: list[Any] = []
        fx.node.map_arg((node.args, node.kwargs), lambda a: vals.append(self.env.get(a.name)))
        self.frozen.update(v.name for v in vals if isinstance(v, _Param))  # a parameter read by another op
        return [v for v in vals if isinstance(v, _Chan)]

    def out_default(self, node: fx.Node) -> Any:
        return FIXED if self.shapes.get(node.name) is not None else None

    def run(self) -> None:
        for node in self.gm.graph.nodes:
            self.env[node.name] = self.visit(node)
            v = self.env[node.name]
            if isinstance(v, _Chan) and v.inner == 1:
                self.carriers.append((node.name, v.space, v.dim, self.kind(node)))
        for (name, _), (space, _) in self.attach.items():
            if name in self.frozen:
                self.mark_fixed(space)

    def kind(self, node: fx.Node) -> str:
        if node.op == "call_module":
            m = self.gm.get_submodule(node.target)
            return "act" if isinstance(m, _ELEMENTWISE_MODULES) and not isinstance(m, (nn.Identity, nn.modules.dropout._DropoutNd)) else "other"
        if node.op == "call_function" and node.target in _ELEMENTWISE_FUNCTIONS and node.target is not F.dropout:
            return "act"
        if node.op == "call_method" and node.target in {"relu", "relu_", "tanh", "sigmoid"}:
            return "act"
        return "other"

    # the ops
    def visit(self, node: fx.Node) -> Any:
        if node.op == "placeholder":
            return self.out_default(node)
        if node.op == "get_attr":
            shp = self.shapes.get(node.name)
            return _Param(str(node.target), shp, tuple(range(len(shp)))) if shp is not None else None
        if node.op == "output":
            def mark(a: fx.Node) -> None:
                v = self.env.get(a.name)
                if isinstance(v, _Chan):
                    self.mark_fixed(v.space)
            fx.node.map_arg(node.args, mark)
            return None
        if node.op == "call_module":
            return self.visit_module(node, self.gm.get_submodule(node.target))
        target = node.target
        meth = node.op == "call_method"
        if (meth and target in _ELEMENTWISE_METHODS) or (not meth and target in _ELEMENTWISE_FUNCTIONS):
            if meth and target in _CAST_METHODS:
                return self.elementwise(node, [node.args[0]])
            operands: list[fx.Node] = []  # tensor arguments (clamp bounds, pow exponents) broadcast like a binary op
            fx.node.map_arg((node.args, node.kwargs), operands.append)
            return self.elementwise(node, operands)
        if (meth and target in _BINARY_METHODS) or (not meth and target in _BINARY):
            return self.elementwise(node, list(node.args[:2]) + [node.kwargs.get("other")])
        if (meth and target in _RESHAPE_METHODS) or (not meth and target in _RESHAPE_FUNCTIONS):
            return self.reshape(node, node.args[0])
        if (meth and target in _REDUCE_METHODS) or (not meth and target in _REDUCE_FUNCTIONS):
            return self.reduce(node)
        if not meth and target in _POOL_FUNCTIONS:
            return self.spatial(node, node.args[0])
        if not meth and target is F.pad:
            return self.pad(node)
        if not meth and target is torch.cat:
            return self.cat(node)
        if not meth and target is operator.getitem:
            return self.getitem(node)
        if (meth and target in _SHAPE_QUERIES) or (not meth and target is getattr):
            return None if self.shapes.get(node.name) is None else self.out_default(node)
        if self.touches(node):
            raise self.unsupported(node)
        return self.out_default(node)

    def visit_module(self, node: fx.Node, m: nn.Module) -> Any:
        name = str(node.target)
        x = node.args[0] if node.args else None
        v = self.val(x)
        shp = self.shape(x)
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            return self.layer(node, m, name, v, shp)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if isinstance(v, _Chan):
                if v.dim != 1:
                    raise self.unsupported(node, "BatchNorm over a dim that is not the unit dim")
                for p in ("weight", "bias", "running_mean", "running_var"):
                    if getattr(m, p, None) is not None:
                        self.attach_axis(f"{name}.{p}", 0, v, node)
                self._norm_site(node)
            return v
        if isinstance(m, nn.LayerNorm):
            if isinstance(v, _Chan):
                k, nd = len(m.normalized_shape), len(shp)
                if v.dim >= nd - k and m.elementwise_affine:
                    for p in ("weight", "bias"):
                        if getattr(m, p, None) is not None:
                            self.attach_axis(f"{name}.{p}", v.dim - (nd - k), v, node)
            return v
        if isinstance(m, nn.GroupNorm):
            if isinstance(v, _Chan):
                if v.dim != 1 or v.inner != 1 or m.num_groups not in (1, m.num_channels):
                    raise self.unsupported(node, "GroupNorm permutes units only with 1 or C groups")
                if m.affine:
                    self.attach_axis(f"{name}.weight", 0, v, node)
                    self.attach_axis(f"{name}.bias", 0, v, node)
            return v
        if isinstance(m, nn.PReLU) and m.num_parameters > 1:
            if isinstance(v, _Chan):
                self.attach_axis(f"{name}.weight", 0, v, node)
            return v
        if isinstance(m, _ELEMENTWISE_MODULES):
            return self.elementwise(node, [x])
        if isinstance(m, _POOL_MODULES):
            if getattr(m, "return_indices", False):
                raise self.unsupported(node, "pooling with return_indices")
            return self.spatial(node, x)
        if isinstance(m, (nn.Flatten, nn.Unflatten)):
            return self.reshape(node, x)
        if next(m.parameters(recurse=True), None) is not None or self.touches(node):
            raise self.unsupported(node)
        return self.out_default(node)

    def layer(self, node: fx.Node, m: nn.Module, name: str, v: Any, shp: tuple[int, ...] | None) -> Any:
        is_linear = isinstance(m, nn.Linear)
        if not is_linear and m.groups != 1:
            raise self.unsupported(node, f"grouped convolution, groups={m.groups}")
        transposed = not is_linear and m.transposed
        in_axis, out_axis = (0, 1) if transposed else (1, 0)
        if isinstance(v, _Chan):
            if is_linear and v.dim != len(shp) - 1:
                raise self.unsupported(node, f"Linear over dim {len(shp) - 1} while the units are along dim {v.dim}")
            if not is_linear and (v.dim != 1 or v.inner != 1):
                raise self.unsupported(node, f"convolution input carries its units along dim {v.dim}")
            self.attach_axis(f"{name}.weight", in_axis, v, node)
        elif v is FIXED:
            self.fixed_reads.append((f"{name}.weight", in_axis))
        elif isinstance(v, _Param):
            self.frozen.add(v.name)
        out_shape = self.shapes[node.name]
        dim = len(out_shape) - 1 if is_linear else 1
        n_out = out_shape[dim]
        chan = _Chan(self.new(n_out, name), dim)
        self.attach_axis(f"{name}.weight", out_axis, chan, node)
        if m.bias is not None:
            self.attach_axis(f"{name}.bias", 0, chan, node)
        self.repair.append(_RepairSite(node.name, name, "layer", dim))
        return chan

    def _norm_site(self, node: fx.Node) -> None:
        """A BatchNorm directly after a Linear/Conv (its only reader) takes the REPAIR correction."""
        src = node.args[0]
        if self.repair and self.repair[-1].node == src.name and len(src.users) == 1 and self.repair[-1].kind == "layer":
            m = self.gm.get_submodule(node.target)
            if m.affine:
                self.repair[-1] = _RepairSite(node.name, str(node.target), "norm", self.repair[-1].dim)

    def elementwise(self, node: fx.Node, args: list[Any]) -> Any:
        out_shape = self.shapes.get(node.name)
        if out_shape is None:
            if any(isinstance(self.val(a), _Chan) for a in args):
                raise self.unsupported(node)
            self.frozen.update(self.val(a).name for a in args if isinstance(self.val(a), _Param))
            return None
        nd = len(out_shape)
        chans = [(self.val(a), self.shape(a)) for a in args if isinstance(self.val(a), _Chan)]
        params = [self.val(a) for a in args if isinstance(self.val(a), _Param)]
        fixed = [self.shape(a) for a in args if self.val(a) is FIXED]
        if not chans:
            if len(params) == 1 and len([a for a in args if isinstance(a, fx.Node)]) == 1:
                return params[0]  # an elementwise function of one parameter (and constants)
            self.frozen.update(p.name for p in params)  # read as it is: never permuted
            return FIXED
        dims = {c.dim + nd - len(s) for c, s in chans}
        inners = {c.inner for c, _ in chans}
        if len(dims) != 1 or len(inners) != 1:
            raise self.unsupported(node, "operands carry their units along different dims")
        dim, inner = dims.pop(), inners.pop()
        for c, s in chans:
            if s[c.dim] != out_shape[dim]:
                raise self.unsupported(node, "broadcast along the unit dim")
            self.union(chans[0][0].space, c.space, node)
        out = _Chan(self.find(chans[0][0].space), dim, inner)
        for s in fixed:
            j = dim - (nd - len(s))
            if j >= 0 and s[j] != 1:
                self.mark_fixed(out.space)
        for p in params:
            j = dim - (nd - len(p.shape))
            if j >= 0 and p.shape[j] != 1:
                self.attach_axis(p.name, p.axes[j], out, node)
        return out

    def spatial(self, node: fx.Node, x: Any) -> Any:
        v = self.val(x)
        if isinstance(v, _Chan):
            if v.dim != 1 or v.inner != 1:
                raise self.unsupported(node, "pooling with units off dim 1")
            return v
        if isinstance(v, _Param):
            self.frozen.add(v.name)
        return self.out_default(node)

    def reshape(self, node: fx.Node, x: Any) -> Any:
        v, s_in, s_out = self.val(x), self.shape(x), self.shapes.get(node.name)
        if not isinstance(v, _Chan):
            if isinstance(v, _Param):
                if v.view_as(s_out) is not None:
                    return v.view_as(s_out)
                self.frozen.add(v.name)
            return self.out_default(node)
        lead = int(np.prod(s_in[: v.dim]))
        n_units = s_in[v.dim] // v.inner
        block = v.inner * int(np.prod(s_in[v.dim + 1:]))  # entries per unit, from dim on
        for d in range(len(s_out)):
            if int(np.prod(s_out[:d])) != lead:
                continue
            rest = int(np.prod(s_out[d + 1:]))
            if block % rest == 0 and s_out[d] == n_units * (block // rest):
                return _Chan(v.space, d, block // rest)
        raise self.unsupported(node, f"reshape {tuple(s_in)} -> {tuple(s_out)} splits the units along dim {v.dim}")

    def reduce(self, node: fx.Node) -> Any:
        x = node.args[0]
        v, s_in = self.val(x), self.shape(x)
        if not isinstance(v, _Chan):
            if isinstance(v, _Param):
                self.frozen.add(v.name)
            return self.out_default(node)
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        keep = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
        if dims is None:
            return self.out_default(node)
        dims = [d % len(s_in) for d in ((dims,) if isinstance(dims, int) else dims)]
        if v.dim in dims:
            return self.out_default(node)  # invariant under the permutation
        return _Chan(v.space, v.dim if keep else v.dim - sum(d < v.dim for d in dims), v.inner)

    def getitem(self, node: fx.Node) -> Any:
        x, idx = node.args
        v, s_in = self.val(x), self.shape(x)
        if not isinstance(v, _Chan):
            if isinstance(v, _Param):
                full = all(i is None or i is Ellipsis or i == slice(None) for i in (idx if isinstance(idx, tuple) else (idx,)))
                if full and v.view_as(self.shapes[node.name]) is not None:
                    return v.view_as(self.shapes[node.name])
                self.frozen.add(v.name)
            return self.out_default(node)
        idx = idx if isinstance(idx, tuple) else (idx,)
        n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
        items: list[Any] = []
        for i in idx:
            items.extend([slice(None)] * (len(s_in) - n_real) if i is Ellipsis else [i])
        d_in = d_out = 0
        for i in items:
            if i is None:
                d_out += 1
                continue
            if d_in == v.dim:
                if not (isinstance(i, slice) and i == slice(None)):
                    raise self.unsupported(node, "indexing the unit dim")
                return _Chan(v.space, d_out, v.inner)
            if isinstance(i, int):
                d_in += 1
            elif isinstance(i, slice):
                d_in, d_out = d_in + 1, d_out + 1
            else:
                raise self.unsupported(node, "advanced indexing")
        return _Chan(v.space, d_out + (v.dim - d_in), v.inner)

    def pad(self, node: fx.Node) -> Any:
        x, pads = node.args[0], (node.args[1] if len(node.args) > 1 else node.kwargs["pad"])
        v, s_in = self.val(x), self.shape(x)
        if not isinstance(v, _Chan):
            if isinstance(v, _Param):
                self.frozen.add(v.name)
            return self.out_default(node)
        j = len(s_in) - 1 - v.dim
        before, after = (pads[2 * j], pads[2 * j + 1]) if len(pads) > 2 * j + 1 else (0, 0)
        if before == 0 and after == 0:
            return v
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
        if mode != "constant" or before < 0 or after < 0 or v.inner != 1:
            raise self.unsupported(node, "only constant, non-negative padding of the unit dim")
        out = self.new(self.shapes[node.name][v.dim], f"{node.name}")
        self.links.append((out, before, v.space))
        return _Chan(out, v.dim, 1)

    def cat(self, node: fx.Node) -> Any:
        xs = node.args[0]
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        vals = [self.val(a) for a in xs]
        self.frozen.update(w.name for w in vals if isinstance(w, _Param))
        chans = [w for w in vals if isinstance(w, _Chan)]
        if not chans:
            return self.out_default(node)
        nd = len(self.shapes[node.name])
        dim %= nd
        if all(w.dim != dim for w in chans):  # concatenation along another dim: a shared space
            return self.elementwise(node, list(xs))
        out = self.new(self.shapes[node.name][dim], node.name)
        offset = 0
        for a, w in zip(xs, vals, strict=True):
            n = self.shape(a)[dim]
            if isinstance(w, _Chan):
                if w.dim != dim or w.inner != 1:
                    raise self.unsupported(node, "concatenation mixing unit layouts")
                self.links.append((out, offset, w.space))
            else:
                self.links.append((out, offset, self.new(n, node.name, fixed=True)))
            offset += n
        return _Chan(out, dim, 1)


def _refine(b: _Builder) -> dict[int, list[int]]:
    """Partition refinement: each space class splits into blocks compatible with every embedding."""
    roots = sorted({b.find(s) for s in range(len(b.parent))})
    labels = {r: [0] * b.size[r] for r in roots}
    links = [(b.find(o), a, b.find(i)) for o, a, i in b.links]

    def canon(keys: list[Any]) -> list[int]:
        ids: dict[Any, int] = {}
        return [ids.setdefault(k, len(ids)) for k in keys]

    changed = True
    while changed:
        changed = False
        for o, a, i in links:
            lo, li, m = labels[o], labels[i], b.size[i]
            new_o = canon([(lo[p], a <= p < a + m, li[p - a] if a <= p < a + m else -1) for p in range(b.size[o])])
            new_i = canon([(li[q], new_o[a + q]) for q in range(m)])
            if max(new_o) > max(lo) or max(new_i) > max(li):
                changed = True
            labels[o], labels[i] = new_o, new_i
    return labels


def _analyze(model: nn.Module, example_input: Any) -> _Analysis:
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module; got {type(model).__name__}.")
    work = copy.deepcopy(model)  # the shape pass may update BatchNorm statistics
    try:
        gm = fx.symbolic_trace(work)
    except Exception as e:  # noqa: BLE001 - fx raises many types on untraceable code
        raise UnsupportedModuleError(f"torch.fx cannot trace {type(model).__name__}: {e}. Supported: {SUPPORTED}.") from e
    rec = _ShapeRecorder(gm)
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    with torch.no_grad():
        rec.run(*inputs)
    b = _Builder(gm, rec.shapes)
    b.run()
    labels = _refine(b)
    buffers = {n for n, _ in work.named_buffers()}

    # blocks -> groups (union-find over blocks, joined by the embeddings)
    blocks: dict[tuple[int, int], tuple[int, ...]] = {}
    for r, labs in labels.items():
        for p, lab in enumerate(labs):
            blocks.setdefault((r, lab), ())
            blocks[(r, lab)] += (p,)
    bparent = {k: k for k in blocks}

    def bfind(k: tuple[int, int]) -> tuple[int, int]:
        while bparent[k] != k:
            k = bparent[k]
        return k

    for o, a, i in b.links:
        o, i = b.find(o), b.find(i)
        for (r, lab), pos in blocks.items():
            if r == i:
                other = (o, labels[o][a + pos[0]])
                ka, kb = bfind((r, lab)), bfind(other)
                if ka != kb:
                    bparent[max(ka, kb)] = min(ka, kb)
    members: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for k in sorted(blocks):
        members.setdefault(bfind(k), []).append(k)
    fixed_roots = {b.find(s) for s in b.fixed}

    group_of: dict[tuple[int, int], int] = {}
    group_names: list[str] = []
    free = [ms for ms in members.values() if not any(r in fixed_roots for r, _ in ms)]
    for gi, ms in enumerate(free):
        r, lab = ms[0]
        whole = len(blocks[(r, lab)]) == b.size[r]
        name = b.origin[r] if whole else f"{b.origin[r]}[{_ranges(blocks[(r, lab)])}]"
        while name in group_names:
            name += "'"
        group_names.append(name)
        for k in ms:
            group_of[k] = gi
    axes: list[list[PermutedAxis]] = [[] for _ in free]
    fixed_axes: list[tuple[str, int]] = list(b.fixed_reads)
    for (pname, axis), (space, inner) in b.attach.items():
        r = b.find(space)
        if r in fixed_roots:
            fixed_axes.append((pname, axis))
            continue
        for (rr, lab), pos in blocks.items():
            if rr == r and (rr, lab) in group_of:
                axes[group_of[(rr, lab)]].append(PermutedAxis(pname, axis, pos, inner, pname in buffers))
            elif rr == r and (pname, axis) not in fixed_axes:  # a block tied to an input or output
                fixed_axes.append((pname, axis))
    sites: list[list[tuple[str, int, tuple[int, ...]]]] = [[] for _ in free]
    best: dict[int, tuple[str, int]] = {}
    for node, space, dim, kind in b.carriers:  # last activation on each space, else the last node
        r = b.find(space)
        if kind == "act" or r not in best or best[r][2] != "act":
            best[r] = (node, dim, kind)
    for (r, lab), pos in blocks.items():
        if (r, lab) in group_of and r in best:
            sites[group_of[(r, lab)]].append((best[r][0], best[r][1], pos))
    groups = tuple(PermutationGroup(n, len(blocks[ms[0]]), tuple(ax), tuple(st))
                   for n, ms, ax, st in zip(group_names, free, axes, sites, strict=True))
    fixed_layer = {s.module for s in b.repair if b.find(b.attach[(f"{s.module}.weight", 0 if s.kind == 'norm' else _out_axis(gm, s.module))][0]) in fixed_roots}
    repair_sites = [s for s in b.repair if s.module not in fixed_layer]
    return _Analysis(PermutationSpec(groups, tuple(sorted(fixed_axes))), repair_sites)


def _out_axis(gm: fx.GraphModule, name: str) -> int:
    m = gm.get_submodule(name)
    return 1 if isinstance(m, nn.modules.conv._ConvNd) and m.transposed else 0


def permutation_spec(model: nn.Module, example_input: Tensor | tuple[Tensor, ...]) -> PermutationSpec:
    r"""The permutation symmetry of ``model``, derived from its ``torch.fx`` graph.

    For every group :math:`g` and every permutation :math:`\pi_g`, permuting each listed
    axis by :math:`\pi_g` leaves :math:`f(x)` unchanged (Hecht-Nielsen 1990; the weight
    symmetry used by Entezari et al. 2022 and Ainsworth et al. 2023, Sec. 2). Groups are the
    coarsest sharing forced by the graph: residual adds and shared parameters join spaces,
    padding / concatenation along channels splits them into blocks (see the module docstring).

    Cost: one symbolic trace and one forward pass of ``example_input`` on a deep copy of
    ``model`` (the model itself is not touched).

    Args:
        model: the network; only its leaf modules from ``torch.nn`` and the ops listed in
            :data:`SUPPORTED` may touch hidden units.
        example_input: a batch (or tuple of inputs) of the shapes the spec is for (a flatten
            after a conv depends on the spatial size).

    Returns:
        :class:`PermutationSpec` (printable: one line per group).

    Raises:
        UnsupportedModuleError: a module or op that acts on a hidden-unit axis in a way not
            handled (named with its qualified name and type), or an untraceable model.
    """
    return _analyze(model, example_input).spec
