r"""Linear regions of ReLU networks on a 2-D input: exact enumeration, and the counting bounds.

A ReLU network is affine on each cell of a partition of its input space; the cells are the
activation regions, one per realized on/off pattern of the hidden units (each pattern's set is
convex, an intersection of half-spaces, so regions and realized patterns are the same).
:func:`linear_regions_2d` enumerates them exactly inside a box by refining convex polygons layer by
layer: within a cell of the first l layers the network's hidden state is affine in x, so each unit
of layer l + 1 cuts the cell along one straight line (Serra, Tjandraatmadja, Ramalingam, ICML 2018,
count the same regions with a mixed-integer program; in 2-D, polygon clipping is exact and fast).

Bounds: :func:`zaslavsky_count` (m lines in general position cut R^d into
:math:`\sum_{j\le d}\binom{m}{j}` regions: Zaslavsky 1975, the exact count of a one-hidden-layer
network in general position) and :func:`serra_bound` (Serra et al. 2018, Thm 1, the maximum for any
depth).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from math import comb

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Regions:
    """The activation regions of a ReLU network inside a box.

    Attributes:
        polygons: one (k, 2) array of vertices (counter-clockwise) per region.
        patterns: (count, units) bool, the on/off state of every hidden unit, layer after layer.
        count: the number of regions.
        box: (x_min, x_max, y_min, y_max).
    """

    polygons: list[np.ndarray]
    patterns: np.ndarray
    count: int
    box: tuple[float, float, float, float]

    def areas(self) -> np.ndarray:
        """(count,) polygon areas (shoelace formula)."""
        return np.array([polygon_area(p) for p in self.polygons])


def polygon_area(P: np.ndarray) -> float:
    """Area of a simple polygon (k, 2) by the shoelace formula."""
    x, y = P[:, 0], P[:, 1]
    return 0.5 * abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1)))


def relu_layers(net: nn.Module | Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The hidden layers of a ReLU MLP as float64 numpy (W (out, in), b (out,)) pairs.

    ``net``: an ``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU`` modules (the last Linear, the
    output layer, is dropped: it does not create regions), or a list of (W, b) hidden layers.
    """
    if isinstance(net, nn.Module):
        mods = list(net.children()) if isinstance(net, nn.Sequential) else [net]
        layers, pending = [], None
        for m in mods:
            if isinstance(m, nn.Linear):
                if pending is not None:
                    raise ValueError(f"`net` must alternate nn.Linear and nn.ReLU; got two Linear layers in a row in {net}.")
                pending = m
            elif isinstance(m, nn.ReLU):
                if pending is None:
                    raise ValueError(f"`net` must alternate nn.Linear and nn.ReLU; got a ReLU without a Linear before it in {net}.")
                b = pending.bias if pending.bias is not None else torch.zeros(pending.out_features)
                layers.append((pending.weight.detach().double().cpu().numpy(), b.detach().double().cpu().numpy()))
                pending = None
            else:
                raise ValueError(f"`net` must hold only nn.Linear and nn.ReLU modules; got {type(m).__name__}.")
    else:
        layers = [(np.asarray(torch.as_tensor(W).detach().double().cpu()), np.asarray(torch.as_tensor(b).detach().double().cpu())) for W, b in net]
    if not layers:
        raise ValueError("`net` has no hidden ReLU layer.")
    if layers[0][0].shape[1] != 2:
        raise ValueError(f"`net` must take a 2-D input; its first layer has {layers[0][0].shape[1]} inputs.")
    for i, (W, b) in enumerate(layers):
        if b.shape != (W.shape[0],) or (i > 0 and W.shape[1] != layers[i - 1][0].shape[0]):
            raise ValueError(f"hidden layer {i}: weight {W.shape} and bias {b.shape} do not chain with the layer before.")
    return layers


def _clip(P: np.ndarray, v: np.ndarray, keep_positive: bool) -> np.ndarray:
    """The part of convex polygon P (k, 2) where the affine values v (k,) at its vertices are >= 0 (or <= 0)."""
    s = v if keep_positive else -v
    out = []
    k = len(P)
    for i in range(k):
        j = (i + 1) % k
        if s[i] >= 0:
            out.append(P[i])
        if (s[i] > 0 > s[j]) or (s[i] < 0 < s[j]):
            t = s[i] / (s[i] - s[j])
            out.append(P[i] + t * (P[j] - P[i]))
    return np.array(out) if out else np.zeros((0, 2))


