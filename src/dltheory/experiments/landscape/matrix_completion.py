r"""Positive semidefinite matrix completion has no spurious local minimum (Ge, Lee, Ma, NeurIPS 2016).

Problem: recover a rank-r PSD matrix :math:`M = U_\star U_\star^\top \in \mathbb R^{n\times n}`
(:func:`~dltheory.models.factorization.low_rank_matrix`, Gaussian factors, unit Frobenius norm)
from a symmetric set :math:`\Omega` of observed entries: ``EntrySample`` draws
:math:`\lceil p n^2\rceil` distinct entries uniformly and :math:`\Omega` is their union with the
transposes. Objective (Ge et al., eq. (1), without their row-norm regularizer):

.. math:: f(U) = \frac{1}{2\hat p}\,\|P_\Omega(UU^\top - M)\|_F^2,\qquad U \in \mathbb R^{n\times r},
          \quad \hat p = |\Omega|/n^2

(the :math:`1/\hat p` only rescales the step). GD's step is ``lr_fraction`` / :math:`L^\star`
with :math:`L^\star` a bound on the Hessian at the target (:func:`hessian_bound_at_target`):
GD is stable near M for a step below :math:`2/L^\star`. Theorem (Ge et al. 2016, Thm 2.3, with the
regularizer :math:`\lambda\sum_i(\|e_i^\top U\| - \alpha)_+^4` that keeps rows incoherent): when
:math:`p \ge \mathrm{poly}(\mu, r, \kappa)\log n / n`, with high probability every local minimum
of the (regularized) objective is global, :math:`UU^\top = M`, so gradient descent from a
random init succeeds. We use the plain objective, as the course simulation did. The theorem's
poly(mu, r, kappa) constant is not explicit, so claims 1-2 test its conclusion empirically, not a
verified instance of its hypothesis, at a rate well inside the benign regime: quick uses p = 0.5
(observed fraction ~0.74, against r log n / n = 0.23), for the reason below.

Why p = 0.5 and not 0.3 (diagnosed on quick, seed 113, and seed 1012): at p = 0.3 (observed
fraction ~0.5) 2 of 40 (M, Omega) draws had one init in 10 that never converges. On seed 113, init 7:
one row of U (row 4, whose diagonal entry is unobserved) grows steadily (norm 0.42 at step 200,
1.9 at step 3800, against max_i ||e_i^T U*|| = 0.42) while f decreases slowly (f = 0.018): GD follows
a descent path of the plain objective that runs off to infinity, with no stationary point on it
(gradient ratio 0.04 at 4000 steps, still moving at 20000). It is not the step: with 1/2 and 1/4 of
the step the iterate follows the same path in rescaled time. It is the failure the theorem's
row-norm regularizer is there to exclude, but adding it does not rescue this draw: with
:math:`\alpha = 2\max_i\|e_i^\top U_\star\|` and :math:`\lambda = 100\|\Omega - \hat pJ\|` (a
lambda in the explicit window of Chen & Li 2019, JMLR 20(142), Thm 2.1) GD from the same init
stops at the regularizer's wall in a certified spurious local minimum of the regularized objective
(f/f(0) = 0.046, relative error 1.03, gradient ratio 1e-14, Hessian eigenvalues >= 0 apart from
the rotation zero, the next one +0.025 of the largest); with alpha in Chen & Li's window
(>= 100 max_i ||e_i^T U*|| = 42) the regularizer is never active on any row GD reaches. So this
(M, Omega) draw is outside the theorem's "with high probability" at n = 30, p = 0.3: the sampling
rate was too low for the size, not the budget or the objective. At p = 0.5 all 10 inits of each of
seeds 1000-1079 (800 inits) recover M, in at most 900 steps; at p = 0.3 seeds 1000-1019 had one
failing draw (1012, an init at relative error 4.1 with a row blowing up, as on seed 113).

Stopping rule: GD stops once every init has :math:`f(U_s)/f(U_s(0)) \le` ``loss_tol`` = 1e-20
(``steps`` is only a cap), i.e. the observed entries are fit to :math:`\|P_\Omega(UU^\top - M)\|_F \le
10^{-10}\|P_\Omega(M)\|_F` (the init is tiny). The rule reads f only, never M off :math:`\Omega`. A fixed
budget was not robust: inits that start near the saddle at 0 escape slowly, and one of 10 inits had
relative error 1.3e-7 after 2000 steps (seed 1001). Claims at the sampling rate ``p`` (every
init is checked):

1. every run reaches a global minimum: :math:`\|UU^\top - M\|_F/\|M\|_F < 10^{-6}`. With the
   stopping rule, error on the observed entries is 1e-10; at an identifiable p the unobserved ones
   follow within the sampling operator's restricted conditioning, so 1e-6 leaves a factor 1e4,
   while a spurious local minimum (f > 0, GD runs to the cap) or a non-identifiable mask gives
   errors of order 0.1-1;
2. checks (they follow from f ~ 0 at the limit, a global minimum): the gradient vanishes (relative
   to the gradient at init, < 1e-6) and the dense Hessian (``dense_hessian`` + ``eigvalsh``) is
   PSD: its smallest eigenvalue over its largest is > -1e-6. (It has :math:`r(r-1)/2` zero
   eigenvalues from the rotations :math:`U \mapsto UR`, so "PSD up to rounding" is the strongest
   statement possible.)

At the low rate ``p_low`` (fewer observed entries than n r log n, the information-theoretic
lower bound of Candes & Tao 2010) the completion is not identifiable: some row of M has fewer
than r observed entries (coupon collector), so that row of U is pinned down by fewer than r
equations and a continuum of global minima of f exists (the oracle counts these rows); a row
with no observed entry gets no gradient at all and stays at its init. So:

3. rows with < r observed entries exist (``low_p_not_identifiable``);
4. most inits fail to recover M: the fraction of inits with relative error > 1e-2 is >= 0.9
   (``low_p_recovery_fails``).

GD usually still drives f to ~0 there, landing on a different global minimum for each init,
but this is empirical, far below Thm 2.3's sampling rate, and not robust in a fixed budget: a row
whose only observation is a small diagonal entry M_ii escapes the small init at a rate ~ M_ii,
so f(U)/f(U0) after 2000 steps ranged 2e-7 .. 1.4e-4 over seeds. It is the metric
``low_p_max_loss_ratio``, not a claim.

Oracles: the ground-truth M (claims 1, 4), ``dense_hessian`` + ``eigvalsh`` (claim 2, PSD), the
observed-entry count per row (claim 3); the stationarity claim has none (it is the gradient of
the training objective). Negative control (tests/experiments/test_matrix_completion.py): the
same small instance (n = 12, r = 2) with too few observed entries (p = 0.03: rows with no observed
entry): the main claim ``all_inits_global`` fails (relative error > 1e-2), while at p = 0.5 every claim
holds (``test_small_completion_recovers_every_init``).

Checked on: quick preset (p = 0.5), seeds 100-119 and 200-219: all claims hold on all 40
(all_inits_global max 1.8e-10); p-part alone (claims 1-2) on seeds 1000-1079, 800 inits, all
recover M; n = 50, rank 3, seeds 1000-1009: all claims hold (all_inits_global max 1.6e-10).
Before the change (p = 0.3) seed 113 of 100-119 and seed 1012 of 1000-1019 failed
all_inits_global (relative error 3.47 and 4.06), as described above. The quick preset has no
``p_sweep`` (it only feeds a figure; the full preset
keeps it), which keeps it fast.

Between the two regimes (the ``p_sweep`` figure) GD from many inits ends at points with
:math:`f > 0`: with n = 100, r = 5, p = 0.08 (15% observed) 3 of 4 inits stopped at relative
error 0.41 with gradient 2e-9 and a PSD Hessian (smallest eigenvalue -4e-11 of the largest,
the 10 rotation zeros), i.e. spurious local minima of the plain objective. The theorem's
sample size is only sufficient; below it such minima do appear.

All seeds are trained together: the parameter is a stack of S factors :math:`U_s` and the loss
the sum of the S independent objectives, so one GD step is S independent GD steps.
"""

