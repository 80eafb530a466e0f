r"""Curvature probes: Hessian-vector products, extreme eigenvalues, trace, spectral density.

Every probe is a function of a loss closure ``loss_fn(params) -> scalar`` and a parameter
dict (see :func:`dltheory.core.functionalize`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from dltheory.core.params import Params, flatten, unflatten

LossFn = Callable[[Params], Tensor]


def dense_hessian(loss_fn: LossFn, params: Mapping[str, Tensor]) -> Tensor:
    r"""The full Hessian :math:`\nabla^2 L` as a (P, P) matrix over the flattened parameters.

    Uses ``torch.autograd.functional.hessian`` (P Hessian-vector products); for small models
    and as the reference the iterative probes are tested against.
    """
    like = {k: v.detach() for k, v in params.items()}
    x0 = flatten(like)

    def f(vec: Tensor) -> Tensor:
        return loss_fn(unflatten(vec, like))

    H = torch.autograd.functional.hessian(f, x0)
    return 0.5 * (H + H.T)
