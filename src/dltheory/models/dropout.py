r"""Dropout on the hidden units of factorized (two-layer linear) models, and its explicit form.

A factorized model :math:`U V^\top = \sum_k u_k v_k^\top` (``U``: (m, r), ``V``: (n, r)) with
dropout on its r hidden units computes :math:`U\,\mathrm{diag}(b)\,V^\top` with i.i.d.
:math:`b_k \in \{0, 1/\theta\}`, :math:`P(b_k = 1/\theta) = \theta` (``keep_prob``). The
rescaling by :math:`1/\theta` makes the dropped-out model unbiased, :math:`E_b[U B V^\top] = U V^\top`,
so that for any PSD weights :math:`P` (rows) and :math:`Q` (columns)

.. math::

    E_b\,\big\|P^{1/2}(M - U B V^\top) Q^{1/2}\big\|_F^2
    = \big\|P^{1/2}(M - U V^\top) Q^{1/2}\big\|_F^2
    + \lambda \sum_{k=1}^r (u_k^\top P u_k)(v_k^\top Q v_k),
    \qquad \lambda = \frac{1-\theta}{\theta},

because the cross terms of the independent, zero-mean :math:`b_k - 1` vanish and
:math:`\operatorname{Var}(b_k) = (1-\theta)/\theta`.

- :math:`P = Q = I`: matrix factorization, :math:`\lambda\sum_k \|u_k\|^2\|v_k\|^2`
  (Mianjy, Arora, Vidal, "On the implicit bias of dropout", ICML 2018, Sec. 2).
- :math:`P = \mathrm{diag}(p)`, :math:`Q = \mathrm{diag}(q)`: matrix completion with entries
  drawn from :math:`p \otimes q`, :math:`\lambda\sum_k (\sum_i p_i u_{ik}^2)(\sum_j q_j v_{jk}^2)`
  (Arora, Bartlett, Mianjy, Srebro, "Dropout: explicit forms and capacity control", ICML 2021,
  Sec. 2).
- :math:`P = I`, :math:`Q = C = E[x x^\top]`: a linear network :math:`x \mapsto U B V^\top x`,
  :math:`\lambda\sum_k \|u_k\|^2\, v_k^\top C v_k` (both papers, single hidden layer).

All random draws take an explicit ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from dltheory.core.errors import check_float, check_int


def dropout_lambda(keep_prob: float) -> float:
    r"""The regularization strength of dropout, :math:`\lambda = (1-\theta)/\theta`.

    It is :math:`\operatorname{Var}(b)` for :math:`b \in \{0, 1/\theta\}` kept with probability
    :math:`\theta`. Mianjy, Arora, Vidal 2018, Sec. 2.
    """
    keep_prob = check_float("keep_prob", keep_prob, minimum=0.0, maximum=1.0, strict_min=True)
    return (1.0 - keep_prob) / keep_prob


def bernoulli_mask(shape: int | tuple[int, ...], *, keep_prob: float, generator: torch.Generator,
                   dtype: torch.dtype = torch.float64, scale: bool = True) -> Tensor:
    r"""I.i.d. dropout masks: entries :math:`1/\theta` with probability :math:`\theta`, else 0.

    Args:
        shape: shape of the mask, e.g. ``(r,)`` for one mask over r hidden units or
            ``(K, r)`` for K of them.
        keep_prob: retain probability :math:`\theta \in (0, 1]`.
        generator: draws the mask (its device is the mask's device).
        dtype: floating dtype of the mask.
        scale: multiply kept entries by :math:`1/\theta` (inverted dropout, unbiased); with
            ``False`` the mask is 0/1.

    Cost: one uniform draw per entry.
    """
    keep_prob = check_float("keep_prob", keep_prob, minimum=0.0, maximum=1.0, strict_min=True)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator; got {type(generator).__name__}.")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    for i, s in enumerate(shape):
        check_int(f"shape[{i}]", s, minimum=1)
    keep = torch.rand(shape, generator=generator, dtype=dtype, device=generator.device) < keep_prob
    mask = keep.to(dtype)
    return mask / keep_prob if scale else mask


class MaskStream:
    r"""An endless stream of dropout masks, for ``train(..., data=MaskStream(...))``.

    Each item is a ``(num_masks, width)`` tensor from :func:`bernoulli_mask`; the training loop
    passes it to the loss as the batch, so dropout-SGD is the ordinary loop with masks as data.

    Args:
        width: number of hidden units r.
        keep_prob: retain probability :math:`\theta`.
        generator: draws the masks.
        num_masks: masks per step (1: plain dropout; K > 1 averages the loss over K masks).
        dtype: mask dtype.
    """

    def __init__(self, width: int, *, keep_prob: float, generator: torch.Generator, num_masks: int = 1,
                 dtype: torch.dtype = torch.float64):
        self.width = check_int("width", width, minimum=1)
        self.num_masks = check_int("num_masks", num_masks, minimum=1)
        self.keep_prob = check_float("keep_prob", keep_prob, minimum=0.0, maximum=1.0, strict_min=True)
        self.generator = generator
        self.dtype = dtype

    def __iter__(self) -> Iterator[Tensor]:
        while True:
            yield bernoulli_mask((self.num_masks, self.width), keep_prob=self.keep_prob, generator=self.generator, dtype=self.dtype)


def _quadratic_form(A: Tensor, W: Tensor | None, name: str) -> Tensor:
    r"""Column-wise :math:`a_k^\top W a_k` for A of shape (d, r); W None (identity), a (d,)
    vector (diagonal weights) or a (d, d) matrix."""
    if W is None:
        return (A * A).sum(0)
    if W.ndim == 1:
        if W.shape[0] != A.shape[0]:
            raise ValueError(f"`{name}` must have shape ({A.shape[0]},) to match the factor of shape {tuple(A.shape)}; got {tuple(W.shape)}.")
        return (W[:, None] * A * A).sum(0)
    if W.ndim == 2 and W.shape == (A.shape[0], A.shape[0]):
        return (A * (W @ A)).sum(0)
    raise ValueError(f"`{name}` must have shape ({A.shape[0]},) or ({A.shape[0]}, {A.shape[0]}) to match the factor of shape {tuple(A.shape)}; got {tuple(W.shape)}.")


def dropout_regularizer(U: Tensor, V: Tensor, *, keep_prob: float, row_weights: Tensor | None = None,
                        col_weights: Tensor | None = None) -> Tensor:
    r"""The explicit regularizer of dropout on the hidden units of :math:`U V^\top`.

    .. math:: R(U, V) = \lambda \sum_{k=1}^r (u_k^\top P u_k)(v_k^\top Q v_k), \quad \lambda = (1-\theta)/\theta

    Args:
        U: (m, r) left factor (columns :math:`u_k`).
        V: (n, r) right factor.
        keep_prob: retain probability :math:`\theta`.
        row_weights: P as an (m,) vector (diagonal, e.g. row sampling marginals p) or an
            (m, m) PSD matrix; None for the identity.
        col_weights: Q as an (n,) vector (e.g. column marginals q) or an (n, n) matrix (e.g.
            the input covariance of a linear network); None for the identity.

    Returns:
        The scalar R (differentiable in U and V).

    Cost: O((m + n) r) with diagonal weights, O((m^2 + n^2) r) with matrices.
    References: Mianjy, Arora, Vidal 2018, Sec. 2 (P = Q = I); Arora, Bartlett, Mianjy, Srebro
    2021, Sec. 2 (diagonal marginals).
    """
    lam = dropout_lambda(keep_prob)
    if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[1]:
        raise ValueError(f"`U` and `V` must be matrices with the same number of columns; got shapes {tuple(U.shape)} and {tuple(V.shape)}.")
    return lam * (_quadratic_form(U, row_weights, "row_weights") * _quadratic_form(V, col_weights, "col_weights")).sum()


def dropout_product(U: Tensor, V: Tensor, masks: Tensor) -> Tensor:
    r"""The dropped-out products :math:`U\,\mathrm{diag}(b)\,V^\top` for a batch of masks.

    Args:
        U: (m, r); V: (n, r); masks: (K, r) from :func:`bernoulli_mask`.

    Returns:
        (K, m, n) tensor, one matrix per mask. Cost O(K m n r).
    """
    if masks.ndim != 2 or masks.shape[1] != U.shape[1] or V.shape[1] != U.shape[1]:
        raise ValueError(f"`masks` must have shape (K, {U.shape[1]}) to match `U` {tuple(U.shape)} and `V` {tuple(V.shape)}; got {tuple(masks.shape)}.")
    return (U[None] * masks[:, None, :]) @ V.T
