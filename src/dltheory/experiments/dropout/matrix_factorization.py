r"""Dropout in matrix factorization equalizes the hidden units and shrinks the spectrum.

Mianjy, Arora, Vidal, "On the implicit bias of dropout", ICML 2018, Sec. 2. Fit
:math:`M \in \mathbb R^{m\times n}` by :math:`U V^\top` with r columns and dropout on the
columns: each step keeps column k with probability :math:`\theta` and rescales it by
:math:`1/\theta`. The expected dropout loss is (see :mod:`dltheory.models.dropout`)

.. math:: f(U, V) = \|M - U V^\top\|_F^2 + \lambda\sum_{k=1}^r \|u_k\|^2\|v_k\|^2, \qquad \lambda = \frac{1-\theta}{\theta}.

The paper shows (i) at every global optimum all products :math:`\|u_k\|\|v_k\|` are equal
(equalization; the induced regularizer is :math:`(\lambda/r)\|UV^\top\|_*^2`) and (ii) the global
optimum in closed form: M's singular values :math:`\sigma_i` shrunk by
:math:`\alpha = \lambda\sum_{i\le\rho}\sigma_i/(r+\lambda\rho)`, the first :math:`\rho \le r` kept
(:func:`dltheory.oracles.trace_norm.dropout_factorization_optimum`).

Setup: M has random singular vectors and singular values spaced linearly from 1 to
``sigma_min`` (distinct, well separated, so that the optimum is unique up to the factorization
symmetries and GD converges in a few thousand steps). Two widths: a small one where the cap
:math:`\rho = r` binds and a large one where the shrinkage alone sets the rank
(:math:`\rho < r`, yet all r products are equal). For each width:

1. deterministic heavy-ball GD (float64, momentum 0.9) on f from a small random init, stopped by a
   convergence rule: :math:`\|\nabla f\| \le` ``gd_grad_tol`` (1e-10), with a generous step cap
   (check ``converged_r*``). At the end the products are equal and the end-to-end matrix is the
   closed form (claims ``equalized_r*``, ``closed_form_r*``). The tolerances follow from the
   stopping rule (:func:`stopping_rule_bounds`): near the optimum manifold the distance to the
   nearest optimum is at most ``gd_grad_tol``/:math:`\mu`, :math:`\mu` the smallest Hessian
   eigenvalue that is not a flat direction of the manifold (flat: :math:`|h| \le 10^{-6}\max|h|`;
   the measured flat eigenvalues are ~1e-10, the curved ones >= 1e-3: metrics ``hessian_*``), and
   the Jacobians of :math:`UV^\top` and of the products turn it into a bound on each statistic
   (1e-8 to 1e-7 here). A run that stops at another critical point (a saddle) misses the closed
   form by O(1) and fails. Plain GD (``gd_momentum=0``) also converges, but the equalizing
   directions have curvature ~ :math:`\lambda(\sigma_i-\sigma_j)^2` (1e-3 here), so it needs up to
   ~30000 steps at ``keep_prob`` = 0.7; heavy ball needs at most a few thousand;
2. dropout-SGD with real Bernoulli masks (drawn from their own generator, fed to the training
   loop as data) from the same init: it fluctuates around the closed form with the RMS error of
   constant-step SGD around a minimum, predicted by linearizing at the optimum:
   :math:`\theta_{t+1}-\theta^* \approx (I - \eta H)(\theta_t-\theta^*) - \eta\xi_t`, stationary
   covariance :math:`S_{ab} = \eta^2\tilde\Sigma_{ab}/(1-(1-\eta h_a)(1-\eta h_b))` in H's eigenbasis
   (:math:`\Sigma` = covariance of the per-mask gradient, exact over all :math:`2^r` masks for
   r <= 12), error :math:`E\|\delta Z\|_F^2 = \operatorname{tr}(J S J^\top)` with J the Jacobian of
   :math:`UV^\top` (claim ``sgd_noise_floor_r*``; the floor scales as :math:`\sqrt\eta`).
   Flat directions of H (rescaling :math:`u_k\to cu_k, v_k\to v_k/c` and rotations among
   equalized factorizations) leave :math:`UV^\top` unchanged and are left out.

Dropout-SGD with r = 2 lingers about 6000 steps on a plateau (relative error ~0.1) before
settling at its noise floor; the presets were checked to be past it.

Oracle: the closed form (numpy SVD, :func:`dltheory.oracles.trace_norm.dropout_factorization_optimum`);
``equalized_r*`` has none (equality of the r products). Negative control
(``train_keep_prob=1``, no dropout, while the claims keep the closed form at ``keep_prob``): GD
reaches the truncated SVD, whose products are M's singular values (spread of order one) and which
has no shrinkage, so ``equalized_r*`` and ``closed_form_r*`` fail
(``tests/experiments/test_dropout_matrix_factorization.py::test_negative_control_no_dropout``).

Checked on: quick preset, seeds 100-119 (`dltheory verify`: every claim holds on all 20) and
1000-1005; GD part through this experiment at keep_prob 0.7 (12 x 10, seeds 1000-1003) and at
8 x 6, r = 3, 4, 6, keep_prob 0.6 (seeds 1000-1002): measured 10-100x below the bounds. The same
heavy-ball + stopping rule (standalone) converged also at 8 x 6 with keep_prob 0.5 and 0.3 and at
20 x 15, r = 4, 8, 15, keep_prob 0.8 (seeds 1000-1007; at most ~7700 steps).
"""

