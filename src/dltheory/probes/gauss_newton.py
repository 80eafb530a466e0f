r"""Generalized Gauss-Newton (GGN) products and operator.

For a model :math:`f_\theta(X)` with outputs :math:`z = f_\theta(X)` and a loss
:math:`\ell(z, y)` averaged as torch averages it, the GGN is
:math:`G = J^\top \nabla^2_z \ell\, J` with :math:`J = \partial z/\partial\theta`: the loss
Hessian without the term that involves the second derivative of the model. It is positive
semidefinite for convex losses (MSE, cross-entropy) and equals the Fisher information for
cross-entropy. Its eigenvalues, trace and density come from the solvers of
:mod:`dltheory.probes.lanczos` through :func:`ggn_operator`.

References: N. Schraudolph, "Fast curvature matrix-vector products for second-order gradient
descent", Neural Comput. 2002; J. Martens, "New insights and perspectives on the natural
gradient method", JMLR 2020.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from dltheory.core.errors import check_choice
from dltheory.core.params import Params, flatten, num_params, unflatten
from dltheory.probes.lanczos import SymmetricOperator

ModelFn = Callable[[Params, Any], Tensor]
LOSSES = ("mse", "cross_entropy")


def _output_hessian_product(loss: str | Callable[[Tensor, Tensor], Tensor], z: Tensor, targets: Tensor, u: Tensor) -> Tensor:
    r""":math:`\nabla^2_z \ell(z, y)\, u` for the mean-reduced loss."""
    if loss == "mse":  # F.mse_loss(z, y) = mean over all entries of (z - y)^2
        return 2.0 * u / z.numel()
    if loss == "cross_entropy":  # F.cross_entropy(z, y) = mean_n [logsumexp(z_n) - z_n[y_n]]
        p = torch.softmax(z, dim=-1)
        return (p * u - p * (p * u).sum(-1, keepdim=True)) / (z.numel() // z.shape[-1])
    _, hu = torch.func.jvp(lambda zz: torch.func.grad(lambda w: loss(w, targets))(zz), (z,), (u,))
    return hu


def _check(params: Mapping[str, Tensor], loss: Any) -> Params:
    if not callable(loss):
        check_choice("loss", loss, LOSSES)
    if not isinstance(params, Mapping) or not params:
        raise TypeError("`params` must be a non-empty dict of tensors.")
    return {k: v.detach() for k, v in params.items()}


def ggn_vector_product(
    model_fn: ModelFn,
    params: Mapping[str, Tensor],
    inputs: Any,
    targets: Tensor,
    vector: Mapping[str, Tensor] | Tensor,
    *,
    loss: str | Callable[[Tensor, Tensor], Tensor] = "mse",
) -> Params:
    r"""GGN-vector product :math:`J^\top H_\ell J v`.

    Args:
        model_fn: ``model_fn(params, inputs) -> outputs`` (e.g. a
            :class:`~dltheory.core.FunctionalModel`).
        params: the point :math:`\theta`.
        inputs, targets: the batch; ``loss(outputs, targets)`` is the mean loss.
        vector: dict shaped like ``params`` or a flat (P,) tensor.
        loss: ``"mse"`` (``F.mse_loss``, mean over all entries), ``"cross_entropy"``
            (``F.cross_entropy``, mean over samples; outputs are logits, classes on the last
            axis) or a callable ``loss(outputs, targets)`` (convex in the outputs for a PSD
            GGN; its output Hessian is applied by forward-over-reverse).

    Returns:
        :math:`Gv` as a dict shaped like ``params``.

    Cost: one forward-mode pass (:math:`Jv`) and one backward pass (:math:`J^\top u`),
    about one HVP. References: Schraudolph 2002; Martens 2020.
    """
    op = ggn_operator(model_fn, params, inputs, targets, loss=loss)
    p = _check(params, loss)
    vec = vector if isinstance(vector, Tensor) else flatten({k: vector[k] for k in p})
    return unflatten(op.matvec(op.check_vector(vec)), p)


def ggn_operator(
    model_fn: ModelFn,
    params: Mapping[str, Tensor],
    inputs: Any,
    targets: Tensor,
    *,
    loss: str | Callable[[Tensor, Tensor], Tensor] = "mse",
) -> SymmetricOperator:
    r"""The GGN :math:`J^\top H_\ell J` as a :class:`~dltheory.probes.lanczos.SymmetricOperator`.

    Use it with :func:`~dltheory.probes.lanczos.extreme_eigenvalues`,
    :func:`~dltheory.probes.lanczos.stochastic_trace` and
    :func:`~dltheory.probes.lanczos.slq_density`. The vector-Jacobian function is built
    once (one forward pass); each product then costs one forward-mode pass and one backward
    pass. Arguments as in :func:`ggn_vector_product`.
    """
    p = _check(params, loss)
    if isinstance(inputs, Mapping) and list(inputs) == list(p):
        raise TypeError("`inputs` looks like a parameter dict; the signature is ggn_operator(model_fn, params, inputs, targets).")
    first = next(iter(p.values()))

    def f(q: Params) -> Tensor:
        return model_fn(q, inputs)

    z, vjp_fn = torch.func.vjp(f, p)
    z = z.detach()

    def matvec(vec: Tensor) -> Tensor:
        v = unflatten(vec, p)
        _, jv = torch.func.jvp(f, (p,), (v,))
        (g,) = vjp_fn(_output_hessian_product(loss, z, targets, jv))
        return flatten(g).detach()

    return SymmetricOperator(matvec, num_params(p), first.dtype, first.device)
