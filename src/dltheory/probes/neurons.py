r"""Neuron directions: how many distinct orientations the hidden units' input weights point in.

A hidden unit :math:`k` of a layer :math:`h = \sigma(Wx + b)` has the input weight (feature)
:math:`u_k = (w_k, b_k) \in \mathbb{R}^{d(+1)}` (Zhou et al. 2022 include the bias). Two units are
*condensed* when :math:`u_k / \|u_k\|` and :math:`u_l / \|u_l\|` coincide, or, "up to sign", when they lie
on one line through the origin. This module gives

- :func:`input_weights`: the :math:`m \times d(+1)` matrix of the :math:`u_k` of an ``nn.Linear`` (or a given matrix);
- :func:`cosine_similarity_matrix`: :math:`C_{kl} = u_k^\top u_l / (\|u_k\| \|u_l\|)` (absolute value by option);
- :func:`neuron_directions`: a deterministic clustering of the unit vectors by complete linkage
  (every pair inside a cluster has cosine at least ``threshold``) and the share of the weight mass
  :math:`\|u_k\|` held by each cluster, largest first; :attr:`Directions.count` is the number of
  clusters needed to hold ``coverage`` of the mass.

Reference: Zhou, Zhou, Luo, Zhang, Xu, "Towards understanding the condensation of neural networks at
initial training", NeurIPS 2022 (Figs. 2-4: the cosine-similarity heat maps of the :math:`u_k`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["Directions", "cosine_similarity_matrix", "input_weights", "neuron_directions", "orientation_amplitude"]


def input_weights(layer: nn.Linear | Tensor, *, bias: bool = True) -> Tensor:
    """The units' input weights :math:`u_k = (w_k, b_k)` as rows of an ``(m, d + 1)`` matrix (``(m, d)`` without bias).

    Args:
        layer: an ``nn.Linear`` (its ``weight`` ``(m, d)`` and ``bias`` ``(m,)``), or a 2-D tensor whose
            rows are already the units' weight vectors (then ``bias`` must be False or the bias is its last column).
        bias: append the layer's bias as a last column (ignored for a tensor, whose columns are used as given).

    Returns:
        a detached ``(m, d[+1])`` tensor on the layer's device and dtype.
    """
    if isinstance(layer, nn.Linear):
        w = layer.weight.detach()
        if bias:
            if layer.bias is None:
                raise ValueError("`bias` must be False for an nn.Linear without bias; got bias=True.")
            w = torch.cat([w, layer.bias.detach()[:, None]], 1)
        return w
    if isinstance(layer, Tensor):
        if layer.dim() != 2:
            raise ValueError(f"`layer` must be an nn.Linear or a 2-D tensor (units x inputs); got shape {tuple(layer.shape)}.")
        if not layer.is_floating_point():
            raise TypeError(f"`layer` must be a floating-point tensor; got dtype {layer.dtype}.")
        return layer.detach()
    raise TypeError(f"`layer` must be an nn.Linear or a torch.Tensor; got {type(layer).__name__}.")


def _unit_rows(u: Tensor) -> tuple[Tensor, Tensor]:
    norms = u.norm(dim=1)
    if u.shape[0] < 1:
        raise ValueError(f"need at least one unit; got shape {tuple(u.shape)}.")
    if bool((norms == 0).any()):
        raise ValueError(f"every unit's weight vector must be nonzero (a zero vector has no direction); units {torch.nonzero(norms == 0).flatten().tolist()[:10]} are zero.")
    return u / norms[:, None], norms


def cosine_similarity_matrix(layer: nn.Linear | Tensor, *, bias: bool = True, sign_invariant: bool = False) -> Tensor:
    r"""Pairwise cosine similarity :math:`C_{kl} = u_k^\top u_l / (\|u_k\|\|u_l\|)` of the units' input weights.

    Args:
        layer: an ``nn.Linear`` or an ``(m, d)`` matrix of the units' weight vectors (rows).
        bias: include the bias in :math:`u_k` (for an ``nn.Linear``).
        sign_invariant: return :math:`|C_{kl}|` (units on one line through the origin count as equal).

    Returns:
        the ``(m, m)`` matrix, device and dtype of the weights. Cost: one ``m x m x d`` matrix product.
    """
    u, _ = _unit_rows(input_weights(layer, bias=bias))
    c = (u @ u.T).clamp(-1.0, 1.0)
    return c.abs() if sign_invariant else c


def orientation_amplitude(layer: nn.Linear | Tensor, *, bias: bool = True) -> tuple[Tensor, Tensor]:
    r"""Zhou et al.'s polar coordinates of 2-D input weights :math:`u_k = (w_k, b_k)` (one input and a bias).

    .. math:: A_k = \|u_k\|, \qquad \theta_k = \operatorname{sign}(b_k)\arccos(w_k / A_k) \in [-\pi, \pi]

    Returns ``(theta, amplitude)``, each ``(m,)``. Raises ``ValueError`` unless :math:`u_k` has 2 entries.
    """
    u = input_weights(layer, bias=bias)
    if u.shape[1] != 2:
        raise ValueError(f"orientation_amplitude needs 2-D input weights (w, b); got shape {tuple(u.shape)}.")
    amp = u.norm(dim=1)
    theta = torch.where(u[:, 1] >= 0, 1.0, -1.0).to(u.dtype) * torch.arccos((u[:, 0] / amp.clamp_min(torch.finfo(u.dtype).tiny)).clamp(-1, 1))
    return theta, amp


@dataclass(frozen=True)
class Directions:
    """Clusters of the units' directions (see :func:`neuron_directions`).

    Attributes:
        labels: ``(m,)`` cluster of each unit, clusters numbered by decreasing mass (0 = heaviest).
        mass: ``(k,)`` share of the total weight mass in each cluster (sums to 1), decreasing.
        centers: ``(k, d)`` unit vector of each cluster: the normalized mass-weighted mean of its
            members' unit vectors (each flipped to the sign of the cluster's heaviest unit when sign-invariant).
        count: the number of clusters, heaviest first, needed to hold ``coverage`` of the mass.
        cosine: the ``(m, m)`` (absolute, if sign-invariant) cosine-similarity matrix that was clustered.
    """

    labels: Tensor
    mass: Tensor
    centers: Tensor
    count: int
    cosine: Tensor


def _complete_linkage(sim: Tensor, threshold: float) -> list[list[int]]:
    """Agglomerative clustering of a similarity matrix, complete linkage: repeatedly merge the two
    clusters whose least similar pair is the most similar, while that similarity exceeds ``threshold``
    (ties broken by the lowest cluster indices). O(m^3) time, O(m^2) memory."""
    m = sim.shape[0]
    link = sim.clone()  # link[i, j] = min similarity between clusters i and j
    link.fill_diagonal_(-torch.inf)
    alive = torch.ones(m, dtype=torch.bool, device=sim.device)
    members: list[list[int]] = [[k] for k in range(m)]
    for _ in range(m - 1):
        masked = link.masked_fill(~(alive[:, None] & alive[None, :]), -torch.inf)
        best = int(torch.argmax(masked))  # first maximum in row-major order: lowest (i, j)
        i, j = divmod(best, m)
        if not float(masked[i, j]) > threshold:
            break
        i, j = min(i, j), max(i, j)
        members[i] += members[j]
        members[j] = []
        alive[j] = False
        merged = torch.minimum(link[i], link[j])
        link[i], link[:, i] = merged, merged
        link[i, i] = -torch.inf
    return [sorted(c) for c in members if c]


def neuron_directions(layer: nn.Linear | Tensor, *, bias: bool = True, threshold: float = 0.95, sign_invariant: bool = False,
                      coverage: float = 0.9) -> Directions:
    r"""Cluster the hidden units' input-weight directions and count those that carry the weight mass.

    Units :math:`u_k/\|u_k\|` are grouped by complete-linkage agglomerative clustering on the cosine
    similarity (:math:`|\cos|` when ``sign_invariant``): two clusters merge while *every* pair across them
    has similarity above ``threshold``, so inside a cluster all pairs do. This is deterministic and
    equals scikit-learn's ``AgglomerativeClustering(metric="precomputed", linkage="complete",
    distance_threshold=1 - threshold)`` on the distance :math:`1 - \cos` (up to ties). Each cluster's mass
    is :math:`\sum_{k \in c}\|u_k\| / \sum_k \|u_k\|`; ``count`` is the smallest number of clusters,
    heaviest first, whose mass reaches ``coverage``. With ``threshold=0.95``, ``coverage=0.9``:
    "90% of the weight mass lies on ``count`` directions, each of angular diameter at most 18 degrees".

    Args:
        layer: an ``nn.Linear`` or an ``(m, d)`` matrix of weight vectors (rows; none zero).
        bias: include the bias in :math:`u_k` (for an ``nn.Linear``).
        threshold: the cosine in (-1, 1) above which a cluster's pairs must all lie.
        sign_invariant: cluster lines (:math:`\pm u`) instead of directions.
        coverage: the mass share in (0, 1] that ``count`` clusters must hold.

    Returns:
        :class:`Directions`, tensors on the weights' device and dtype.

    Cost: the ``m x m`` cosine matrix and at most ``m - 1`` merges of O(m^2) each: O(m^3), fine to m ~ 2000.
    Reference: Zhou et al., NeurIPS 2022 (condensed orientations; the maximal number is twice the
    activation's multiplicity).
    """
    if not isinstance(threshold, (int, float)) or not -1.0 < float(threshold) < 1.0:
        raise ValueError(f"`threshold` must be a float in (-1, 1); got {threshold!r}.")
    if not isinstance(coverage, (int, float)) or not 0.0 < float(coverage) <= 1.0:
        raise ValueError(f"`coverage` must be a float in (0, 1]; got {coverage!r}.")
    u, norms = _unit_rows(input_weights(layer, bias=bias))
    sim = (u @ u.T).clamp(-1.0, 1.0)
    if sign_invariant:
        sim = sim.abs()
    clusters = _complete_linkage(sim, float(threshold))
    total = norms.sum()
    masses = torch.stack([norms[c].sum() / total for c in clusters])
    order = torch.argsort(masses, descending=True, stable=True).tolist()
    labels = torch.empty(u.shape[0], dtype=torch.long, device=u.device)
    centers = []
    for new, old in enumerate(order):
        c = torch.tensor(clusters[old], device=u.device)
        labels[c] = new
        vecs = u[c] * norms[c, None]
        if sign_invariant:
            ref = u[c[torch.argmax(norms[c])]]
            vecs = vecs * torch.where(vecs @ ref >= 0, 1.0, -1.0).to(u.dtype)[:, None]
        center = vecs.sum(0)
        centers.append(center / center.norm())
    mass = masses[order]
    reached = torch.cumsum(mass, 0) >= float(coverage) - 1e-12
    count = int(torch.nonzero(reached)[0]) + 1
    return Directions(labels=labels, mass=mass, centers=torch.stack(centers), count=count, cosine=sim)