from __future__ import annotations

import itertools
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from dltheory.core.plotting import THEORY, figure
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.dropout import (
    MaskStream,
    bernoulli_mask,
    dropout_lambda,
    dropout_product,
    dropout_regularizer,
)
from dltheory.oracles.trace_norm import dropout_factorization_optimum
from dltheory.probes.curvature import dense_hessian
from dltheory.probes.stochastic import stationary_covariance
from dltheory.train import Callback, StopTraining, momentum, train

#: largest width for which the gradient-noise covariance is summed exactly over all 2^r masks
EXACT_MASKS_MAX_WIDTH = 12
#: Hessian eigenvalues below this fraction of the largest |eigenvalue| are the flat directions of the
#: optimum manifold (rescaling u_k -> c u_k, v_k -> v_k / c and rotations among equalized factorizations)
FLAT_REL = 1e-6


def _orthonormal(rows: int, cols: int, g: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(rows, cols, generator=g, dtype=torch.float64, device=g.device))
    return q


def _products(U: torch.Tensor, V: torch.Tensor) -> np.ndarray:
    return (U.norm(dim=0) * V.norm(dim=0)).detach().cpu().numpy()


def _gradient_norm(fn, params: dict) -> float:
    """Euclidean norm of the gradient of ``fn`` over all parameters (one backward pass)."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    grads = torch.autograd.grad(fn(leaves), list(leaves.values()))
    return float(torch.sqrt(sum((g**2).sum() for g in grads)))


def stopping_rule_bounds(fn, params: dict, grad_tol: float) -> dict[str, float]:
    r"""What the stopping rule :math:`\|\nabla f\| \le` ``grad_tol`` certifies about the point ``params``.

    Near a minimum manifold with smallest non-flat Hessian eigenvalue :math:`\mu`, the distance to
    the nearest critical point is :math:`\|H^+\nabla f\| \le` ``grad_tol``/:math:`\mu` (to first
    order). Through the Jacobians this bounds

    - the end-to-end matrix: :math:`\|\delta(UV^\top)\|_F \le \sqrt{\|U\|_2^2+\|V\|_2^2}\,\|\delta\theta\|`;
    - each product: :math:`|\delta(\|u_k\|\|v_k\|)| \le \sqrt{\|u_k\|^2+\|v_k\|^2}\,\|\delta\theta_k\|`, so the
      spread max - min is at most :math:`\sqrt2\max_k\sqrt{\|u_k\|^2+\|v_k\|^2}\,\|\delta\theta\|`.

    Eigenvalues with :math:`|h| \le` :data:`FLAT_REL` :math:`\max|h|` are the flat directions (they
    move along the optimum manifold and change neither :math:`UV^\top` nor the products at an optimum).
    Cost: one dense Hessian (P HVPs) and one P x P eigh.
    """
    h = torch.linalg.eigvalsh(dense_hessian(fn, params))
    cut = FLAT_REL * float(h.abs().max())
    curved = h[h.abs() > cut]
    mu = float(curved.abs().min())
    U, V = params["U"], params["V"]
    radius = grad_tol / mu
    col = torch.sqrt(U.norm(dim=0) ** 2 + V.norm(dim=0) ** 2)
    return {"mu": mu, "largest_flat": float(h[h.abs() <= cut].abs().max()) if bool((h.abs() <= cut).any()) else 0.0,
            "min_eigenvalue": float(h.min()), "radius": radius,
            "matrix": float(torch.sqrt(torch.linalg.matrix_norm(U, 2) ** 2 + torch.linalg.matrix_norm(V, 2) ** 2)) * radius,
            "spread": 2**0.5 * float(col.max()) * radius}


def _mask_gradient_covariance(M: torch.Tensor, U: torch.Tensor, V: torch.Tensor, *, keep_prob: float, generator: torch.Generator) -> torch.Tensor:
    r"""Covariance over one dropout mask b of the gradient of :math:`\|M - U\,\mathrm{diag}(b)V^\top\|_F^2`
    in the flattened (U, V), shape (P, P).

    Exact (all :math:`2^r` masks with their probabilities) for r <= :data:`EXACT_MASKS_MAX_WIDTH`,
    else over 4096 masks from ``generator``. The gradients are in closed form:
    :math:`\nabla_U = -2 R V B`, :math:`\nabla_V = -2 R^\top U B` with :math:`R = M - UBV^\top`.
    Cost: O(K m n r) for K masks."""
    r = U.shape[1]
    if r <= EXACT_MASKS_MAX_WIDTH:
        bits = torch.tensor(list(itertools.product([0.0, 1.0], repeat=r)), dtype=M.dtype, device=M.device)
        weights = keep_prob ** bits.sum(1) * (1 - keep_prob) ** (r - bits.sum(1))
        masks = bits / keep_prob
    else:
        masks = bernoulli_mask((4096, r), keep_prob=keep_prob, generator=generator)
        weights = torch.full((4096,), 1 / 4096, dtype=M.dtype, device=M.device)
    R = M - (U * masks[:, None, :]) @ V.T  # (K, m, n) residual under each mask
    gu = -2 * (R @ V) * masks[:, None, :]  # (K, m, r)
    gv = -2 * (R.transpose(1, 2) @ U) * masks[:, None, :]  # (K, n, r)
    G = torch.cat([gu.reshape(len(masks), -1), gv.reshape(len(masks), -1)], dim=1)  # (K, P)
    D = G - weights @ G
    return (D * weights[:, None]).T @ D


def _noise_floor(M: torch.Tensor, params: dict, *, keep_prob: float, lr: float, num_masks: int, generator: torch.Generator) -> float:
    r"""Predicted stationary :math:`E\|UV^\top - Z^*\|_F^2` of dropout-SGD at step size ``lr`` with
    ``num_masks`` masks per step, linearized at the optimum ``params`` (module docstring):
    :math:`\operatorname{tr}(J S J^\top)`, J the Jacobian of :math:`UV^\top`.

    Cost: one dense Hessian (P HVPs), 2^r (or 4096) per-mask gradients, one P x P eigh."""
    U, V = params["U"], params["V"]
    m, n, r = U.shape[0], V.shape[0], U.shape[1]

    def expected(p):
        return ((M - p["U"] @ p["V"].T) ** 2).sum() + dropout_regularizer(p["U"], p["V"], keep_prob=keep_prob)

    Sigma = _mask_gradient_covariance(M, U, V, keep_prob=keep_prob, generator=generator) / num_masks
    Q, S = stationary_covariance(dense_hessian(expected, params), Sigma, lr)
    dU = Q[: m * r].T.reshape(-1, m, r)
    dV = Q[m * r :].T.reshape(-1, n, r)
    J = (dU @ V.T + U @ dV.transpose(1, 2)).reshape(Q.shape[1], -1)  # (P+, m n): dZ per eigendirection
    return float(torch.einsum("ai,ab,bi->", J, S, J))


@register
class DropoutMatrixFactorization(Experiment):
    """Dropout on U V^T equalizes the column products and finds the closed-form shrunk SVD (Mianjy et al. 2018)."""

    id = "dropout/matrix-factorization"
    lecture = 3
    title = "Dropout in matrix factorization: equalized columns and shrunk singular values"
    papers = ("mianjy2018",)

    class Config(ExperimentConfig):
        rows: int = Field(12, ge=2, le=400, description="rows m of the target matrix M")
        cols: int = Field(10, ge=2, le=400, description="columns n of M; its singular values are linearly spaced from 1 to sigma_min")
        sigma_min: float = Field(0.1, gt=0, le=1, description="smallest singular value of M (the largest is 1)")
        widths: list[Annotated[int, Field(ge=1, le=1000)]] = Field([5, 10], min_length=1, max_length=8,
                                                            description="numbers r of columns of U and V (one run each)")
        keep_prob: float = Field(0.5, gt=0, lt=1, description="dropout retain probability theta (lambda = (1-theta)/theta)")
        train_keep_prob: float | None = Field(None, gt=0, le=1, description="retain probability GD and dropout-SGD train with (None: keep_prob; 1: no dropout, the negative control)")
        init_scale: float = Field(0.1, gt=0, le=100, description="std of the Gaussian init of U and V")
        gd_steps: int = Field(20000, ge=1, le=10_000_000, description="cap on the heavy-ball GD steps on the explicit objective (it stops once ||grad f|| <= gd_grad_tol)")
        gd_grad_tol: float = Field(1e-10, gt=0, le=1, description="stopping rule: gradient norm of the explicit objective; the claim tolerances follow from it")
        gd_lr: float = Field(0.2, gt=0, le=4, description="heavy-ball step size (effective step lr/(1-momentum) = 2; the Hessian's top eigenvalue is about 4 here, and heavy ball is stable only below 2(1+beta)/lambda_max <= 1)")
        gd_momentum: float = Field(0.9, ge=0, lt=1, description="heavy-ball momentum beta (0: plain GD)")
        sgd_steps: int = Field(6000, ge=2, le=10_000_000, description="dropout-SGD steps (the second half is the measurement window)")
        sgd_lr: float = Field(0.02, gt=0, le=2, description="dropout-SGD step size (GD is stable only below 2/lambda_max, about 0.5)")
        masks_per_step: int = Field(1, ge=1, le=10_000, description="dropout masks averaged per SGD step (1: plain dropout)")
        record_every: int = Field(20, ge=1, le=100_000, description="record the error and the products every this many steps")

    presets = {
        "tiny": {"rows": 6, "cols": 5, "widths": [2, 4], "gd_steps": 1000, "sgd_steps": 400},
        "quick": {},
        "full": {"rows": 60, "cols": 40, "widths": [10, 30], "gd_steps": 100000, "sgd_steps": 100000, "sgd_lr": 0.005, "record_every": 50},
    }

    def run(self, config: Config, log: RunLog) -> None:
        dev, dt = log.device, torch.float64
        g = log.generator("data")
        m, n = config.rows, config.cols
        k = min(m, n)
        sigma = torch.linspace(1.0, config.sigma_min, k, dtype=dt, device=dev)
        M = _orthonormal(m, k, g) @ torch.diag(sigma) @ _orthonormal(n, k, g).T
        log.metric("lambda", dropout_lambda(config.keep_prob))
        arrays: dict[str, np.ndarray] = {"M": M.cpu().numpy(), "sigma_M": sigma.cpu().numpy()}
        fig_sv, ax_sv = figure(len(config.widths), squeeze=False)
        fig_pr, ax_pr = figure(len(config.widths), 2, squeeze=False)
        fig_err, ax_err = figure(1, width=6.0)
        for col, r in enumerate(config.widths):
            opt, Zg, Zsgd, traces, predicted = self._one_width(config, log, M, r, arrays)
            self._plot_width(ax_sv[0, col], ax_pr[:, col], ax_err, r, opt, Zg, Zsgd, traces, predicted)
        ax_err.set(xlabel="step", ylabel=r"$\|UV^\top - Z^*\|_F / \|Z^*\|_F$", yscale="log", title="dropout-SGD around the closed form")
        ax_err.axvspan(config.sgd_steps // 2, config.sgd_steps, color="#eeeeee", zorder=0, label="measurement window")
        ax_err.legend(loc="upper right")
        log.figure("singular_values", fig_sv)
        log.figure("products", fig_pr)
        log.figure("sgd_error", fig_err)
        log.artifact("data_oracle_params", keep_prob=config.keep_prob, lam=dropout_lambda(config.keep_prob), **arrays)

    @staticmethod
    def _one_width(config: Config, log: RunLog, M: torch.Tensor, r: int, arrays: dict):
        """GD and dropout-SGD with r columns; logs the claims, fills ``arrays``."""
        m, n = M.shape
        opt = dropout_factorization_optimum(M, width=r, lam=dropout_lambda(config.keep_prob))
        Zs = torch.as_tensor(opt.matrix, device=M.device)
        zs_norm = float(torch.linalg.norm(Zs))
        log.metric(f"rank_r{r}", opt.rank)
        log.metric(f"shrinkage_r{r}", opt.shrinkage)
        gi = log.generator("init", r)
        init = {"U": config.init_scale * torch.randn(m, r, generator=gi, dtype=M.dtype, device=M.device),
                "V": config.init_scale * torch.randn(n, r, generator=gi, dtype=M.dtype, device=M.device)}

        theta = config.keep_prob if config.train_keep_prob is None else config.train_keep_prob

        def explicit(p, batch=None):  # the expected dropout loss f(U, V) at the training keep prob
            return ((M - p["U"] @ p["V"].T) ** 2).sum() + dropout_regularizer(p["U"], p["V"], keep_prob=theta)

        def dropout_loss(p, masks):  # one SGD sample: the loss under the step's mask(s)
            return ((M - dropout_product(p["U"], p["V"], masks)) ** 2).sum((1, 2)).mean()

        traces: dict[str, list] = {"gd": [], "sgd": []}

        def recorder(name):
            def fn(info):
                U, V = info.params["U"], info.params["V"]
                err = float(torch.linalg.norm(U @ V.T - Zs)) / zs_norm
                traces[name].append((info.step, _products(U, V), err))
                log.scalar(f"{name}_rel_error_r{r}", info.step, err)
                return {"rel_error": err}
            return fn

        def stop_when_stationary(info):  # the stopping rule: ||grad f|| <= gd_grad_tol
            gnorm = _gradient_norm(explicit, info.params)
            if gnorm <= config.gd_grad_tol:
                raise StopTraining
            return {"grad_norm": gnorm}

        gd = train(explicit, init, steps=config.gd_steps, optimizer=momentum(config.gd_lr, beta=config.gd_momentum),
                   callbacks=[Callback(recorder("gd"), every=config.record_every), Callback(stop_when_stationary, every=10)], description=f"GD r={r}")
        Ug, Vg = gd.params["U"], gd.params["V"]
        prods = _products(Ug, Vg)
        gnorm = _gradient_norm(explicit, gd.params)
        bounds = stopping_rule_bounds(explicit, gd.params, config.gd_grad_tol)
        log.metric(f"gd_steps_r{r}", gd.steps)
        log.metric(f"gd_grad_norm_r{r}", gnorm)
        log.metric(f"gd_objective_gap_r{r}", gd.final_loss - opt.objective)
        for key in ("mu", "largest_flat", "min_eigenvalue"):
            log.metric(f"hessian_{key}_r{r}", bounds[key])
        log.claim_less(f"converged_r{r}", f"r={r}: heavy-ball GD met the stopping rule ||grad f|| <= {config.gd_grad_tol:g} within {config.gd_steps} steps (took {gd.steps}): final gradient norm",
                       gnorm, config.gd_grad_tol * (1 + 1e-9), source="stopping rule of this experiment (module docstring)", oracle="none", kind="check")
        spread_bound = bounds["spread"] / float(prods.mean())
        log.claim_less(f"equalized_r{r}", f"r={r}: at the optimum found by GD all products ||u_k|| ||v_k|| are equal (relative spread (max-min)/mean)",
                       float((prods.max() - prods.min()) / prods.mean()), spread_bound,
                       source="Mianjy, Arora, Vidal 2018, Sec. 2 (every global optimum is equalized; exact); tolerance = the spread the stopping rule "
                              "||grad f|| <= tol allows, sqrt(2) max_k ||(u_k, v_k)|| tol / mu / mean product (mu: smallest curved Hessian eigenvalue)",
                       oracle="none (equality of the r products)")
        log.claim_less(f"closed_form_r{r}", f"r={r}: GD on the dropout objective reaches the closed-form optimum (shrunk SVD, rank rho={opt.rank} <= r): ||UV^T - Z*||_F / ||Z*||_F",
                       float(torch.linalg.norm(Ug @ Vg.T - Zs)) / zs_norm, bounds["matrix"] / zs_norm,
                       source="Mianjy, Arora, Vidal 2018, Sec. 2 (closed-form global optimum, exact); tolerance = the distance the stopping rule allows, "
                              "sqrt(||U||_2^2 + ||V||_2^2) tol / mu / ||Z*||_F",
                       oracle="numpy SVD closed form (dropout_factorization_optimum)")

        stream = MaskStream(r, keep_prob=theta, generator=log.generator("masks", r), num_masks=config.masks_per_step)
        sgd = train(dropout_loss, init, steps=config.sgd_steps, optimizer="gd", lr=config.sgd_lr, data=stream,
                    callbacks=[Callback(recorder("sgd"), every=config.record_every)], description=f"dropout-SGD r={r}")
        steps, errs = sgd.history["rel_error"]
        measured = float(np.sqrt(np.mean(errs[steps >= config.sgd_steps // 2] ** 2)))
        floor = _noise_floor(M, gd.params, keep_prob=config.keep_prob, lr=config.sgd_lr, num_masks=config.masks_per_step,
                             generator=log.generator("noise-masks", r))
        predicted = float(np.sqrt(floor)) / zs_norm
        log.metric(f"sgd_rms_rel_error_r{r}", measured)
        log.metric(f"sgd_predicted_rms_r{r}", predicted)
        log.claim_between(f"sgd_noise_floor_r{r}", f"r={r}: dropout-SGD (lr={config.sgd_lr:g}) hovers around the closed form with the RMS relative error "
                          f"predicted for constant-step SGD at that minimum ({predicted:.3g}); measured RMS / predicted over the second half",
                          measured / predicted, 0.5, 2.0,
                          source="expected dropout loss = f (Mianjy et al. 2018, Sec. 2); stationary covariance of linearized SGD; factor 2 for the finite window and O(lr) terms",
                          oracle="closed-form optimum; dense Hessian and exact mask covariance at the optimum")
        Us, Vs = sgd.params["U"], sgd.params["V"]
        arrays.update({f"Z_star_r{r}": opt.matrix, f"U_gd_r{r}": Ug, f"V_gd_r{r}": Vg, f"U_sgd_r{r}": Us, f"V_sgd_r{r}": Vs,
                       f"U_init_r{r}": init["U"], f"V_init_r{r}": init["V"]})
        return opt, Ug @ Vg.T, Us @ Vs.T, traces, predicted

    @staticmethod
    def _plot_width(ax, axes_pr, ax_err, r, opt, Zg, Zsgd, traces, predicted) -> None:
        idx = np.arange(1, opt.data_singular_values.shape[0] + 1)
        ax.plot(idx, opt.data_singular_values, "o", color="#8d99ae", label="M")
        ax.plot(idx, opt.singular_values, label="closed form", **THEORY)
        ax.plot(idx, torch.linalg.svdvals(Zg).cpu().numpy(), "x", label="GD on explicit objective")
        ax.plot(idx, torch.linalg.svdvals(Zsgd).cpu().numpy(), "+", markersize=9, label="dropout-SGD")
        ax.axvline(r + 0.5, color="#bbbbbb", linewidth=1, label="width r")
        ax.set(xlabel="index i", ylabel="singular value", title=f"r = {r}: rank {opt.rank}, shrinkage {opt.shrinkage:.3f}")
        ax.set_ylim(-0.03, 1.55)
        ax.set_yticks(np.arange(0.0, 1.01, 0.2))
        ax.legend(loc="upper right", ncol=2)
        for ax_p, name in zip(axes_pr, ("gd", "sgd"), strict=True):
            steps = np.array([t[0] for t in traces[name]])
            ax_p.plot(np.maximum(steps, 1), np.stack([t[1] for t in traces[name]]), linewidth=1.0)
            ax_p.axhline(opt.product, label=r"$\|Z^*\|_*/r$ (theory)", **THEORY)
            ax_p.set(xscale="log", xlabel="step", ylabel=r"$\|u_k\|\,\|v_k\|$", title=f"r = {r}, {'GD on explicit objective' if name == 'gd' else 'dropout-SGD'}")
            ax_p.legend()
        steps = np.array([t[0] for t in traces["sgd"]])
        (line,) = ax_err.plot(steps, [t[2] for t in traces["sgd"]], linewidth=0.8, label=f"r = {r}")
        ax_err.axhline(predicted, color=line.get_color(), linestyle="--", linewidth=1.2, label=f"r = {r}: predicted noise floor")
