r"""With corrupted labels, distance-to-init (RDI) or auxiliary-variable (AUX) regularization turns a wide net into kernel ridge regression and keeps it from fitting the noise; plain GD fits it (Hu, Li, Yu 2020).

Setup (Hu, Li, Yu, ICLR 2020, Secs. 3-5, two-layer ReLU nets in the NTK regime): ``num_train`` training images of the
bundled scikit-learn digits (or MNIST from ``data_root``; the test set is every image after them), centred by the
training mean and projected onto the sphere of radius :math:`\sqrt d`, with the binary target :math:`y = +1` for even
digits and :math:`-1` for odd ones. Each training label is flipped with probability ``noise`` (:math:`\tilde y_i = -y_i`);
the test labels stay clean. The net is a two-layer ReLU net of width m in the NTK parameterization
(:func:`dltheory.models.ntk.ntk_mlp`) with the antisymmetric ("doubling") initialization: the second half of the hidden
units copies the first, with opposite output weights, and the output bias starts at 0, so that :math:`f_0 \equiv 0`
while the empirical NTK keeps its O(1) scale (a random :math:`f_0` of NNGP size would add a prior sample to every
prediction and double the clean test error at this sample size). With :math:`\hat\Theta` the empirical NTK at
initialization, four nets start from the same :math:`\theta_0` and are trained on the sum of squares through the one
training loop:

* ``clean``: :math:`\tfrac12\sum_i (f(x_i) - y_i)^2` on the clean labels (the reference);
* ``plain``: :math:`\tfrac12\sum_i (f(x_i) - \tilde y_i)^2`, no regularization;
* ``rdi``: :math:`\tfrac12\sum_i (f(x_i) - \tilde y_i)^2 + \tfrac{\lambda^2}{2}\|\theta - \theta_0\|^2` (regularization by distance to initialization);
* ``aux``: :math:`\tfrac12\sum_i (f(x_i) + \lambda b_i - \tilde y_i)^2` with one trainable auxiliary variable :math:`b_i` per training
  example, :math:`b = 0` at the start (the test outputs are the net's alone).

The ridge is :math:`\lambda^2 =` ``ridge_scale`` :math:`\cdot\operatorname{mean}_i\hat\Theta(x_i, x_i)` (a multiple of the kernel's own
scale). The optimizer is full-batch heavy-ball momentum (:math:`\beta = 0.9`) with the step
``lr_scale`` :math:`/\lambda_{\max}(\hat\Theta + \lambda^2 I)` for the regularized objectives and
``lr_scale`` :math:`/\lambda_{\max}(\hat\Theta)` for the plain ones: plain GD's slowest mode, :math:`\lambda_{\min}(\hat\Theta)/\lambda_{\max}
\approx 10^{-3}` on 200 digits, needs tens of thousands of plain GD steps to interpolate; momentum reaches the same limit
(the iterates of a linear model stay in :math:`\theta_0` + the row space of the Jacobian, so the limit is the same
minimum-norm interpolant, and the regularized objectives have a unique minimizer) in a few hundred.

Theory. Hu et al., Sec. 5 (Thm 5.1 and the equivalence results it rests on): for a linear(ized) model, gradient descent on
the AUX objective and on the RDI objective both converge to kernel ridge regression with the NTK and ridge
:math:`\lambda^2`, and a wide net (in the NTK regime) tracks its linearization, so

.. math:: f_\infty(x) = f_0(x) + \hat\Theta(x, X)\,(\hat\Theta(X, X) + \lambda^2 I)^{-1}\,(\tilde y - f_0(X)),

with an error that vanishes with width (Lee et al. 2019, Thm 2.1: :math:`O(m^{-1/2})`). Plain gradient descent to
convergence gives the same formula with :math:`\lambda = 0`: it interpolates the noisy labels. Since
:math:`\mathbb E[\tilde y\mid x] = (1 - 2p)\,y` keeps the sign of y, a ridge that averages over neighbouring examples
cancels most flips; their Thm 6.1 bounds the regularized net's clean test error by a quantity comparable to the
clean-label bound, while an interpolant carries every flip into the test set near it.

Claims (fixed before running; errors are 0-1 errors of sign f on the clean test labels):

1. ``noise_fitted``: plain GD fits the noise: sign f agrees with the flipped label on at least 90% of the flipped training
   examples (the brief's "near interpolation": a net that memorizes almost every corrupted label).
2. ``noise_hurts_plain``: plain GD's test error exceeds the clean-label net's by more than two standard errors of the
   paired difference (McNemar: :math:`\sqrt{b + c}/N` with b, c the test points where exactly one of the two errs):
   fitting the noise costs test accuracy beyond the test set's sampling noise.
3. ``regularized_beats_plain`` (main): the worse of RDI and AUX has a test error below plain GD's by more than two
   paired standard errors (same statistic): the regularization removes a measurable part of the damage.
4. ``below_noise_rate``: the worse of RDI and AUX has a test error below the training label noise rate p. The threshold
   is the paper's own yardstick (Sec. 1: early stopping's "test error is much smaller than the error rate in training
   data" is what needs explaining; RDI and AUX are offered as its analysable alternatives).
5. ``matches_krr``: the trained RDI and AUX nets' test outputs agree with kernel ridge regression (empirical NTK at init,
   ridge :math:`\lambda^2`, :math:`f_0` offset; :func:`dltheory.probes.ntk.kernel_regression`) within the relative error
   :math:`\|f_{net} - f_{KRR}\| / \|f_{KRR} - f_0\| \le m^{-1/2}`: Lee et al.'s :math:`O(m^{-1/2})` rate with unit constant,
   a tolerance that shrinks with width (not fitted: no run was made to choose it).

Check (``kind="check"``): :func:`dltheory.probes.ntk.kernel_regression` (a Cholesky solve in torch) equals the closed form
:math:`\hat\Theta_{*X}(\hat\Theta + \lambda^2 I)^{-1}\tilde y` computed by ``scipy.linalg.solve`` on the same kernel to 1e-8 relative.

Negative control (tests/experiments/test_noisy_labels.py): ``ridge_scale = 0`` (no regularization): RDI and AUX are
plain GD (AUX's variables have no effect with :math:`\lambda = 0`), the noise is fitted and claim 3 fails.

Setup history (honest record). The first prototype drew a random :math:`f_0` (standard NTK initialization): the clean
KRR test error on 200 digits was 0.17 instead of 0.08, and the regularized net's error stayed at plain GD's; the
antisymmetric initialization was adopted. Before the claims were written, the infinite-width NTK (``fc_kernels``) was
used to look at kernel ridge regression over seeds 400-419 on 150-300 examples, p = 0.2, 0.3 and
:math:`\lambda^2` of 1, 3, 10 times the mean diagonal: the ridge removes about half (0.4-0.55 on average, 0.2 at the
worst seed) of the test error the noise adds, never all of it, on this small set. A first claim design, "RDI within p/2
of clean and plain beyond p/2", separated the averages but not every seed, and was replaced by claims 2-4 above
(paired significance and the paper's noise-rate yardstick) before any trained-net run; ``ridge_scale = 3`` and p = 0.3
were taken from that look (the best average ratio at n = 200).

Fresh seed 724 (2026-12-04 course audit) FAILED claim 4 at 200 training images: RDI/AUX 0.312 against p = 0.3
(plain 0.396, clean 0.090, KRR with the ridge 0.307: the kernel ridge itself, which the nets match, removed only a
quarter of the noise's damage on that flip draw; 0.305 at 300 images). The pre-look below had seen this at 200
(0.2 of the damage removed at the worst seed): too few neighbours to average the flips out. Quick now trains on
500 images (the full preset's count; width, ridge, steps and every bound unchanged): seeds 730-749 (fresh), 0, 1,
2 and 724 hold every claim, 24/24 (RDI/AUX 0.107-0.199, 724: 0.165; claim 3's ratio 9.5-15.8; distance to KRR
0.025-0.052 against 1/16), 3.6-5.3 s; changed size (700 images, m = 512), seeds 900-903: 4/4 (0.088-0.169).
Before that:
Checked on (2026-12-04), quick preset (digits parity, 200 training and 1597 test images, p = 0.3, m = 256,
lambda^2 = 3 x mean diag, 400 momentum steps): seeds 0, 2 and 400-419: every claim holds on every seed (22/22):
flipped labels fitted by plain training 1.00 on every seed; clean-net test error 0.075-0.100, plain 0.25-0.43,
RDI 0.157-0.264, AUX 0.158-0.265 (KRR with ridge 0.158-0.264, ridgeless KRR 0.25-0.45); claim 2's ratio 13.4 to
21.4 standard errors, claim 3's 4.0 (seed 418) to 14.9, claim 4's worse regularized error at most 0.265 (seed 400) < 0.3,
claim 5's relative distance to KRR 0.023-0.054 (seed 415 the largest) against 1/16 = 0.0625; the check 1e-15 to 3e-15.
Changed size (300 training images, m = 512), seeds 900-903: 4/4 hold (plain 0.30-0.41, RDI/AUX 0.13-0.22, clean
0.06-0.07; claim 3's ratio 12.0-15.8; distance to KRR 0.022-0.029 against 1/sqrt(512) = 0.044).
Negative control (ridge_scale = 0), seed 1: claim 3 fails (RDI and AUX are plain training; see the test).
The regularized nets remove about half (0.4-0.7) of the test error that the noise adds to plain training, not all of
it: on 200 digits the ridge also blurs the clean signal (compare the KRR numbers above); "near clean" is therefore not
claimed, only "significantly better than plain and below the noise rate". Full preset (500 images, m = 2048, 1500 steps),
seed 0, 153 s: every claim holds (flipped labels fitted 1.00; plain 17.7 and regularized 13.7 paired SEs apart; RDI/AUX
test error 0.107 < 0.3; relative distance to kernel ridge regression 0.009 < 2048^(-1/2) = 0.022).
Quick takes 4-7.5 s per run on the shared machine (a CI job was using the CPUs at the time).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch
from pydantic import Field, model_validator

from dltheory.core.params import functionalize
from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.data.images import center_on_sphere, classification_split
from dltheory.experiments.base import Experiment, ImageClassificationConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.ntk import ntk_mlp
from dltheory.probes.ntk import empirical_ntk, kernel_regression
from dltheory.train.loop import Callback, train
from dltheory.train.optimizers import momentum

SOURCE = "Hu, Li, Yu 2020 (ICLR)"
RUNS = ("clean", "plain", "rdi", "aux")


def _antisymmetric_(net: torch.nn.Module) -> None:
    """Make a two-layer ``ntk_mlp`` output 0 at init: hidden units m/2.. copy units ..m/2, with negated output weights."""
    h = net.linear1.weight.shape[0] // 2
    with torch.no_grad():
        net.linear1.weight[h:] = net.linear1.weight[:h]
        if net.linear1.bias is not None:
            net.linear1.bias[h:] = net.linear1.bias[:h]
        net.linear2.weight[:, h:] = -net.linear2.weight[:, :h]
        if net.linear2.bias is not None:
            net.linear2.bias.zero_()


def _paired_se(wrong_a: np.ndarray, wrong_b: np.ndarray) -> float:
    """Standard error of the difference of two 0-1 error rates on the same test points (McNemar): sqrt(b + c) / N."""
    return float(math.sqrt(np.sum(wrong_a != wrong_b)) / len(wrong_a))


@register
class NoisyLabels(Experiment):
    """Distance-to-init and auxiliary-variable regularization make a wide net kernel ridge regression and keep it from fitting corrupted labels."""

    id = "ntk/noisy-labels"
    lecture = 8
    title = "Noisy labels: RDI / AUX regularization = NTK kernel ridge regression, test error below the noise rate; plain GD fits the noise"
    papers = ("hu2020",)

    class Config(ImageClassificationConfig):
        num_train: int = Field(500, ge=10, le=60000, description="training images (the first ones); every later image is a test image")
        noise: float = Field(0.3, ge=0, lt=0.5, description="probability p that a training label is flipped")
        width: int = Field(256, ge=2, le=65536, description="hidden width m (even: antisymmetric initialization)")
        sigma_w: float = Field(1.5, gt=0, le=10, description="weight scale sigma_w of the NTK parameterization")
        sigma_b: float = Field(0.1, ge=0, le=10, description="bias scale sigma_b")
        ridge_scale: float = Field(3.0, ge=0, le=1000, description="lambda^2 as a multiple of the mean diagonal of the empirical NTK at init (0: no regularization)")
        lr_scale: float = Field(1.0, gt=0, le=1.5, description="step size times lambda_max of the objective's kernel (NTK + lambda^2 I)")
        beta: float = Field(0.9, ge=0, lt=1, description="heavy-ball momentum")
        steps: int = Field(400, ge=1, le=100_000, description="full-batch steps")
        record_points: int = Field(40, ge=2, le=1000, description="steps at which the test error is recorded (evenly spaced)")

        @model_validator(mode="after")
        def _even_width(self):
            if self.width % 2:
                raise ValueError(f"`width` must be even (antisymmetric initialization); got {self.width}.")
            return self

    presets = {
        "tiny": {"num_train": 40, "width": 64, "steps": 60, "record_points": 5},
        "quick": {},
        "full": {"num_train": 500, "width": 2048, "steps": 1500, "record_points": 60},
    }

    def run(self, config: Config, log: RunLog) -> None:
        dtype = torch.float64
        (xtr, ltr), (xte, lte) = classification_split(config.dataset, config.num_train, data_root=config.data_root, dtype=dtype, device=log.device)
        mean = xtr.mean(0)
        X, Xs = center_on_sphere(xtr, mean), center_on_sphere(xte, mean)
        n, d = X.shape
        y = 1.0 - 2.0 * (ltr % 2).to(dtype)  # +1 even, -1 odd
        ys = 1.0 - 2.0 * (lte % 2).to(dtype)
        flipped = torch.rand(n, generator=log.generator("noise", device="cpu"), dtype=dtype).to(log.device) < config.noise
        yn = torch.where(flipped, -y, y)

        net = ntk_mlp([d, config.width, 1], activation="relu", sigma_w=config.sigma_w, sigma_b=config.sigma_b,
                      generator=log.generator("init"), dtype=dtype).to(log.device)
        _antisymmetric_(net)
        fm = functionalize(net)
        theta0 = {k: v.clone() for k, v in fm.params.items()}
        K, Ks = empirical_ntk(net, X), empirical_ntk(net, Xs, X)  # (n, n) and (n_test, n) at init
        with torch.no_grad():
            f0 = fm(theta0, torch.cat([X, Xs]))[:, 0]
        lam2 = config.ridge_scale * float(K.diagonal().mean())
        lam = math.sqrt(lam2)
        top = float(torch.linalg.eigvalsh(K)[-1])
        log.metric("ridge_lambda_sq", lam2)
        log.metric("ntk_condition_number", top / float(torch.linalg.eigvalsh(K)[0]))
        every = max(1, config.steps // config.record_points)

        def objective(kind: str):
            if kind == "aux":
                def loss_fn(params, batch):
                    net_p = {k: v for k, v in params.items() if k != "aux"}
                    return 0.5 * ((fm(net_p, batch[0])[:, 0] + lam * params["aux"] - batch[1]) ** 2).sum()
                return loss_fn, {**theta0, "aux": torch.zeros(n, dtype=dtype, device=log.device)}

            def loss_fn(params, batch):
                fit = 0.5 * ((fm(params, batch[0])[:, 0] - batch[1]) ** 2).sum()
                if kind == "rdi":
                    fit = fit + 0.5 * lam2 * sum(((params[k] - theta0[k]) ** 2).sum() for k in theta0)
                return fit
            return loss_fn, dict(theta0)

        outs, curves = {}, {}
        for kind in RUNS:
            loss_fn, params = objective(kind)
            ridge = lam2 if kind in ("rdi", "aux") else 0.0
            lr = config.lr_scale / (top + ridge)
            ts, errs = [], []

            def record(info, ts=ts, errs=errs):
                with torch.no_grad():
                    p = {k: v for k, v in info.params.items() if k != "aux"}
                    ts.append(info.step)
                    errs.append(float((torch.sign(fm(p, Xs)[:, 0]) != ys).double().mean()))

            res = train(loss_fn, params, steps=config.steps, optimizer=momentum(lr, beta=config.beta), data=(X, y if kind == "clean" else yn),
                        callbacks=[Callback(record, every=every)], record_every=every, description=kind, progress=log.progress)
            final = {k: v for k, v in res.params.items() if k != "aux"}
            with torch.no_grad():
                outs[kind] = fm(final, torch.cat([X, Xs]))[:, 0]
            curves[kind] = (np.array(ts), np.array(errs))
            if kind == "aux":
                outs["aux_b"] = res.params["aux"]
            log.torch_artifact(f"params_{kind}", {"final": {k: v.cpu() for k, v in res.params.items()}})
            for t, e in zip(ts, errs, strict=True):
                log.scalar(f"test_error_{kind}", t, e)

        krr = kernel_regression(K, yn, Ks, ridge=lam2, f0_train=f0[:n], f0_test=f0[n:])[:, 0]
        krr_plain = kernel_regression(K, yn, Ks, ridge=0.0, f0_train=f0[:n], f0_test=f0[n:])[:, 0]
        Kn, Ksn = K.cpu().numpy(), Ks.cpu().numpy()
        ref = Ksn @ scipy.linalg.solve(Kn + lam2 * np.eye(n), (yn - f0[:n]).cpu().numpy(), assume_a="pos") + f0[n:].cpu().numpy()
        check_err = float(np.abs(krr.cpu().numpy() - ref).max() / np.abs(ref).max())

        wrong = {k: (torch.sign(outs[k][n:]) != ys).cpu().numpy() for k in RUNS}
        err = {k: float(wrong[k].mean()) for k in RUNS}
        err_krr = float((torch.sign(krr) != ys).double().mean())
        err_krr_plain = float((torch.sign(krr_plain) != ys).double().mean())
        fl = flipped.cpu().numpy()
        fit_flipped = float((torch.sign(outs["plain"][:n]) == yn).cpu().numpy()[fl].mean()) if fl.any() else float("nan")
        worse = max(("rdi", "aux"), key=lambda k: err[k])
        krr_scale = float((krr - f0[n:]).norm())
        rel = {k: float((outs[k][n:] - krr).norm()) / krr_scale for k in ("rdi", "aux")}
        se_noise = _paired_se(wrong["plain"], wrong["clean"])
        se_reg = _paired_se(wrong["plain"], wrong[worse])
        for k in RUNS:
            log.metric(f"test_error_{k}", err[k])
            log.metric(f"train_accuracy_noisy_labels_{k}", float((torch.sign(outs[k][:n]) == yn).double().mean()))
        log.metric("test_error_krr", err_krr)
        log.metric("test_error_krr_ridgeless", err_krr_plain)
        log.metric("flipped_fraction", float(fl.mean()))
        log.info(f"lambda^2 = {lam2:.3g}; test errors: clean {err['clean']:.3f}, plain {err['plain']:.3f}, RDI {err['rdi']:.3f}, "
                 f"AUX {err['aux']:.3f}, KRR {err_krr:.3f} (ridgeless {err_krr_plain:.3f}); flipped labels fitted by plain GD {fit_flipped:.3f}; "
                 f"|net - KRR| / |KRR|: RDI {rel['rdi']:.3g}, AUX {rel['aux']:.3g}")
        log.artifact("data", x_train=X, y_clean=y, y_noisy=yn, flipped=flipped, x_test=Xs, y_test=ys, ntk_train=K, ntk_test_train=Ks, f0=f0, ridge=np.array(lam2),
                     krr_test=krr, krr_ridgeless_test=krr_plain, **{f"outputs_{k}": v for k, v in outs.items()},
                     **{f"curve_steps_{k}": c[0] for k, c in curves.items()}, **{f"curve_test_error_{k}": c[1] for k, c in curves.items()})

        log.claim_greater("noise_fitted", f"fraction of the {int(fl.sum())} flipped training labels that plain GD's sign(f) reproduces",
                          fit_flipped, 0.9, source=SOURCE + ", Sec. 1 (over-parameterized nets fit any labels); Zhang et al. 2017",
                          oracle="the flipped labels")
        log.claim_greater("noise_hurts_plain", f"(test error plain {err['plain']:.3f} - clean {err['clean']:.3f}) / paired standard error {se_noise:.4f}",
                          (err["plain"] - err["clean"]) / max(se_noise, 1e-12), 2.0, source=SOURCE + ", Sec. 1",
                          oracle=f"McNemar paired standard error over {len(ys)} clean test labels")
        log.claim_greater("regularized_beats_plain", f"(test error plain {err['plain']:.3f} - worse of RDI {err['rdi']:.3f} / AUX {err['aux']:.3f}) "
                          f"/ paired standard error {se_reg:.4f}", (err["plain"] - err[worse]) / max(se_reg, 1e-12), 2.0,
                          source=SOURCE + ", Thm 6.1 and Sec. 7", oracle=f"McNemar paired standard error over {len(ys)} clean test labels")
        log.claim_less("below_noise_rate", f"worse test error of RDI / AUX ({worse}) on clean labels, against the training label noise rate p = {config.noise}",
                       err[worse], config.noise, source=SOURCE + ", Sec. 1 (test error much smaller than the training error rate)",
                       oracle="clean test labels")
        tol = 1 / math.sqrt(config.width)
        log.claim_less("matches_krr", f"max over RDI, AUX of ||f_net - f_KRR|| / ||f_KRR - f_0|| on the test inputs (RDI {rel['rdi']:.3g}, "
                       f"AUX {rel['aux']:.3g}), against m^(-1/2) = {tol:.3g}", max(rel.values()), tol,
                       source=SOURCE + ", Sec. 5 (RDI, AUX -> kernel ridge regression, ridge lambda^2); Lee et al. 2019, Thm 2.1",
                       oracle="kernel ridge regression with the empirical NTK at init")
        log.claim_less("krr_closed_form", "max |kernel_regression - scipy.linalg.solve closed form| / max |closed form| on the test inputs",
                       check_err, 1e-8, source="Theta_*X (Theta + lambda^2 I)^-1 (y - f0) + f0", oracle="scipy.linalg.solve", kind="check")
        self._figure(log, curves, err_krr, err_krr_plain, outs, krr, n, config.noise)

    @staticmethod
    def _figure(log: RunLog, curves, err_krr, err_krr_plain, outs, krr, n, p) -> None:
        fig, axes = figure(2, 1, width=4.3, height=3.3)
        ax = axes[0]
        labels = {"clean": "clean labels, no reg.", "plain": "noisy, no reg.", "rdi": "noisy, RDI", "aux": "noisy, AUX"}
        for j, k in enumerate(RUNS):
            ax.plot(*curves[k], "-" if k != "aux" else "--", color=PALETTE[j % len(PALETTE)], label=labels[k])
        ax.axhline(err_krr, **{**THEORY, "label": "KRR, ridge lambda^2"})
        ax.axhline(err_krr_plain, color="0.5", ls=":", label="KRR, no ridge")
        ax.axhline(p, color="0.8", ls="-", lw=0.8, label="noise rate p")
        ax.set(xlabel="step", ylabel="clean test error", title="training on noisy labels")
        ax.legend(fontsize=7)
        ax = axes[1]
        k_np = krr.cpu().numpy()
        for j, k in ((2, "rdi"), (3, "aux")):
            ax.plot(k_np, outs[k][n:].cpu().numpy(), ".", ms=2, color=PALETTE[j], alpha=0.6, label=labels[k])
        lim = [float(k_np.min()), float(k_np.max())]
        ax.plot(lim, lim, **THEORY)
        ax.set(xlabel="kernel ridge regression f_KRR(x)", ylabel="trained net f(x)", title="test outputs vs KRR")
        ax.legend(fontsize=7)
        log.figure("noisy_labels", fig)
