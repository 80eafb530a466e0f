r"""Linear stability of SGD bounds the Hessian trace; GD's only bounds its top eigenvalue
(Wu & Su, ICML 2023).

Setting: over-parameterized square-loss regression :math:`L(\theta) = \frac1n\sum_i \ell_i`,
:math:`\ell_i = \frac12(f_\theta(x_i) - y_i)^2`, on a diagonal linear network
:math:`f(x) = \langle w_+^2 - w_-^2, x\rangle` (:class:`~dltheory.models.factorization.DiagonalNet`,
``parametrization="pm"``, :math:`w_\pm(0) = \alpha\mathbf 1`) with n < d sparse-regression data.
At an interpolating minimum :math:`\theta^*` the Hessian is the Gauss-Newton matrix
:math:`H = \frac1n\sum_i g_i g_i^\top`, :math:`g_i = \nabla_\theta f(x_i)`, and the
linearized dynamics is :math:`\theta_{t+1} - \theta^* = (I - \eta H_{B_t})(\theta_t - \theta^*)`
with :math:`H_B = \frac1B\sum_{i\in B} g_i g_i^\top`.

- GD (:math:`H_B = H`) is linearly stable iff :math:`\lambda_{\max}(H) \le 2/\eta`.
- SGD: Wu & Su (2023, Sec. 3; abstract): "if a global minimum is linearly stable for SGD, then
  the trace of Hessian must be less than or equal to :math:`2/\eta`" -- stated for batch size
  B = 1, which is the SGD run here (``batch_size``; with B > 1 the trace claim is not made).
  Stability is in mean square: the second moment :math:`P_t = E[u_t u_t^\top]` of the
  residuals :math:`u = G(\theta - \theta^*)` (:math:`G` the n x P Jacobian, :math:`K = GG^\top`)
  evolves by the linear map :math:`\mathcal T(P) = P - \frac\eta n(KP + PK) + \frac{\eta^2}{B^2}K\,E[S_B P S_B]\,K`
  (:math:`S_B` the diagonal 0/1 batch indicator); mean-square stable iff its spectral radius
  :math:`\rho(\mathcal T) \le 1`, computed densely here (n^2 x n^2) and reported (``gd_rho``,
  ``sgd_median_rho``). At GD's minimum :math:`\rho > 1` is claimed (claim 3 below); at the SGD
  minima :math:`\rho \le 1` is a metric, not a claim: an SGD trajectory can converge almost surely to a minimum whose second moment is
  unstable (rare heavy-tailed excursions), and we saw one seed do so with
  :math:`\rho = 1.03` (its trace was still far below :math:`2/\eta`).
  SGD here draws i.i.d. batches at every step (the training loop's ``sampling="iid"``), the
  process analysed in the paper.
- For diagonal nets the trace has a closed form at every point (the residual terms
  :math:`\pm 2\,\partial_{\beta_j} L` on the diagonal cancel):
  :math:`\operatorname{tr} H = \frac4n\sum_j (w_{+,j}^2 + w_{-,j}^2)\|X_{:,j}\|^2 = 4\sum_j c_j\sqrt{\beta_j^2 + 4(w_{+,j}w_{-,j})^2} \ge 4\sum_j c_j|\beta_j|`
  (:math:`c_j = \|X_{:,j}\|^2/n`), a weighted parameter norm bounding a weighted l1 norm (the sharpness-norm equivalence of Wu & Su, Sec. 5): SGD's trace bound
  caps the l1 norm of the predictor, GD's eigenvalue bound hardly constrains it.

What the experiment tests (the mechanism, not just "SGD ends flatter"): GD and SGD (B = 1) start
from the same init with the same step, in a regime where the two stability conditions differ:
GD's minimum ends ABOVE the trace bound, held only by :math:`\lambda_{\max}\eta/2 \approx 0.2`;
such a minimum is linearly unstable for SGD, so SGD cannot converge there and ends below
:math:`2/\eta` by shrinking the init-scale term :math:`\propto w_{+,j}w_{-,j}` (its effective
:math:`\alpha` shrinks, Pesme et al. 2021; Even et al. 2023). At a small init or a small step the
trace bound is inactive (GD's own minimum already satisfies it) and the comparison says nothing
about the mechanism: the tester found the old claim "median tr(H_SGD) < tr(H_GD)" holding at
``lr=0.02``, where neither bound binds.

How the init is set (derived from the trace formula, not tuned on the claims). Two terms make up
GD's trace: the init mass and the predictor mass. Under gradient flow :math:`w_{+,j}w_{-,j} = \alpha^2`
is conserved, so at a minimum with :math:`\beta \approx \beta^\star`,
:math:`\operatorname{tr}(H_{GD})\eta/2 \approx T_0 + 2\eta\sum_{j\in S} c_j(\sqrt{\beta_j^{\star2} + 4\alpha^4} - 2\alpha^2)`,
:math:`T_0 = \operatorname{tr}(H_0)\eta/2 = 4\eta\alpha^2\sum_j c_j` (logged as ``gd_trace_predicted``;
discrete GD also shrinks :math:`w_+w_-` by :math:`1 - 4\eta^2 g_j^2` per step and lands a little lower).
(i) ``normalize_columns``: the columns of X are rescaled to :math:`c_j = 1` (the usual normalization
of sparse recovery) and y = X beta_star; otherwise both terms carry the random column norms
:math:`c_j \sim \chi^2_n/n` and the distance of each draw from the bound is random. (ii) ``init_trace``
sets :math:`T_0` directly, :math:`\alpha = \sqrt{T_0/(4\eta\sum_j c_j)}`
(:func:`init_scale_for_trace`), so every draw starts at the same distance from the bound; the old
fixed :math:`\alpha = 0.25` gave :math:`T_0` from 0.83 to 1.08 across draws, and at seed 115
(:math:`T_0 = 1.02`, above SGD's bound already at the start: the mean per-sample step
:math:`E_i[\eta\|g_i\|^2]/2 = T_0`) all 3 SGD runs diverged (29 of 30 in a standalone scan). The
default :math:`T_0 = 0.9` satisfies both requirements with room: :math:`T_0 < 1` (SGD starts inside
its bound), and :math:`T_0 + 0.29 = 1.19 > 1` (k = 2, :math:`\eta = 0.12`) with room for GD's discrete
shrinkage (observed 0.0-0.08 below the prediction on seeds 1000-1019). Standalone scans of the
same dynamics (20 SGD runs per draw, seeds 1000-1019) at k = 2, :math:`\eta = 0.12`: unnormalized
:math:`T_0 = 0.8`: GD 0.98-1.30 (one draw below the bound), 8/400 SGD runs diverged, some not converged
in 60000 steps; normalized :math:`T_0 = 0.7`: GD 0.94-1.01, straddling the bound as its prediction 1.01 says;
normalized 0.85: GD 1.07-1.14, 1/400 diverged; normalized 0.9: GD 1.11-1.19, 3/400 diverged, every
other run converged within 21040 steps. A larger step (:math:`\eta = 0.16`, :math:`T_0 = 0.8`) raises
the predictor term but made SGD diverge more often (9 of 160 runs on seeds 1000-1007) and converge slowly (its minima need a smaller
effective :math:`\alpha`), so the step stays 0.12. The claims are therefore:

1. ``gd_lambda_max`` (claim): GD's final :math:`\lambda_{\max}(H)\eta/2 < 1` (GD's stability).
2. ``gd_above_trace_bound`` (claim): GD's final :math:`\operatorname{tr}(H)\eta/2 > 1`: the trace
   bound is active, GD's minimum violates it (Wu & Su: GD's stability constrains only
   :math:`\lambda_{\max}`); the threshold is the bound itself, the trace formula above predicts
   about 1.19 before any run. This is the claim the negative controls break.
3. ``gd_unstable_for_sgd`` (claim, B = 1): the mean-square spectral radius of linearized SGD at
   GD's minimum, :math:`\rho(\mathcal T) > 1`: by the theorem's contrapositive GD's minimum is not
   linearly stable for SGD. Oracle: the dense :math:`n^2\times n^2` map's eigenvalues, a
   computation independent of both trainings. The theorem is one-directional, so this is not a
   restatement of claim 2: :math:`\rho` can exceed 1 below the trace bound too (a tiny run: GD's
   :math:`\operatorname{tr}(H)\eta/2 = 0.98`, :math:`\rho = 1.27`).
4. ``sgd_trace_bound`` (claim, B = 1): every SGD run that converged ends with
   :math:`\operatorname{tr}(H)\eta/2 < 1` (the theorem; threshold 1 exactly, no slack).
5. ``converged`` (check): every run stopped at the convergence rule (full-batch loss below
   ``loss_tol`` = 1e-12) within the step budget; the stability theory is about minima, and at
   L <= 1e-10 the residual part of the Hessian is O(sqrt L), negligible. It is the precondition, not
   a prediction. (Earlier quick runs stopped on a fixed budget of 8000 steps and some SGD runs
   ended at L = 5e-10; SGD converges slowly once its effective init is small, so the budget is now
   60000 steps and the run stops on the rule.)
6. ``closed_form_hessian`` (check): the dense autograd Hessian equals the closed form.
7. ``init_trace`` (check): the dense Hessian at the init has :math:`\operatorname{tr}(H_0)\eta/2` =
   ``init_trace`` (the construction of :math:`\alpha`).

Metrics, not claims: the l1 norm and test error of :math:`\beta`, the SGD minima's :math:`\rho`, and
``param_norm_ratio_sgd_gd`` (median :math:`\|\theta_{SGD}\| / \|\theta_{GD}\|`). The last was a claim
("SGD's minimum has a smaller parameter norm") and was demoted: it also holds where the trace bound
is inactive (0.994 at ``lr=0.02``, tiny size), because SGD's noise shrinks the effective init at any
step (Pesme et al. 2021), so it does not test Wu & Su's mechanism; with the bound active it is implied
by claims 2 and 4 (the trace is a weighted squared parameter norm, Wu & Su Sec. 5).

SGD runs that diverge (large-step SGD far from a minimum: per-sample steps
:math:`\eta\|g_i\|^2/2` above 1 for the larger rows while the trace rises on the way) are counted
(``sgd_diverged``) and left out, never rerun: the theorem is about minima SGD converges to, and a
diverged run converged nowhere. At the default setting about 1 SGD run in 130 diverges
(standalone scan, 3/400), so all 3 of a draw diverging (an error) has odds of about 1e-6.

Negative controls (tests/experiments/test_sgd_linear_stability.py, quick size, one SGD run):
``lr=0.02`` at the same ``init_trace`` (the predictor term 2 eta sum_S |beta_j| falls to about 0.02:
both bounds inactive) and the small init ``init_trace=0.5`` (GD predicted at 0.79): GD's minimum
satisfies the trace bound, so ``gd_above_trace_bound`` fails there.

Checked on: quick preset, seeds 100-119 (all claims hold; GD's tr(H) eta/2 1.075-1.189, SGD max
0.445-0.722; 2 of 60 SGD runs diverged, never all of a draw; seed 115, which errored before, now
ends with GD 1.172 and no divergence), seeds 200-219 (all hold; GD 1.108-1.190, SGD max 0.486-0.758;
0 of 60 diverged) and seeds 1000-1019 (all hold; GD 1.108-1.190; 0 of 60 diverged). Changed size
n = 24, d = 48, k = 3 (predicted GD trace 1.26): seeds 1000-1001 at the quick budget gave GD 1.249 and
1.273, SGD max 0.608 and 0.463, but on seed 1001 one SGD run had not converged in 60000 steps
(L = 1.4e-9, the ``converged`` check failed: a step budget too small for this size) and one diverged
at step 32; with ``steps=200000`` seeds 1001-1003 hold every claim and check (GD 1.272-1.273, SGD max
0.463-0.632, the slow run converged at 121800 steps; 1 of 9 SGD runs diverged). The ``full`` preset
(``init_trace`` 0.75, chosen by the same rule) was not run: a standalone scan of its dynamics on
seeds 1000-1002 gave GD 1.25-1.26 and SGD max 0.58-0.61, with 2 of 27 SGD runs diverged.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from pydantic import Field

from dltheory.core import functionalize
from dltheory.core.errors import DivergenceError
from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.data.synthetic import sparse_regression
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.factorization import DiagonalNet
from dltheory.probes.curvature import dense_hessian
from dltheory.train import Callback, StopTraining, train

SOURCE = "Wu & Su 2023, Sec. 3"


def diagonal_net_hessian(w_plus: torch.Tensor, w_minus: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Closed-form Hessian of :math:`L = \frac1{2n}\|X(w_+^2 - w_-^2) - y\|^2` in :math:`(w_+, w_-)`, (2d, 2d).

    :math:`H = J^\top J / n + \operatorname{diag}(2g, -2g)`, :math:`J = X[\operatorname{diag}(2w_+), -\operatorname{diag}(2w_-)]`,
    :math:`g = X^\top(X\beta - y)/n`. Cost O(n d^2).
    """
    n = X.shape[0]
    J = torch.cat([X * (2 * w_plus), -X * (2 * w_minus)], dim=1)
    g = X.T @ (X @ (w_plus**2 - w_minus**2) - y) / n
    return J.T @ J / n + torch.diag(torch.cat([2 * g, -2 * g]))