def linear_regions_2d(net: nn.Module | Sequence[tuple[torch.Tensor, torch.Tensor]], box: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0), *,
                      min_area: float = 0.0) -> Regions:
    r"""Every activation region of a ReLU MLP with 2-D input inside ``box``, exactly.

    Layer by layer, each region carries the affine map :math:`x \mapsto A x + c` of the hidden state;
    unit j of the next layer, :math:`z_j = w_j^\top(Ax + c) + b_j`, is affine on the region and cuts
    it along a line when it changes sign at the region's vertices (Sutherland-Hodgman clipping of a
    convex polygon). A pattern's region is convex, so no region is split twice by the same unit.
    A unit whose values at the vertices are all within 1e-12 (relative) of one sign does not cut
    the cell (a line grazing a vertex makes no sliver); pieces of zero area, or of area at most
    ``min_area`` times the box's, are dropped. Cost: O(regions x units) clips of small polygons, in
    float64. Checked: one-layer nets of up to 80 units count exactly Zaslavsky's number in a box
    holding all intersections (radius up to 1e5), and every region's pattern is distinct.

    Args:
        net: an ``nn.Sequential`` of Linear/ReLU (the output layer is ignored) or a list of (W, b) hidden layers.
        box: (x_min, x_max, y_min, y_max).
        min_area: relative area at or below which a piece is dropped (0: only empty pieces).

    Returns:
        :class:`Regions` (polygons, patterns, count).
    """
    x0, x1, y0, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"`box` must be (x_min, x_max, y_min, y_max) with x_max > x_min and y_max > y_min; got {box}.")
    layers = relu_layers(net)
    tol = min_area * (x1 - x0) * (y1 - y0)
    square = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    # a cell: (polygon, A (width, 2), c (width,), pattern bits so far)
    cells: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]] = [(square, np.eye(2), np.zeros(2), [])]
    for W, b in layers:
        nxt = []
        for P, A, c, bits in cells:
            WA, z0 = W @ A, W @ c + b  # pre-activations z = WA x + z0 on this cell
            pieces = [(P, np.zeros(len(b), dtype=bool))]
            for j in range(len(b)):
                split = []
                for Q, on in pieces:
                    v = Q @ WA[j] + z0[j]
                    scale = np.abs(Q @ WA[j]).max() + abs(z0[j]) + 1e-300
                    if v.min() >= -1e-12 * scale or v.max() <= 1e-12 * scale:  # no sign change inside: one side
                        o = on.copy()
                        o[j] = Q.mean(0) @ WA[j] + z0[j] > 1e-12 * scale  # the centroid's side (z = 0 on the whole cell: off)
                        split.append((Q, o))
                        continue
                    for keep, state in ((True, True), (False, False)):
                        R = _clip(Q, v, keep)
                        if len(R) >= 3 and polygon_area(R) > tol:
                            o = on.copy()
                            o[j] = state
                            split.append((R, o))
                pieces = split
            for Q, on in pieces:
                nxt.append((Q, on[:, None] * WA, on * z0, bits + [on]))
        cells = nxt
    patterns = np.array([np.concatenate(bits) for *_, bits in cells])
    return Regions([P for P, *_ in cells], patterns, len(cells), (x0, x1, y0, y1))


def activation_patterns(net: nn.Module | Sequence[tuple[torch.Tensor, torch.Tensor]], points: np.ndarray) -> np.ndarray:
    """(n, units) bool on/off state of every hidden unit at the points (n, 2), by a plain forward pass."""
    h = np.asarray(points, dtype=np.float64)
    out = []
    for W, b in relu_layers(net):
        z = h @ W.T + b
        out.append(z > 0)
        h = np.maximum(z, 0)
    return np.concatenate(out, axis=1)


def zaslavsky_count(m: int, d: int = 2) -> int:
    r"""Regions of m hyperplanes in general position in :math:`\mathbb R^d`: :math:`\sum_{j=0}^{d}\binom{m}{j}` (Zaslavsky 1975)."""
    return sum(comb(m, j) for j in range(d + 1))


def serra_bound(widths: Sequence[int], input_dim: int) -> int:
    r"""Serra, Tjandraatmadja, Ramalingam (ICML 2018), Thm 1: the most regions of a ReLU MLP with hidden widths :math:`n_1..n_L`.

    .. math:: \sum_{(j_1,\dots,j_L)\in J}\ \prod_{l=1}^{L}\binom{n_l}{j_l},\quad
              J = \{0 \le j_l \le \min(n_0, n_1 - j_1, \dots, n_{l-1} - j_{l-1}, n_l)\}.

    One layer: Zaslavsky's count. Cost: enumerates J (fine for the small widths counted exactly here).
    """
    n = [int(input_dim)] + [int(w) for w in widths]
    total = 0
    for js in product(*(range(min(n[0], w) + 1) for w in n[1:])):
        cap = n[0]
        ok = True
        for l_, j in enumerate(js, start=1):
            if j > min(cap, n[l_]):
                ok = False
                break
            cap = min(cap, n[l_] - j)
        if ok:
            p = 1
            for l_, j in enumerate(js, start=1):
                p *= comb(n[l_], j)
            total += p
    return total
