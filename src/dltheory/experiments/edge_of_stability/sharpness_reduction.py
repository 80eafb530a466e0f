r"""Sharpness reduction at the edge of stability (Arora, Li, Panigrahi, ICML 2022).

The loss :math:`L(w) = \tfrac12 (w_1 w_2 \cdots w_d - 1)^2` (d = 2: :math:`(uv-1)^2/2`) has the
manifold of minimizers :math:`\Gamma = \{\prod_i w_i = 1\}`. On :math:`\Gamma` the Hessian is
:math:`\nabla^2 L = g g^\top` with :math:`g_i = \prod_{j\ne i} w_j = 1/w_i`, so the sharpness is
:math:`\lambda_1 = \sum_i 1/w_i^2 \ge d` (AM-GM), with equality only at the flattest point
:math:`w = (1, \dots, 1)`; for d = 2, :math:`\lambda_1 = u^2 + v^2` with Hessian
:math:`[[v^2, uv], [uv, u^2]]`. Off :math:`\Gamma`,
:math:`\nabla^2 L = g g^\top + (\prod_i w_i - 1)\,\nabla^2 \prod_i w_i`.

Gradient flow conserves every :math:`w_i^2 - w_j^2` (:math:`\tfrac{d}{dt} w_i^2 = -2 r \prod_k w_k`
for all i, with :math:`r = \prod w - 1`), so its limit :math:`\Phi(w)` is the point of
:math:`\Gamma` with the same differences: a 1-d root find, and for d = 2 the closed form
:math:`\lambda_1(\Phi(u, v)) = \sqrt{(u^2 - v^2)^2 + 4}`.

Arora et al. prove that (1) normalized GD :math:`w \leftarrow w - \eta \nabla L / \|\nabla L\|` and
(2) GD on :math:`\sqrt{L}` (constant step, an adaptive step :math:`\eta / (2\sqrt{L})` on L)
both enter the edge of stability near :math:`\Gamma` after O(1/eta) steps, after which
:math:`\Phi(w_t)` follows a flow on :math:`\Gamma` that decreases :math:`\lambda_1` over
:math:`\Theta(\eta^{-2})` steps, with O(eta) tracking error; the flow's limit here is the
flattest point. Plain GD with a stable step (:math:`\eta \lambda_1 < 2`) instead converges to
(about) :math:`\Phi(w_0)`, where the gradient vanishes and it stays: it changes
:math:`w_i^2 - w_j^2` only by the factor :math:`1 - \eta^2 r_t^2 \prod_{k\ne i,j} w_k^2` per
step, which is negligible once :math:`r_t \to 0`.

The sharpness is reported at :math:`\Phi(w_t)`: the iterates of normalized GD and GD on
:math:`\sqrt L` oscillate across :math:`\Gamma` (that is the edge of stability), so the
Hessian at :math:`w_t` itself jumps from step to step.

Setup: all three methods start from the same imbalanced point
:math:`w_0 = 0.9\,(e^{s z_1}, \dots, e^{s z_d})` with :math:`z` evenly spaced on [-1, 1]
(off :math:`\Gamma`: :math:`\prod w_0 = 0.9^d`), where :math:`\lambda_1(\Phi(w_0))` is far above d,
with one step size :math:`\eta` (a length for NGD), small enough that plain GD is stable.

Stopping rule. Phase II lasts :math:`\Theta(\eta^{-2})` steps with a constant that grows with d
and the imbalance: at :math:`\eta = 0.1`, d = 5, NGD still had :math:`\lambda_1(\Phi) - 5 = 0.153`
after 3000 steps (a fixed budget that suffices for d = 2), 2e-4 after 5000. So each method runs
in blocks of :math:`B = \lceil \eta^{-2} \rceil` steps (B even: the EoS iterates alternate sides of
:math:`\Gamma`) until :math:`\lambda_1(\Phi(w_t))` is stationary, i.e. changed by less than
``stationary_tol`` (relative) over the last block, or ``max_steps`` is reached. The rule does not
look at d: stable GD, which does not drift, stops after two blocks far from the flattest point.

Claims (each method's final iterate): NGD and GD on :math:`\sqrt L` end near the flattest point,
:math:`\lambda_1(\Phi(w_T)) - d < \eta` (the theory's O(eta) tracking error with constant 1; at
the flattest point :math:`\lambda_1` is quadratic in the distance, so the limit is in fact much
closer); stable GD on L does not drift: :math:`\lambda_1(\Phi(w_T))` within 1% of
:math:`\lambda_1(\Phi(w_0))`. Checks (seed-independent constructions, exact up to rounding): the
closed-form :math:`\lambda_1(\Phi(w))` against scipy's gradient flow + the dense Hessian, and the
closed-form Hessian against autograd. The run is deterministic (no random draw): the seed does
not enter.

Negative control (``normalize=False``): the two EoS methods lose their normalization and become
GD on L with the same stable step; theory says they converge to :math:`\Phi(w_0)` and stay, so the
"flattest" claims must fail (tests/experiments/test_sharpness_reduction.py).

Checked on: quick preset, seeds 100-119 (all claims hold; the run draws no random numbers, so
every seed gives the same values) and dims=[3, 5, 8] (all claims hold; NGD stopped after 2700,
4700, 7300 steps at lambda_1(Phi) - d = 2e-4, 8e-4, 3e-3).
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import torch
from pydantic import Field, model_validator
from scipy.integrate import solve_ivp
from scipy.optimize import brentq
from torch import Tensor

from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.probes.curvature import dense_hessian
from dltheory.train import Callback, StopTraining, normalized_gd, train

SOURCE = "Arora, Li, Panigrahi 2022 (ICML), main results for normalized GD and GD on sqrt(L): Phi(w_t) tracks a flow on Gamma that minimizes lambda_1, with O(eta) error"
METHODS = ("normalized GD", "GD on sqrt(L)", "GD on L (stable)")


def product_loss(params: dict[str, Tensor], batch=None) -> Tensor:
    r""":math:`L(w) = \tfrac12 (\prod_i w_i - 1)^2`."""
    return 0.5 * (torch.prod(params["w"]) - 1.0) ** 2


def sqrt_product_loss(params: dict[str, Tensor], batch=None) -> Tensor:
    r""":math:`\sqrt{L(w)} = |\prod_i w_i - 1| / \sqrt 2` (written with ``abs``, whose gradient at 0 is 0)."""
    return torch.abs(torch.prod(params["w"]) - 1.0) / math.sqrt(2.0)


def hessian_closed_form(w: np.ndarray) -> np.ndarray:
    r"""Hessian of L at w: :math:`g g^\top + r\,\partial^2 \prod w`, :math:`g_i = \prod_{j\ne i} w_j`,
    :math:`(\partial^2 \prod w)_{ij} = \prod_{k \ne i, j} w_k` (i != j, zero diagonal), :math:`r = \prod w - 1`."""
    w = np.asarray(w, dtype=float)
    d = len(w)
    g = np.array([np.prod(np.delete(w, i)) for i in range(d)])
    second = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            if i != j:
                second[i, j] = np.prod(np.delete(w, [i, j]))
    return np.outer(g, g) + (np.prod(w) - 1.0) * second


def flow_projection(w: np.ndarray) -> np.ndarray:
    r""":math:`\Phi(w)`, the gradient-flow limit from w > 0: the point of :math:`\prod_i w_i = 1` with the same
    :math:`w_i^2 - w_1^2` (solve :math:`\sum_i \log(s + c_i) = 0` for :math:`s = w_1^2` by Brent's method)."""
    w = np.asarray(w, dtype=float)
    if np.any(w <= 0):
        raise ValueError(f"`w` must be positive for the flow projection; got {w}.")
    c = w**2 - w[0] ** 2
    shift = c - c.min()  # s = -min(c) + e^t, so every s + c_i = e^t + shift_i > 0

    def f(t: float) -> float:
        return float(np.sum(np.log(np.exp(t) + shift)))

    lo, hi = -1.0, 1.0
    while f(lo) > 0:
        lo *= 2
    while f(hi) < 0:
        hi *= 2
    t = brentq(f, lo, hi, xtol=1e-14, rtol=1e-15)
    s = np.exp(t) - c.min()
    return np.sqrt(s + c)


def manifold_sharpness(w: np.ndarray) -> float:
    r""":math:`\lambda_1(\nabla^2 L(\Phi(w))) = \sum_i 1/\Phi(w)_i^2` (d = 2: :math:`\sqrt{(u^2-v^2)^2+4}`)."""
    return float(np.sum(1.0 / flow_projection(w) ** 2))


def initial_point(dim: int, log_spread: float) -> np.ndarray:
    r""":math:`w_0 = 0.9\,(e^{s z_1}, \dots, e^{s z_d})`, z evenly spaced on [-1, 1]: imbalanced and off the manifold."""
    return 0.9 * np.exp(log_spread * np.linspace(-1.0, 1.0, dim))


def flow_limit_numerical(w: np.ndarray, *, time: float = 200.0) -> np.ndarray:
    """The gradient-flow limit from w by integrating dw/dt = -grad L with scipy (DOP853); an oracle for :func:`flow_projection`."""
    def rhs(_, x):
        p = np.prod(x)
        return -(p - 1.0) * np.array([np.prod(np.delete(x, i)) for i in range(len(x))])

    sol = solve_ivp(rhs, (0.0, time), np.asarray(w, dtype=float), method="DOP853", rtol=1e-12, atol=1e-14)
    return sol.y[:, -1]


def block_steps(eta: float) -> int:
    r"""One unit of the slow time of Phase II, :math:`\lceil \eta^{-2} \rceil` steps, rounded up to even
    (the EoS iterates alternate sides of :math:`\Gamma`, so even steps compare like with like)."""
    b = math.ceil(1.0 / eta**2)
    return b + (b % 2)


def stationarity_stop(block: int, tol: float) -> Callback:
    r"""A callback every ``block`` steps that ends training once :math:`\lambda_1(\Phi(w_t))` changed by less
    than ``tol`` (relative) since the previous call: the drift along :math:`\Gamma` has stopped."""
    state: dict[str, float] = {}

    def fn(info):
        lam = manifold_sharpness(info.params["w"].detach().cpu().numpy())
        prev = state.get("lam")
        state["lam"] = lam
        if prev is not None and abs(lam - prev) < tol * lam:
            raise StopTraining
        return None

    return Callback(fn, every=block)


@register
class SharpnessReduction(Experiment):
    """Normalized GD and GD on sqrt(L) at the edge of stability drift along the minimizer manifold to the flattest point; stable GD does not move."""

    id = "edge-of-stability/sharpness-reduction"
    lecture = 2
    title = "Sharpness reduction along the manifold of minimizers at the edge of stability"
    papers = ("arora2022",)

    class Config(ExperimentConfig):
        dims: list[Annotated[int, Field(ge=2, le=20)]] = Field([2], min_length=1, max_length=20, description="numbers of factors d of L(w) = (w_1...w_d - 1)^2/2 (d = 2: (uv-1)^2/2)")
        lr: float = Field(0.1, gt=0, le=0.5, description="step size eta of the three methods (a step length for normalized GD)")
        max_steps: int = Field(20_000, ge=1, le=10_000_000, description="cap on the steps per method (Phase II of the theory lasts Theta(eta^-2) steps)")
        stationary_tol: float = Field(1e-4, gt=0, lt=0.1, description="stop once lambda_1(Phi(w_t)) changed by less than this (relative) over the last ceil(eta^-2) steps")
        normalize: bool = Field(True, description="False: the two EoS methods become plain GD on L with the same stable step (negative control)")
        init_log_spread: float = Field(1.1, ge=0, le=3, description="s in w_0 = 0.9 exp(s z), z evenly spaced on [-1, 1]: the imbalance of the init")

        @model_validator(mode="after")
        def _plain_gd_is_stable(self):
            for d in self.dims:
                lam0 = manifold_sharpness(initial_point(d, self.init_log_spread))
                if self.lr * lam0 >= 2:
                    raise ValueError(f"`lr` must be < 2 / lambda_1(Phi(w_0)) = {2 / lam0:.4g} for d={d} so that plain GD is stable; got {self.lr}")
            return self

    presets = {
        "tiny": {"max_steps": 200},
        "quick": {},
        "full": {"dims": [2, 3, 5, 8], "max_steps": 50_000, "stationary_tol": 1e-6},
    }

    def run(self, config: Config, log: RunLog) -> None:
        eta = config.lr
        arrays: dict[str, np.ndarray] = {}
        runs: dict[int, dict[str, np.ndarray]] = {}
        for d in config.dims:
            w0 = initial_point(d, config.init_log_spread)
            lam0 = manifold_sharpness(w0)
            params = {"w": torch.tensor(w0, dtype=torch.float64, device=log.device)}
            traj: dict[str, np.ndarray] = {}
            eos = ((product_loss, normalized_gd(eta)), (sqrt_product_loss, "gd")) if config.normalize else ((product_loss, "gd"),) * 2
            for name, (loss, opt) in zip(METHODS, (*eos, (product_loss, "gd")), strict=True):
                rec: dict[int, np.ndarray] = {}
                cb = Callback(lambda info, rec=rec: rec.__setitem__(info.step, info.params["w"].detach().cpu().numpy().copy()), every=1)
                stop = stationarity_stop(block_steps(eta), config.stationary_tol)
                train(loss, params, steps=config.max_steps, optimizer=opt, lr=eta, callbacks=[cb, stop], description=f"{name}, d={d}", progress=log.progress)
                traj[name] = np.array([rec[t] for t in sorted(rec)])  # (steps + 1, d)
                log.metric(f"d{d}_method{METHODS.index(name)}_steps", len(traj[name]) - 1)
            runs[d] = traj
            self._claims(log, d, eta, traj, lam0)
            arrays[f"d{d}_w0"] = w0
            for i, name in enumerate(METHODS):
                W = traj[name]
                arrays[f"d{d}_method{i}_trajectory"] = W
                arrays[f"d{d}_method{i}_final_w"] = W[-1]
                arrays[f"d{d}_method{i}_final_hessian_eigenvalues"] = np.linalg.eigvalsh(hessian_closed_form(W[-1]))
        arrays["methods"] = np.array(METHODS)
        log.artifact("trajectories_and_spectra", **arrays)
        self._figures(log, runs, eta)

    @staticmethod
    def _claims(log: RunLog, d: int, eta: float, traj: dict[str, np.ndarray], lam0: float) -> None:
        lam = {name: manifold_sharpness(W[-1]) for name, W in traj.items()}
        for i, name in enumerate(METHODS):
            log.metric(f"d{d}_method{i}_final_manifold_sharpness", lam[name])
            log.metric(f"d{d}_method{i}_final_loss", float(product_loss({"w": torch.tensor(traj[name][-1])})))
        log.metric(f"d{d}_initial_manifold_sharpness", lam0)
        for name, key in ((METHODS[0], "ngd"), (METHODS[1], "sqrt_gd")):
            log.claim_less(f"{key}_flattest_d{d}", f"d={d}: {name} ends near the flattest minimizer: lambda_1(Phi(w_T)) - {d} (started at {lam0 - d:.3g})",
                           lam[name] - d, eta, source=SOURCE + "; tolerance eta", oracle="closed form lambda_1(Phi(w)) = sum 1/Phi(w)_i^2 (Phi: conserved w_i^2 - w_j^2)")
        name = METHODS[2]
        rel = abs(lam[name] - lam0) / lam0
        log.claim_less(f"gd_no_drift_d{d}", f"d={d}: stable GD on L does not drift: |lambda_1(Phi(w_T)) - lambda_1(Phi(w_0))| / lambda_1(Phi(w_0)) (lambda_1 = {lam[name]:.4g})",
                       rel, 0.01, source="gradient flow conserves w_i^2 - w_j^2; GD changes them by the factor 1 - eta^2 r_t^2 prod_{k != i,j} w_k^2 per step, negligible as r_t -> 0 (tolerance 1%)",
                       oracle="closed form lambda_1(Phi(w))")
        # oracle: closed forms against scipy's gradient flow and the dense autograd Hessian
        err_phi, err_h = 0.0, 0.0
        for W in traj.values():
            w_inf = flow_limit_numerical(W[-1])
            H_inf = dense_hessian(product_loss, {"w": torch.tensor(w_inf, dtype=torch.float64)})
            err_phi = max(err_phi, abs(float(torch.linalg.eigvalsh(H_inf)[-1]) - manifold_sharpness(W[-1])))
            H = dense_hessian(product_loss, {"w": torch.tensor(W[-1], dtype=torch.float64)}).numpy()
            err_h = max(err_h, float(np.abs(H - hessian_closed_form(W[-1])).max()))
        log.claim_less(f"oracle_flow_d{d}", f"d={d}: closed-form lambda_1(Phi(w_T)) = top dense-Hessian eigenvalue at scipy's gradient-flow limit from w_T (max abs error)",
                       err_phi, 1e-6, source="conservation of w_i^2 - w_j^2 under gradient flow; ODE tolerance 1e-12",
                       oracle="scipy solve_ivp (DOP853) + dense_hessian + eigvalsh", kind="check")
        log.claim_less(f"oracle_hessian_d{d}", f"d={d}: closed-form Hessian g g^T + r d^2(prod w) = dense autograd Hessian at the final iterates (max abs entry error)",
                       err_h, 1e-9, source="calculus (float64 rounding)", oracle="dense_hessian (torch.autograd)", kind="check")

    @staticmethod
    def _figures(log: RunLog, runs: dict[int, dict[str, np.ndarray]], eta: float) -> None:
        if 2 in runs:
            fig, ax = figure(1, 1, width=4.8, height=4.4)
            W0 = runs[2][METHODS[0]][0]
            top = 1.1 * max(W0.max(), 1.5)
            u = np.linspace(1 / top, top, 400)
            ax.plot(u, 1 / u, **THEORY, label="minimizers uv = 1")
            for i, name in enumerate(METHODS):
                W = runs[2][name]
                ax.plot(W[:, 0], W[:, 1], color=PALETTE[i], linewidth=0.9 if i == 0 else 0.6, alpha=0.7, label=name, zorder=3 - i)
                ax.plot([W[-1, 0]], [W[-1, 1]], "X", color=PALETTE[i], markersize=9, markeredgecolor="white", zorder=5)
            ax.plot([1], [1], "*", color="black", markersize=12, label="flattest point (1, 1)", zorder=6)
            ax.plot([W0[0]], [W0[1]], "o", color="black", mfc="none", label="init")
            ax.set(xlim=(0, top), ylim=(0, top), xlabel="u", ylabel="v", title=f"Trajectories on L = (uv - 1)^2 / 2, eta = {eta:g} (X: final)", aspect="equal")
            ax.legend(loc="upper right", fontsize=8)
            log.figure("trajectories", fig)
        dims = list(runs)
        fig, axes = figure(len(dims), 1, squeeze=False, width=4.8, height=3.6)
        for ax, d in zip(axes[0], dims, strict=True):
            for i, name in enumerate(METHODS):
                W = runs[d][name]
                W = W[:: max(1, len(W) // 3000)]
                lam_phi = [manifold_sharpness(w) for w in W]
                t = np.linspace(0, len(runs[d][name]) - 1, len(W))
                ax.plot(t, lam_phi, color=PALETTE[i], label=name)
            ax.axhline(d, **THEORY, label=f"flattest: lambda_1 = {d}")
            ax.set(xlabel="step", ylabel="lambda_1(Hessian at Phi(w_t))", title=f"d = {d}: sharpness at the nearest minimizer Phi(w_t)")
            ax.legend(fontsize=8)
        log.figure("sharpness", fig)
