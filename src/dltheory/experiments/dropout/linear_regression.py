r"""Input dropout in linear regression is ridge regression with a data-dependent penalty.

Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov, "Dropout: a simple way to prevent neural
networks from overfitting", JMLR 2014, Sec. 9.1. Data X (n, d), targets y (n,); dropout on the
inputs multiplies X entrywise by a mask R with i.i.d. :math:`R_{ij}\sim\mathrm{Bernoulli}(p)`
(p the retain probability). Since :math:`E[R*X] = pX` and
:math:`E[(R*X)^\top(R*X)] = p^2X^\top X + p(1-p)\,\mathrm{diag}(X^\top X)` (off-diagonal entries
multiply independent masks), the paper's identity holds for every w:

.. math:: E_R\|y - (R*X)w\|^2 = \|y - pXw\|^2 + p(1-p)\|\Gamma w\|^2,
    \qquad \Gamma = \mathrm{diag}(X^\top X)^{1/2}.

With :math:`\tilde w = pw` (the weights that inverted dropout, masks R/p, trains directly) it is
:math:`\|y - X\tilde w\|^2 + \lambda\|\Gamma\tilde w\|^2`, :math:`\lambda = (1-p)/p`: ridge
regression whose penalty on coefficient j is the squared norm of feature j, minimized by

.. math:: \tilde w^* = (X^\top X + \lambda\,\mathrm{diag}(X^\top X))^{-1}X^\top y,

i.e. ordinary ridge (alpha = lambda) on the standardized features :math:`X\Gamma^{-1}`. So the
dropout fit does not change when a feature is rescaled; isotropic ridge's does.

Setup: :math:`X = X_0\,\mathrm{diag}(s)` with :math:`X_0` Gaussian, columns normalized to norm
:math:`\sqrt n` (so :math:`\mathrm{diag}(X_0^\top X_0) = nI`), and feature scales s log-spaced from 1
down to ``1/feature_scale_ratio``; :math:`w_{true,j} = \beta_j/s_j` with :math:`\beta\sim N(0, I)` so
that every feature contributes comparably to :math:`y = Xw_{true} + \sigma\varepsilon`. Training
minimizes the per-sample mean (the minimizer is the same), whose Hessian is
:math:`H = \frac2n(X^\top X + \lambda\,\mathrm{diag}(X^\top X))`; step sizes are given in units of
:math:`1/\lambda_{\max}(H)`.

Claims (thresholds fixed before running):

1. ``mc_formula``: at ``mc_points`` random w (standardized coefficients :math:`s_jw_j\sim N(0,1)`,
   as for :math:`w_{true}`), the Monte Carlo mean of :math:`\|y-(R*X)w\|^2` over 0/1 masks is
   within 4 standard errors of the formula (worst point; a two-sided test with false-alarm rate
   6e-5 per point under the CLT, as in ``dropout/explicit-regularizer``). ``mc_isotropic_rejected``:
   the same test rejects the isotropic variant :math:`p(1-p)\,\overline{\Gamma^2}\|w\|^2` at every
   point (the regularizer depends on the data).
2. ``gd_closed_form`` (a *check*: GD iterates the very quadratic whose minimizer the closed form
   is): GD (float64, lr = 1/lambda_max(H)) on the closed-form expected objective
   reaches :math:`\tilde w^*` to relative error 1e-8. The oracle for :math:`\tilde w^*` in all
   claims is scikit-learn ``Ridge(alpha=lambda, fit_intercept=False)`` on :math:`X\Gamma^{-1}`,
   independent of every training path; the numpy solve of the normal equations agrees (metric
   ``sklearn_vs_numpy``).
   GD contracts the error by :math:`1 - 1/\kappa` per step (:math:`\kappa\approx` ratio^2 times
   cond(C + lambda I) for the feature correlation C, about 100-200 here), so ``gd_steps`` is
   several times :math:`\kappa\ln 10^{8}`.
3. ``sgd_noise_floor``: dropout-SGD (fresh inverted masks R/p over all n x d inputs at every
   step, :class:`~dltheory.models.dropout.MaskStream` as the training loop's data) from w = 0
   hovers around :math:`\tilde w^*` with the RMS error of constant-step SGD at a minimum:
   linearizing, :math:`\delta_{t+1} = (I-\eta H)\delta_t - \eta\xi_t` with :math:`\Sigma =
   \operatorname{Cov}\xi` the covariance over masks of the stochastic gradient at
   :math:`\tilde w^*` (exact, from the mask moments :math:`E\prod b = p^{\#\mathrm{distinct}-\mathrm{order}}`,
   :func:`dropout_gradient_covariance`); the stationary covariance solves the discrete Lyapunov
   equation (reused from ``dropout/matrix-factorization``), predicted
   :math:`E\|w_t-\tilde w^*\|^2 = \operatorname{tr}S = O(\eta)`. The gradient is affine in w, so
   the only term left out is the multiplicative-noise term :math:`\eta^2E[(A_R-H)S(A_R-H)] = O(\eta^3)`.
   Measured RMS over the second half / predicted in [0.5, 2] (the window's finite length and O(eta)
   terms; same band as ``dropout/matrix-factorization``).
   ``sgd_not_ols``, ``sgd_not_isotropic``: the iterates are at least 4x closer (RMS over the
   window) to :math:`\tilde w^*` than to OLS and than to isotropic ridge; the design makes the
   predicted floor a small fraction of those gaps (metrics ``predicted_floor_over_gap_*``).
4. ``data_dependent`` (a *check* of the design, closed forms only): with unequal feature scales the dropout solution differs from isotropic
   ridge with the matched average penalty :math:`\lambda\,\mathrm{tr}(X^\top X)/d` by more than 10%
   of its norm: a threshold several times the dropout-SGD noise floor of claim 3 (2-3% in
   ``quick``), so that training can tell the two apart. In the equal-scale control :math:`X_0` the
   two coincide exactly (metric ``equal_scale_difference``), and the dropout fit is invariant to
   the feature scaling (:math:`s * \tilde w^*(X_0\mathrm{diag}(s)) = \tilde w^*(X_0)`, metric
   ``scale_invariance_error``).

The real claims are ``mc_formula``, ``mc_isotropic_rejected`` (Monte Carlo over masks) and
``sgd_noise_floor``, ``sgd_not_ols``, ``sgd_not_isotropic`` (dropout-SGD with real masks against
the sklearn ridge oracle). Negative control (``train_keep_prob=1``: SGD without dropout, the claims
still at ``keep_prob``): SGD is then GD on least squares and converges to OLS, so ``sgd_not_ols``
(RMS distance to the ridge solution / RMS distance to OLS) is far above 1/4 and ``sgd_noise_floor``
fails (``tests/experiments/test_dropout_linear_regression.py::test_negative_control_no_dropout``).

Checked on: quick preset, seed 0 (all claims hold; the numbers at the default config are unchanged
by the check/claim split and the train_keep_prob option); a smaller size (n = 30, d = 4, scale ratio
3) at seed 5 with and without dropout. Seeds 100-119 (`dltheory verify`): every claim holds on all 20.

Step counts: the slowest mode of SGD relaxes in :math:`\kappa/` ``sgd_lr`` steps (about 1000 in
``quick``); ``sgd_steps`` = 10000 leaves about five relaxation times to forget w = 0 and five in the
measurement window.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator
from sklearn.linear_model import Ridge

from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.dropout import MaskStream, bernoulli_mask, dropout_lambda
from dltheory.probes.stochastic import (
    SE_THRESHOLD,
    draw_in_chunks,
    mean_and_se,
    running_mean_and_se,
    stationary_covariance,
)
from dltheory.train import Callback, train

SOURCE = "Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov 2014 (JMLR), Sec. 9.1"
#: SGD must sit this many times closer to the dropout solution than to an alternative (fixed in advance)
CLOSER_FACTOR = 4.0


def dropout_ridge(X: np.ndarray, y: np.ndarray, *, keep_prob: float) -> np.ndarray:
    r"""Minimizer of the expected inverted-dropout loss, :math:`(X^\top X + \lambda\,\mathrm{diag}(X^\top X))^{-1}X^\top y`.

    :math:`\lambda = (1-p)/p`. Srivastava et al. 2014, Sec. 9.1. Cost: one d x d solve.
    """
    G = X.T @ X
    return np.linalg.solve(G + dropout_lambda(keep_prob) * np.diag(np.diag(G)), X.T @ y)


def dropout_ridge_sklearn(X: np.ndarray, y: np.ndarray, *, keep_prob: float) -> np.ndarray:
    r"""The same minimizer via scikit-learn: ``Ridge(alpha=lambda)`` on :math:`X\Gamma^{-1}`, mapped back by :math:`\Gamma^{-1}`."""
    gamma = np.linalg.norm(X, axis=0)
    ridge = Ridge(alpha=dropout_lambda(keep_prob), fit_intercept=False, solver="cholesky").fit(X / gamma, y)
    return ridge.coef_ / gamma


def isotropic_ridge(X: np.ndarray, y: np.ndarray, *, alpha: float) -> np.ndarray:
    r"""Standard ridge :math:`(X^\top X + \alpha I)^{-1}X^\top y`. Cost: one d x d solve."""
    return np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ y)


def expected_dropout_loss(X: np.ndarray, y: np.ndarray, w: np.ndarray, *, keep_prob: float, isotropic: bool = False) -> float:
    r""":math:`E_R\|y-(R*X)w\|^2 = \|y-pXw\|^2 + p(1-p)\|\Gamma w\|^2` for 0/1 masks kept with probability p.

    With ``isotropic=True`` the (wrong) variant with :math:`\Gamma^2` replaced by its mean times I.
    Srivastava et al. 2014, Sec. 9.1.
    """
    p = keep_prob
    g2 = (X**2).sum(0)
    penalty = g2.mean() * (w**2).sum() if isotropic else (g2 * w**2).sum()
    return float(((y - p * X @ w) ** 2).sum() + p * (1 - p) * penalty)


def _mask_moments(d: int, order: int, keep_prob: float) -> np.ndarray:
    r""":math:`E[b_{j_1}\cdots b_{j_k}]` for i.i.d. inverted masks :math:`b\in\{0,1/p\}`, shape (d,)*order.

    :math:`E b^m = p^{1-m}`, so the moment is :math:`p^{\#\mathrm{distinct}(j)-k}`. Cost O(k d^k)."""
    idx = np.sort(np.indices((d,) * order).reshape(order, -1), axis=0)
    distinct = 1 + (np.diff(idx, axis=0) != 0).sum(0)
    return (keep_prob ** (distinct - order)).reshape((d,) * order)


def dropout_gradient_covariance(X: np.ndarray, y: np.ndarray, w: np.ndarray, *, keep_prob: float) -> np.ndarray:
    r"""Covariance over one inverted mask B (n x d) of :math:`\nabla_w\frac1n\|y-(B*X)w\|^2`, shape (d, d).

    The gradient is :math:`-\frac2n\sum_i z_iu_i`, :math:`z_i = b_i*x_i`, :math:`u_i = y_i - z_i^\top w`,
    independent over rows i; :math:`E[z_jz_ku^2]` and :math:`E[z_ju]` expand into the mask moments
    of order 2-4 (:func:`_mask_moments`). Exact. Cost O(n d^4).
    """
    n, d = X.shape
    M2, M3, M4 = (_mask_moments(d, k, keep_prob) for k in (2, 3, 4))
    V = X * w  # (n, d): v_l = x_l w_l per row
    quad = (y**2)[:, None, None] * M2 - 2 * y[:, None, None] * np.einsum("jkl,il->ijk", M3, V) + np.einsum("jklm,il,im->ijk", M4, V, V, optimize=True)
    second = X[:, :, None] * X[:, None, :] * quad  # (n, d, d): E[z z^T u^2] per row
    mean = X * (y[:, None] - V @ M2)  # (n, d): E[z u] per row
    return 4 / n**2 * (second - mean[:, :, None] * mean[:, None, :]).sum(0)


def sgd_noise_floor(X: np.ndarray, y: np.ndarray, w_star: np.ndarray, *, keep_prob: float, lr: float) -> float:
    r"""Predicted stationary RMS :math:`\sqrt{E\|w_t-\tilde w^*\|^2}` of dropout-SGD at step size ``lr``,
    from the Lyapunov equation of the linearized dynamics (module docstring). Cost O(n d^4 + d^3)."""
    n = X.shape[0]
    G = X.T @ X
    H = 2 / n * (G + dropout_lambda(keep_prob) * np.diag(np.diag(G)))
    Sigma = dropout_gradient_covariance(X, y, w_star, keep_prob=keep_prob)
    _, S = stationary_covariance(torch.from_numpy(H), torch.from_numpy(Sigma), lr)
    return float(torch.trace(S)) ** 0.5


@register
class DropoutLinearRegression(Experiment):
    """Input dropout in least squares = ridge with penalty (1-p)/p ||diag(X^T X)^1/2 w||^2 (Srivastava et al. 2014)."""

    id = "dropout/linear-regression"
    lecture = 3
    title = "Dropout in linear regression: ridge with a data-dependent penalty"
    papers = ("srivastava2014",)

    class Config(ExperimentConfig):
        samples: int = Field(50, ge=2, le=5000, description="number of samples n (rows of X)")
        features: int = Field(8, ge=1, le=40, description="number of features d (the SGD noise prediction costs O(n d^4))")
        feature_scale_ratio: float = Field(10.0, ge=1, le=10_000, description="feature scales s_j log-spaced from 1 down to 1/ratio (cond(H) ~ ratio^2 <= 1e8 keeps the float64 claims meaningful)")
        noise: float = Field(0.5, ge=0, le=1000, description="std of the label noise")
        keep_prob: float = Field(0.5, gt=0, lt=1, description="dropout retain probability p (lambda = (1-p)/p)")
        train_keep_prob: float | None = Field(None, gt=0, le=1, description="retain probability of the masks dropout-SGD is trained with (None: keep_prob; 1: no dropout, the negative control)")
        mc_points: int = Field(3, ge=1, le=6, description="random w at which the expectation is checked by Monte Carlo")
        mc_samples: int = Field(20_000, ge=100, le=10_000_000, description="Monte Carlo masks (n x d each) per point")
        gd_steps: int = Field(3000, ge=1, le=10_000_000, description="GD steps on the expected objective")
        gd_lr: float = Field(1.0, gt=0, lt=2, description="GD step size in units of 1/lambda_max(H) (stable below 2)")
        sgd_steps: int = Field(10_000, ge=2, le=10_000_000, description="dropout-SGD steps (the second half is the measurement window)")
        sgd_lr: float = Field(0.1, gt=0, lt=1, description="dropout-SGD step size in units of 1/lambda_max(H)")
        record_every: int = Field(20, ge=1, le=100_000, description="record the SGD distances every this many steps")

        @model_validator(mode="after")
        def _least_squares_is_unique(self):
            if self.samples < self.features:
                raise ValueError(f"`samples` must be >= `features` = {self.features} so that least squares has a unique solution; got {self.samples}")
            return self

    presets = {
        "tiny": {"samples": 12, "features": 4, "mc_points": 2, "mc_samples": 500, "gd_steps": 300, "sgd_steps": 400},
        "quick": {},
        "full": {"samples": 200, "features": 20, "mc_samples": 100_000, "gd_steps": 10_000, "sgd_steps": 100_000, "sgd_lr": 0.05, "record_every": 50},
    }

    def run(self, config: Config, log: RunLog) -> None:
        n, d, p = config.samples, config.features, config.keep_prob
        lam = dropout_lambda(p)
        rng = log.rng("data")
        X0 = rng.standard_normal((n, d))
        X0 *= np.sqrt(n) / np.linalg.norm(X0, axis=0)
        scales = np.logspace(0.0, -np.log10(config.feature_scale_ratio), d)
        X = X0 * scales
        w_true = rng.standard_normal(d) / scales
        y = X @ w_true + config.noise * rng.standard_normal(n)
        G = X.T @ X
        alpha_iso = lam * np.trace(G) / d  # isotropic ridge with the same average penalty
        # the oracle: scikit-learn Ridge on the standardized features (independent of the training path)
        sol = {"dropout": dropout_ridge_sklearn(X, y, keep_prob=p), "ols": np.linalg.solve(G, X.T @ y), "isotropic": isotropic_ridge(X, y, alpha=alpha_iso)}
        w_star = sol["dropout"]
        norm_star = float(np.linalg.norm(w_star))
        sk_diff = float(np.linalg.norm(dropout_ridge(X, y, keep_prob=p) - w_star)) / norm_star
        H = 2 / n * (G + lam * np.diag(np.diag(G)))
        h = np.linalg.eigvalsh(H)
        for name, value in {"lambda": lam, "alpha_isotropic": alpha_iso, "hessian_condition": h[-1] / h[0], "sklearn_vs_numpy": sk_diff,
                            "equal_scale_difference": float(np.linalg.norm(dropout_ridge(X0, y, keep_prob=p) - isotropic_ridge(X0, y, alpha=lam * n)) / np.linalg.norm(dropout_ridge(X0, y, keep_prob=p))),
                            "scale_invariance_error": float(np.linalg.norm(scales * w_star - dropout_ridge(X0, y, keep_prob=p)) / np.linalg.norm(scales * w_star))}.items():
            log.metric(name, value)

        self._monte_carlo(config, log, X, y, scales)

        Xt, yt = torch.from_numpy(X).to(log.device), torch.from_numpy(y).to(log.device)
        diag_t = torch.from_numpy(np.diag(G).copy()).to(log.device)
        targets = {k: torch.from_numpy(v).to(log.device) for k, v in sol.items()}

        def expected(params, batch=None):  # (1/n) E ||y - (B*X) w||^2 for inverted masks B = R/p
            w = params["w"]
            return ((yt - Xt @ w) ** 2).mean() + lam * (diag_t * w**2).sum() / n

        def dropout_loss(params, masks):  # one dropout-SGD sample: a fresh (n, d) mask
            return ((yt - (masks * Xt) @ params["w"]) ** 2).mean()

        def recorder(store: list):  # distances to the three solutions; the iterates go to ``store``
            def fn(info):
                store.append(info.params["w"].cpu().numpy())
                return {f"to_{k}": float(torch.linalg.norm(info.params["w"] - t)) / norm_star for k, t in targets.items()}
            return fn

        init = {"w": torch.zeros(d, dtype=torch.float64, device=log.device)}
        gd = train(expected, init, steps=config.gd_steps, optimizer="gd", lr=config.gd_lr / h[-1],
                   callbacks=[Callback(recorder([]), every=max(1, config.gd_steps // 200))], description="GD on the expected loss")
        w_gd = gd.params["w"].cpu().numpy()
        log.metric("gd_rel_error", float(np.linalg.norm(w_gd - w_star)) / norm_star)
        log.claim_less("gd_closed_form", "GD on the closed-form expected dropout objective reaches (X^T X + (1-p)/p diag(X^T X))^-1 X^T y: ||w_GD - w*|| / ||w*||",
                       float(np.linalg.norm(w_gd - w_star)) / norm_star, 1e-8,
                       source=f"{SOURCE} (dropout = ridge with Gamma = diag(X^T X)^1/2, w~ = p w); 1e-8 = float64 optimization residual",
                       oracle=f"sklearn Ridge on X Gamma^-1, alpha = (1-p)/p, fit_intercept=False (numpy solve of the normal equations agrees to {sk_diff:.1e})",
                       kind="check")

        mask_gen = log.generator("masks")
        mask_seed = mask_gen.initial_seed()
        p_train = p if config.train_keep_prob is None else config.train_keep_prob
        log.metric("train_keep_prob", p_train)
        stream = MaskStream(d, keep_prob=p_train, generator=mask_gen, num_masks=n)
        lr_sgd = config.sgd_lr / h[-1]
        sgd = train(dropout_loss, init, steps=config.sgd_steps, optimizer="gd", lr=lr_sgd, data=stream,
                    callbacks=[Callback(recorder(iterates := []), every=config.record_every)], description="dropout-SGD")
        steps, _ = sgd.history["to_dropout"]
        window = steps >= config.sgd_steps // 2
        rms = {k: float(np.sqrt(np.mean(sgd.history[f"to_{k}"][1][window] ** 2))) for k in sol}
        W = np.stack(iterates)[window]  # (window, d) iterates
        floor = sgd_noise_floor(X, y, w_star, keep_prob=p, lr=lr_sgd) / norm_star
        gaps = {k: float(np.linalg.norm(sol[k] - w_star)) / norm_star for k in ("ols", "isotropic")}
        for k in sol:
            log.metric(f"sgd_rms_to_{k}", rms[k])
        log.metric("sgd_predicted_rms", floor)
        for k, gap in gaps.items():
            log.metric(f"gap_{k}", gap)
            log.metric(f"predicted_floor_over_gap_{k}", floor / gap)
        log.claim_between("sgd_noise_floor", f"dropout-SGD (fresh masks each step, lr = {config.sgd_lr:g}/lambda_max(H)) hovers around w* with the RMS relative error "
                          f"predicted for constant-step SGD at that minimum ({floor:.3g}); measured RMS / predicted over the second half",
                          rms["dropout"] / floor, 0.5, 2.0,
                          source=f"{SOURCE} (E over masks of the dropout loss = the ridge objective); stationary covariance of linearized SGD (Lyapunov); factor 2 for the finite window and O(lr) terms",
                          oracle="sklearn Ridge on X Gamma^-1 for w*; exact mask-moment gradient covariance and closed-form Hessian")
        for k, label in (("ols", "least squares (no dropout)"), ("isotropic", f"isotropic ridge alpha = lambda tr(X^T X)/d = {alpha_iso:.3g}")):
            log.claim_less(f"sgd_not_{k}", f"dropout-SGD converges to the dropout-ridge solution, not to {label}: RMS ||w_t - w*|| / RMS ||w_t - w_{k}|| over the second half",
                           rms["dropout"] / rms[k], 1 / CLOSER_FACTOR,
                           source=f"{SOURCE}; threshold: {CLOSER_FACTOR:g}x closer, fixed in advance (predicted floor / gap = {floor / gaps[k]:.3g})",
                           oracle=f"sklearn Ridge on X Gamma^-1 for w*; numpy closed form of w_{k}")
        log.claim_greater("data_dependent", f"with feature scales spread {config.feature_scale_ratio:g}x the dropout solution differs from isotropic ridge with the matched average penalty: ||w* - w_iso|| / ||w*||",
                          gaps["isotropic"], 0.1,
                          source=f"{SOURCE} (penalty on w_j scales with ||X_:j||^2); 0.1 = a 10% change of the coefficients, several times the dropout-SGD noise floor (metric sgd_predicted_rms), so that training can tell the two apart; equal-scale control: difference {log.metrics['equal_scale_difference']:.1e}",
                          oracle="numpy closed forms", kind="check")

        self._plots(log, config, sol, scales, W, gd, sgd, floor)
        log.artifact("data_solutions", X=X, X0=X0, scales=scales, y=y, w_true=w_true, keep_prob=p, lam=lam, w_dropout=w_star, w_ols=sol["ols"],
                     w_isotropic=sol["isotropic"], alpha_isotropic=alpha_iso, w_gd=w_gd, w_sgd_final=sgd.params["w"], w_sgd_window_mean=W.mean(0),
                     masks_generator_seed=mask_seed, sgd_lr=lr_sgd, gd_lr=config.gd_lr / h[-1])

    @staticmethod
    def _monte_carlo(config: Config, log: RunLog, X: np.ndarray, y: np.ndarray, scales: np.ndarray) -> None:
        n, d, p = config.samples, config.features, config.keep_prob
        gm = log.generator("mc")
        Xt, yt = torch.from_numpy(X).to(log.device), torch.from_numpy(y).to(log.device)
        points = log.rng("mc-points").standard_normal((config.mc_points, d)) / scales
        fig, axes = figure(config.mc_points, squeeze=False)
        z, z_iso, arrays = [], [], {}
        for k, w in enumerate(points):
            wt = torch.from_numpy(w).to(log.device)

            def chunk(size, wt=wt):  # 0/1 masks (the paper's parametrization), one per sample
                R = bernoulli_mask((size, n, d), keep_prob=p, generator=gm, scale=False)
                return ((yt - (R * Xt) @ wt) ** 2).sum(1)

            samples = draw_in_chunks(chunk, config.mc_samples, chunk=max(1, 2_000_000 // (n * d)))
            mean, se = mean_and_se(samples)
            formula = expected_dropout_loss(X, y, w, keep_prob=p)
            alternative = expected_dropout_loss(X, y, w, keep_prob=p, isotropic=True)
            z.append(abs(mean - formula) / se)
            z_iso.append(abs(mean - alternative) / se)
            arrays.update({f"w_{k}": w, f"mc_mean_{k}": mean, f"mc_se_{k}": se, f"formula_{k}": formula, f"isotropic_formula_{k}": alternative})
            _running_mean_plot(axes[0, k], samples.cpu().numpy(), formula, alternative, float(((y - p * X @ w) ** 2).sum()), title=f"random w #{k + 1}", legend=k == 0)
        log.figure("monte_carlo", fig)
        log.artifact("monte_carlo", keep_prob=p, num_samples=config.mc_samples, mc_generator_seed=gm.initial_seed(), **arrays)
        log.claim_less("mc_formula", f"E_R ||y - (R*X) w||^2 = ||y - pXw||^2 + p(1-p)||Gamma w||^2 at {config.mc_points} random w: max |MC mean - formula| / SE over {config.mc_samples} masks each",
                       max(z), SE_THRESHOLD, source=f"{SOURCE}; 4-SE two-sided test fixed in advance", oracle="closed-form expectation over Bernoulli masks")
        log.claim_greater("mc_isotropic_rejected", "the isotropic regularizer p(1-p) mean_j(||X_:j||^2) ||w||^2 is rejected by the same test: min |MC mean - isotropic formula| / SE",
                          min(z_iso), SE_THRESHOLD, source=f"{SOURCE} (the penalty is weighted by diag(X^T X): data-dependent)", oracle="closed form with an isotropic penalty")

    @staticmethod
    def _plots(log: RunLog, config: Config, sol: dict, scales: np.ndarray, W: np.ndarray, gd, sgd, floor: float) -> None:
        d = config.features
        fig, axes = figure(2, width=5.0)
        styles = {"ols": dict(marker="o", color=PALETTE[5], label="least squares"),
                  "isotropic": dict(marker="s", color=PALETTE[1], label="isotropic ridge (matched penalty)")}
        for ax, weight, ylabel in ((axes[0], np.ones(d), r"coefficient $w_j$"), (axes[1], scales, r"standardized coefficient $s_j w_j$")):
            ax.plot(scales, weight * sol["dropout"], label="dropout ridge (closed form)", marker="_", markersize=14, **THEORY)
            for k, style in styles.items():
                ax.plot(scales, weight * sol[k], linestyle="none", markerfacecolor="none", **style)
            ax.errorbar(scales, weight * W.mean(0), yerr=weight * W.std(0), fmt="x", color=PALETTE[0], capsize=3, label="dropout-SGD (window mean +- std)")
            ax.axhline(0, color="#bbbbbb", linewidth=0.8)
            ax.set(xscale="log", xlabel=r"feature scale $s_j = \|X_{:j}\| / \sqrt{n}$", ylabel=ylabel)
        axes[0].set_title("coefficients")
        axes[1].set_title("coefficients of the standardized features")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4)
        log.figure("coefficients", fig)

        fig, axes = figure(2, width=5.0)
        for k, label in (("dropout", "dropout ridge w*"), ("ols", "least squares"), ("isotropic", "isotropic ridge")):
            s, v = gd.history[f"to_{k}"]
            axes[0].plot(np.maximum(s, 1), np.maximum(v, 1e-17), label=label)
            s, v = sgd.history[f"to_{k}"]
            axes[1].plot(np.maximum(s, 1), v, linewidth=0.9, label=label)
        axes[0].axhline(1e-8, label="claim threshold 1e-8", **THEORY)
        axes[0].set(xscale="log", yscale="log", xlabel="step", ylabel=r"$\|w_t - w\| / \|w^*\|$", title="GD on the expected dropout loss")
        axes[1].axhline(floor, label="predicted SGD noise floor", **THEORY)
        axes[1].axvspan(config.sgd_steps // 2, config.sgd_steps, color="#eeeeee", zorder=0, label="measurement window")
        axes[1].set(xscale="log", yscale="log", xlabel="step", ylabel=r"$\|w_t - w\| / \|w^*\|$", title="dropout-SGD (fresh masks each step)")
        for ax in axes:
            ax.legend(fontsize=8, title="distance to", title_fontsize=8)
        log.figure("convergence", fig)


def _running_mean_plot(ax, x: np.ndarray, formula: float, alternative: float, no_dropout: float, *, title: str, legend: bool) -> None:
    """Running MC mean +- 4 SE against the formula, the isotropic variant and the loss without the penalty."""
    ns, run_mean, run_se = running_mean_and_se(x)
    ax.fill_between(ns, run_mean - SE_THRESHOLD * run_se, run_mean + SE_THRESHOLD * run_se, alpha=0.25, label=r"MC mean $\pm$ 4 SE")
    ax.plot(ns, run_mean, label="MC mean over masks")
    ax.axhline(formula, label=r"$\|y-pXw\|^2 + p(1-p)\|\Gamma w\|^2$", **THEORY)
    ax.axhline(alternative, color=PALETTE[1], linewidth=1.0, linestyle="-.", label="isotropic penalty")
    ax.axhline(no_dropout, color=PALETTE[5], linewidth=1.0, linestyle=":", label=r"$\|y-pXw\|^2$ (no penalty)")
    levels = [formula, alternative, no_dropout]
    pad = 0.15 * (max(levels) - min(levels))
    ax.set_ylim(min(levels) - pad, max(levels) + pad)
    ax.set(xscale="log", xlabel="number of masks", ylabel=r"$\|y - (R*X)w\|^2$", title=title)
    if legend:
        ax.legend(fontsize=8, loc="center right")
