r"""Pursuit in the multi-layer sparse model: layered thresholding (a CNN's forward pass) and layered basis pursuit.

The multi-layer (convolutional) sparse coding model of Papyan, Romano & Elad ("Convolutional
neural networks analyzed via convolutional sparse coding", JMLR 18(83), 2017): a signal is
:math:`y = D_1\Gamma_1` with :math:`\Gamma_1 = D_2\Gamma_2, \dots, \Gamma_{L-1} = D_L\Gamma_L`,
every :math:`\Gamma_i` sparse. Here the dictionaries are dense matrices
:math:`D_i \in \mathbb{R}^{m_{i-1}\times m_i}` (:math:`m_0 = n`); a convolutional :math:`D_i` is
the special case of a banded block-circulant matrix.

- Layered thresholding: :math:`\hat\Gamma_i = T_{\lambda_i}(D_i^\top\hat\Gamma_{i-1})`,
  :math:`\hat\Gamma_0 = y`. With the nonnegative soft threshold
  :math:`T_\lambda(v) = \max(v - \lambda, 0)` this is exactly the forward pass of a network with
  weights :math:`D_i^\top`, biases :math:`-\lambda_i` and ReLU activations.
- Layered basis pursuit: :math:`\hat\Gamma_i = \operatorname{argmin}_\Gamma
  \tfrac12\|\hat\Gamma_{i-1} - D_i\Gamma\|_2^2 + \lambda_i\|\Gamma\|_1`, one Lasso per layer in
  sequence (solved by :func:`~dltheory.sparse.fista`).

Batched: ``Y`` (B, n) -> codes :math:`\hat\Gamma_i` (B, m_i), one signal per row.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from dltheory.core.errors import check_choice
from dltheory.sparse._checks import check_matrix, check_signals
from dltheory.sparse.pursuit import LassoSolution, fista, hard_threshold, soft_threshold


def _check_layers(dicts: Sequence[Tensor], Y: Tensor, lams: Sequence[float | Tensor]) -> tuple[list[Tensor], Tensor, bool]:
    if not isinstance(dicts, Sequence) or isinstance(dicts, Tensor) or len(dicts) == 0:
        raise TypeError(f"`dicts` must be a non-empty list of (m_(i-1), m_i) tensors; got {type(dicts).__name__}.")
    Ds = [check_matrix(D, f"dicts[{i}]") for i, D in enumerate(dicts)]
    for i in range(1, len(Ds)):
        if Ds[i].shape[0] != Ds[i - 1].shape[1] or Ds[i].dtype != Ds[0].dtype or Ds[i].device != Ds[0].device:
            raise ValueError(f"`dicts[{i}]` must have {Ds[i - 1].shape[1]} rows (the atoms of dicts[{i - 1}], shape {tuple(Ds[i - 1].shape)}) and dicts[0]'s dtype and device; got shape {tuple(Ds[i].shape)}, {Ds[i].dtype}, {Ds[i].device}.")
    if isinstance(lams, Tensor) or not isinstance(lams, Sequence) or len(lams) != len(Ds):
        got = f"length {len(lams)}" if isinstance(lams, Sequence) and not isinstance(lams, Tensor) else type(lams).__name__
        raise ValueError(f"`lams` must be a list of {len(Ds)} thresholds (one per layer); got {got}.")
    Y, single = check_signals(Ds[0], Y)
    return Ds, Y, single


def layered_thresholding(
    dicts: Sequence[Tensor],
    Y: Tensor,
    lams: Sequence[float | Tensor],
    *,
    kind: str = "soft",
    nonnegative: bool = False,
) -> tuple[Tensor, ...]:
    r"""Layered thresholding :math:`\hat\Gamma_i = T_{\lambda_i}(D_i^\top\hat\Gamma_{i-1})`, :math:`\hat\Gamma_0 = y`.

    Papyan, Romano & Elad, JMLR 18(83), 2017 (the nonnegative soft version is the forward pass of
    a ReLU network with weights :math:`D_i^\top` and biases :math:`-\lambda_i`).

    Args:
        dicts: :math:`D_1, \dots, D_L`, shapes (n, m_1), (m_1, m_2), ...
        Y: signals (B, n) or (n,).
        lams: one threshold per layer (floats >= 0 or tensors broadcastable to (B, m_i)).
        kind: ``"soft"`` (:func:`soft_threshold`) or ``"hard"`` (:func:`hard_threshold`).
        nonnegative: threshold one-sidedly (``"soft"``: ReLU).

    Returns:
        :math:`(\hat\Gamma_1, \dots, \hat\Gamma_L)`, shapes (B, m_i) (or (m_i,)). Differentiable.

    Cost: one product per layer, :math:`O(B\sum_i m_{i-1}m_i)`.
    """
    Ds, G, single = _check_layers(dicts, Y, lams)
    threshold = {"soft": soft_threshold, "hard": hard_threshold}[check_choice("kind", kind, ("soft", "hard"))]
    out = []
    for D, lam in zip(Ds, lams, strict=True):
        G = threshold(G @ D, lam, nonnegative=nonnegative)  # (B, m_i): T(D_i^T Gamma_{i-1}) per row
        out.append(G[0] if single else G)
    return tuple(out)


def layered_basis_pursuit(
    dicts: Sequence[Tensor],
    Y: Tensor,
    lams: Sequence[float | Tensor],
    *,
    steps: int = 1000,
    tol: float | None = 1e-6,
    restart: bool = True,
    nonnegative: bool = False,
) -> tuple[LassoSolution, ...]:
    r"""Layered basis pursuit: one Lasso per layer, each fed the previous layer's codes.

    .. math:: \hat\Gamma_i = \operatorname*{argmin}_\Gamma \tfrac12\|\hat\Gamma_{i-1} - D_i\Gamma\|_2^2 + \lambda_i\|\Gamma\|_1,
              \qquad \hat\Gamma_0 = y.

    Papyan, Romano & Elad, JMLR 18(83), 2017 (the Lasso form of layered BP; with noiseless
    data and :math:`\lambda_i \to 0` it tends to layered BP with equality constraints). Each
    layer is solved by :func:`~dltheory.sparse.fista` with ``steps``, ``tol``, ``restart`` and
    ``nonnegative`` as given.

    Returns:
        One :class:`~dltheory.sparse.LassoSolution` per layer (codes (B, m_i), objective,
        iterations, converged). Differentiable like :func:`~dltheory.sparse.fista`.

    Cost: per layer that of :func:`~dltheory.sparse.fista`, :math:`4Bm_{i-1}m_i` flops a step.
    """
    Ds, G, single = _check_layers(dicts, Y, lams)
    out = []
    for D, lam in zip(Ds, lams, strict=True):
        sol = fista(D, G[0] if single else G, lam, steps, tol=tol, restart=restart, nonnegative=nonnegative)
        out.append(sol)
        G = sol.codes[None] if single else sol.codes
    return tuple(out)
