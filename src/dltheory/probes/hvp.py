r"""Hessian-vector products of a loss closure, and the Hessian as a symmetric operator.

``loss_fn(params) -> scalar`` (``data`` None) or ``loss_fn(params, batch) -> scalar`` (the
mean loss on a batch, the closure the training loop takes) with ``data`` one batch (a tuple
of tensors) or an iterable of batches; the Hessian is then that of the size-weighted mean
:math:`L = \sum_b n_b L_b / \sum_b n_b`, accumulated batch by batch.

Two ways to differentiate twice (Pearlmutter, Neural Comput. 1994):
``reverse`` (double backward, :math:`\nabla_\theta\langle\nabla_\theta L, v\rangle`) and
``forward`` (forward-over-reverse, ``torch.func.jvp(torch.func.grad(L))``). The operator form
keeps the gradient graph and needs one backward pass per product, as PyHessian does.

**Closure checks.** :func:`hessian_operator` (under every probe) checks the closure once,
when it builds the operator, on the first batch: the parameter names against those of the
closure's model when the closure carries them (``loss_fn.parameter_names``, set by
:func:`~dltheory.probes.curvature.loss_closure`); that the loss reaches at least one
parameter in the gradient graph (a dict of another model's names, run with
``functional_call``, leaves every gradient ``None`` and would give a Hessian of exactly 0);
and that two evaluations at the same point agree (dropout in train mode, including
``F.dropout(x, training=self.training)``, makes the loss random and its Hessian
undefined). Cost: the gradient it needs anyway plus one forward pass (and, for the
multi-batch and ``forward`` operators, one gradient of the first batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from dltheory.core.errors import check_choice
from dltheory.core.params import Params, flatten, num_params, unflatten
from dltheory.probes.lanczos import SymmetricOperator

LossFn = Callable[..., Tensor]
HVP_METHODS = ("auto", "reverse", "forward")


# --------------------------------------------------------------------------- batches


def _is_single_batch(data: Any) -> bool:
    return isinstance(data, (tuple, list)) and len(data) > 0 and all(isinstance(t, Tensor) for t in data)


def _batch_size(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    if isinstance(first, Tensor) and first.ndim > 0:
        return int(first.shape[0])
    raise TypeError(f"each batch must be a tensor or a tuple of tensors with a batch dimension; got {type(first).__name__}.")


def _weighted_batches(data: Any) -> list[tuple[Any, float]]:
    """``[(batch, weight)]`` with weights n_b / sum n_b (one batch of weight 1 for a tuple)."""
    if _is_single_batch(data):
        return [(tuple(data), 1.0)]
    if not isinstance(data, Iterable):
        raise TypeError(f"`data` must be a tuple of tensors or an iterable of batches; got {type(data).__name__}.")
    batches = list(data)
    if not batches:
        raise ValueError("`data` must hold at least one batch; got an empty iterable.")
    sizes = [_batch_size(b) for b in batches]
    total = float(sum(sizes))
    return [(b, n / total) for b, n in zip(batches, sizes, strict=True)]


def _closures(loss_fn: LossFn, data: Any) -> list[tuple[Callable[[Params], Tensor], float]]:
    if data is None:
        return [(loss_fn, 1.0)]
    return [((lambda p, b=b: loss_fn(p, b)), w) for b, w in _weighted_batches(data)]


# --------------------------------------------------------------------------- HVPs


def _check_params(params: Mapping[str, Tensor]) -> Params:
    if not isinstance(params, Mapping) or not params:
        raise TypeError("`params` must be a non-empty dict of tensors.")
    out = {k: v.detach() for k, v in params.items()}
    dtypes = {v.dtype for v in out.values()}
    if len(dtypes) != 1 or not next(iter(dtypes)).is_floating_point:
        raise TypeError(f"`params` must share one floating dtype; got {sorted(map(str, dtypes))}.")
    return out


def _check_vector_dict(vector: Mapping[str, Tensor] | Tensor, params: Params) -> Params:
    if isinstance(vector, Tensor):
        return unflatten(vector.to(dtype=next(iter(params.values())).dtype), params)
    if not isinstance(vector, Mapping) or list(vector) != list(params):
        got = list(vector) if isinstance(vector, Mapping) else type(vector).__name__
        raise ValueError(f"`vector` must be a dict with the keys of `params` {list(params)}; got {got}.")
    for k, p in params.items():
        if vector[k].shape != p.shape:
            raise ValueError(f"`vector['{k}']` must have shape {tuple(p.shape)} like the parameter; got {tuple(vector[k].shape)}.")
    return {k: v.to(dtype=params[k].dtype) for k, v in vector.items()}


def _check_names(loss_fn: LossFn, params: Mapping[str, Tensor]) -> None:
    """ValueError when ``params`` has names the closure's model does not know.

    Only for closures that carry ``parameter_names`` (and optionally ``buffer_names``), as
    :func:`~dltheory.probes.curvature.loss_closure` sets them. Missing names are allowed
    (those parameters stay at the model's own values), unknown ones are not: the forward
    pass would ignore them.
    """
    names = getattr(loss_fn, "parameter_names", None)
    if names is None:
        return
    known = set(names) | set(getattr(loss_fn, "buffer_names", ()))
    unknown = [k for k in params if k not in known]
    if unknown:
        missing = [n for n in names if n not in params]
        raise ValueError(
            f"`params` must be named like the parameters of the closure's model {list(names)}; got unknown names "
            f"{unknown} (missing {missing}). Pass functionalize(model).params for the model the closure was built on."
        )


def _disconnected(params: Mapping[str, Tensor]) -> ValueError:
    return ValueError(
        f"`loss_fn` must depend on `params`; got a loss whose gradient graph reaches none of {list(params)} "
        "(its Hessian would be exactly 0). Check that `params` are named like the parameters the closure's "
        "model uses (e.g. functionalize(model).params of that model) and that the loss is not computed from detached tensors."
    )


def _closure_gradient(
    f: Callable[[Params], Tensor], params: Params, *, create_graph: bool, check_deterministic: bool, check_connected: bool = True
) -> tuple[Params, tuple[Tensor | None, ...]]:
    """Leaves and gradient of ``f`` at ``params``, after checking the closure.

    Raises ValueError when the loss is not a scalar, (with ``check_connected``) does not
    reach any parameter, or (with ``check_deterministic``) differs between two evaluations
    at the same point. Cost: one forward + one backward (which callers need anyway) and one
    more forward for the determinism check.
    """
    leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    with torch.enable_grad():
        loss = f(leaves)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            got = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"`loss_fn` must return a scalar tensor; got {got}.")
        if not loss.requires_grad:
            if check_connected:
                raise _disconnected(params)
            return leaves, (None,) * len(leaves)
        grads = torch.autograd.grad(loss, list(leaves.values()), create_graph=create_graph, allow_unused=True)
    if check_connected and all(g is None for g in grads):
        raise _disconnected(params)
    if check_deterministic:
        with torch.no_grad():  # no second graph: memory stays one gradient graph
            again = f(leaves).detach()
        _check_same(loss.detach(), again)
    return leaves, grads


def _check_same(first: Tensor, second: Tensor) -> None:
    """ValueError when two evaluations of the loss at one point differ beyond rounding."""
    a, b = float(first), float(second)
    if not (math.isfinite(a) and math.isfinite(b)):
        return  # a non-finite loss is reported by the solvers
    # 1000 ulps: room for non-deterministic reductions (GPU atomics), far below any dropout noise
    if abs(a - b) > 1000 * torch.finfo(first.dtype).eps * max(abs(a), abs(b)):
        raise ValueError(
            f"`loss_fn` must be a deterministic function of `params`; got two evaluations at the same point that differ "
            f"({a!r} and {b!r}), so its Hessian is undefined. Dropout active in train mode (nn.Dropout or "
            "F.dropout(x, training=self.training)) or other sampling inside the closure does this: use "
            "loss_closure(..., mode='eval') (or model.eval()), or draw the randomness from a generator seeded at each "
            "call; hessian_operator(..., check_deterministic=False) skips this check."
        )


def _hvp_reverse(f: Callable[[Params], Tensor], params: Params, vector: Params) -> Params:
    p = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    with torch.enable_grad():
        loss = f(p)
        if not loss.requires_grad:
            raise _disconnected(params)
        grads = torch.autograd.grad(loss, list(p.values()), create_graph=True, allow_unused=True)
        if all(g is None for g in grads):
            raise _disconnected(params)
        pairs = [(g, vector[k]) for g, k in zip(grads, p, strict=True) if g is not None and g.requires_grad]
        if not pairs:
            return {k: torch.zeros_like(v) for k, v in params.items()}
        hv = torch.autograd.grad([g for g, _ in pairs], list(p.values()), [v for _, v in pairs], allow_unused=True)
    return {k: torch.zeros_like(params[k]) if h is None else h.detach() for k, h in zip(p, hv, strict=True)}


def _hvp_forward(f: Callable[[Params], Tensor], params: Params, vector: Params) -> Params:
    _, hv = torch.func.jvp(torch.func.grad(f), (params,), (vector,))
    return {k: h.detach() for k, h in hv.items()}


def hvp(
    loss_fn: LossFn,
    params: Mapping[str, Tensor],
    vector: Mapping[str, Tensor] | Tensor,
    *,
    data: Any = None,
    method: str = "auto",
) -> Params:
    r"""Hessian-vector product :math:`\nabla^2 L(\theta)\, v`.

    ``reverse``: double backward, :math:`\nabla_\theta \langle \nabla_\theta L, v\rangle`;
    ``forward``: forward-over-reverse, ``torch.func.jvp(torch.func.grad(L), (θ,), (v,))``;
    ``auto``: ``reverse`` (measured faster on CPU: for a 2.4k-parameter MLP one reverse HVP
    costs about half a forward-over-reverse one, whose torch.func overhead dominates on small
    models), falling back to ``forward`` for operations without a double backward.

    Args:
        loss_fn: ``loss_fn(params)`` (``data`` None) or ``loss_fn(params, batch)``.
        params: the point :math:`\theta` (dict of tensors; not modified).
        vector: :math:`v`, a dict shaped like ``params`` or a flat (P,) tensor.
        data: None, one batch (tuple of tensors), or an iterable of batches: the products
            are accumulated with weights :math:`n_b/\sum n_b`.
        method: ``auto``, ``reverse`` or ``forward``.

    Returns:
        :math:`Hv` as a dict shaped like ``params``.

    Raises:
        ValueError: ``params`` named unlike the closure's model (``loss_closure``), or a
            loss that reaches none of ``params`` (checked with ``reverse``, for free).

    Cost: one forward + two backward passes per batch (reverse), or one forward-over-reverse
    pass (about the same; see ``benchmarks/curvature.py``). Each call rebuilds the gradient
    graph: for several products at the same point use :func:`make_hvp` or
    :func:`hessian_operator`, which build it once (1.3-2.1x faster per product on MLPs and a
    ResNet-20). ``hvp`` keeps no hidden cache on purpose: a cache keyed on the tensors would
    hold the graph's memory after the call and could return stale products when the
    closure's captured state changes.

    References: B. Pearlmutter, "Fast exact multiplication by the Hessian", Neural Comput. 1994.
    """
    method = check_choice("method", method, HVP_METHODS)
    p = _check_params(params)
    _check_names(loss_fn, p)
    v = _check_vector_dict(vector, p)
    out = {k: torch.zeros_like(x) for k, x in p.items()}
    for f, w in _closures(loss_fn, data):
        hv = _one_hvp(f, p, v, method)
        for k in out:
            out[k] = out[k] + w * hv[k]
    return out


def _one_hvp(f: Callable[[Params], Tensor], p: Params, v: Params, method: str) -> Params:
    if method == "reverse":
        return _hvp_reverse(f, p, v)
    if method == "forward":
        return _hvp_forward(f, p, v)
    try:
        return _hvp_reverse(f, p, v)
    except RuntimeError:
        return _hvp_forward(f, p, v)


def make_hvp(
    loss_fn: LossFn, params: Mapping[str, Tensor], *, data: Any = None, method: str = "auto", check_deterministic: bool = True
) -> Callable[[Mapping[str, Tensor] | Tensor], Params]:
    r"""``v -> H v`` at fixed ``params`` (and ``data``), reusing work across products.

    :math:`v \mapsto \nabla^2 L(\theta) v`. With one batch and ``method`` ``auto`` or
    ``reverse``, the gradient graph is built once (one forward + one backward with
    create_graph) and each product is a single backward pass through it, as in PyHessian;
    otherwise each call is :func:`hvp`. Cost per product: one backward of the gradient graph
    (measured 0.9-1.6 gradients in ``benchmarks/curvature.py``) or one :func:`hvp`. The
    closure is checked once, as in :func:`hessian_operator`.

    Example:
        >>> Hv = make_hvp(loss_fn, params)        # doctest: +SKIP
        >>> out = Hv(vector)                      # dict shaped like params  # doctest: +SKIP

    References: Pearlmutter 1994; Yao et al., "PyHessian" (2020) (same cached-graph product).
    """
    op = hessian_operator(loss_fn, params, data=data, method=method, check_deterministic=check_deterministic)
    like = _check_params(params)

    def apply(vector: Mapping[str, Tensor] | Tensor) -> Params:
        v = _check_vector_dict(vector, like)
        return unflatten(op.matvec(flatten(v)), like)

    return apply


def hessian_operator(
    loss_fn: LossFn, params: Mapping[str, Tensor], *, data: Any = None, method: str = "auto", check_deterministic: bool = True
) -> SymmetricOperator:
    r"""The loss Hessian :math:`\nabla^2 L(\theta)` as a :class:`SymmetricOperator` on flat vectors.

    With a single batch and ``method`` ``auto``/``reverse`` the gradient graph is kept and
    every product is one backward pass through it (``matmat`` batches several products with
    ``is_grads_batched``); with several batches each product loops over them.

    .. math:: v \mapsto \sum_b w_b \nabla^2 L_b(\theta) v,\quad w_b = n_b / \textstyle\sum_b n_b

    Args:
        loss_fn, params, data, method: as in :func:`hvp`.
        check_deterministic: evaluate the loss twice at ``params`` (first batch) and raise
            when the two values differ by more than 1000 ulps (a random closure: dropout in
            train mode). False skips it, for a closure known to be deterministic whose
            forward pass is too costly to repeat.

    Raises:
        ValueError: ``params`` named unlike the closure's model (``loss_fn.parameter_names``,
            set by :func:`~dltheory.probes.curvature.loss_closure`); a loss that is not a
            scalar or whose gradient graph reaches none of ``params``; a random loss.

    Cost: one forward + backward to build the graph (for several batches or ``forward``,
    one gradient of the first batch for the checks), one more forward for the determinism
    check, then one HVP per product; memory: one gradient graph. References: Pearlmutter 1994.
    """
    method = check_choice("method", method, HVP_METHODS)
    p = _check_params(params)
    _check_names(loss_fn, p)
    return _hessian_operator(loss_fn, p, data, method, check_deterministic=bool(check_deterministic), check_connected=True)


def _hessian_operator(loss_fn: LossFn, p: Params, data: Any, method: str, *, check_deterministic: bool, check_connected: bool) -> SymmetricOperator:
    """:func:`hessian_operator` on checked ``params``, with its closure checks as options."""
    first = next(iter(p.values()))
    closures = _closures(loss_fn, data)
    P = num_params(p)
    cached = method != "forward" and len(closures) == 1
    if cached or check_deterministic or check_connected:
        leaves, grads = _closure_gradient(closures[0][0], p, create_graph=cached, check_deterministic=check_deterministic, check_connected=check_connected)
    if cached:
        return _cached_reverse_operator(leaves, grads, first, P)

    def matvec(vec: Tensor) -> Tensor:
        v = unflatten(vec, p)
        acc = torch.zeros_like(vec)
        for f, w in closures:
            acc = acc + w * flatten(_one_hvp(f, p, v, method))
        return acc

    return SymmetricOperator(matvec, P, first.dtype, first.device)


def _cached_reverse_operator(leaves: Params, grads: tuple[Tensor | None, ...], first: Tensor, P: int) -> SymmetricOperator:
    """Products through the kept gradient graph ``grads`` of the loss at ``leaves``."""
    live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
    sizes = [v.numel() for v in leaves.values()]
    offsets = [0]
    for s in sizes:
        offsets.append(offsets[-1] + s)
    outs = [grads[i] for i in live]
    inputs = list(leaves.values())

    def product(V: Tensor, batched: bool) -> Tensor:
        lead = (V.shape[0],) if batched else ()
        if not live:
            return torch.zeros_like(V)
        gouts = [V[..., offsets[i] : offsets[i + 1]].reshape(*lead, *inputs[i].shape) for i in live]
        with torch.enable_grad():
            hv = torch.autograd.grad(outs, inputs, gouts, retain_graph=True, allow_unused=True, is_grads_batched=batched)
        return torch.cat([torch.zeros(*lead, s, dtype=V.dtype, device=V.device) if h is None else h.reshape(*lead, s) for h, s in zip(hv, sizes, strict=True)], dim=-1)

    return SymmetricOperator(lambda v: product(v, False), P, first.dtype, first.device, lambda V: product(V, True))
