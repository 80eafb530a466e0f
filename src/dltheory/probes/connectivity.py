r"""Mode connectivity: loss barriers on straight lines, and low-loss curves between minima.

**Barrier** (Frankle, Dziugaite, Roy, Carbin, "Linear Mode Connectivity and the Lottery
Ticket Hypothesis", ICML 2020, Sec. 2; Entezari, Sedghi, Saukh, Neyshabur, "The Role of
Permutation Invariance in Linear Mode Connectivity of Neural Networks", ICLR 2022, Def. 1):
on :math:`\theta(t) = (1-t)\,\theta_a + t\,\theta_b`,

.. math:: B(\theta_a, \theta_b) = \max_{t\in[0,1]} f(\theta(t)) - \big((1-t) f(\theta_a) + t f(\theta_b)\big),

with :math:`f` the loss or the error; :math:`B \ge 0` (the endpoints give 0).

**Curves** (Garipov, Izmailov, Podoprikhin, Vetrov, Wilson, "Loss Surfaces, Mode
Connectivity, and Fast Ensembling of DNNs", NeurIPS 2018, Sec. 3): a quadratic Bezier curve
:math:`\phi_\theta(t) = (1-t)^2\theta_a + 2t(1-t)\,\theta + t^2\theta_b` or a polygonal chain
with one bend :math:`\theta_a \to \theta \to \theta_b`, endpoints fixed, the control point
:math:`\theta` trained on :math:`\mathbb E_{t\sim U(0,1)} L(\phi_\theta(t))` with a fresh
:math:`t` at every step, through the one training loop :func:`dltheory.train.train`.

Evaluation goes through the engine of :mod:`dltheory.probes.landscape` (functional, never
mutating the module; vmap over chunks of points; ``bn="eval"`` or ``"recompute"`` as
documented there).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from dltheory.core.errors import check_choice, check_int
from dltheory.core.params import Params
from dltheory.probes.landscape import (
    Metric,
    _check_like,
    _check_point,
    _Evaluator,
    _fns,
    _grid,
    top1_error,
)

__all__ = ["Barrier", "Curve", "CurveProfile", "barrier", "curve_profile", "fit_curve"]

CURVE_KINDS = ("bezier", "polychain")


# --------------------------------------------------------------------------- barrier


@dataclass(frozen=True)
class Barrier:
    """The loss (or error) barrier on the straight line between two points.

    Attributes:
        value: :math:`\\max_t` gap (>= 0).
        t_max: the :math:`t` where it is attained.
        ts: every evaluated :math:`t` (coarse grid and refinements), sorted.
        values: :math:`f(\\theta(t))` at ``ts``.
        gaps: :math:`f(\\theta(t)) - ((1-t) f_a + t f_b)` at ``ts``.
        f_a, f_b: :math:`f` at the endpoints.
        metric: the name of :math:`f`.
        evaluations: number of points evaluated.
    """

    value: float
    t_max: float
    ts: np.ndarray
    values: np.ndarray
    gaps: np.ndarray
    f_a: float
    f_b: float
    metric: str
    evaluations: int

    def plot(self, ax: Any = None):
        """:math:`f` along the line with the endpoints' interpolation (dashed); returns the figure."""
        from dltheory.core.plotting import THEORY, figure

        if ax is None:
            _, ax = figure()
        ax.plot(self.ts, self.values, label=self.metric)
        ax.plot([0.0, 1.0], [self.f_a, self.f_b], **THEORY, label="interpolation of the endpoints")
        ax.axvline(self.t_max, color="#888888", linewidth=0.8)
        ax.set_xlabel("t")
        ax.set_ylabel(self.metric)
        ax.set_title(f"barrier {self.value:.4g} at t = {self.t_max:.3f}")
        ax.legend()
        return ax.figure


def _metric_fn(metric: str | Metric, loss_fn: Metric) -> tuple[str, Metric]:
    if callable(metric) and not isinstance(metric, str):
        return getattr(metric, "__name__", "metric"), metric
    metric = check_choice("metric", metric, ("loss", "error"))
    return metric, (loss_fn if metric == "loss" else top1_error)


