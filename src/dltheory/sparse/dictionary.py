r"""Dictionaries: unit-norm atoms, mutual coherence and the Babel function.

A dictionary is a tensor ``D`` of shape (n, m) whose m columns :math:`d_1, \dots, d_m \in \mathbb{R}^n`
are the atoms; a signal is :math:`y = Dx` with a sparse code :math:`x \in \mathbb{R}^m`.

The two measures of how far the atoms are from orthogonal, for unit-norm atoms:

.. math:: \mu(D) = \max_{i \ne j} |d_i^\top d_j|, \qquad
          \mu_1(k) = \max_{i} \max_{|\Lambda| = k,\, i \notin \Lambda} \sum_{j \in \Lambda} |d_i^\top d_j|

(mutual coherence, Donoho & Elad, PNAS 2003; Babel function, Tropp, IEEE Trans. Inf. Theory 50(10), 2004).
They give the classical uniqueness and recovery guarantees: every k-sparse representation with
:math:`k < (1 + 1/\mu)/2` is the unique sparsest one and both OMP and basis pursuit recover it
(Donoho & Elad 2003; Tropp 2004), and more generally whenever
:math:`\mu_1(k - 1) + \mu_1(k) < 1` (Tropp 2004: the Babel-function form of his Exact Recovery
Condition). :math:`\mu_1(k) \le k\mu`, with
equality for the union of the identity and a normalized Hadamard basis (:math:`\mu = 1/\sqrt n`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dltheory.core.errors import check_float, check_int
from dltheory.sparse._checks import check_matrix


def _atom_norms(D: Tensor, name: str) -> Tensor:
    norms = torch.linalg.vector_norm(D, dim=0)
    zero = (norms == 0).nonzero().flatten()
    if zero.numel():
        raise ValueError(f"`{name}` must have no zero atoms (columns); atom {int(zero[0])} is zero.")
    return norms


def normalize_atoms(D: Tensor) -> Tensor:
    r"""The dictionary with every atom scaled to unit Euclidean norm, :math:`d_j / \|d_j\|_2`.

    Differentiable; cost O(nm). Shapes: (n, m) -> (n, m).

    Raises:
        ValueError: ``D`` is not a finite 2-D float tensor or has a zero column.
    """
    D = check_matrix(D)
    return D / _atom_norms(D, "D")


def check_dictionary(D: object, *, name: str = "D", tol: float | None = None) -> Tensor:
    r"""``D`` unchanged if it is a finite 2-D float tensor with unit-norm columns, else an error.

    For routines whose math assumes :math:`\|d_j\|_2 = 1` (OMP picks the atom of largest
    :math:`|d_j^\top r|`, which favors long atoms otherwise). ``tol`` (default
    :math:`\sqrt{\varepsilon}` of the dtype: 1.5e-8 in float64, 3.5e-4 in float32) bounds
    :math:`\max_j |\|d_j\|_2 - 1|`; :func:`normalize_atoms` meets it with room to spare (its
    rounding error is a few :math:`\varepsilon`).

    Raises:
        ValueError: naming the first atom whose norm is off, its norm, and how many are off.
    """
    D = check_matrix(D, name)
    tol = torch.finfo(D.dtype).eps ** 0.5 if tol is None else check_float("tol", tol, minimum=0.0, strict_min=True)
    norms = torch.linalg.vector_norm(D, dim=0)
    off = ((norms - 1).abs() > tol).nonzero().flatten()
    if off.numel():
        first = int(off[0])
        raise ValueError(f"`{name}` must have unit-norm atoms (columns) to within {tol:.2g}; atom {first} has norm {float(norms[first]):.6g} ({off.numel()} of {D.shape[1]} atoms are off). Use dltheory.sparse.normalize_atoms({name}).")
    return D


def _abs_normalized_gram(D: Tensor) -> Tensor:
    """|G| with G the Gram matrix of the normalized atoms, diagonal set to -1 (below every entry)."""
    D = check_matrix(D)
    if D.shape[1] < 2:
        raise ValueError(f"`D` must have at least 2 atoms (columns) to compare; got shape {tuple(D.shape)}.")
    Dn = D / _atom_norms(D, "D")
    G = (Dn.T @ Dn).abs()
    G.fill_diagonal_(-1.0)
    return G


def mutual_coherence(D: Tensor) -> float:
    r"""Mutual coherence :math:`\mu(D) = \max_{i \ne j} |d_i^\top d_j| / (\|d_i\|\|d_j\|)`.

    Atoms are normalized first (the definition for unit-norm atoms applied to :math:`D` with
    normalized columns). Cost: one Gram matrix, O(n m^2). Shapes: D (n, m), m >= 2.
    Reference: Donoho & Elad, "Optimally sparse representation in general (nonorthogonal)
    dictionaries via l1 minimization", PNAS 100(5), 2003.
    """
    return float(_abs_normalized_gram(D).max())


def babel(D: Tensor, k: int) -> float:
    r"""Babel function :math:`\mu_1(k) = \max_i \max_{|\Lambda|=k,\, i\notin\Lambda} \sum_{j\in\Lambda} |d_i^\top d_j|`.

    For each atom, the sum of its k largest absolute inner products with the other
    (normalized) atoms; the maximum over atoms. :math:`\mu_1(1) = \mu(D)`. Cost: one Gram matrix
    and a top-k per row, O(n m^2 + m^2 \log k). Shapes: D (n, m); 1 <= k <= m - 1.
    Reference: Tropp, "Greed is good: algorithmic results for sparse approximation",
    IEEE Trans. Inf. Theory 50(10), 2004, Def. 3.1.
    """
    G = _abs_normalized_gram(D)
    k = check_int("k", k, minimum=1, maximum=G.shape[0] - 1)
    return float(G.topk(k, dim=1).values.sum(dim=1).max())
