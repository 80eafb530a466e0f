r"""Spectral probes of weight matrices: singular values, ranks, Schatten norms, factor alignment.

For a matrix :math:`W = \sum_i \sigma_i u_i v_i^\top` (singular values in decreasing order):

- :func:`singular_values`: :math:`(\sigma_1, \ldots, \sigma_{\min(m,n)})`;
- :func:`effective_rank`: :math:`\exp(-\sum_i p_i \log p_i)`, :math:`p_i = \sigma_i / \sum_j \sigma_j`
  (Roy & Vetterli 2007);
- :func:`stable_rank`: :math:`\|W\|_F^2 / \|W\|_2^2`;
- :func:`nuclear_norm`, :func:`schatten_norm`: :math:`\|W\|_{S_p} = (\sum_i \sigma_i^p)^{1/p}`;
- :func:`singular_projections`: :math:`u_i^\top G v_i`, the component of a gradient along each
  singular direction (Arora, Cohen, Hu, Luo 2019, Thm 3:
  :math:`\dot\sigma_r = -N (\sigma_r^2)^{1-1/N} \langle \nabla\ell(W), u_r v_r^\top\rangle`);
- :func:`factor_alignment`, :func:`subspace_overlap`, :func:`balancedness`: how the singular
  spaces of adjacent factors :math:`W_{j+1} W_j` line up (Arora, Cohen, Hazan 2018; Arora et al. 2019);
- :func:`track_singular_values`: a training-loop callback recording singular values over training.

Every function takes a tensor (or a numpy array) of shape ``(..., m, n)``, works in its dtype and
on its device, and costs one SVD (:math:`O(mn\min(m,n))`) per matrix unless stated otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dltheory.core.errors import check_float, check_int

ArrayLike = Tensor | np.ndarray


def _as_matrix(W: ArrayLike, name: str = "W") -> Tensor:
    if isinstance(W, np.ndarray):
        W = torch.from_numpy(np.asarray(W, dtype=np.float64))
    if not isinstance(W, Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor or numpy array; got {type(W).__name__}.")
    if W.ndim < 2:
        raise ValueError(f"`{name}` must have shape (..., m, n) with at least 2 dimensions; got shape {tuple(W.shape)}.")
    if not torch.is_floating_point(W):
        W = W.to(torch.get_default_dtype())
    return W


def singular_values(W: ArrayLike) -> Tensor:
    r"""Singular values :math:`\sigma_1 \ge \ldots \ge \sigma_{\min(m,n)}` of ``W``, shape ``(..., min(m, n))``.

    Differentiable (``torch.linalg.svdvals``). Cost: one SVD.
    """
    return torch.linalg.svdvals(_as_matrix(W))


def nuclear_norm(W: ArrayLike) -> Tensor:
    r"""Nuclear (trace) norm :math:`\|W\|_* = \sum_i \sigma_i`, shape ``(...)``. Cost: one SVD."""
    return singular_values(W).sum(-1)


def schatten_norm(W: ArrayLike, p: float) -> Tensor:
    r"""Schatten-p norm :math:`\|W\|_{S_p} = (\sum_i \sigma_i^p)^{1/p}` (p = inf: spectral norm).

    ``p = 1`` is the nuclear norm, ``p = 2`` the Frobenius norm; ``0 < p < 1`` gives the
    quasi-norm (Arora et al. 2019 compare depth-N factorizations with :math:`S_{2/N}`).
    Cost: one SVD.
    """
    if not (isinstance(p, (int, float)) and not isinstance(p, bool)):
        raise TypeError(f"`p` must be a float > 0 or inf; got {p!r} of type {type(p).__name__}.")
    s = singular_values(W)
    if p == float("inf"):
        return s[..., 0] if s.shape[-1] else s.sum(-1)
    p = check_float("p", p, minimum=0.0, strict_min=True)
    return (s**p).sum(-1) ** (1.0 / p)


def effective_rank(W: ArrayLike) -> Tensor:
    r"""Effective rank (Roy & Vetterli, EUSIPCO 2007): :math:`\exp(H(p))`,
    :math:`H(p) = -\sum_i p_i \log p_i`, :math:`p_i = \sigma_i / \|W\|_*`.

    Lies in :math:`[1, \min(m, n)]` for a nonzero matrix: 1 for rank one, ``min(m, n)`` when all
    singular values are equal. A zero matrix gets 0 by convention. Cost: one SVD.
    """
    s = singular_values(W)
    total = s.sum(-1, keepdim=True)
    p = s / torch.where(total > 0, total, torch.ones_like(total))
    plogp = torch.where(p > 0, p * torch.log(torch.where(p > 0, p, torch.ones_like(p))), torch.zeros_like(p))
    erank = torch.exp(-plogp.sum(-1))
    return torch.where(total.squeeze(-1) > 0, erank, torch.zeros_like(erank))


def stable_rank(W: ArrayLike) -> Tensor:
    r"""Stable (numerical) rank :math:`\|W\|_F^2 / \|W\|_2^2 \in [1, \operatorname{rank} W]`.

    A zero matrix gets 0 by convention. Cost: one SVD.
    """
    s = singular_values(W)
    top = s[..., 0]
    fro2 = (s * s).sum(-1)
    return torch.where(top > 0, fro2 / torch.where(top > 0, top, torch.ones_like(top)) ** 2, torch.zeros_like(top))


def _top_k(k: int | None, available: int) -> int:
    if k is None:
        return available
    return check_int("k", k, minimum=1, maximum=available)


def singular_projections(W: ArrayLike, G: ArrayLike, *, k: int | None = None) -> Tensor:
    r"""Components :math:`\langle G, u_i v_i^\top\rangle = u_i^\top G v_i` of ``G`` along the top-``k``
    singular directions of ``W``, shape ``(k,)``.

    With ``G`` the loss gradient at the end-to-end matrix this is the driving term of
    Arora et al. 2019, Thm 3: :math:`\dot\sigma_r = -N (\sigma_r^2)^{1-1/N}\, u_r^\top \nabla\ell(W) v_r`.
    Signs of singular-vector pairs cancel, so the result is well defined for distinct singular
    values. Cost: one SVD and two matrix products.
    """
    W, G = _as_matrix(W), _as_matrix(G, "G")
    if W.ndim != 2 or G.shape != W.shape:
        raise ValueError(f"`W` and `G` must be matrices of the same shape; got {tuple(W.shape)} and {tuple(G.shape)}.")
    U, _, Vh = torch.linalg.svd(W, full_matrices=False)
    k = _top_k(k, U.shape[1])
    G = G.to(W.dtype)
    return ((U[:, :k].T @ G) * Vh[:k]).sum(-1)


def factor_alignment(W_next: ArrayLike, W_prev: ArrayLike, *, k: int | None = None) -> Tensor:
    r"""Alignment of adjacent factors of :math:`W_{j+1} W_j`: :math:`a_i = |\langle v_i(W_{j+1}), u_i(W_j)\rangle|`
    for the top-``k`` singular vectors, shape ``(k,)``.

    ``W_prev`` is :math:`W_j` of shape (d_j, d_{j-1}); ``W_next`` is :math:`W_{j+1}` of shape
    (d_{j+1}, d_j); both singular vectors live in the shared space :math:`\mathbb R^{d_j}`.
    Balanced factors (:math:`W_{j+1}^\top W_{j+1} = W_j W_j^\top`, preserved by gradient flow from
    a balanced init) have :math:`a_i = 1` wherever the singular values are distinct (Arora,
    Cohen, Hazan 2018; Arora et al. 2019, sec. 3). For repeated singular values the pairing by
    index is arbitrary: use :func:`subspace_overlap`. Cost: two SVDs.
    """
    A, B = _as_matrix(W_next, "W_next"), _as_matrix(W_prev, "W_prev")
    _check_chain(A, B)
    _, _, Vh_next = torch.linalg.svd(A, full_matrices=False)
    U_prev, _, _ = torch.linalg.svd(B.to(A.dtype), full_matrices=False)
    k = _top_k(k, min(Vh_next.shape[0], U_prev.shape[1]))
    return (Vh_next[:k] * U_prev[:, :k].T).sum(-1).abs()


def subspace_overlap(W_next: ArrayLike, W_prev: ArrayLike, *, k: int) -> Tensor:
    r"""Overlap of the top-``k`` right singular space of :math:`W_{j+1}` and left singular space of
    :math:`W_j`: :math:`\|V_k(W_{j+1})^\top U_k(W_j)\|_F^2 / k \in [0, 1]` (mean squared cosine of the
    principal angles; 1 iff the subspaces coincide). Unlike :func:`factor_alignment` it does not
    depend on how vectors are chosen inside a repeated singular value. Cost: two SVDs.
    """
    A, B = _as_matrix(W_next, "W_next"), _as_matrix(W_prev, "W_prev")
    _check_chain(A, B)
    _, _, Vh_next = torch.linalg.svd(A, full_matrices=False)
    U_prev, _, _ = torch.linalg.svd(B.to(A.dtype), full_matrices=False)
    k = _top_k(k, min(Vh_next.shape[0], U_prev.shape[1]))
    C = Vh_next[:k] @ U_prev[:, :k]
    return (C * C).sum() / k


def balancedness(W_next: ArrayLike, W_prev: ArrayLike, *, relative: bool = False) -> Tensor:
    r"""Deviation from balancedness :math:`\|W_{j+1}^\top W_{j+1} - W_j W_j^\top\|_F` (``relative``:
    divided by :math:`\|W_{j+1}\|_F^2 + \|W_j\|_F^2`).

    Gradient flow conserves :math:`W_{j+1}^\top W_{j+1} - W_j W_j^\top` (Arora, Cohen, Hazan 2018,
    Thm 1), so this stays at its initial value (0 for a balanced init; :math:`O(\alpha^2)` for
    init scale alpha). Cost: two matrix products (no SVD).
    """
    A, B = _as_matrix(W_next, "W_next"), _as_matrix(W_prev, "W_prev")
    _check_chain(A, B)
    B = B.to(A.dtype)
    D = torch.linalg.norm(A.T @ A - B @ B.T)
    if relative:
        scale = (A * A).sum() + (B * B).sum()
        return D / scale if scale > 0 else D
    return D


def _check_chain(A: Tensor, B: Tensor) -> None:
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(
            f"`W_next` (d_{{j+1}}, d_j) and `W_prev` (d_j, d_{{j-1}}) must be matrices that chain as W_next @ W_prev; "
            f"got shapes {tuple(A.shape)} and {tuple(B.shape)}."
        )


def track_singular_values(matrix_fn: Callable[[Mapping[str, Tensor]], Tensor], *, top: int | None = None,
                          prefix: str = "sigma") -> Callable[[Any], dict[str, float]]:
    r"""A callback function recording the top singular values of ``matrix_fn(params)`` over training.

    Use with the training loop: ``Callback(track_singular_values(end_to_end, top=5), every=10)``
    records ``sigma_0, sigma_1, ...`` in the history. ``fn(info)`` reads ``info.params`` (anything
    with a ``params`` attribute works). Cost per call: one SVD of the matrix.

    Args:
        matrix_fn: maps the parameter dict to a matrix (e.g. ``models.factorization.end_to_end``).
        top: how many singular values to record (default: all).
        prefix: metric name prefix.
    """
    if top is not None:
        top = check_int("top", top, minimum=1)
    if not callable(matrix_fn):
        raise TypeError(f"`matrix_fn` must be callable; got {type(matrix_fn).__name__}.")

    def fn(info: Any) -> dict[str, float]:
        with torch.no_grad():
            s = singular_values(matrix_fn(info.params)).detach().cpu()
        if s.ndim != 1:
            raise ValueError(f"`matrix_fn` must return one matrix; got a batch of shape {tuple(s.shape[:-1])}.")
        k = s.shape[0] if top is None else min(top, s.shape[0])
        return {f"{prefix}_{i}": float(s[i]) for i in range(k)}

    return fn