def barrier(
    model: nn.Module,
    loss_fn: Metric,
    data: Any,
    params_a: Mapping[str, Tensor],
    params_b: Mapping[str, Tensor],
    *,
    n: int = 25,
    refine: bool = True,
    refine_points: int = 17,
    refine_rounds: int = 2,
    metric: str | Metric = "loss",
    bn: str = "eval",
    chunk_size: int = 16,
    bn_data: Any = None,
) -> Barrier:
    r"""Barrier :math:`\max_t f((1-t)\theta_a + t\theta_b) - ((1-t)f(\theta_a) + t f(\theta_b))`.

    Evaluated on ``n`` equispaced points of [0, 1] (endpoints included); with ``refine``,
    the bracket :math:`[t_{i-1}, t_{i+1}]` around the grid's argmax is resampled with
    ``refine_points`` equispaced points, ``refine_rounds`` times (each round shrinks the
    spacing by ``(refine_points - 1) / 2``). A local grid rather than golden-section search,
    so the error (piecewise constant in :math:`t`) is handled too. The value is the maximum
    over every evaluated point, so refining never lowers it.

    Args:
        model, loss_fn, data, bn, chunk_size, bn_data: as in :func:`dltheory.probes.landscape.loss_line`
            (``bn="recompute"`` re-estimates BatchNorm statistics at every :math:`t`, as
            networks interpolated between two minima need: Frankle et al. 2020, App.).
        params_a, params_b: the endpoints (dicts with the same keys and shapes).
        n: coarse grid size (>= 3).
        metric: ``"loss"`` (``loss_fn``), ``"error"`` (top-1 error of logits) or a callable
            ``(outputs, targets) -> scalar``.

    Cost: ``n + refine_rounds * refine_points`` forward passes over ``data`` (twice each with
    ``bn="recompute"``).
    """
    a = _check_point(params_a, "params_a")
    b = _check_like(params_b, a, "params_b")
    n = check_int("n", n, minimum=3)
    refine_points = check_int("refine_points", refine_points, minimum=1)
    refine_rounds = check_int("refine_rounds", refine_rounds, minimum=0)
    name, fn = _metric_fn(metric, loss_fn)
    ev = _Evaluator(model, {"loss": fn}, data, [a, b], bn, chunk_size, bn_data)

    def evaluate(t: np.ndarray) -> np.ndarray:
        tt = torch.as_tensor(t)
        return ev(torch.stack([1.0 - tt, tt], dim=1))["loss"]

    ts = np.linspace(0.0, 1.0, n)
    vals = evaluate(ts)
    fa, fb = float(vals[0]), float(vals[-1])
    spacing = 1.0 / (n - 1)
    if refine:
        for _ in range(refine_rounds):
            gaps = vals - ((1.0 - ts) * fa + ts * fb)
            tm = ts[int(np.argmax(gaps))]
            lo, hi = max(0.0, tm - spacing), min(1.0, tm + spacing)
            new = np.linspace(lo, hi, refine_points + 2)[1:-1]
            new = new[~np.isin(new, ts)]
            if new.size:
                ts = np.concatenate([ts, new])
                vals = np.concatenate([vals, evaluate(new)])
                order = np.argsort(ts, kind="stable")
                ts, vals = ts[order], vals[order]
            spacing = (hi - lo) / (refine_points + 1)
    gaps = vals - ((1.0 - ts) * fa + ts * fb)
    i = int(np.argmax(gaps))
    return Barrier(float(max(gaps[i], 0.0)), float(ts[i]), ts, vals, gaps, fa, fb, name, int(ts.size))


# --------------------------------------------------------------------------- curves


def _coefficients(kind: str, t: Tensor) -> Tensor:
    """(..., 3) weights of (start, control, end) at ``t``."""
    if kind == "bezier":
        return torch.stack([(1 - t) ** 2, 2 * t * (1 - t), t**2], dim=-1)
    first = t <= 0.5
    s = torch.where(first, 2 * t, 2 * t - 1)
    zero = torch.zeros_like(t)
    return torch.stack([torch.where(first, 1 - s, zero), torch.where(first, s, 1 - s), torch.where(first, zero, s)], dim=-1)


