r"""LISTA: ISTA unrolled into a trainable network (Gregor & LeCun, ICML 2010).

ISTA from :math:`x_0 = 0` with step :math:`1/L` reads :math:`x_1 = S_\theta(W_e y)`,
:math:`x_{t+1} = S_\theta(W_e y + S x_t)` with

.. math:: W_e = D^\top / L, \qquad S = I - D^\top D / L, \qquad \theta = \lambda / L.

LISTA keeps this recurrence for a fixed number of steps and learns :math:`W_e`, :math:`S` and
the per-atom thresholds :math:`\theta` (shared across steps, as in the paper). At
initialization the module computes exactly ``ista(D, Y, lam, steps).codes``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dltheory.core.errors import check_choice, check_float, check_int
from dltheory.sparse._checks import check_matrix, check_signals
from dltheory.sparse.pursuit import _soft, lipschitz_constant

LEARN = ("all", "thresholds", "none")


class LISTA(nn.Module):
    r"""Learned ISTA: ``steps`` soft-thresholding layers :math:`x \mapsto S_\theta(W_e y + S x)`.

    Args:
        D: dictionary (n, m) the weights are initialized from; dtype and device are taken from it.
        lam: :math:`\lambda \ge 0` of the Lasso the initialization solves.
        steps: number of thresholding layers (= ISTA steps), >= 1.
        learn: ``"all"`` (:math:`W_e`, :math:`S`, :math:`\theta` are parameters), ``"thresholds"``
            (only :math:`\theta`; :math:`W_e`, :math:`S` are buffers) or ``"none"`` (all buffers:
            plain unrolled ISTA).
        L: the step of the initialization is 1/L; default :math:`\|D\|_2^2`.
        nonnegative: use :math:`\max(v - \theta, 0)` (nonnegative Lasso).

    Shapes: ``forward(Y)``, Y (B, n) or (n,) -> codes (B, m) or (m,). The learned thresholds are not
    checked in ``forward`` (a check would cost a host sync per call); training can drive an entry of
    :math:`\theta` below 0, where the layer no longer is a proximal map.
    Cost: one (B, n) x (n, m) product and ``steps - 1`` products (B, m) x (m, m).
    Reference: Gregor & LeCun, "Learning fast approximations of sparse coding", ICML 2010.
    """

    def __init__(self, D: Tensor, lam: float, steps: int, *, learn: str = "all", L: float | None = None, nonnegative: bool = False):
        super().__init__()
        D = check_matrix(D).detach()
        lam = check_float("lam", lam, minimum=0.0)
        self.steps = check_int("steps", steps, minimum=1)
        self.learn = check_choice("learn", learn, LEARN)
        self.nonnegative = bool(nonnegative)
        L = float(lipschitz_constant(D)) if L is None else check_float("L", L, minimum=0.0, strict_min=True)
        m = D.shape[1]
        init = {
            "W_e": D.T / L,  # (m, n)
            "S": torch.eye(m, dtype=D.dtype, device=D.device) - D.T @ D / L,  # (m, m)
            "theta": torch.full((m,), lam / L, dtype=D.dtype, device=D.device),  # (m,)
        }
        trainable = {"all": set(init), "thresholds": {"theta"}, "none": set()}[self.learn]
        for name, value in init.items():
            if name in trainable:
                self.register_parameter(name, nn.Parameter(value.clone()))
            else:
                self.register_buffer(name, value.clone())

    def forward(self, Y: Tensor) -> Tensor:
        Y, single = check_signals(self.W_e.T, Y)
        b = Y @ self.W_e.T  # (B, m): W_e y
        x = _soft(b, self.theta, self.nonnegative)
        for _ in range(self.steps - 1):
            x = _soft(b + x @ self.S.T, self.theta, self.nonnegative)
        return x[0] if single else x

    def extra_repr(self) -> str:
        m, n = self.W_e.shape
        return f"n={n}, m={m}, steps={self.steps}, learn={self.learn!r}, nonnegative={self.nonnegative}"
