r"""Loss landscapes: random and PCA directions, loss along lines and over planes.

Li, Xu, Taylor, Studer, Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS
2018: plot :math:`f(\alpha, \beta) = L(\theta^* + \alpha\,\delta + \beta\,\eta)` around a point
:math:`\theta^*` along two directions, filter-normalized so that the plot's scale does not
depend on the scale invariance of ReLU/BatchNorm networks (Sec. 4), or along the top PCA
directions of the optimization trajectory (Sec. 7).

Every evaluation runs the model functionally (``torch.func.functional_call`` on a copy of
the module that shares its parameters): the module is never written to, neither its
parameters nor its buffers nor its train/eval mode. Grid points are batched with
``torch.func.vmap`` over chunks of points; a model vmap cannot run (data-dependent control
flow, in-place buffer updates) is evaluated point by point (``Landscape.vectorized`` says
which happened).

**Data** is one batch ``(*inputs, targets)`` or an iterable of such batches; the loss (and
each metric) is the size-weighted mean over batches, :math:`\sum_b n_b L_b / \sum_b n_b`,
so a loss and metrics that are means over the batch give the mean over all the data.

**BatchNorm** (``bn=``): the model is always evaluated in eval mode (dropout off).
``"eval"``: BatchNorm normalizes with the running statistics stored in ``model``'s buffers,
held fixed at every grid point (they are the point's statistics when ``model`` holds the
point). ``"recompute"``: at each grid point the running statistics are re-estimated from
``bn_data`` (default: ``data``; pass the training data to evaluate held-out data with
training statistics, as Frankle et al. 2020 do) with the parameters of that point (one forward pass over the data with only the
BatchNorm layers in train mode, averaging the per-batch means and unbiased variances
weighted by batch size, as SWA's ``bn_update`` in Garipov et al. 2018 does), then the
loss is evaluated with those statistics; this costs a second pass and a point-by-point
loop. Models without BatchNorm are unaffected by the option.

Cost: one forward pass over ``data`` per grid point (two with ``bn="recompute"``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from dltheory.core.errors import check_choice, check_int
from dltheory.core.params import Params
from dltheory.probes.hvp import _weighted_batches

__all__ = [
    "Landscape", "PCADirections", "loss_line", "loss_plane", "pca_directions", "random_direction",
    "top1_accuracy", "top1_error",
]

Metric = Callable[[Any, Tensor], Tensor]
BN_POLICIES = ("eval", "recompute")


# --------------------------------------------------------------------------- metrics


def top1_accuracy(outputs: Tensor, targets: Tensor) -> Tensor:
    """Fraction of rows of ``outputs`` (B, C) whose argmax equals ``targets`` (B,)."""
    return (outputs.argmax(dim=-1) == targets).to(outputs.dtype).mean()


def top1_error(outputs: Tensor, targets: Tensor) -> Tensor:
    """``1 - top1_accuracy``: the classification error of logits ``outputs`` (B, C)."""
    return (outputs.argmax(dim=-1) != targets).to(outputs.dtype).mean()


# --------------------------------------------------------------------------- directions


def _check_point(params: Any, name: str) -> Params:
    if not isinstance(params, Mapping) or not params:
        raise TypeError(f"`{name}` must be a non-empty dict of tensors; got {type(params).__name__}.")
    for k, v in params.items():
        if not isinstance(v, Tensor) or not v.is_floating_point():
            raise TypeError(f"`{name}['{k}']` must be a floating-point torch.Tensor; got {type(v).__name__} {getattr(v, 'dtype', '')}.")
    return {k: v.detach() for k, v in params.items()}


def _check_like(vector: Any, point: Params, name: str) -> Params:
    """``vector`` as a dict with the keys and shapes of ``point`` (cast to its dtype/device)."""
    v = _check_point(vector, name)
    if list(v) != list(point):
        raise ValueError(f"`{name}` must have the keys of the point {list(point)}; got {list(v)}.")
    for k, p in point.items():
        if v[k].shape != p.shape:
            raise ValueError(f"`{name}['{k}']` must have shape {tuple(p.shape)} like the point; got {tuple(v[k].shape)}.")
    return {k: t.to(dtype=point[k].dtype, device=point[k].device) for k, t in v.items()}


def random_direction(
    params: Mapping[str, Tensor],
    *,
    kind: str = "filter",
    bias_bn: str = "zero",
    generator: torch.Generator | None = None,
) -> Params:
    r"""A random direction in parameter space, shaped like ``params``.

    ``gaussian``: :math:`d \sim \mathcal N(0, I)` in every tensor. ``filter`` (Li et al.
    2018, Sec. 4): each filter of :math:`d` -- a row of a Linear weight, an output channel of
    a Conv weight, in general a slice ``d[i]`` along the first dimension of a tensor with 2
    or more dimensions -- is rescaled to the norm of the same filter of the point,
    :math:`d_{i} \leftarrow d_{i} \|\theta_{i}\| / \|d_{i}\|`. ``layer``: each tensor
    rescaled as a whole, :math:`d_T \leftarrow d_T \|\theta_T\| / \|d_T\|`.

    Args:
        params: the point :math:`\theta` (dict of tensors).
        kind: ``"gaussian"``, ``"filter"`` or ``"layer"``.
        bias_bn: what to do with 1-D (and 0-D) tensors, i.e. biases and normalization
            parameters: ``"zero"`` (default, as in the paper: the landscape is not plotted
            along them) or ``"keep"``: for ``gaussian`` the Gaussian draw is kept; for
            ``filter``/``layer`` the direction is a copy of the point's values, as in the
            paper's code (``net_plotter.normalize_directions_for_weights``, ignore != 'biasbn':
            each scalar is a filter of one entry, rescaled to :math:`|\theta_i|`).
        generator: ``torch.Generator`` for the draws (default: a CPU generator seeded with
            0); the draws are made on its device and moved to each tensor's device.

    Returns:
        A dict with the keys, shapes, dtypes and devices of ``params``. A filter (or tensor)
        of the point with norm 0 gets direction 0.

    Cost: one Gaussian draw per parameter. References: H. Li, Z. Xu, G. Taylor, C. Studer,
    T. Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018, Sec. 4.
    """
    point = _check_point(params, "params")
    kind = check_choice("kind", kind, ("gaussian", "filter", "layer"))
    bias_bn = check_choice("bias_bn", bias_bn, ("zero", "keep"))
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator or None; got {type(generator).__name__}.")
    out: Params = {}
    for k, w in point.items():
        d = torch.randn(w.shape, generator=generator, dtype=w.dtype, device=generator.device).to(w.device)
        if w.ndim <= 1:
            if bias_bn == "zero":
                d = torch.zeros_like(w)
            elif kind != "gaussian":
                d = w.clone()
        elif kind == "filter":
            wn = w.reshape(w.shape[0], -1).norm(dim=1)
            dn = d.reshape(d.shape[0], -1).norm(dim=1)
            scale = torch.where(dn > 0, wn / torch.where(dn > 0, dn, torch.ones_like(dn)), torch.zeros_like(dn))
            d = d * scale.reshape((-1,) + (1,) * (w.ndim - 1))
        elif kind == "layer":
            dn = d.norm()
            d = d * (w.norm() / dn) if dn > 0 else torch.zeros_like(w)
        out[k] = d
    return out


@dataclass(frozen=True)
class PCADirections:
    """Top principal directions of an optimization trajectory.

    Attributes:
        directions: ``k`` orthonormal direction dicts (shaped like the parameters).
        explained_variance_ratio: (k,) numpy array, the fraction of the total variance of the
            trajectory's rows along each direction (as ``sklearn.decomposition.PCA``).
        coordinates: (T, k) numpy array, :math:`\\langle\\theta_i - \\theta_T, d_j\\rangle` for
            every saved point (the last row is 0): the path to draw over a ``loss_plane``.
        origin: the final point :math:`\\theta_T` (the plane's center).
    """

    directions: list[Params]
    explained_variance_ratio: np.ndarray
    coordinates: np.ndarray
    origin: Params


def pca_directions(trajectory: Sequence[Mapping[str, Tensor]], k: int = 2, *, center: bool = True) -> PCADirections:
    r"""Top-``k`` PCA directions of a trajectory of saved parameter dicts (Li et al. 2018, Sec. 7).

    The rows are :math:`M = [\theta_0 - \theta_n; \dots; \theta_{n-1} - \theta_n]` (relative
    to the final point :math:`\theta_n`); the directions are the top right singular vectors
    of :math:`M` after subtracting the column means (``center=True``, what the paper's code
    does through ``sklearn.decomposition.PCA``) or of :math:`M` itself (``center=False``).
    The SVD runs in float64; directions come back in the trajectory's dtype and device.

    Args:
        trajectory: at least 3 dicts with the same keys and shapes (the last is the origin).
        k: number of directions, ``1 <= k <= len(trajectory) - 1`` (``- 2`` when centering).

    Cost: one thin SVD of an (n, P) matrix, :math:`O(n^2 P)`, and (n, P) float64 memory.
    """
    if not isinstance(trajectory, Sequence) or isinstance(trajectory, Mapping) or len(trajectory) < 3:
        got = len(trajectory) if isinstance(trajectory, Sequence) else type(trajectory).__name__
        raise ValueError(f"`trajectory` must be a list of at least 3 parameter dicts; got {got}.")
    final = _check_point(trajectory[-1], "trajectory[-1]")
    rows = [torch.cat([v.reshape(-1) for v in _check_like(p, final, f"trajectory[{i}]").values()]) for i, p in enumerate(trajectory)]
    X = torch.stack(rows).to(torch.float64)  # (n+1, P)
    X = X - X[-1]
    M = X[:-1]
    kmax = M.shape[0] - (1 if center else 0)
    k = check_int("k", k, minimum=1, maximum=max(kmax, 1))
    Mc = M - M.mean(dim=0, keepdim=True) if center else M
    _, s, Vh = torch.linalg.svd(Mc, full_matrices=False)
    total = float((s**2).sum())
    if total == 0.0:
        raise ValueError("`trajectory` must move: every saved point equals the final one, so it has no principal directions.")
    V = Vh[:k]  # (k, P)
    # fix the sign: the largest-magnitude entry of each direction is positive (deterministic output)
    signs = torch.sign(V.gather(1, V.abs().argmax(dim=1, keepdim=True)))
    V = V * signs
    coords = (X @ V.T).cpu().numpy()  # (n+1, k)
    dirs: list[Params] = []
    for j in range(k):
        d, i = {}, 0
        for name, p in final.items():
            d[name] = V[j, i : i + p.numel()].reshape(p.shape).to(dtype=p.dtype, device=p.device)
            i += p.numel()
        dirs.append(d)
    ratio = (s[:k] ** 2 / total).cpu().numpy()
    return PCADirections(dirs, ratio, coords, final)


# --------------------------------------------------------------------------- evaluation engine


def _shown(name: str) -> str:
    return "loss_fn" if name == "loss" else f"metrics['{name}']"


def _bn_modules(net: nn.Module) -> dict[str, nn.modules.batchnorm._BatchNorm]:
    return {n: m for n, m in net.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats}


class _Evaluator:
    """Evaluates named functions of (outputs, targets) at parameter points given as linear
    combinations ``sum_j c_j B_j`` of basis dicts; batched with vmap when the model allows."""

    def __init__(self, model: nn.Module, fns: Mapping[str, Metric], data: Any, basis: Sequence[Params], bn: str, chunk_size: int, bn_data: Any = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"`model` must be a torch.nn.Module; got {type(model).__name__}.")
        for name, f in fns.items():
            if not callable(f):
                raise TypeError(f"`{_shown(name)}` must be a callable (outputs, targets) -> scalar tensor; got {type(f).__name__}.")
        self.bn = check_choice("bn", bn, BN_POLICIES)
        self.chunk_size = check_int("chunk_size", chunk_size, minimum=1)
        known = {n for n, _ in model.named_parameters()}
        unknown = [k for k in basis[0] if k not in known]
        if unknown:
            raise ValueError(f"the parameter dicts must be named like the parameters of `model` {sorted(known)}; got unknown names {unknown}.")
        # a copy that shares the parameters (never written to) and owns its buffers and mode
        self.net = copy.deepcopy(model, memo={id(p): p for p in model.parameters()}).eval()
        self.bns = _bn_modules(self.net) if self.bn == "recompute" else {}
        self.fns = dict(fns)
        self.batches = _weighted_batches(data)
        for b, _ in self.batches:
            if not isinstance(b, (tuple, list)) or len(b) < 2:
                raise ValueError("`data` must be a batch (*inputs, targets) of tensors or an iterable of such batches.")
        if bn_data is not None and self.bn != "recompute":
            raise ValueError(f"`bn_data` is only used with bn='recompute'; got bn={self.bn!r}.")
        self.stat_batches = self.batches if bn_data is None else _weighted_batches(bn_data)
        for b, _ in self.stat_batches:
            if not isinstance(b, (tuple, list)) or len(b) < 1:
                raise ValueError("`bn_data` must be a batch (*inputs[, targets]) of tensors or an iterable of such batches.")
        self.keys = list(basis[0])
        self.stacked = {k: torch.stack([B[k] for B in basis]) for k in self.keys}  # (m, *shape)
        first = self.stacked[self.keys[0]]
        self.dtype, self.device = first.dtype, first.device
        self.vectorized = not self.bns

    def _point(self, c: Tensor) -> Params:  # c: (m,)
        return {k: torch.tensordot(c, s, dims=1) for k, s in self.stacked.items()}

    def _values(self, p: Params, batch: Sequence[Tensor], buffers: Params | None = None) -> Tensor:
        arg = p if buffers is None else {**p, **buffers}
        out = functional_call(self.net, arg, tuple(batch[:-1]), strict=False)
        vals = []
        for name, f in self.fns.items():
            v = f(out, batch[-1])
            if not isinstance(v, Tensor) or v.numel() != 1:
                raise TypeError(f"`{_shown(name)}` must return a scalar tensor; got {type(v).__name__} {tuple(getattr(v, 'shape', ()))}.")
            vals.append(v.reshape(()).to(self.dtype))
        return torch.stack(vals)

    def _recomputed_buffers(self, p: Params) -> Params:
        """Running statistics of every tracked BatchNorm at ``p``, estimated from the data."""
        bufs: Params = {}
        for n, m in self.bns.items():
            pre = f"{n}." if n else ""
            bufs[pre + "running_mean"] = torch.zeros_like(m.running_mean)
            bufs[pre + "running_var"] = torch.ones_like(m.running_var)
            bufs[pre + "num_batches_tracked"] = torch.zeros_like(m.num_batches_tracked)
        seen = 0.0
        try:
            for m in self.bns.values():
                m.train()
            for b, _ in self.stat_batches:
                nb = float(b[0].shape[0])
                for m in self.bns.values():
                    m.momentum = nb / (seen + nb)  # size-weighted running average (this copy only)
                functional_call(self.net, {**p, **bufs}, tuple(b[:-1]) if len(b) > 1 else tuple(b), strict=False)  # updates `bufs` in place
                seen += nb
        finally:
            for m in self.bns.values():
                m.eval()
        return bufs

    def _loop(self, coeffs: Tensor) -> Tensor:
        out = []
        for c in coeffs:
            p = self._point(c)
            bufs = self._recomputed_buffers(p) if self.bns else None
            out.append(sum(w * self._values(p, b, bufs) for b, w in self.batches))
        return torch.stack(out)

    def _vmapped(self, coeffs: Tensor) -> Tensor:
        P = {k: torch.tensordot(coeffs, s, dims=1) for k, s in self.stacked.items()}  # (C, *shape)
        total = 0
        for b, w in self.batches:
            total = total + w * torch.func.vmap(lambda p, b=b: self._values(p, b), in_dims=(0,))(P)
        return total

    def __call__(self, coeffs: Tensor) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``coeffs`` (G, m) -> ({name: (G,) numpy array})."""
        coeffs = coeffs.to(dtype=self.dtype, device=self.device)
        chunks = []
        with torch.no_grad():
            for i in range(0, coeffs.shape[0], self.chunk_size):
                c = coeffs[i : i + self.chunk_size]
                if self.vectorized:
                    try:
                        chunks.append(self._vmapped(c))
                        continue
                    except Exception:  # noqa: BLE001  (any model vmap cannot run: fall back; a real error re-raises in the loop)
                        self.vectorized = False
                chunks.append(self._loop(c))
        vals = torch.cat(chunks).cpu().numpy()  # (G, n_fns)
        return {name: vals[:, j] for j, name in enumerate(self.fns)}


def _grid(values: Any, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).reshape(-1) if not isinstance(values, Tensor) else values.detach().cpu().double().numpy().reshape(-1)
    if a.size < 1 or not np.all(np.isfinite(a)):
        raise ValueError(f"`{name}` must be a non-empty 1-D array of finite numbers; got {values!r}.")
    return a


def _fns(loss_fn: Metric, metrics: Mapping[str, Metric] | None) -> dict[str, Metric]:
    metrics = {} if metrics is None else metrics
    if not isinstance(metrics, Mapping):
        raise TypeError(f"`metrics` must be a dict {{name: callable}} or None; got {type(metrics).__name__}.")
    if "loss" in metrics:
        raise ValueError("`metrics` must not use the name 'loss' (reserved for `loss_fn`); got a metric named 'loss'.")
    return {"loss": loss_fn, **{f"{k}": v for k, v in metrics.items()}}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Landscape:
    """Loss (and metrics) on a 1-D or 2-D grid of parameter points.

    Attributes:
        axes: ``(ts,)`` for a line or ``(xs, ys)`` for a plane (numpy arrays).
        loss: (len(ts),) or (len(xs), len(ys)) numpy array; ``loss[i, j]`` is at ``(xs[i], ys[j])``.
        metrics: ``{name: array}`` shaped like ``loss``.
        vectorized: whether the grid was evaluated with vmap (else point by point).
        bn: the BatchNorm policy used.
    """

    axes: tuple[np.ndarray, ...]
    loss: np.ndarray
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    vectorized: bool = True
    bn: str = "eval"

    def values(self, metric: str = "loss") -> np.ndarray:
        if metric == "loss":
            return self.loss
        if metric not in self.metrics:
            raise ValueError(f"`metric` must be one of {['loss', *self.metrics]}; got {metric!r}.")
        return self.metrics[metric]

    def plot(self, *, metric: str = "loss", kind: str = "auto", ax: Any = None, levels: int = 30, log: bool = False, label: str | None = None):
        """Line (1-D), contour or surface (2-D) plot in the dltheory style; returns the figure.

        Args:
            metric: ``"loss"`` or a metric name.
            kind: ``"auto"`` (line for 1-D, contour for 2-D), ``"line"``, ``"contour"``, ``"surface"``.
            ax: an existing axes to draw on (a 3-D axes for ``surface``).
            levels: contour levels. log: plot :math:`\\log_{10}` of the values.
        """
        from dltheory.core.plotting import figure

        z = self.values(metric)
        kind = check_choice("kind", kind, ("auto", "line", "contour", "surface"))
        if kind == "auto":
            kind = "line" if len(self.axes) == 1 else "contour"
        if (kind == "line") != (len(self.axes) == 1):
            raise ValueError(f"`kind` must be 'line' for a 1-D landscape and 'contour' or 'surface' for a 2-D one; got {kind!r} for {len(self.axes)}-D.")
        z = np.log10(np.maximum(z, np.finfo(float).tiny)) if log else z
        name = f"log10 {metric}" if log else metric
        if ax is None:
            _, ax = figure(subplot_kw={"projection": "3d"}) if kind == "surface" else figure()
        if kind == "line":
            ax.plot(self.axes[0], z, label=label)
            ax.set_xlabel("t")
            ax.set_ylabel(name)
        else:
            X, Y = np.meshgrid(self.axes[0], self.axes[1], indexing="ij")
            if kind == "contour":
                cs = ax.contour(X, Y, z, levels=levels, cmap="viridis", linewidths=1.0)
                ax.clabel(cs, inline=True, fontsize=7, fmt="%.3g")
            else:
                ax.plot_surface(X, Y, z, cmap="viridis", linewidth=0, antialiased=True)
                ax.set_zlabel(name)
            ax.set_xlabel(r"$\alpha$")
            ax.set_ylabel(r"$\beta$")
            ax.set_title(name)
        return ax.figure


# --------------------------------------------------------------------------- public evaluation


def loss_line(
    model: nn.Module,
    loss_fn: Metric,
    data: Any,
    point: Mapping[str, Tensor],
    direction: Mapping[str, Tensor] | None = None,
    *,
    endpoint: Mapping[str, Tensor] | None = None,
    ts: Any = None,
    metrics: Mapping[str, Metric] | None = None,
    bn: str = "eval",
    chunk_size: int = 16,
    bn_data: Any = None,
) -> Landscape:
    r"""Loss along a line: :math:`L(\theta + t\,d)` or, with ``endpoint``, :math:`L((1-t)\theta + t\,\theta')`.

    Args:
        model: the network; its parameters named as in ``point`` are replaced (the module
            itself is not modified; parameters ``point`` leaves out keep the model's values).
        loss_fn: ``loss_fn(outputs, targets) -> scalar`` (mean over the batch), e.g.
            ``torch.nn.functional.cross_entropy``.
        data: a batch ``(*inputs, targets)`` or an iterable of batches.
        point: :math:`\theta`, a dict of tensors named like ``model``'s parameters.
        direction: :math:`d` (same keys and shapes); exactly one of ``direction``/``endpoint``.
        endpoint: :math:`\theta'`; the line is the interpolation (Goodfellow, Vinyals, Saxe,
            ICLR 2015).
        ts: the grid (default ``linspace(-1, 1, 51)`` with a direction, ``linspace(0, 1, 51)``
            with an endpoint).
        metrics: ``{name: fn(outputs, targets) -> scalar}``, e.g. ``{"error": top1_error}``.
        bn: ``"eval"`` or ``"recompute"`` (see the module docstring).
        chunk_size: grid points per vmap call (memory: that many forward passes at once).
        bn_data: with ``bn="recompute"``, the data the statistics are re-estimated from
            (default ``data``).

    Cost: ``len(ts)`` forward passes over ``data`` (twice with ``bn="recompute"``).
    """
    p = _check_point(point, "point")
    if (direction is None) == (endpoint is None):
        raise ValueError("exactly one of `direction` and `endpoint` must be given; got " + ("both." if direction is not None else "neither."))
    if direction is not None:
        basis, default = [p, _check_like(direction, p, "direction")], np.linspace(-1.0, 1.0, 51)
    else:
        basis, default = [p, _check_like(endpoint, p, "endpoint")], np.linspace(0.0, 1.0, 51)
    t = _grid(default if ts is None else ts, "ts")
    ev = _Evaluator(model, _fns(loss_fn, metrics), data, basis, bn, chunk_size, bn_data)
    tt = torch.as_tensor(t)
    coeffs = torch.stack([torch.ones_like(tt), tt], dim=1) if direction is not None else torch.stack([1.0 - tt, tt], dim=1)
    vals = ev(coeffs)
    loss = vals.pop("loss")
    return Landscape((t,), loss, vals, ev.vectorized, bn)


def loss_plane(
    model: nn.Module,
    loss_fn: Metric,
    data: Any,
    point: Mapping[str, Tensor],
    d1: Mapping[str, Tensor],
    d2: Mapping[str, Tensor],
    xs: Any = None,
    ys: Any = None,
    *,
    metrics: Mapping[str, Metric] | None = None,
    bn: str = "eval",
    chunk_size: int = 16,
    bn_data: Any = None,
) -> Landscape:
    r"""Loss over a plane: :math:`f(\alpha, \beta) = L(\theta + \alpha\, d_1 + \beta\, d_2)` (Li et al. 2018, Eq. 1).

    Args:
        model, loss_fn, data, point, metrics, bn, chunk_size, bn_data: as in :func:`loss_line`.
        d1, d2: the two directions (e.g. :func:`random_direction` with ``kind="filter"``,
            or ``pca_directions(trajectory).directions``).
        xs, ys: grids of :math:`\alpha` and :math:`\beta` (default ``linspace(-1, 1, 21)``).

    Returns:
        :class:`Landscape` with ``loss[i, j]`` at ``(xs[i], ys[j])``.

    Cost: ``len(xs) * len(ys)`` forward passes over ``data`` (twice with ``bn="recompute"``).
    References: Li, Xu, Taylor, Studer, Goldstein, NeurIPS 2018.
    """
    p = _check_point(point, "point")
    basis = [p, _check_like(d1, p, "d1"), _check_like(d2, p, "d2")]
    x = _grid(np.linspace(-1.0, 1.0, 21) if xs is None else xs, "xs")
    y = _grid(np.linspace(-1.0, 1.0, 21) if ys is None else ys, "ys")
    ev = _Evaluator(model, _fns(loss_fn, metrics), data, basis, bn, chunk_size, bn_data)
    A, B = np.meshgrid(x, y, indexing="ij")
    a, b = torch.as_tensor(A.reshape(-1)), torch.as_tensor(B.reshape(-1))
    vals = ev(torch.stack([torch.ones_like(a), a, b], dim=1))
    vals = {k: v.reshape(len(x), len(y)) for k, v in vals.items()}
    loss = vals.pop("loss")
    return Landscape((x, y), loss, vals, ev.vectorized, bn)