def diagonal_net_trace(w_plus: torch.Tensor, w_minus: torch.Tensor, X: torch.Tensor) -> float:
    r""":math:`\operatorname{tr} H = \frac4n\sum_j (w_{+,j}^2 + w_{-,j}^2)\|X_{:,j}\|^2` (exact at any point). Cost O(n d)."""
    return float(4.0 / X.shape[0] * ((w_plus**2 + w_minus**2) * (X**2).sum(0)).sum())


def init_scale_for_trace(init_trace: float, lr: float, X: torch.Tensor) -> float:
    r"""The :math:`\alpha` with :math:`\operatorname{tr}(H_0)\eta/2 =` ``init_trace`` at :math:`w_\pm(0) = \alpha\mathbf 1`:
    :math:`\operatorname{tr} H_0 = 8\alpha^2\sum_j c_j`, so :math:`\alpha = \sqrt{\text{init\_trace} / (4\eta\sum_j c_j)}`,
    :math:`c_j = \|X_{:,j}\|^2/n`. Cost O(n d)."""
    return math.sqrt(init_trace / (4.0 * lr * float(X.pow(2).sum() / X.shape[0])))


def second_moment_map(K: np.ndarray, lr: float, batch_size: int) -> np.ndarray:
    r"""The matrix (n^2 x n^2, column-major vec) of the second-moment map of linearized SGD on the residuals.

    :math:`\mathcal T(P) = E[A P A^\top]`, :math:`A = I - \frac\eta B K S_B`, i.e.
    :math:`\mathcal T(P) = P - \frac\eta n(KP + PK) + \frac{\eta^2}{B^2} K\,E[S P S]\,K` for batches of
    B distinct indices drawn uniformly (random reshuffling's per-step law):
    :math:`E[SPS] = \frac Bn\operatorname{Diag}(P) + \frac{B(B-1)}{n(n-1)}(P - \operatorname{Diag}(P))`.
    Cost O(n^4) memory.
    """
    n = K.shape[0]
    eye = np.eye(n)
    c_diag = batch_size / n
    c_off = batch_size * (batch_size - 1) / (n * (n - 1)) if n > 1 else 0.0
    # column-major vec: vec(A P C) = (C^T kron A) vec(P)
    diag_sel = np.diag(eye.reshape(-1, order="F"))  # projector on vec(Diag(P))
    esps = c_off * np.eye(n * n) + (c_diag - c_off) * diag_sel
    return np.eye(n * n) - lr / n * (np.kron(eye, K) + np.kron(K, eye)) + lr**2 / batch_size**2 * np.kron(K, K) @ esps