@dataclass(frozen=True)
class Curve:
    r"""A curve with one control point between two fixed endpoints (Garipov et al. 2018).

    ``bezier``: :math:`\phi(t) = (1-t)^2 a + 2t(1-t)\,\theta + t^2 b`; ``polychain``:
    :math:`a \to \theta` on :math:`[0, \frac12]`, :math:`\theta \to b` on :math:`[\frac12, 1]`.

    Attributes:
        kind, start (a), control (:math:`\theta`), end (b); history: the training loop's
        :class:`~dltheory.train.History` (loss at the sampled t per step) or None.
    """

    kind: str
    start: Params
    control: Params
    end: Params
    history: Any = field(default=None, compare=False)

    def __post_init__(self):
        check_choice("kind", self.kind, CURVE_KINDS)
        a = _check_point(self.start, "start")
        _check_like(self.control, a, "control")
        _check_like(self.end, a, "end")

    def coefficients(self, t: float | Tensor) -> Tensor:
        """The weights of (start, control, end) at ``t`` in [0, 1]: shape (..., 3)."""
        ref = next(iter(self.start.values()))
        tt = torch.as_tensor(t, dtype=ref.dtype, device=ref.device)
        if torch.any((tt < 0) | (tt > 1)):
            raise ValueError(f"`t` must lie in [0, 1]; got {t!r}.")
        return _coefficients(self.kind, tt)

    def params_at(self, t: float) -> Params:
        """:math:`\\phi(t)` as a parameter dict."""
        c = self.coefficients(t)
        return {k: c[0] * self.start[k] + c[1] * self.control[k] + c[2] * self.end[k] for k in self.start}


def fit_curve(
    model: nn.Module,
    loss_fn: Metric,
    data: Any,
    params_a: Mapping[str, Tensor],
    params_b: Mapping[str, Tensor],
    *,
    kind: str = "bezier",
    steps: int = 1000,
    lr: float | None = 0.01,
    optimizer: Any = "sgd",
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    bn: str = "batch",
    init: Mapping[str, Tensor] | None = None,
    callbacks: Sequence[Any] = (),
    progress: bool = False,
) -> Curve:
    r"""Train the control point of a curve from ``params_a`` to ``params_b`` (Garipov et al. 2018, Sec. 3.2).

    Minimizes :math:`\ell(\theta) = \mathbb E_{t\sim U(0,1)} L(\phi_\theta(t))` by stochastic
    gradient steps, drawing one :math:`t` per step (Eq. 3 of the paper, "sample
    :math:`\tilde t \sim U(0,1)` and make a gradient step for :math:`\theta` with respect
    to the loss :math:`L(\phi_\theta(\tilde t))`"), with :func:`dltheory.train.train` on the
    closure ``theta, batch -> loss_fn(model(phi_theta(t), inputs), targets)``. The
    endpoints stay fixed; :math:`\theta` starts at the midpoint :math:`(a+b)/2` (where the
    Bezier curve is the straight line) unless ``init`` is given.

    Args:
        model: the network; the module is not modified (a copy sharing its parameters runs
            in eval mode, dropout off).
        loss_fn: ``loss_fn(outputs, targets) -> scalar``.
        data: a batch tuple ``(*inputs, targets)`` (minibatches of ``batch_size`` drawn by
            the loop) or an iterable of batches (cycled), as :func:`~dltheory.train.train`.
        params_a, params_b: the endpoints.
        kind: ``"bezier"`` or ``"polychain"``.
        steps, lr, optimizer, batch_size, callbacks, progress: passed to
            :func:`~dltheory.train.train` (``optimizer`` a name or an
            :class:`~dltheory.train.Optimizer`).
        generator: draws :math:`t` and the minibatches (default: CPU generator seeded 0).
        bn: ``"batch"`` (default, as the paper trains curves: BatchNorm normalizes with the
            statistics of each batch at :math:`\phi(t)`; evaluate the result with
            ``curve_profile(..., bn="recompute")``) or ``"eval"`` (the model's running statistics).

    Returns:
        :class:`Curve` with the trained control point and the training history.

    Cost: ``steps`` forward + backward passes on a batch (plus one final evaluation).
    """
    from dltheory.train.loop import train  # train is a sibling layer

    a = _check_point(params_a, "params_a")
    b = _check_like(params_b, a, "params_b")
    kind = check_choice("kind", kind, CURVE_KINDS)
    bn = check_choice("bn", bn, ("batch", "eval"))
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module; got {type(model).__name__}.")
    known = {n for n, _ in model.named_parameters()}
    unknown = [k for k in a if k not in known]
    if unknown:
        raise ValueError(f"`params_a` must be named like the parameters of `model` {sorted(known)}; got unknown names {unknown}.")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator or None; got {type(generator).__name__}.")
    theta0 = {k: 0.5 * (a[k] + b[k]) for k in a} if init is None else _check_like(init, a, "init")
    net = copy.deepcopy(model, memo={id(p): p for p in model.parameters()}).eval()
    if bn == "batch":
        torch.func.replace_all_batch_norm_modules_(net)  # batch statistics, no running-stat updates
    ref = next(iter(a.values()))

    def curve_loss(theta: Params, batch: Any) -> Tensor:
        t = torch.rand((), generator=generator, dtype=ref.dtype, device=generator.device).to(ref.device)
        c = _coefficients(kind, t)
        p = {k: c[0] * a[k] + c[1] * theta[k] + c[2] * b[k] for k in a}
        return loss_fn(functional_call(net, p, tuple(batch[:-1]), strict=False), batch[-1])

    res = train(curve_loss, theta0, steps=steps, optimizer=optimizer, lr=lr, data=data, batch_size=batch_size,
                generator=generator, callbacks=callbacks, description=f"{kind} curve", progress=progress)
    return Curve(kind, a, res.params, b, res.history)


