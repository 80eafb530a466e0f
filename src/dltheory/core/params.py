"""Parameters as dicts of tensors, and the one adapter from ``nn.Module`` to functions.

A model is turned into ``(fn, params, buffers)`` once; every probe and the training loop
work on ``params`` (an ordered ``dict[str, Tensor]``) and call ``fn(params, *inputs)``.
The module's own tensors are never written to (no ``.data`` edits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

Params = dict[str, Tensor]


@dataclass(frozen=True)
class FunctionalModel:
    """A module seen as a pure function of its parameters.

    Attributes:
        module: the wrapped module (its tensors are only read, to copy them).
        params: detached copies of the trainable parameters, by qualified name.
        buffers: detached copies of the buffers (BatchNorm statistics, ...).
        names: the parameter names in ``module.named_parameters()`` order.
    """

    module: nn.Module
    params: Params
    buffers: Params = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.params)

    def __call__(self, params: Mapping[str, Tensor], *inputs: Any, buffers: Mapping[str, Tensor] | None = None, **kwargs: Any) -> Any:
        """Run the module with ``params`` (and the stored or given ``buffers``)."""
        bufs = self.buffers if buffers is None else buffers
        return functional_call(self.module, ({**params}, {**bufs}), inputs, kwargs, strict=False)

    def load_into(self, params: Mapping[str, Tensor], module: nn.Module | None = None) -> nn.Module:
        """Copy ``params`` into ``module`` (default: a deep copy of the wrapped one)."""
        import copy

        target = copy.deepcopy(self.module) if module is None else module
        with torch.no_grad():
            named = dict(target.named_parameters())
            for k, v in params.items():
                named[k].copy_(v)
        return target


def functionalize(module: nn.Module, *, requires_grad_only: bool = True) -> FunctionalModel:
    """Wrap ``module`` as ``FunctionalModel(fn, params, buffers)``.

    Args:
        module: any ``nn.Module``; its training/eval mode is kept as it is (set it before:
            ``module.eval()`` freezes BatchNorm statistics and turns dropout off).
        requires_grad_only: keep only parameters with ``requires_grad=True``; frozen ones
            go into ``buffers`` so they still take part in the forward pass.

    Example:
        >>> fm = functionalize(torch.nn.Linear(3, 1))
        >>> fm(fm.params, torch.ones(2, 3)).shape
        torch.Size([2, 1])
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"`module` must be a torch.nn.Module; got {type(module).__name__}.")
    params: Params = {}
    buffers: Params = {}
    for name, p in module.named_parameters():
        if p.requires_grad or not requires_grad_only:
            params[name] = p.detach().clone()
        else:
            buffers[name] = p.detach().clone()
    for name, b in module.named_buffers():
        buffers[name] = b.detach().clone()
    return FunctionalModel(module, params, buffers)


def flatten(params: Mapping[str, Tensor]) -> Tensor:
    """Concatenate all tensors of ``params`` into one vector (dict order)."""
    if len(params) == 0:
        raise ValueError("`params` must hold at least one tensor; got an empty dict.")
    return torch.cat([p.reshape(-1) for p in params.values()])


def unflatten(vector: Tensor, like: Mapping[str, Tensor]) -> Params:
    """Inverse of :func:`flatten`: split ``vector`` into tensors shaped like ``like``."""
    n = num_params(like)
    if vector.ndim != 1 or vector.numel() != n:
        raise ValueError(f"`vector` must have shape ({n},) to match the parameters; got {tuple(vector.shape)}.")
    out: Params = {}
    i = 0
    for k, p in like.items():
        out[k] = vector[i : i + p.numel()].view_as(p)
        i += p.numel()
    return out


def num_params(params: Mapping[str, Tensor]) -> int:
    """Total number of scalars in ``params``."""
    return sum(p.numel() for p in params.values())


def tree_map(fn: Callable[..., Tensor], *trees: Mapping[str, Tensor]) -> Params:
    """Apply ``fn`` leafwise over dicts with the same keys."""
    keys = list(trees[0])
    for t in trees[1:]:
        if list(t) != keys:
            raise ValueError(f"parameter dicts must have the same keys; got {keys} and {list(t)}.")
    return {k: fn(*(t[k] for t in trees)) for k in keys}


def tree_dot(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Tensor:
    """Euclidean inner product of two parameter dicts."""
    return sum((a[k] * b[k]).sum() for k in a)  # type: ignore[return-value]


def tree_norm(a: Mapping[str, Tensor]) -> Tensor:
    """Euclidean norm of a parameter dict."""
    return torch.sqrt(tree_dot(a, a))


def clone_params(params: Mapping[str, Tensor], *, requires_grad: bool = False) -> Params:
    """Detached copies (optionally requiring grad)."""
    return {k: v.detach().clone().requires_grad_(requires_grad) for k, v in params.items()}


def to_numpy(params: Mapping[str, Tensor]) -> dict[str, Any]:
    """Parameters as numpy arrays (for ``.npz`` artifacts)."""
    return {k: v.detach().cpu().numpy() for k, v in params.items()}


def as_params(params: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]]) -> Params:
    """Accept a dict or (name, tensor) pairs; validate that every value is a tensor."""
    out = dict(params)
    for k, v in out.items():
        if not isinstance(v, Tensor):
            raise TypeError(f"parameter `{k}` must be a torch.Tensor; got {type(v).__name__}.")
    return out