from __future__ import annotations

import math
from typing import Annotated

import matplotlib.ticker
import numpy as np
import torch
from pydantic import Field

from dltheory.core import functionalize
from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.factorization import DeepFactorization, EntrySample, low_rank_matrix
from dltheory.probes.curvature import dense_hessian
from dltheory.train import Callback, StopTraining, train

SOURCE = "Ge, Lee, Ma 2016, Thm 2.3"
SOURCE_LOWER = "Candes & Tao 2010 (IEEE Trans. Inf. Theory), information-theoretic lower bound: ~ n r log n observed entries are necessary"


def symmetric_mask(p: float, n: int, *, generator: torch.Generator) -> torch.Tensor:
    r"""0/1 mask of :math:`\Omega = S \cup S^\top`, S = ``EntrySample`` of :math:`\lceil p n^2\rceil` distinct entries, (n, n)."""
    num = min(n * n, max(1, math.ceil(p * n * n)))
    S = EntrySample.sample(num, (n, n), generator=generator).mask()
    return torch.clamp(S + S.T, max=1.0)


def hessian_bound_at_target(M: torch.Tensor, mask: torch.Tensor) -> float:
    r""":math:`L^\star = \frac{4}{\hat p}\max_j \sum_{i:(i,j)\in\Omega} M_{ii} \ge \lambda_{\max}(\nabla^2 f(U_\star))`.

    At :math:`UU^\top = M` the Hessian is the Gauss-Newton term :math:`\frac1{\hat p}\|P_\Omega(UV^\top + VU^\top)\|_F^2`
    and :math:`\sum_\Omega (u_i^\top v_j + v_i^\top u_j)^2 \le 4\sum_j \|v_j\|^2 \sum_{i\in\Omega_j}\|u_i\|^2`
    with :math:`\|u_i\|^2 = M_{ii}` (Cauchy-Schwarz, symmetric :math:`\Omega`). Cost O(n^2).
    """
    p_hat = float(mask.mean())
    return 4.0 / p_hat * float((mask * torch.diagonal(M)[:, None]).sum(0).max())


