r"""Representation similarity: CKA (linear and RBF, biased and unbiased HSIC, minibatch), CCA, SVCCA, PWCCA, Procrustes.

Representations are matrices :math:`X \in \mathbb R^{n\times p}`, :math:`Y \in \mathbb R^{n \times q}`: the
same n examples (rows) in two feature spaces (a layer's activations, flattened per example). Every
measure is invariant to permuting the features and compares the *geometry* of the n examples.

- :func:`layer_activations` / :func:`iter_layer_activations`: the outputs of named submodules of any
  module, collected by forward hooks (the module is not changed: hooks are removed and buffers such
  as BatchNorm's running statistics restored afterwards).
- :func:`hsic`, :func:`cka`: Hilbert-Schmidt independence criterion and centered kernel alignment
  (Gretton et al. 2005; Kornblith, Norouzi, Lee, Hinton, ICML 2019),

  .. math:: \mathrm{CKA}(K, L) = \frac{\mathrm{HSIC}(K, L)}{\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}},\qquad
            \mathrm{HSIC}_0(K, L) = \frac{\operatorname{tr}(KHLH)}{(n - 1)^2},

  with :math:`H = I - \tfrac1n\mathbf 1\mathbf 1^\top`, or the unbiased estimator :math:`\mathrm{HSIC}_1` of Song et
  al. (JMLR 2012) (``unbiased=True``). Linear CKA uses :math:`K = XX^\top`; RBF CKA
  :math:`K_{ij} = \exp(-\|x_i - x_j\|^2 / 2\sigma^2)` with :math:`\sigma` a fraction of the median distance
  between examples (Kornblith et al.'s choice).
- :class:`MinibatchCKA`, :func:`minibatch_cka`: linear CKA over minibatches (Nguyen, Raghu, Kornblith,
  ICLR 2021): the mean of :math:`\mathrm{HSIC}_1` over batches in place of HSIC, so the n x n Gram
  matrix of the whole data is never formed; layer-by-layer heatmaps of one or two networks.
- :func:`cca`, :func:`svcca`, :func:`pwcca`: canonical correlations (principal angles between the
  centered column spaces), SVCCA (Raghu, Gilmer, Yosinski, Sohl-Dickstein, NeurIPS 2017: SVD to the
  directions keeping 99% of the variance, then CCA) and projection-weighted CCA (Morcos, Raghu,
  Bengio, NeurIPS 2018).
- :func:`procrustes_distance`: :math:`\min_{Q^\top Q = I}\|\bar X Q - \bar Y\|_F^2 = 2 - 2\|\bar X^\top \bar Y\|_*` for
  centered, unit-Frobenius-norm :math:`\bar X, \bar Y` (Ding, Denain, Steinhardt, NeurIPS 2021).

Numerics: everything is computed in float64 on the inputs' device (float32 activations are promoted:
float32 Gram matrices of wide layers lose the digits CKA needs), and centered explicitly. A
representation with no variance across the examples has no CKA, CCA or Procrustes distance: the
functions raise ValueError naming the argument instead of returning NaN; rank-deficient
representations are fine (CCA works in the numerical column space, singular values above
``rank_tol`` times the largest).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from dltheory.core.errors import check_choice, check_float, check_int, did_you_mean
from dltheory.probes.permutation import _iter_input_batches

__all__ = [
    "MinibatchCKA", "SVCCA", "cca", "cka", "gram", "hsic", "iter_layer_activations", "layer_activations", "minibatch_cka",
    "SVCCADirections", "procrustes_distance", "pwcca", "svcca", "svcca_directions",
]


# --------------------------------------------------------------------------- activations


def _modules(model: nn.Module, layers: Sequence[str] | None) -> dict[str, nn.Module]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module; got {type(model).__name__}.")
    named = dict(model.named_modules())
    if layers is None:
        out = {n: m for n, m in named.items() if n and not any(True for _ in m.children())}
        if not out:
            raise ValueError("`model` has no submodules to record; pass `layers` explicitly.")
        return out
    if isinstance(layers, str) or not layers:
        raise ValueError(f"`layers` must be a non-empty list of submodule names; got {layers!r}.")
    for n in layers:
        if n not in named:
            hint = did_you_mean(n, [k for k in named if k])
            raise ValueError(f"`layers` names {n!r}, which is not a submodule of the model" + (f"; did you mean {hint!r}?" if hint else f"; it has {sorted(k for k in named if k)[:20]}."))
    return {n: named[n] for n in layers}


def iter_layer_activations(model: nn.Module, data: Any, layers: Sequence[str] | None = None) -> Iterator[dict[str, Tensor]]:
    r"""For each batch of ``data``, the outputs of the submodules ``layers`` as (batch, features) matrices.

    ``data``: an input tensor, a tuple ``(inputs, ...)`` (targets ignored) or an iterable of such
    batches (a DataLoader). ``layers``: names from ``model.named_modules()`` (default: every leaf
    module). Outputs are flattened per example (a conv map (B, C, H, W) becomes (B, C H W)); a module
    returning a tuple contributes its first tensor. The model runs in its current mode under
    ``torch.no_grad()``; its buffers (BatchNorm running statistics) are restored after each batch and
    the hooks removed, so the module is left as it was. Cost: one forward pass per batch.
    """
    mods = _modules(model, layers)
    batches = _iter_input_batches(data)  # lazily: a loader's batches are read one at a time
    kept: dict[str, Tensor] = {}

    def hook(name: str):
        def fn(_m: nn.Module, _i: Any, out: Any) -> None:
            t = out[0] if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor) else out
            if not isinstance(t, Tensor):
                raise TypeError(f"layer {name!r} returned {type(out).__name__}, not a tensor: it cannot be recorded.")
            kept[name] = t.detach().reshape(t.shape[0], -1)
        return fn

    for inputs in batches:
        kept.clear()
        saved = {k: b.clone() for k, b in model.named_buffers()}
        handles = [m.register_forward_hook(hook(n)) for n, m in mods.items()]
        try:
            with torch.no_grad():
                model(*inputs)
        finally:
            for h in handles:
                h.remove()
            with torch.no_grad():
                for k, b in model.named_buffers():
                    b.copy_(saved[k])
        missing = [n for n in mods if n not in kept]
        if missing:
            raise ValueError(f"`layers` {missing} were not called in the model's forward pass: nothing to record.")
        yield {n: kept[n] for n in mods}


def layer_activations(model: nn.Module, data: Any, layers: Sequence[str] | None = None) -> dict[str, Tensor]:
    """The outputs of ``layers`` over all of ``data``, concatenated: name -> (n, features). See :func:`iter_layer_activations`."""
    parts: dict[str, list[Tensor]] = {}
    for acts in iter_layer_activations(model, data, layers):
        for n, a in acts.items():
            parts.setdefault(n, []).append(a)
    return {n: torch.cat(p) for n, p in parts.items()}


# --------------------------------------------------------------------------- checks and kernels


def _matrix(name: str, X: Any, n: int | None = None) -> Tensor:
    if not isinstance(X, Tensor):
        try:
            X = torch.as_tensor(X)
        except Exception as e:  # noqa: BLE001
            raise TypeError(f"`{name}` must be a tensor or array of shape (examples, features); got {type(X).__name__}.") from e
    if X.ndim < 2:
        raise ValueError(f"`{name}` must have shape (examples, features); got shape {tuple(X.shape)}.")
    X = X.reshape(X.shape[0], -1)
    if X.is_complex():
        raise ValueError(f"`{name}` must be real; got {X.dtype}.")
    if n is not None and X.shape[0] != n:
        raise ValueError(f"`{name}` must have the same number of examples (rows) as `X`, {n}; got {X.shape[0]}.")
    X = X.to(torch.float64)
    if not bool(torch.isfinite(X).all()):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return X


def _centered(name: str, X: Tensor) -> Tensor:
    Xc = X - X.mean(0, keepdim=True)
    scale = float(X.abs().max()) if X.numel() else 0.0
    if X.shape[0] < 2 or float(Xc.abs().max()) <= 1e-12 * max(scale, 1e-300):
        raise ValueError(f"`{name}` has no variance across its {X.shape[0]} examples (every feature is constant): the similarity is undefined.")
    return Xc


def gram(X: Tensor, kernel: str = "linear", *, sigma_fraction: float = 0.8) -> Tensor:
    r"""The (n, n) kernel matrix of the rows of X, float64: ``linear`` :math:`XX^\top`; ``rbf``
    :math:`\exp(-\|x_i - x_j\|^2 / 2\sigma^2)` with :math:`\sigma` = ``sigma_fraction`` x the median distance
    between distinct examples (Kornblith et al. 2019 use 0.2-0.8)."""
    kernel = check_choice("kernel", kernel, ("linear", "rbf"))
    X = _matrix("X", X)
    if kernel == "linear":
        return X @ X.T
    sigma_fraction = check_float("sigma_fraction", sigma_fraction, minimum=0.0, strict_min=True)
    sq = (X * X).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * X @ X.T).clamp_min(0)
    d2.fill_diagonal_(0)
    i, j = torch.triu_indices(X.shape[0], X.shape[0], offset=1, device=X.device)
    off = d2[i, j].sort().values  # the distinct pairs' squared distances
    med = float(off[(len(off) - 1) // 2] + off[len(off) // 2]) / 2 if off.numel() else 0.0  # numpy's median
    if med <= 0:
        raise ValueError("`X`: the median distance between examples is 0 (most examples coincide): the RBF bandwidth is undefined; use kernel='linear'.")
    return torch.exp(-d2 / (2 * sigma_fraction ** 2 * med))


def hsic(K: Tensor, L: Tensor, *, unbiased: bool = False) -> Tensor:
    r"""HSIC of two (n, n) kernel matrices: :math:`\operatorname{tr}(KHLH)/(n-1)^2` (biased, Gretton et al. 2005) or
    the unbiased estimator (Song, Smola, Gretton, Bedo, Borgwardt, JMLR 13, 2012, eq. 5), n >= 4:

    .. math:: \mathrm{HSIC}_1 = \frac{1}{n(n-3)}\Big[\operatorname{tr}(\tilde K\tilde L) + \frac{\mathbf 1^\top\tilde K\mathbf 1\,\mathbf 1^\top\tilde L\mathbf 1}{(n-1)(n-2)}
              - \frac{2}{n-2}\mathbf 1^\top\tilde K\tilde L\mathbf 1\Big],

    :math:`\tilde K, \tilde L` with zero diagonals. Cost O(n^2)."""
    K, L = _matrix("K", K), _matrix("L", L)
    n = K.shape[0]
    if K.shape != (n, n) or L.shape != (n, n):
        raise ValueError(f"`K` and `L` must be square kernel matrices of one size; got {tuple(K.shape)} and {tuple(L.shape)}.")
    if not unbiased:
        if n < 2:
            raise ValueError(f"HSIC needs at least 2 examples; got {n}.")
        Kc = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()
        return (Kc * L).sum() / (n - 1) ** 2
    if n < 4:
        raise ValueError(f"the unbiased HSIC needs at least 4 examples; got {n}.")
    Kt, Lt = K.clone(), L.clone()
    Kt.fill_diagonal_(0)
    Lt.fill_diagonal_(0)
    a, b = Kt.sum(1), Lt.sum(1)
    return ((Kt * Lt).sum() + a.sum() * b.sum() / ((n - 1) * (n - 2)) - 2 * (a @ b) / (n - 2)) / (n * (n - 3))


def cka(X: Tensor, Y: Tensor, *, kernel: str = "linear", unbiased: bool = False, sigma_fraction: float = 0.8) -> float:
    r"""Centered kernel alignment of two representations of the same n examples, in [0, 1] (biased estimator).

    Linear, biased: computed from features, :math:`\|\bar Y^\top\bar X\|_F^2 / (\|\bar X^\top\bar X\|_F\|\bar Y^\top\bar Y\|_F)`
    (O(n p q)), or from Gram matrices when n < p, q; otherwise through :func:`gram` and :func:`hsic`
    (O(n^2 (p + q))). Invariant to orthogonal transforms and isotropic scaling of either
    representation, not to general invertible linear maps (Kornblith et al. 2019, Sec. 3).
    Raises ValueError if either representation has no variance (or, unbiased, if an HSIC of a
    representation with itself is not positive: too few examples).
    """
    kernel = check_choice("kernel", kernel, ("linear", "rbf"))
    X = _matrix("X", X)
    Y = _matrix("Y", Y, X.shape[0])
    Xc, Yc = _centered("X", X), _centered("Y", Y)
    if kernel == "linear" and not unbiased:
        n, p, q = X.shape[0], X.shape[1], Y.shape[1]
        Xc, Yc = Xc / Xc.norm(), Yc / Yc.norm()  # scale-free, keeps float64 in range
        if n >= min(p, q):
            num = (Yc.T @ Xc).pow(2).sum()
            den = (Xc.T @ Xc).norm() * (Yc.T @ Yc).norm()
        else:
            Kx, Ky = Xc @ Xc.T, Yc @ Yc.T
            num, den = (Kx * Ky).sum(), Kx.norm() * Ky.norm()
        return float(num / den)
    if kernel == "linear":
        K, L = Xc @ Xc.T, Yc @ Yc.T
    else:
        K, L = gram(X, "rbf", sigma_fraction=sigma_fraction), gram(Y, "rbf", sigma_fraction=sigma_fraction)
    kl, kk, ll = hsic(K, L, unbiased=unbiased), hsic(K, K, unbiased=unbiased), hsic(L, L, unbiased=unbiased)
    for name, v in (("X", kk), ("Y", ll)):
        if float(v) <= 0:
            raise ValueError(f"the HSIC of `{name}` with itself is {float(v):.3g} <= 0 on {X.shape[0]} examples (the unbiased estimate needs more examples): CKA is undefined.")
    return float(kl / (kk * ll).sqrt())


# --------------------------------------------------------------------------- minibatch CKA


class MinibatchCKA:
    r"""Linear CKA between every pair of a list of representations and another, accumulated over minibatches.

    Nguyen, Raghu, Kornblith (ICLR 2021), eq. 3: with :math:`\mathrm{HSIC}_1` the unbiased estimator on
    each batch of k examples,

    .. math:: \mathrm{CKA}_{mb}(X, Y) = \frac{\tfrac1B\sum_b \mathrm{HSIC}_1(X_bX_b^\top, Y_bY_b^\top)}{\sqrt{\tfrac1B\sum_b \mathrm{HSIC}_1(X_bX_b^\top, X_bX_b^\top)\ \tfrac1B\sum_b \mathrm{HSIC}_1(Y_bY_b^\top, Y_bY_b^\top)}}.

    Being unbiased, the batch means converge to the population HSIC as batches are added, so the
    value does not depend on the batch size (the biased estimator's bias shrinks only as 1/k).
    Memory: the k x k Gram matrix of each layer of the current batch. Usage::

        acc = MinibatchCKA(len(xs), len(ys))
        for batch in loader: acc.update(xs_of(batch), ys_of(batch))
        acc.value()  # (len(xs), len(ys))
    """

    def __init__(self, num_x: int, num_y: int, *, names_x: Sequence[str] | None = None, names_y: Sequence[str] | None = None) -> None:
        self.num_x, self.num_y = check_int("num_x", num_x, minimum=1), check_int("num_y", num_y, minimum=1)
        self.names_x = list(names_x) if names_x is not None else [f"xs[{i}]" for i in range(self.num_x)]
        self.names_y = list(names_y) if names_y is not None else [f"ys[{j}]" for j in range(self.num_y)]
        if len(self.names_x) != self.num_x or len(self.names_y) != self.num_y:
            raise ValueError(f"`names_x` and `names_y` must hold {self.num_x} and {self.num_y} names; got {len(self.names_x)} and {len(self.names_y)}.")
        self.xy: Tensor | None = None
        self.xx: Tensor | None = None
        self.yy: Tensor | None = None
        self.batches = 0

    def update(self, xs: Sequence[Tensor], ys: Sequence[Tensor]) -> None:
        """Add one batch: ``xs`` (num_x matrices (k, p_i)) and ``ys`` (num_y matrices (k, q_j)) of the same k >= 4 examples."""
        if len(xs) != self.num_x or len(ys) != self.num_y:
            raise ValueError(f"`xs` and `ys` must hold {self.num_x} and {self.num_y} representations; got {len(xs)} and {len(ys)}.")
        X = [_matrix(f"xs[{i}]", x) for i, x in enumerate(xs)]
        k = X[0].shape[0]
        X = [_matrix(f"xs[{i}]", x, k) for i, x in enumerate(X)]
        Y = [_matrix(f"ys[{j}]", y, k) for j, y in enumerate(ys)]
        if k < 4:
            raise ValueError(f"each batch must hold at least 4 examples for the unbiased HSIC; got {k}.")
        Kx = [x @ x.T for x in X]
        Ky = [y @ y.T for y in Y]
        xy = torch.stack([torch.stack([hsic(a, b, unbiased=True) for b in Ky]) for a in Kx])
        xx = torch.stack([hsic(a, a, unbiased=True) for a in Kx])
        yy = torch.stack([hsic(b, b, unbiased=True) for b in Ky])
        if self.xy is None:
            self.xy, self.xx, self.yy = xy, xx, yy
        else:
            self.xy, self.xx, self.yy = self.xy + xy, self.xx + xx, self.yy + yy
        self.batches += 1

    def value(self) -> Tensor:
        """(num_x, num_y) float64 CKA matrix. Raises ValueError before any batch or if a representation has no variance."""
        if self.xy is None:
            raise ValueError("MinibatchCKA.value: no batch was added; call update() first.")
        for names, v in ((self.names_x, self.xx), (self.names_y, self.yy)):
            bad = [names[i] for i in (v <= 0).nonzero().flatten().tolist()]
            if bad:
                raise ValueError(f"the representation(s) {bad} have no variance over the batches (their HSIC with themselves is <= 0, e.g. a dead ReLU layer): CKA is undefined.")
        return self.xy / (self.xx[:, None] * self.yy[None, :]).sqrt()


def minibatch_cka(model_a: nn.Module, data: Iterable[Any], layers_a: Sequence[str], model_b: nn.Module | None = None,
                  layers_b: Sequence[str] | None = None, *, epochs: int = 1) -> Tensor:
    r"""Linear minibatch CKA between the layers of one network (``model_b`` None: A against itself) or two.

    ``data``: an iterable of batches (each a tensor or ``(inputs, ...)``; at least 4 examples each),
    passed over ``epochs`` times (Nguyen et al. pass several epochs of a shuffled loader). Returns the
    (len(layers_a), len(layers_b)) matrix of :class:`MinibatchCKA`; the models are left unchanged.
    Cost: one forward pass of each model per batch and :math:`O(k^2)` per layer pair and batch.
    """
    epochs = check_int("epochs", epochs, minimum=1)
    same = model_b is None
    layers_b = list(layers_a if layers_b is None else layers_b)
    acc = MinibatchCKA(len(layers_a), len(layers_b), names_x=[f"model_a.{n}" for n in layers_a],
                       names_y=[f"model_{'a' if same else 'b'}.{n}" for n in layers_b])
    for _ in range(epochs):
        for batch in data:
            xa = next(iter_layer_activations(model_a, batch, list(dict.fromkeys(list(layers_a) + (layers_b if same else [])))))
            xb = xa if same else next(iter_layer_activations(model_b, batch, layers_b))
            acc.update([xa[n] for n in layers_a], [xb[n] for n in layers_b])
    return acc.value()


# --------------------------------------------------------------------------- CCA family


def _basis(Xc: Tensor, rank_tol: float) -> tuple[Tensor, Tensor, Tensor]:
    """Orthonormal basis U (n, r) of the centered column space, with singular values s and right vectors V (p, r)."""
    U, s, Vh = torch.linalg.svd(Xc, full_matrices=False)
    r = int((s > rank_tol * s[0]).sum())
    return U[:, :r], s[:r], Vh[:r].T


def cca(X: Tensor, Y: Tensor, *, rank_tol: float = 1e-10) -> Tensor:
    r"""Canonical correlations of two representations, descending, float64 (min(rank X, rank Y) of them).

    The cosines of the principal angles between the column spaces of the centered :math:`\bar X` and
    :math:`\bar Y`: the singular values of :math:`U_X^\top U_Y` with :math:`U_X, U_Y` orthonormal bases
    (from the SVD, keeping singular values above ``rank_tol`` times the largest, so rank-deficient
    and collinear features are handled). With n <= p every direction of a generic :math:`\bar X` is
    canonical and all correlations are 1: use more examples than features (Raghu et al. 2017).
    """
    rank_tol = check_float("rank_tol", rank_tol, minimum=0.0, maximum=1.0)
    X = _matrix("X", X)
    Y = _matrix("Y", Y, X.shape[0])
    Ux, _, _ = _basis(_centered("X", X), rank_tol)
    Uy, _, _ = _basis(_centered("Y", Y), rank_tol)
    return torch.linalg.svdvals(Ux.T @ Uy).clamp(0, 1)


@dataclass(frozen=True)
class SVCCA:
    """Result of :func:`svcca`: ``similarity`` (mean canonical correlation), ``correlations``, and the SVD dimensions kept."""

    similarity: float
    correlations: Tensor
    dims_x: int
    dims_y: int


def _svd_reduce(name: str, X: Tensor, keep: float | int) -> Tensor:
    Xc = _centered(name, X)
    U, s, _ = torch.linalg.svd(Xc, full_matrices=False)
    if isinstance(keep, int) and not isinstance(keep, bool):
        r = check_int("keep", keep, minimum=1)
        r = min(r, int((s > 1e-10 * s[0]).sum()))
    else:
        frac = check_float("keep", keep, minimum=0.0, maximum=1.0, strict_min=True)
        var = s ** 2 / (s ** 2).sum()
        r = int((var.cumsum(0) < frac - 1e-12).sum()) + 1
    return U[:, :r] * s[:r]


def svcca(X: Tensor, Y: Tensor, *, keep: float | int = 0.99) -> SVCCA:
    r"""SVCCA (Raghu et al. 2017): reduce each centered representation to its top singular directions
    (``keep``: the variance fraction, 0.99 as in the paper, or a number of directions), then
    :func:`cca`; the similarity is the mean canonical correlation."""
    X = _matrix("X", X)
    Y = _matrix("Y", Y, X.shape[0])
    Xr, Yr = _svd_reduce("X", X, keep), _svd_reduce("Y", Y, keep)
    rho = cca(Xr, Yr)
    return SVCCA(float(rho.mean()), rho, Xr.shape[1], Yr.shape[1])


@dataclass(frozen=True)
class SVCCADirections:
    r"""Result of :func:`svcca_directions`: the SVCCA directions as linear maps of the original features.

    ``correlations`` (m,), descending; ``weights_x`` (p, m), ``weights_y`` (q, m); ``mean_x`` (p,), ``mean_y`` (q,).
    The canonical variates are :math:`Z_X = (X - \mu_X) W_X` and :math:`Z_Y = (Y - \mu_Y) W_Y`, (n, m), each with
    orthonormal columns, and :math:`Z_X^\top Z_Y = \operatorname{diag}(\rho)`. Any other input (a held-out example)
    is mapped the same way: :math:`z = W^\top (x - \mu)`.
    """

    correlations: Tensor
    weights_x: Tensor
    weights_y: Tensor
    mean_x: Tensor
    mean_y: Tensor


def _svcca_map(name: str, X: Tensor, keep: float | int, rank_tol: float) -> tuple[Tensor, Tensor, Tensor]:
    """(basis U (n, r) of the SVD-reduced centered X, map M (p, r) with Xc M = U, mean (p,))."""
    mean = X.mean(0)
    Xc = _centered(name, X)
    _, s, Vh = torch.linalg.svd(Xc, full_matrices=False)
    r = _svd_reduce(name, X, keep).shape[1]
    V = Vh[:r].T  # (p, r): Xr = Xc V = U_r s_r
    U, s2, V2 = _basis(Xc @ V, rank_tol)
    return U, V @ V2 / s2, mean


def svcca_directions(X: Tensor, Y: Tensor, *, keep: float | int = 0.99, rank_tol: float = 1e-10) -> SVCCADirections:
    r"""The SVCCA directions of two representations (Raghu et al. 2017): which linear combinations of the
    features of X and of Y are aligned, as weights on the original features.

    Each centered representation is reduced to its top singular directions (``keep`` as in :func:`svcca`),
    then CCA is taken between the reduced ones: with orthonormal bases :math:`U_X = \bar X_r M_X`,
    :math:`U_Y = \bar Y_r M_Y` and the SVD :math:`U_X^\top U_Y = P\,\operatorname{diag}(\rho)\,Q^\top`, the canonical
    variates are :math:`U_X P` and :math:`U_Y Q`, so :math:`W_X = V_{X,r} M_X P` and :math:`W_Y = V_{Y,r} M_Y Q`.
    The correlations equal :func:`svcca`'s. Raghu et al. (Sec. 3.1, Fig. 3) project a layer onto its top-k
    SVCCA directions found against another network's same layer.

    Cost: one SVD of each (n, p) / (n, q) representation, one of the reduced bases' (r_x, r_y) product.
    Float64 on the inputs' device.
    """
    rank_tol = check_float("rank_tol", rank_tol, minimum=0.0, maximum=1.0)
    X = _matrix("X", X)
    Y = _matrix("Y", Y, X.shape[0])
    Ux, Mx, mx = _svcca_map("X", X, keep, rank_tol)
    Uy, My, my = _svcca_map("Y", Y, keep, rank_tol)
    P, rho, Qh = torch.linalg.svd(Ux.T @ Uy, full_matrices=False)
    m = rho.shape[0]
    return SVCCADirections(rho.clamp(0, 1), Mx @ P[:, :m], My @ Qh[:m].T, mx, my)


def pwcca(X: Tensor, Y: Tensor, *, rank_tol: float = 1e-10) -> float:
    r"""Projection-weighted CCA similarity (Morcos, Raghu, Bengio 2018), in [0, 1].

    With canonical correlations :math:`\rho_i` and the corresponding orthonormal canonical variates
    :math:`h_i \in \mathbb R^n` on the side with fewer features (Morcos et al.'s choice; X on a tie),
    the weights are :math:`\alpha_i = \sum_j |\langle h_i, \bar x_j\rangle|` over that side's centered
    neurons :math:`\bar x_j` and the similarity is :math:`\sum_i\alpha_i\rho_i / \sum_i\alpha_i`; the
    distance of the paper is 1 minus it. (Morcos et al.'s code projects the uncentered activations;
    the canonical variates are centered, so the centered ones give the same projections.)
    """
    rank_tol = check_float("rank_tol", rank_tol, minimum=0.0, maximum=1.0)
    X = _matrix("X", X)
    Y = _matrix("Y", Y, X.shape[0])
    Xc, Yc = _centered("X", X), _centered("Y", Y)
    if Y.shape[1] < X.shape[1]:
        Xc, Yc = Yc, Xc
    Ux, _, _ = _basis(Xc, rank_tol)
    Uy, _, _ = _basis(Yc, rank_tol)
    A, rho, _ = torch.linalg.svd(Ux.T @ Uy, full_matrices=False)
    H = Ux @ A  # (n, r) orthonormal canonical variates of the chosen side
    alpha = (H.T @ Xc).abs().sum(1)
    return float((alpha * rho.clamp(0, 1)).sum() / alpha.sum())


def procrustes_distance(X: Tensor, Y: Tensor) -> float:
    r"""Orthogonal Procrustes distance (Ding et al. 2021): :math:`2 - 2\|\bar X^\top\bar Y\|_*` with :math:`\bar X, \bar Y`
    centered and scaled to unit Frobenius norm (zero-padded to the same width), in [0, 2]; it equals
    :math:`\min_Q \|\bar X Q - \bar Y\|_F^2` over orthogonal Q (Schönemann 1966)."""
    X = _matrix("X", X)
    Y = _matrix("Y", Y, X.shape[0])
    Xc, Yc = _centered("X", X), _centered("Y", Y)
    Xc, Yc = Xc / Xc.norm(), Yc / Yc.norm()
    nuc = torch.linalg.svdvals(Xc.T @ Yc).sum()
    return float((2 - 2 * nuc).clamp_min(0))
