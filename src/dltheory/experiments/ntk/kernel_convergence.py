r"""The empirical NTK converges to its infinite-width limit as m^(-1/2) and moves less in training the wider the net (Jacot et al. 2018).

Setup (Jacot, Gabriel, Hongler, NeurIPS 2018, Sec. 6 and Fig. 1): ``num_points`` inputs on the unit circle,
:math:`x = (\cos\gamma, \sin\gamma)`, and fully connected ReLU networks with ``depth`` hidden layers of width m in
the NTK parameterization (:func:`dltheory.models.ntk.ntk_mlp`: N(0, 1) weights, each layer scaled by
:math:`\sigma_w/\sqrt{n_{in}}`, bias :math:`\sigma_b = 0.1` as the paper's :math:`\beta`), for m in ``widths``,
``draws`` independent initializations each. The analytic limit :math:`\Theta^\infty` is the closed-form
recursion of :func:`dltheory.probes.ntk.fc_kernels` (arc-cosine expectations), a code path that shares
nothing with the empirical kernel (:func:`dltheory.probes.ntk.empirical_ntk`, per-example Jacobians).

Theory. Jacot et al., Thm 1: at initialization :math:`\Theta^{(m)} \to \Theta^\infty` as the widths grow;
the fluctuations are Gaussian of order :math:`m^{-1/2}` (Hanin & Nica 2020: variance ~ depth / width), the
mean's bias of order 1/m, so the relative error :math:`\|\Theta^{(m)} - \Theta^\infty\|_F / \|\Theta^\infty\|_F`
falls like :math:`m^{-1/2}`. Thm 2 (and Lee et al. 2019, Thm 2.1): under gradient descent on the squared loss
with a width-independent step, :math:`\sup_t\|\Theta_t - \Theta_0\| = O(m^{-1/2})`: the kernel stays at its
initial value in the limit. Each net is trained by ``steps`` full-batch gradient-descent steps of size
``lr`` on the squared loss to the target :math:`\sin(3\gamma)` through the one training loop.

Claims (fixed before running). Slopes are least-squares slopes of log quantity against log m, over the
widths, of the root mean square over the draws:

1. ``init_error_slope`` (main): the slope of the relative error at initialization lies in
   [-0.75, -0.25] (-1/2 +- 1/4: the band separates the m^(-1/2) law from no convergence, slope 0, and
   from a pure 1/m bias, slope -1, by half their distance);
2. ``kernel_change_slope``: the slope of the relative kernel change after training,
   :math:`\|\Theta_T - \Theta_0\|_F / \|\Theta_0\|_F`, is at most -1/2: the change falls at least as fast as
   Lee et al.'s bound :math:`O(m^{-1/2})`. (The sharper prediction is 1/m: Dyer & Gur-Ari, ICLR 2020, and
   Huang & Yau, ICML 2020, show :math:`d\Theta/dt = O(1/m)`; the measured slope, -0.7 to -0.8 at these
   widths, lies between. A first version claimed the band [-0.75, -0.25] around -1/2, reading the
   upper bound as the rate; seed 0 measured -0.79 and -0.76 and the claim was restated as the bound.)
3. ``trained``: every net reduces its training loss at least tenfold (the kernel has had something to do).

Negative control (tests/experiments/test_kernel_convergence.py): ``parameterization="standard"``:
PyTorch's default layers (uniform weights of scale :math:`1/\sqrt{n_{in}}`, the standard parameterization)
with the same step: the empirical kernel grows with width (the last layer's gradient sums m features)
and does not approach :math:`\Theta^\infty`: claim 1 fails.

Checked on (2026-12-04): quick preset (depth 2, m = 32, 128, 512, now 12 draws, 10 points), seeds 0, 1 and
400-419: every claim holds on every seed (init-error slope -0.62 to -0.42, kernel-change slope -0.84 to -0.63,
loss ratio <= 0.032). Changed size (depth 3, m = 64, 256, 1024, 12 points), seeds 900-904: every claim holds
on 5/5 (init-error slopes -0.66 to -0.46). History: with 3 draws per width (the first version) the slope of
the RMS error was itself noisy (-0.71 to -0.30 at quick) and claim 1 FAILED on seed 900 at the changed size
(-0.21); 6 draws fixed seed 900 but left seed 400 at -0.26 at quick; 12 draws give slopes within 0.12 of
the theory's -1/2 on every seed tried (the same seeds at 3/6/12 draws: 400 -0.38/-0.26/-0.47). Quick takes
about 4-7 s (shared machine).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field

from dltheory.core.params import functionalize
from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.core.stats import loglog_slope
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.mlp import mlp
from dltheory.models.ntk import ntk_mlp
from dltheory.probes.ntk import empirical_ntk, fc_kernels, kernel_distance
from dltheory.train.loop import train
from dltheory.train.optimizers import gd

SOURCE = "Jacot, Gabriel, Hongler 2018 (NeurIPS), Thms 1-2 and Fig. 1"



@register
class KernelConvergence(Experiment):
    """The empirical NTK of ReLU nets approaches the analytic kernel with error ~ m^(-1/2), and moves less in training the wider the net."""

    id = "ntk/kernel-convergence"
    lecture = 8
    title = "NTK convergence: empirical kernel -> analytic kernel as m^(-1/2); the kernel freezes in training as width grows"
    papers = ("jacot2018",)

    class Config(ExperimentConfig):
        num_points: int = Field(10, ge=2, le=1000, description="inputs on the unit circle (also the training set)")
        depth: int = Field(2, ge=1, le=10, description="hidden layers")
        widths: list[Annotated[int, Field(ge=1, le=16384)]] = Field([32, 128, 512], min_length=2, max_length=10, description="hidden widths m")
        draws: int = Field(12, ge=1, le=100, description="initializations per width")
        sigma_w: float = Field(1.0, gt=0, le=10, description="weight scale sigma_w")
        sigma_b: float = Field(0.1, ge=0, le=10, description="bias scale sigma_b (Jacot et al.'s beta)")
        lr_scale: float = Field(0.5, gt=0, le=1, description="gradient-descent step as a fraction of 2 / lambda_max of the analytic kernel's mean-loss Gram matrix (the same step for every width)")
        steps: int = Field(100, ge=0, le=100_000, description="gradient-descent steps")
        parameterization: Literal["ntk", "standard"] = Field("ntk", description="ntk: N(0,1) weights scaled by sigma_w/sqrt(fan_in); standard: PyTorch's default layers")

    presets = {
        "tiny": {"num_points": 4, "depth": 1, "widths": [16, 64], "draws": 1, "steps": 10},
        "quick": {},
        "full": {"num_points": 32, "depth": 4, "widths": [64, 128, 256, 512, 1024, 2048, 4096], "draws": 10, "steps": 1000},
    }

    def run(self, config: Config, log: RunLog) -> None:
        dtype = torch.float64
        gamma = torch.linspace(0, 2 * math.pi, config.num_points + 1, dtype=dtype, device=log.device)[:-1]
        X = torch.stack([gamma.cos(), gamma.sin()], 1)
        Y = torch.sin(3 * gamma)[:, None]
        _, T_inf = fc_kernels(X, depth=config.depth, activation="relu", sigma_w=config.sigma_w, sigma_b=config.sigma_b)
        T_inf = T_inf.to(log.device)
        lr = config.lr_scale * 2 / float(torch.linalg.eigvalsh(T_inf / config.num_points)[-1])  # the mean loss's curvature in function space is Theta / n
        log.metric("learning_rate", lr)
        err, change, drop, kernels = {}, {}, {}, {}
        for m in config.widths:
            e_m, c_m, d_m = [], [], []
            for d in range(config.draws):
                g = log.generator("init", m, d)
                sizes = [2, *[m] * config.depth, 1]
                if config.parameterization == "ntk":
                    net = ntk_mlp(sizes, activation="relu", sigma_w=config.sigma_w, sigma_b=config.sigma_b, generator=g, dtype=dtype)
                else:
                    net = mlp(sizes, activation="relu", generator=g, dtype=dtype)
                net = net.to(log.device)
                T0 = empirical_ntk(net, X)
                e_m.append(kernel_distance(T0, T_inf))
                fm = functionalize(net)

                def loss_fn(params, batch, fm=fm):
                    return 0.5 * ((fm(params, batch[0]) - batch[1]) ** 2).mean()

                res = train(loss_fn, fm.params, steps=config.steps, optimizer=gd(lr), data=(X, Y), description=f"m = {m}, draw {d + 1}",
                            progress=log.progress, record_every=max(1, config.steps // 20))
                T1 = empirical_ntk(net, X, params=res.params)
                c_m.append(kernel_distance(T1, T0))
                with torch.no_grad():
                    l0, l1 = float(loss_fn(fm.params, (X, Y))), float(loss_fn(res.params, (X, Y)))
                d_m.append(l1 / l0)
                if d == 0:
                    kernels[m] = (T0.cpu().numpy(), T1.cpu().numpy())
            err[m] = float(np.sqrt(np.mean(np.square(e_m))))
            change[m] = float(np.sqrt(np.mean(np.square(c_m))))
            drop[m] = max(d_m)
            log.scalar("init_relative_error", m, err[m])
            log.scalar("kernel_change", m, change[m])
            log.info(f"m={m}: relative error at init {err[m]:.4f}, kernel change {change[m]:.4f}, loss ratio {drop[m]:.3g}")
        ws = list(config.widths)
        s_err, s_change = loglog_slope(ws, [err[m] for m in ws]), loglog_slope(ws, [change[m] for m in ws])
        log.artifact("kernels", inputs=X, targets=Y, analytic_ntk=T_inf, widths=np.array(ws),
                     **{f"ntk_init_m{m}": k[0] for m, k in kernels.items()}, **{f"ntk_trained_m{m}": k[1] for m, k in kernels.items()})
        log.claim_between("init_error_slope", f"slope of log ||Theta_m - Theta_inf||_F / ||Theta_inf||_F against log m at init (m = {ws}; "
                          f"errors {', '.join(f'{err[m]:.3g}' for m in ws)})", s_err, -0.75, -0.25, source=SOURCE + " (Thm 1; fluctuations ~ m^-1/2)",
                          oracle="arc-cosine closed-form NTK recursion (fc_kernels)")
        log.claim_less("kernel_change_slope", f"slope of log ||Theta_T - Theta_0||_F / ||Theta_0||_F against log m after {config.steps} GD steps "
                       f"(changes {', '.join(f'{change[m]:.3g}' for m in ws)})", s_change, -0.5, source=SOURCE + " (Thm 2); Lee et al. 2019, Thm 2.1: O(m^-1/2)",
                       oracle="empirical NTK before and after training")
        log.claim_less("trained", "largest final / initial training loss over all nets", max(drop.values()), 0.1, source="the nets must train for claim 2 to mean anything",
                       oracle="mean squared loss")
        self._figure(log, ws, err, change, gamma.cpu().numpy(), T_inf.cpu().numpy(), kernels)

    @staticmethod
    def _figure(log: RunLog, ws, err, change, gamma, T_inf, kernels) -> None:
        fig, axes = figure(2, 1, width=4.3, height=3.3)
        ax = axes[0]
        for j, m in enumerate(ws):
            ax.plot(gamma, kernels[m][0][0], "o-", ms=3, color=PALETTE[j % len(PALETTE)], alpha=0.8, label=f"m = {m}, init")
            ax.plot(gamma, kernels[m][1][0], ":", color=PALETTE[j % len(PALETTE)], alpha=0.8)
        ax.plot(gamma, T_inf[0], **{**THEORY, "label": "infinite width"})
        ax.set(xlabel="angle gamma of x'", ylabel="Theta(x_0, x')", title="NTK on the circle (dotted: after training)")
        ax.legend(fontsize=7)
        ax = axes[1]
        ax.plot(ws, [err[m] for m in ws], "o-", color=PALETTE[0], label="error at init")
        ax.plot(ws, [change[m] for m in ws], "s-", color=PALETTE[1], label="change in training")
        ref = np.array(ws, dtype=float)
        ax.plot(ref, err[ws[0]] * np.sqrt(ref[0] / ref), **{**THEORY, "label": "m^(-1/2)"})
        ax.set(xscale="log", yscale="log", xlabel="width m", ylabel="relative Frobenius distance", title="convergence with width")
        ax.legend(fontsize=7)
        log.figure("ntk_convergence", fig)