@dataclass(frozen=True)
class CurveProfile:
    """Loss (and metrics) along a curve on a grid of t.

    Attributes:
        ts: the grid; loss, metrics: values along the curve at ``ts``.
        gaps: ``{name: f(phi(t)) - ((1-t) f(a) + t f(b))}`` for the loss and each metric.
        max_gap: ``{name: max over ts of the gap}``; t_max: ``{name: its argmax}``.
        endpoints: ``{name: (f(a), f(b))}``.
    """

    ts: np.ndarray
    loss: np.ndarray
    metrics: dict[str, np.ndarray]
    gaps: dict[str, np.ndarray]
    max_gap: dict[str, float]
    t_max: dict[str, float]
    endpoints: dict[str, tuple[float, float]]

    def plot(self, *, metric: str = "loss", ax: Any = None, label: str | None = None):
        """The metric along the curve; returns the figure."""
        from dltheory.core.plotting import figure

        if metric not in self.gaps:
            raise ValueError(f"`metric` must be one of {list(self.gaps)}; got {metric!r}.")
        if ax is None:
            _, ax = figure()
        ax.plot(self.ts, self.loss if metric == "loss" else self.metrics[metric], label=label)
        ax.set_xlabel("t")
        ax.set_ylabel(metric)
        return ax.figure


def curve_profile(
    curve: Curve,
    model: nn.Module,
    loss_fn: Metric,
    data: Any,
    *,
    ts: Any = None,
    metrics: Mapping[str, Metric] | None = None,
    bn: str = "eval",
    chunk_size: int = 16,
    bn_data: Any = None,
) -> CurveProfile:
    r"""Loss and metrics along ``curve`` at ``ts`` (default ``linspace(0, 1, 61)``), and the
    largest gap :math:`\max_t f(\phi(t)) - ((1-t) f(a) + t f(b))`.

    The endpoints are always evaluated (also when ``ts`` leaves them out). Use a grid
    independent of the training (the control point was trained at random :math:`t`).

    Args:
        curve: from :func:`fit_curve` (or built by hand).
        model, loss_fn, data, metrics, bn, chunk_size, bn_data: as in
            :func:`dltheory.probes.landscape.loss_line`; for a model with BatchNorm trained
            with ``fit_curve(bn="batch")`` use ``bn="recompute"`` (Garipov et al. recompute
            the statistics at each t).

    Cost: ``len(ts) + 2`` forward passes over ``data`` (twice with ``bn="recompute"``).
    """
    if not isinstance(curve, Curve):
        raise TypeError(f"`curve` must be a Curve (from fit_curve); got {type(curve).__name__}.")
    t = _grid(np.linspace(0.0, 1.0, 61) if ts is None else ts, "ts")
    if np.any((t < 0) | (t > 1)):
        raise ValueError(f"`ts` must lie in [0, 1]; got values from {t.min()} to {t.max()}.")
    ev = _Evaluator(model, _fns(loss_fn, metrics), data, [curve.start, curve.control, curve.end], bn, chunk_size, bn_data)
    tt = torch.as_tensor(np.concatenate([[0.0, 1.0], t]))
    vals = ev(_coefficients(curve.kind, tt))
    gaps, max_gap, t_max, ends, along = {}, {}, {}, {}, {}
    for name, v in vals.items():
        fa, fb, vt = float(v[0]), float(v[1]), v[2:]
        g = vt - ((1.0 - t) * fa + t * fb)
        i = int(np.argmax(g))
        gaps[name], max_gap[name], t_max[name], ends[name], along[name] = g, float(g[i]), float(t[i]), (fa, fb), vt
    loss = along.pop("loss")
    return CurveProfile(t, loss, along, gaps, max_gap, t_max, ends)
