"""Optimizers as pure update rules on parameter dicts (optax-style pairs of functions).

Each optimizer is ``Optimizer(name, init, update)`` with
``init(params) -> state`` and ``update(params, grads, state, step) -> (new_params, state)``.
All are deterministic; none touches ``.data`` or the global RNG.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from dltheory.core.errors import check_choice, check_float
from dltheory.core.params import Params


@dataclass(frozen=True)
class Optimizer:
    name: str
    lr: float
    init: Callable[[Params], Any]
    update: Callable[[Params, Params, Any, int], tuple[Params, Any]]


def _no_state(params: Params) -> None:
    return None


def gd(lr: float, *, weight_decay: float = 0.0) -> Optimizer:
    r"""(Stochastic) gradient descent: :math:`w \leftarrow w - \eta (\nabla L + \lambda w)`."""
    lr = check_float("lr", lr, minimum=0.0, strict_min=True)
    wd = check_float("weight_decay", weight_decay, minimum=0.0)

    def update(params, grads, state, step):
        return {k: p - lr * (grads[k] + wd * p if wd else grads[k]) for k, p in params.items()}, state

    return Optimizer("gd", lr, _no_state, update)


def momentum(lr: float, *, beta: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0) -> Optimizer:
    r"""Heavy-ball momentum (Polyak), or Nesterov's variant: :math:`v \leftarrow \beta v + g,\ w \leftarrow w - \eta v`."""
    lr = check_float("lr", lr, minimum=0.0, strict_min=True)
    beta = check_float("beta", beta, minimum=0.0, maximum=1.0)
    wd = check_float("weight_decay", weight_decay, minimum=0.0)

    def init(params):
        return {k: torch.zeros_like(p) for k, p in params.items()}

    def update(params, grads, state, step):
        new_p, new_v = {}, {}
        for k, p in params.items():
            g = grads[k] + wd * p if wd else grads[k]
            v = beta * state[k] + g
            new_v[k] = v
            new_p[k] = p - lr * (g + beta * v if nesterov else v)
        return new_p, new_v

    return Optimizer("nesterov" if nesterov else "momentum", lr, init, update)


def adam(lr: float, *, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> Optimizer:
    """Adam (Kingma & Ba 2015) with bias correction; ``weight_decay`` is decoupled (AdamW)."""
    lr = check_float("lr", lr, minimum=0.0, strict_min=True)
    b1 = check_float("betas[0]", betas[0], minimum=0.0, maximum=1.0)
    b2 = check_float("betas[1]", betas[1], minimum=0.0, maximum=1.0)
    eps = check_float("eps", eps, minimum=0.0, strict_min=True)
    wd = check_float("weight_decay", weight_decay, minimum=0.0)

    def init(params):
        return ({k: torch.zeros_like(p) for k, p in params.items()}, {k: torch.zeros_like(p) for k, p in params.items()})

    def update(params, grads, state, step):
        m, v = state
        t = step + 1
        new_p, new_m, new_v = {}, {}, {}
        for k, p in params.items():
            g = grads[k]
            new_m[k] = b1 * m[k] + (1 - b1) * g
            new_v[k] = b2 * v[k] + (1 - b2) * g * g
            mhat = new_m[k] / (1 - b1**t)
            vhat = new_v[k] / (1 - b2**t)
            new_p[k] = p - lr * (mhat / (vhat.sqrt() + eps) + wd * p)
        return new_p, (new_m, new_v)

    return Optimizer("adam", lr, init, update)


def _global_norm(grads: Params) -> torch.Tensor:
    return torch.sqrt(sum((g * g).sum() for g in grads.values()))


def normalized_gd(lr: float, *, eps: float = 1e-30) -> Optimizer:
    r"""Normalized GD: :math:`w \leftarrow w - \eta \nabla L / \|\nabla L\|_2` (Arora, Li, Panigrahi 2022)."""
    lr = check_float("lr", lr, minimum=0.0, strict_min=True)

    def update(params, grads, state, step):
        n = _global_norm(grads).clamp_min(eps)
        return {k: p - lr * grads[k] / n for k, p in params.items()}, state

    return Optimizer("normalized_gd", lr, _no_state, update)


def sign_descent(lr: float) -> Optimizer:
    r"""Steepest descent w.r.t. the l-infinity norm with the dual-norm scaling (Gunasekar et al. 2018):
    :math:`w \leftarrow w - \eta \|\nabla L\|_1 \operatorname{sign}(\nabla L)`."""
    lr = check_float("lr", lr, minimum=0.0, strict_min=True)

    def update(params, grads, state, step):
        l1 = sum(g.abs().sum() for g in grads.values())
        return {k: p - lr * l1 * torch.sign(grads[k]) for k, p in params.items()}, state

    return Optimizer("sign_descent", lr, _no_state, update)


def coordinate_descent(lr: float) -> Optimizer:
    r"""Steepest descent w.r.t. the l1 norm (greedy coordinate descent, Gunasekar et al. 2018):
    only the coordinate with the largest :math:`|\partial_i L|` moves, by :math:`\eta\,\partial_i L`."""
    lr = check_float("lr", lr, minimum=0.0, strict_min=True)

    def update(params, grads, state, step):
        best_key, best_idx, best_val = None, None, -1.0
        for k, g in grads.items():
            i = int(torch.argmax(g.abs().reshape(-1)))
            val = float(g.reshape(-1)[i].abs())
            if val > best_val:
                best_key, best_idx, best_val = k, i, val
        new = {k: p.clone() for k, p in params.items()}
        flat = new[best_key].view(-1)
        flat[best_idx] = flat[best_idx] - lr * grads[best_key].reshape(-1)[best_idx]
        return new, state

    return Optimizer("coordinate_descent", lr, _no_state, update)


def mirror_descent(lr: float, *, p: float, step: Callable[[torch.Tensor, torch.Tensor], float] | None = None) -> Optimizer:
    r"""Mirror descent with the potential :math:`\psi(w) = \tfrac1p \|w\|_p^p` (p > 1):
    :math:`\nabla\psi(w_{t+1}) = \nabla\psi(w_t) - \eta_t \nabla L(w_t)`, with
    :math:`\nabla\psi(w) = \operatorname{sign}(w)|w|^{p-1}`. p = 2 is plain GD.

    ``step(w, grad) -> eta_t`` sets the step from the current iterate (e.g. from the local
    curvature of the mirror map); None keeps the constant ``lr``."""
    lr = check_float("lr", lr, minimum=0.0, strict_min=True)
    p = check_float("p", p, minimum=1.0, strict_min=True)
    q = 1.0 / (p - 1.0)

    def update(params, grads, state, t):
        out = {}
        for k, w in params.items():
            eta = lr if step is None else step(w, grads[k])
            z = torch.sign(w) * w.abs() ** (p - 1) - eta * grads[k]
            out[k] = torch.sign(z) * z.abs() ** q
        return out, state

    return Optimizer(f"mirror_descent(p={p:g})", lr, _no_state, update)


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "gd": gd,
    "sgd": gd,
    "momentum": momentum,
    "nesterov": lambda lr, **kw: momentum(lr, nesterov=True, **kw),
    "adam": adam,
    "normalized_gd": normalized_gd,
    "sign_descent": sign_descent,
    "coordinate_descent": coordinate_descent,
}


def make_optimizer(name: str, lr: float, **kwargs: Any) -> Optimizer:
    """Build an optimizer by name (``gd``, ``sgd``, ``momentum``, ``nesterov``, ``adam``, ...)."""
    check_choice("optimizer", name, OPTIMIZERS)
    return OPTIMIZERS[name](lr, **kwargs)
