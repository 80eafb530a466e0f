r"""Convolutional dictionaries as explicit matrices: the reference for :mod:`dltheory.sparse.convolutional`.

A convolutional dictionary of ``m`` filters :math:`d_j` of size ``k`` (per channel) acting on signals
of size ``N`` (1-D or 2-D, ``C`` channels) by circular convolution is the banded-circulant matrix

.. math:: \mathbf D = [\,\mathbf D_1 \;\cdots\; \mathbf D_m\,] \in \mathbb R^{CN \times mN},\qquad
          (\mathbf D_j)_{:, p} = \operatorname{shift}_p(d_j \text{ zero-padded to } N)

(the global dictionary of Papyan, Sulam & Elad, IEEE TSP 65(21), 2017: the concatenation of
``m`` circulant matrices; the filter's origin is its first entry, SPORCO's convention). The
column of filter ``j`` at position ``p`` has index :math:`jN + p` (codes (m, N) flattened row
major) and its rows are indexed :math:`cN + n`.

Built here with ``numpy.roll`` of the padded filter, a code path independent of the FFT solvers
it checks; the Lasso on it is :func:`dltheory.oracles.lasso.lasso_sklearn` /
:func:`~dltheory.oracles.lasso.lasso_cvxpy`, basis pursuit
:func:`dltheory.oracles.interpolation.min_l1_interpolant`. Memory: :math:`C m N^2` floats, so
only for small signals (a 16x16 crop with 8 filters: a 256 x 2048 matrix).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike


def circulant_dictionary(filters: ArrayLike, signal_shape: Sequence[int]) -> np.ndarray:
    r"""The explicit (C N, m N) matrix of circular convolution with ``filters`` (m, C, \*k) on signals (C, \*N).

    ``signal_shape`` is N (one or two sizes, each >= the filter's). ``D @ X.reshape(-1)`` equals
    :func:`dltheory.sparse.convolutional.conv_reconstruct` of the codes ``X`` (m, \*N).
    """
    f = np.asarray(filters, dtype=np.float64)
    N = tuple(int(s) for s in signal_shape)
    d = f.ndim - 2
    if d not in (1, 2) or len(N) != d:
        raise ValueError(f"`filters` must be (m, C, k) or (m, C, k1, k2) and `signal_shape` have as many sizes; got {f.shape} and {N}.")
    if any(k > n for k, n in zip(f.shape[2:], N, strict=True)):
        raise ValueError(f"every filter size must be <= the signal size; got filters {f.shape[2:]} for signals {N}.")
    m, C = f.shape[:2]
    padded = np.zeros((m, C, *N))
    padded[(slice(None), slice(None), *(slice(0, k) for k in f.shape[2:]))] = f
    size = int(np.prod(N))
    out = np.empty((C * size, m * size))
    for p, shift in enumerate(np.ndindex(*N)):
        cols = np.roll(padded, shift, axis=tuple(range(2, 2 + d)))  # (m, C, *N): every filter at position p
        out[:, p::size] = cols.reshape(m, C * size).T
    return out