def mean_square_radius(K: np.ndarray, lr: float, batch_size: int) -> float:
    r"""Spectral radius of :func:`second_moment_map`: linearized SGD is mean-square stable iff it is <= 1.

    B = n gives GD, :math:`\rho = \max_i (1 - \eta\lambda_i(H))^2`. Cost O(n^6) (dense eigenvalues).
    """
    return float(np.abs(np.linalg.eigvals(second_moment_map(K, lr, batch_size))).max())


@register
class SGDLinearStability(Experiment):
    """At the same step size, SGD (batch 1) ends at minima with tr(H) <= 2/eta, GD only with lambda_max(H) <= 2/eta: SGD ends flatter."""

    id = "implicit-bias/sgd-linear-stability"
    lecture = 2
    title = "Dynamical stability: SGD's minima satisfy tr(H) <= 2/eta, GD's only lambda_max(H) <= 2/eta"
    papers = ("wu2023",)

    class Config(ExperimentConfig):
        n: int = Field(16, ge=2, le=200, description="number of training samples")
        d: int = Field(32, ge=3, le=1000, description="dimension (d > n: over-parameterized)")
        k: int = Field(2, ge=1, le=100, description="sparsity of the planted predictor")
        init_trace: float = Field(0.9, gt=0, lt=1, description="tr(H_0) eta / 2 at the init; sets alpha = sqrt(init_trace / (4 eta sum_j c_j)), c_j = ||X_:,j||^2 / n (below SGD's bound 1 at the start)")
        normalize_columns: bool = Field(True, description="rescale each column of X to ||X_:,j||^2 = n (c_j = 1) and set y = X beta_star, so the trace terms carry no column-norm noise")
        lr: float = Field(0.12, gt=0, le=10, description="step size eta (same for GD and SGD; GD's minimum has lambda_max(H) of about 3-7 in the quick preset, so GD diverges beyond about 0.6)")
        batch_size: int = Field(1, ge=1, le=200, description="SGD batch size (the trace bound is stated for 1)")
        steps: int = Field(60_000, ge=1, le=10_000_000, description="step budget of each run (runs stop earlier, on `loss_tol`)")
        loss_tol: float = Field(1e-12, gt=0, le=1e-10, description="stop once the full-batch loss is below this (an interpolating minimum)")
        seeds: int = Field(3, ge=1, le=50, description="SGD runs with different sample orders")
        probe_every: int = Field(20, ge=1, le=100_000, description="steps between closed-form curvature evaluations (and convergence tests)")

    presets = {
        "tiny": {"n": 8, "d": 16, "k": 2, "steps": 300, "seeds": 1, "probe_every": 50},  # smoke test: need not converge
        "quick": {},
        # full: init_trace 0.75 puts GD's predicted trace at 0.75 + 0.445 = 1.19 (k = 4, d = 100), as in the quick preset
        "full": {"n": 40, "d": 100, "k": 4, "init_trace": 0.75, "steps": 200_000, "seeds": 9, "probe_every": 50},
    }

    def run(self, config: Config, log: RunLog) -> None:
        if config.d <= config.n or config.k >= config.n or config.batch_size > config.n:
            raise ValueError(f"need k < n < d and batch_size <= n; got n={config.n}, d={config.d}, k={config.k}, batch_size={config.batch_size}.")
        X, y, beta_star = sparse_regression(config.n, config.d, config.k, generator=log.generator("data"))
        if config.normalize_columns:
            X = X / X.pow(2).mean(0).sqrt()  # c_j = ||X_:,j||^2 / n = 1
            y = X @ beta_star
        eta = config.lr
        alpha = init_scale_for_trace(config.init_trace, eta, X)
        net = DiagonalNet(config.d, init_scale=alpha, parametrization="pm").to(X.device)
        p0 = functionalize(net).params

        def loss(params, batch):
            Xb, yb = batch
            r = Xb @ (params["w_plus"] ** 2 - params["w_minus"] ** 2) - yb  # DiagonalNet.beta, inlined for speed
            return 0.5 * (r @ r) / Xb.shape[0]

        def curvature(info):
            H = diagonal_net_hessian(info.params["w_plus"], info.params["w_minus"], X, y)
            full = float(loss(info.params, (X, y)))
            if full < config.loss_tol:
                raise StopTraining  # at an interpolating minimum (up to rounding)
            return {"lambda_max": float(torch.linalg.eigvalsh(H)[-1]), "trace": float(H.trace()), "full_loss": full}

        runs = {}
        diverged = 0
        for seed in ["gd"] + list(range(config.seeds)):
            sampler = {} if seed == "gd" else {"batch_size": config.batch_size, "sampling": "iid", "generator": log.generator("sgd", seed)}
            try:
                res = train(loss, p0, steps=config.steps, lr=eta, data=(X, y), **sampler, callbacks=[Callback(curvature, every=config.probe_every)],
                            record_every=config.probe_every, description=f"{'GD' if seed == 'gd' else 'SGD'} {seed}", progress=log.progress)
            except DivergenceError as e:
                if seed == "gd":
                    raise
                diverged += 1
                log.info(f"SGD seed {seed} diverged: {e}")
                continue
            runs[seed] = self._final(res, loss, X, y, beta_star, eta, config.batch_size)
            log.info(f"{'GD' if seed == 'gd' else f'SGD seed {seed}'}: {res.steps} steps, loss {runs[seed]['loss']:.2e}, "
                     f"tr(H) eta/2 = {runs[seed]['trace'] * eta / 2:.3f}, lambda_max eta/2 = {runs[seed]['lambda_max'] * eta / 2:.3f}, rho = {runs[seed]['rho']:.4f}")
        sgd = [r for s, r in runs.items() if s != "gd"]
        if not sgd:
            raise RuntimeError(f"every SGD seed diverged at lr={eta:g}, batch_size={config.batch_size}; lower `lr` or `init_trace`.")
        gd = runs["gd"]
        med = {k: float(np.median([r[k] for r in sgd])) for k in ("trace", "lambda_max", "l1", "param_norm", "test_error", "rho", "loss")}
        log.metric("sgd_diverged", diverged)
        log.metric("param_norm_ratio_sgd_gd", med["param_norm"] / gd["param_norm"])
        log.metric("init_scale", alpha)
        support = beta_star != 0
        c = X.pow(2).mean(0)
        # gradient-flow prediction of GD's minimum (w_+ w_- = alpha^2 conserved, beta = beta_star): tr(H) eta/2 = init_trace + 2 eta sum_S c_j (sqrt(beta_j^2 + 4 alpha^4) - 2 alpha^2)
        log.metric("gd_trace_predicted", config.init_trace + 2 * eta * float((c[support] * ((beta_star[support] ** 2 + 4 * alpha**4).sqrt() - 2 * alpha**2)).sum()))
        for name in ("trace", "lambda_max", "l1", "param_norm", "test_error", "rho", "loss"):
            log.metric(f"gd_{name}", gd[name])
            log.metric(f"sgd_median_{name}", med[name])
        for i, r in enumerate(sgd):
            log.scalar("sgd_final_trace_eta_over_2", i, r["trace"] * eta / 2)
        arrays = {"X": X, "y": y, "beta_star": beta_star, "w0": p0["w_plus"]}
        for s, r in runs.items():
            tag = "gd" if s == "gd" else f"sgd{s}"
            arrays.update({f"{tag}_w_plus": r["w_plus"], f"{tag}_w_minus": r["w_minus"], f"{tag}_hessian_eigenvalues": r["eigs"]})
        log.artifact("data_params_hessians", **arrays)
        self._claims(log, gd, sgd, med, eta, config.batch_size)
        init_trace = float(dense_hessian(lambda q: loss(q, (X, y)), p0).trace()) * eta / 2
        log.claim_less("init_trace", "the init has the set tr(H_0) eta / 2 (alpha from the closed form tr(H_0) = 8 alpha^2 sum_j c_j): relative error of the dense Hessian's trace",
                       abs(init_trace - config.init_trace) / config.init_trace, 1e-10, source="construction; float64 rounding", oracle="dense_hessian at the init", kind="check")
        self._figures(log, runs, eta, config.batch_size)

    @staticmethod
    def _final(res, loss, X, y, beta_star, eta, batch_size) -> dict:
        p = res.params
        H = dense_hessian(lambda q: loss(q, (X, y)), p)
        eigs = torch.linalg.eigvalsh(H)
        Hc = diagonal_net_hessian(p["w_plus"], p["w_minus"], X, y)
        beta = p["w_plus"] ** 2 - p["w_minus"] ** 2
        J = torch.cat([X * (2 * p["w_plus"]), -X * (2 * p["w_minus"])], dim=1)  # per-sample gradients g_i (rows)
        return {"trace": float(H.trace()), "lambda_max": float(eigs[-1]), "eigs": eigs, "closed_trace": diagonal_net_trace(p["w_plus"], p["w_minus"], X),
                "closed_error": float(torch.linalg.norm(H - Hc) / torch.linalg.norm(Hc)), "l1": float(beta.abs().sum()),
                "param_norm": float(torch.sqrt((p["w_plus"] ** 2 + p["w_minus"] ** 2).sum())), "steps": res.steps,
                "test_error": float(torch.linalg.norm(beta - beta_star) / torch.linalg.norm(beta_star)),
                "rho": mean_square_radius((J @ J.T).cpu().numpy(), eta, batch_size),
                "loss": float(loss(p, (X, y))), "w_plus": p["w_plus"], "w_minus": p["w_minus"], "history": res.history}

    @staticmethod
    def _claims(log: RunLog, gd: dict, sgd: list[dict], med: dict, eta: float, batch_size: int) -> None:
        dense = "dense_hessian + torch.linalg.eigvalsh at the final point"
        log.claim_less("gd_lambda_max", "GD's minimum is linearly stable for GD: lambda_max(H) eta / 2", gd["lambda_max"] * eta / 2, 1.0,
                       source=SOURCE + " (GD: stable iff lambda_max(H) <= 2/eta)", oracle=dense)
        log.claim_greater("gd_above_trace_bound", "the trace bound is active: GD's minimum violates it, tr(H_GD) eta / 2 (GD's stability constrains only lambda_max)",
                          gd["trace"] * eta / 2, 1.0, source=SOURCE + " (GD's stability imposes the constraint only on lambda_max; SGD's on tr(H))", oracle=dense)
        if batch_size == 1:
            log.claim_greater("gd_unstable_for_sgd", "GD's minimum is not linearly stable for SGD (B=1): spectral radius of the mean-square map of linearized SGD at GD's minimum",
                              gd["rho"], 1.0, source=SOURCE + ": linearly stable for SGD => tr(H) <= 2/eta (contrapositive at GD's minimum)",
                              oracle="dense eigenvalues of the n^2 x n^2 second-moment map (second_moment_map)")
            log.claim_less("sgd_trace_bound", "every SGD (batch 1) run that converged ends at a minimum satisfying the trace bound: max over runs of tr(H) eta / 2",
                           max(r["trace"] for r in sgd) * eta / 2, 1.0, source=SOURCE + ": linearly stable for SGD => tr(H) <= 2/eta", oracle=dense)
        log.claim_less("converged", "every run stopped at an interpolating minimum within its step budget: max final full-batch loss (the stability theory is about minima)",
                       max(r["loss"] for r in [gd, *sgd]), 1e-10, source="precondition of Wu & Su 2023, Sec. 3; at L <= 1e-10 the residual part of the Hessian is O(sqrt(L)), negligible",
                       oracle="none (a precondition read from the runs: their final full-batch loss)", kind="check")
        err = max(max(abs(r["trace"] - r["closed_trace"]) / r["closed_trace"], r["closed_error"]) for r in [gd, *sgd])
        log.claim_less("closed_form_hessian", "dense autograd Hessian = closed form J^T J / n + diag(2g, -2g) (max relative error, trace and matrix)", err, 1e-10,
                       source="exact identity; float64 rounding", oracle="closed-form diagonal-net Hessian", kind="check")

    @staticmethod
    def _figures(log: RunLog, runs: dict, eta: float, batch_size: int) -> None:
        first_sgd = next(s for s in runs if s != "gd")
        fig, axes = figure(2, 1, width=5.0, height=3.6)
        for s, r in runs.items():
            color = PALETTE[0] if s == "gd" else PALETTE[1]
            label = "GD" if s == "gd" else (f"SGD (B={batch_size}), {len(runs) - 1} seeds" if s == first_sgd else None)
            st, tr = r["history"]["trace"]
            sl, lm = r["history"]["lambda_max"]
            axes[0].plot(st, tr * eta / 2, color=color, alpha=1.0 if s == "gd" else 0.6, label=label)
            axes[1].plot(sl, lm * eta / 2, color=color, alpha=1.0 if s == "gd" else 0.6, label=label)
        for ax, what in zip(axes, ("tr(H) eta / 2", "lambda_max(H) eta / 2"), strict=True):
            ax.axhline(1.0, **THEORY, label="stability edge")
            ax.set(xlabel="step", ylabel=what, ylim=(0, None), xscale="symlog")
            ax.set_xlim(left=0)
            ax.legend(fontsize=8)
        axes[0].set_title("Trace: SGD's bound is tr(H) <= 2/eta")
        axes[1].set_title("Top eigenvalue: GD's bound is lambda_max <= 2/eta")
        log.figure("curvature_over_training", fig)
        fig, ax = figure(1, 1, width=5.0, height=3.8)
        for s, r in runs.items():
            color, marker = (PALETTE[0], "s") if s == "gd" else (PALETTE[1], "o")
            ax.plot(r["lambda_max"] * eta / 2, r["trace"] * eta / 2, marker, color=color, markersize=8 if s == "gd" else 6,
                    label="GD" if s == "gd" else (f"SGD (B={batch_size}) seeds" if s == first_sgd else None))
        ax.axhline(1.0, **THEORY, label="tr(H) = 2/eta (SGD)")
        ax.axvline(1.0, color=THEORY["color"], linestyle=":", linewidth=1.2, label="lambda_max = 2/eta (GD)")
        ax.set(xlim=(0, 1.1), ylim=(0, None), xlabel="lambda_max(H) eta / 2", ylabel="tr(H) eta / 2", title="Final minima against the stability bounds")
        ax.legend(fontsize=8)
        log.figure("final_minima", fig)