def underdetermined_rows(mask: torch.Tensor, rank: int) -> int:
    """Rows with fewer than ``rank`` observed entries: each leaves its row of U under-determined
    (fewer equations than the r unknowns of that row), so the completion is not unique."""
    return int(((mask.sum(1)) < rank).sum())


@register
class MatrixCompletion(Experiment):
    """PSD matrix completion f(U) = ||P_Omega(UU^T - M)||^2: every random init reaches a global minimum; with too few samples M is not identifiable."""

    id = "landscape/matrix-completion"
    lecture = 4
    title = "Matrix completion has no spurious local minimum: GD from every random init completes M"
    papers = ("ge2016",)

    class Config(ExperimentConfig):
        n: int = Field(30, ge=4, le=400, description="matrix size n (M is n x n)")
        rank: int = Field(2, ge=1, le=20, description="rank r of M = U* U*^T (and width of U)")
        p: float = Field(0.5, gt=0, le=1, description="sampling rate: ceil(p n^2) entries drawn, then symmetrized (0.5: at 0.3, n = 30, 2 of 40 draws trap an init; see the docstring)")
        p_low: float = Field(0.03, gt=0, le=1, description="a sampling rate below the identifiability threshold")
        seeds: int = Field(10, ge=1, le=100, description="random initializations per sampling rate")
        init_scale: float = Field(0.1, gt=0, le=10, description="entries of U(0) are N(0, init_scale^2 / n) (<= 10: the step is set by the curvature at M, and a much larger U(0) makes GD diverge)")
        lr_fraction: float = Field(1.0, gt=0, lt=2, description="GD step = lr_fraction / L*, L* a bound on the Hessian's top eigenvalue at M")
        steps: int = Field(4000, ge=1, le=10_000_000, description="cap on the GD steps (GD stops earlier once every init has f(U)/f(U0) <= loss_tol)")
        loss_tol: float = Field(1e-20, gt=0, lt=1, description="stopping rule: f(U_s)/f(U_s(0)) <= loss_tol for every init s (checked every record_every steps)")
        p_sweep: list[Annotated[float, Field(gt=0, le=1)]] = Field([], max_length=32, description="extra sampling rates for the outcome-vs-p figure (no claims)")
        record_every: int = Field(20, ge=1, le=100_000, description="steps between error evaluations")

    presets = {
        "tiny": {"n": 10, "rank": 1, "seeds": 2, "steps": 200},
        "quick": {},
        "full": {"n": 100, "rank": 5, "p": 0.2, "p_low": 0.01, "seeds": 20, "steps": 6000, "record_every": 50,
                 "p_sweep": [0.02, 0.03, 0.04, 0.06, 0.08, 0.12]},
    }

    def run(self, config: Config, log: RunLog) -> None:
        n, r = config.n, config.rank
        if r > n:
            raise ValueError(f"`rank` must be <= n = {n}; got {r}.")
        M = low_rank_matrix((n, n), r, generator=log.generator("target"), symmetric_psd=True)
        results = {}
        for tag, p in (("p", config.p), ("p_low", config.p_low)):
            mask = symmetric_mask(p, n, generator=log.generator("mask", tag))
            results[tag] = self._complete(config, log, M, mask, tag)
            res = results[tag]
            log.metric(f"{tag}_observed_fraction", float(mask.mean()))
            log.metric(f"{tag}_underdetermined_rows", res["bad_rows"])
            log.metric(f"{tag}_recovered", int((res["err"] < 1e-6).sum()))
            log.metric(f"{tag}_median_rel_error", float(np.median(res["err"])))
            log.metric(f"{tag}_gd_steps", res["steps"])
        sweep = {}
        for p in sorted({config.p, config.p_low, *config.p_sweep}):
            if p in (config.p, config.p_low):
                res = results["p" if p == config.p else "p_low"]
            else:
                res = self._complete(config, log, M, symmetric_mask(p, n, generator=log.generator("mask", "sweep", str(p))), f"sweep {p:g}")
            ok, global_min = res["err"] < 1e-6, res["loss_ratio"] < 1e-8
            sweep[p] = {"observed": float(res["mask"].mean()), "recovered": float(ok.mean()), "global_not_M": float((global_min & ~ok).mean()), "stuck": float((~global_min).mean()),
                        "bad_rows": res["bad_rows"]}
            for k in ("recovered", "global_not_M", "stuck"):
                log.scalar(f"sweep_{k}", p, sweep[p][k])
            log.info(f"p={p:g}: observed {float(res['mask'].mean()):.3f}, rows with < r obs {res['bad_rows']}, {sweep[p]}, errors {np.array2string(res['err'], precision=2)}")
        hi, lo = results["p"], results["p_low"]
        S = config.seeds
        log.artifact("data_params", M=M, mask=hi["mask"], mask_low=lo["mask"], U_final=hi["U"], U_final_low=lo["U"], U_init=hi["U0"],
                     rel_error=hi["err"], rel_error_low=lo["err"], hessian_eigenvalues=hi["eigs"])
        log.claim_less("all_inits_global", f"p={config.p:g}: every one of {S} random inits reaches a global minimum: max relative error ||UU^T - M||_F/||M||_F",
                       float(hi["err"].max()), 1e-6, source=SOURCE + " (no spurious local minima, so GD from random init converges to M; its poly(mu, r, kappa) sampling constant is not explicit: tested empirically)",
                       oracle="ground-truth M")
        log.claim_less("stationary", f"p={config.p:g}: the limit is a stationary point: max_s ||grad f(U_s)|| / ||grad f(U_s(0))||", float(hi["grad_ratio"].max()), 1e-6,
                       source=SOURCE + " (first-order condition at a minimum)", oracle="none (the gradient of the training objective)", kind="check")
        log.claim_greater("hessian_psd", f"p={config.p:g}: the Hessian at the limit is PSD (rotations give zero eigenvalues): min_s lambda_min / lambda_max",
                          float((hi["eig_min"] / hi["eig_max"]).min()), -1e-6, source=SOURCE + " (second-order condition at a local minimum)",
                          oracle="dense_hessian + torch.linalg.eigvalsh", kind="check")
        # metric, not a claim: p_low is far below Thm 2.3's sampling rate, and f -> 0 there is empirical; rows whose only
        # observation is a small diagonal entry escape the small init slowly, so f(U)/f(U0) after a fixed budget ranged 2e-7..1.4e-4
        log.metric("low_p_max_loss_ratio", float(lo["loss_ratio"].max()))
        log.claim_greater("low_p_not_identifiable", f"p={config.p_low:g} ({int(lo['mask'].sum())} observed entries, below n r log n = {n * r * math.log(n):.0f}): "
                          "rows of M with fewer than r observed entries (then the completion is not unique)",
                          float(lo["bad_rows"]), 0.0, source=SOURCE_LOWER + " (coupon collector: with fewer samples some row is under-observed)",
                          oracle="observed-entry count per row")
        log.claim_greater("low_p_recovery_fails", f"p={config.p_low:g}: fraction of inits that do NOT recover M (relative error > 1e-2)",
                          float((lo["err"] > 1e-2).mean()), 0.9 - 1e-12, source=SOURCE_LOWER + " (P_Omega(M) does not determine M: each init lands on a different global minimum of f)",
                          oracle="ground-truth M")
        self._figures(log, config, results, sweep)

    @staticmethod
    def _complete(config, log: RunLog, M: torch.Tensor, mask: torch.Tensor, tag: str) -> dict:
        n, r, S = config.n, config.rank, config.seeds
        U0 = torch.stack([functionalize(DeepFactorization((n, n), symmetric=True, width=r, init_scale=config.init_scale / n**0.5,
                                                          generator=log.generator("init", tag, s))).params["U"] for s in range(S)])  # (S, n, r)
        p_hat = float(mask.mean())
        m_norm = float(torch.linalg.norm(M))

        def f_each(U: torch.Tensor) -> torch.Tensor:  # (S,) objectives
            R = mask * (U @ U.transpose(-1, -2) - M)
            return 0.5 / p_hat * (R * R).sum((-1, -2))

        def loss(params, batch):
            return f_each(params["U"]).sum()  # independent objectives: GD on the sum = GD on each

        def errors(info):
            U = info.params["U"]
            err = torch.linalg.norm(U @ U.transpose(-1, -2) - M, dim=(-1, -2)) / m_norm
            return {f"rel_error_{s}": float(e) for s, e in enumerate(err)}

        with torch.no_grad():
            f0 = f_each(U0)

        def converged(info):  # the stopping rule reads the training objective only, never M off Omega
            ratio = float((f_each(info.params["U"]) / f0).max())
            if ratio <= config.loss_tol:
                raise StopTraining
            return {"max_loss_ratio": ratio}

        lr = config.lr_fraction / hessian_bound_at_target(M, mask)
        res = train(loss, {"U": U0}, steps=config.steps, lr=lr, callbacks=[Callback(errors, every=config.record_every), Callback(converged, every=config.record_every)],
                    record_every=config.record_every, description=f"GD, {tag}", progress=log.progress)
        U = res.params["U"]
        err = torch.linalg.norm(U @ U.transpose(-1, -2) - M, dim=(-1, -2)).cpu().numpy() / m_norm
        grads0 = [torch.func.grad(lambda u: f_each(u[None])[0])(U0[s]) for s in range(S)]
        grads = [torch.func.grad(lambda u: f_each(u[None])[0])(U[s]) for s in range(S)]
        eigs = np.zeros((S, n * r))
        if tag == "p":
            for s in range(S):
                eigs[s] = torch.linalg.eigvalsh(dense_hessian(lambda q: f_each(q["U"][None])[0], {"U": U[s]})).cpu().numpy()
        with torch.no_grad():
            loss_ratio = (f_each(U) / f_each(U0)).cpu().numpy()
        curves = {s: res.history[f"rel_error_{s}"] for s in range(S)}
        return {"U": U, "U0": U0, "mask": mask, "err": err, "loss_ratio": loss_ratio, "bad_rows": underdetermined_rows(mask, r),
                "grad_ratio": np.array([float(torch.linalg.norm(g) / torch.linalg.norm(g0)) for g, g0 in zip(grads, grads0, strict=True)]),
                "eigs": eigs, "eig_min": eigs[:, 0], "eig_max": eigs[:, -1], "curves": curves,
                "steps": int(res.history["max_loss_ratio"][0][-1])}

    @staticmethod
    def _figures(log: RunLog, config, results: dict, sweep: dict) -> None:
        fig, axes = figure(2, 1, width=4.8, height=3.6, sharey=True)
        for ax, (tag, p) in zip(axes, (("p", config.p), ("p_low", config.p_low)), strict=True):
            res = results[tag]
            for s, (st, e) in res["curves"].items():
                ax.plot(st, e, color=PALETTE[0] if tag == "p" else PALETTE[1], alpha=0.6, linewidth=1.2, label=f"{len(res['curves'])} random inits" if s == 0 else None)
            ax.axhline(1e-6, **THEORY, label="global-minimum threshold 1e-6")
            ax.set(yscale="log", xlabel="GD step", title=f"p = {p:g}: {int((res['err'] < 1e-6).sum())}/{len(res['err'])} recover M"
                   + ("" if tag == "p" else f" ({res['bad_rows']} rows with < r obs.)"))
            ax.legend(fontsize=8)
        axes[0].set_ylabel("||UU^T - M||_F / ||M||_F")
        log.figure("error_vs_steps", fig)
        fig, axes = figure(2, 1, width=4.6, height=3.4)
        hi, lo = results["p"], results["p_low"]
        bins = np.logspace(np.log10(max(min(hi["err"].min(), lo["err"].min()), 1e-16)) - 0.5, np.log10(max(hi["err"].max(), lo["err"].max())) + 0.5, 30)
        axes[0].hist(hi["err"], bins=bins, color=PALETTE[0], alpha=0.8, label=f"p = {config.p:g}")
        axes[0].hist(lo["err"], bins=bins, color=PALETTE[1], alpha=0.8, label=f"p = {config.p_low:g}")
        axes[0].axvline(1e-6, **THEORY, label="1e-6")
        axes[0].set(xscale="log", xlabel="final relative error", ylabel="number of inits", title="Final errors over random inits")
        axes[0].legend(fontsize=8)
        for s, e in enumerate(hi["eigs"]):
            rel, idx = e / e[-1], np.arange(1, len(e) + 1)
            axes[1].plot(idx, np.maximum(np.abs(rel), 1e-18), color=PALETTE[0], alpha=0.5, linewidth=1.0, label="|eigenvalue|, each init" if s == 0 else None)
            neg = rel < 0
            axes[1].plot(idx[neg], np.maximum(-rel[neg], 1e-18), "x", color=PALETTE[1], label="negative ones" if s == 0 and neg.any() else None)
        axes[1].axhline(1e-6, **THEORY, label="tolerance for negative ones")
        axes[1].set(xscale="log", yscale="log", xlabel="eigenvalue index (ascending)", ylabel="|eigenvalue| / lambda_max",
                    title=f"Hessian spectrum at the limit (p = {config.p:g})")
        axes[1].legend(fontsize=8)
        log.figure("final_errors_and_hessian", fig)
        if len(sweep) > 1:
            fig, ax = figure(1, 1, width=5.2, height=3.8)
            ps = sorted(sweep)
            obs = [sweep[p]["observed"] for p in ps]
            for k, label, c in (("recovered", "recovers M (error < 1e-6)", PALETTE[0]), ("global_not_M", "f = 0 but not M (non-identifiable)", PALETTE[1]),
                                ("stuck", "stuck at f > 0 (spurious local min. or slow)", PALETTE[3])):
                ax.plot(obs, [sweep[p][k] for p in ps], "o-", color=c, label=label)
            ax.axvline(config.rank * math.log(config.n) / config.n, **THEORY, label="r log(n) / n")
            ax.set(xscale="log", xlabel="observed fraction |Omega| / n^2", ylabel="fraction of random inits", ylim=(-0.05, 1.05),
                   title=f"What GD reaches, n = {config.n}, r = {config.rank}")
            ax.set_xticks(obs, [f"{o:.2f}" for o in obs], minor=False)
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
            log.figure("recovery_vs_p", fig)
