r"""Frequency principle (spectral bias): networks fit the low frequencies of a target first (Xu, Zhang, Luo 2024; Xu, Zhang, Xiao 2019; Rahaman et al. 2019).

Setup, 1-D (Xu, Zhang, Xiao 2019, Fig. 1; Xu, Zhang, Luo 2024, Sec. 3.1): the target
:math:`f(x) = \sum_{k \in K} \sin(kx)`, :math:`K` = ``frequencies`` (default 1, 3, 5), on the uniform grid
of ``num_grid`` points :math:`x_j = -\pi + 2\pi j / n` (a full period, so :math:`\sin(kx)` is exactly DFT
index k); a tanh MLP 1 -> ``width`` -> ``width`` -> 1 (PyTorch's default init, float64) trained on the
mean squared error over the grid by full-batch Adam (``steps``, ``lr``) through the one training loop. At
every step the per-frequency relative error
:math:`\Delta_F(k) = |\hat h(k) - \hat f(k)| / |\hat f(k)|` (:func:`dltheory.probes.frequency.dft_relative_error`).

Setup, high-dimensional (Xu et al., CiCP 2020, Sec. 4.2 and Fig. 5; Xu, Zhang, Luo 2024, Sec. 3.2): the
first ``num_train`` scikit-learn digits (64 features in [0, 1]; MNIST from ``data_root`` at will) with
one-hot targets, a ReLU MLP 64 -> ``image_hidden`` -> 10 (float32) trained on the squared loss by
full-batch Adam (``image_steps``, ``image_lr``). Xu et al.'s Gaussian-filter split of the target and of
the outputs on the training set, :math:`f^{low}(x_i) = \sum_j f(x_j) G^\delta(x_i - x_j) / \sum_j G^\delta(x_i - x_j)`,
:math:`G^\delta(x) = e^{-|x|^2/(2\delta)}`, :math:`f^{high} = f - f^{low}`, with
:math:`\delta` = ``filter_scale`` times the median squared distance between training inputs
(the median over the pairs of the first 2000 points; 0.1: the target's low and high parts then carry comparable energy on digits, 0.58 and 0.54 of
:math:`\|f\|`, so neither error is a ratio of near-zeros); :math:`e_{low}`, :math:`e_{high}` are the
relative errors of the two parts (:func:`dltheory.probes.frequency.low_high_errors`).

Theory. For gradient flow near the linear (kernel) regime the residual's component along a kernel
eigenfunction decays like :math:`e^{-\lambda t}`, and for tanh/ReLU networks the eigenvalues fall with
frequency (Rahaman et al. 2019, Thm 1 and Sec. 3: the network's Fourier amplitudes decay like
:math:`|k|^{-(d+1)}` and faster for smooth activations; the linear frequency principle of Zhang, Xu, Luo,
Ma: :math:`\partial_t \hat u(\xi) \propto -(\gamma(\xi)^2)\,\hat u(\xi)` with :math:`\gamma` decreasing in
:math:`|\xi|`), so low frequencies converge first; Xu et al. observe the same beyond that regime (Adam,
nonlinear training) and, via the filter, on image data.

Claims (fixed before running; the threshold 0.1 is the level at which the overview's heat maps call a
frequency "converged", one tenth of the initial relative error ~1):

1. ``frequency_order`` (main): with :math:`t_k` the first step at which :math:`\Delta_F(k) < 0.1`, the times
   increase strictly with frequency; measured :math:`\min_i (t_{k_{i+1}} - t_{k_i})` > 0 (NaN, failing, if a
   frequency never gets there);
2. ``fitted``: every listed frequency ends below the threshold (largest final :math:`\Delta_F` < 0.1): the
   run is long enough for the ordering to be a statement about all of them;
3. ``low_before_high``: let :math:`t_{low}` be the first evaluation with :math:`e_{low} < 0.1`; the smallest
   :math:`e_{high}` at any evaluation up to :math:`t_{low}` exceeds 0.1 (the low part reaches the threshold
   while the high part has not yet; NaN, failing, if :math:`e_{low}` never gets there).

Checks: ``dft_matches_numpy``: the probe's :math:`\Delta_F` at every step equals numpy's ``np.fft.fft`` of
the recorded outputs (< 1e-9); ``filter_matches_direct``: the filtered target on the first min(n, 2000) points and (when
n <= 2000) the final :math:`e_{low}, e_{high}` equal a direct evaluation of the filter (dense Gaussian matrix from
scipy's ``cdist``, < 1e-6 relative).

Negative control (tests/experiments/test_frequency_principle.py): ``features = [1, 5]``: the net sees
:math:`(\cos x, \cos 5x, \sin x, \sin 5x)` instead of :math:`x`. Spectral bias is a bias in the network's
input space (Rahaman et al. 2019, Sec. 4: how a target's frequencies along the data manifold are learned
depends on how the manifold is embedded; Tancik et al. 2020, Fourier features): :math:`\sin 5x` is now a
linear function of the input, the easiest to fit, while :math:`\sin 3x = 3\sin x - 4\sin^3 x` needs the
nonlinearity, so :math:`t_5 < t_3` and claim 1 fails. (A target with only high frequencies, COURSE.md's
suggestion, has nothing to order; a tiny low-frequency amplitude leaves the kernel-regime relative error
:math:`|r_k(0)| e^{-\lambda_k t} / |\hat f(k)|` ordered unless the initial output happens to carry that
frequency, so it is not a control the theory decides.)

Checked on (2026-12-04): quick preset (64 grid points, width 32, 600 Adam steps; 600 digits, 128 hidden
units, 500 steps, delta = 0.92), seeds 0-2 and 400-419: every claim holds on 23/23 (first-below times
t_1 = 1-11, t_3 = 87-150, t_5 = 299-540; smallest gap 86-141 steps; largest final Delta_F 0.003-0.059;
smallest e_high before e_low reaches 0.1: 0.587-0.633, e_low first below at about step 50; checks at
~1e-15). The closest margin is ``fitted`` on seed 414 (0.059, t_5 = 540 of 600 steps). Changed size
(width 64, 128 grid points, 1000 digits, 256 hidden units), seeds 900-904: every claim holds on 5/5 (gaps
79-96, final Delta_F <= 0.023, e_high 0.580-0.614). Negative control (``features = [1, 5]``), seeds 0-2 and
400-404: claim 1 fails on 8/8 (t_5 = 5-14 < t_3 = 59-71; every frequency fitted, final Delta_F < 1e-4).
Full preset, seed 0 (256 grid points, k = 1, 3, 5, 7, width 200, 5000 steps; 1500 digits, 512 hidden,
3000 steps): every claim holds (t_k = 4, 126, 277, 768; final Delta_F <= 4e-4; e_low first below 0.1 at
step 70, e_high at step 1686), 92 s on a loaded machine.
Quick takes 2-4 s unloaded (1.8-2.3 s per run inside one process over the sweep; 3.8 s by the CLI on seed 0).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from scipy.spatial.distance import cdist

from dltheory.core.params import functionalize
from dltheory.core.plotting import PALETTE, figure
from dltheory.data.images import classification_split
from dltheory.experiments.base import Experiment, ImageClassificationConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.mlp import mlp
from dltheory.probes.frequency import dft_relative_error, low_high_errors
from dltheory.train.loop import Callback, train

SOURCE = "Xu, Zhang, Luo 2024 (CAMC), 'Overview frequency principle/spectral bias in deep learning', Sec. 3; Xu, Zhang, Xiao 2019 (ICONIP), Fig. 1"
SOURCE_FILTER = "Xu, Zhang, Luo, Xiao, Ma 2020 (CiCP), Sec. 4.2 (filtering method, MNIST/CIFAR-10); Xu, Zhang, Luo 2024, Sec. 3.2"
THRESHOLD = 0.1  # a frequency (or part) counts as fitted once its relative error is below this


def first_below(values: np.ndarray, steps: np.ndarray, threshold: float) -> float:
    """The first step at which ``values < threshold`` (NaN if never)."""
    below = np.flatnonzero(values < threshold)
    return float(steps[below[0]]) if below.size else float("nan")


@register
class FrequencyPrinciple(Experiment):
    """Low frequencies are fitted first: per-frequency DFT error on a 1-D target, Gaussian-filter split on digits."""

    id = "dropout/frequency-principle"
    lecture = 3
    title = "Frequency principle: networks fit low frequencies first (DFT error per frequency; low/high filter split on digits)"
    papers = ("xu2024",)

    class Config(ImageClassificationConfig):
        num_grid: int = Field(64, ge=8, le=8192, description="points of the uniform grid on [-pi, pi) (the 1-D training set)")
        frequencies: list[Annotated[int, Field(ge=1, le=4095)]] = Field([1, 3, 5], min_length=2, max_length=16,
                                                                         description="target sum of sin(k x) over these k (strictly increasing, < num_grid / 2)")
        features: list[Annotated[int, Field(ge=1, le=4095)]] = Field([], max_length=16, description="empty: the net sees x; else it sees cos(j x), sin(j x) for these j (negative control)")
        width: int = Field(32, ge=1, le=4096, description="hidden width of the 1-D tanh MLP (two hidden layers)")
        steps: int = Field(600, ge=1, le=200_000, description="full-batch Adam steps, 1-D")
        lr: float = Field(0.01, gt=0, le=1, description="Adam step size, 1-D")
        image_hidden: int = Field(128, ge=1, le=8192, description="hidden width of the image ReLU MLP")
        image_steps: int = Field(500, ge=1, le=200_000, description="full-batch Adam steps on the images")
        image_lr: float = Field(0.005, gt=0, le=1, description="Adam step size on the images")
        evaluations: int = Field(100, ge=2, le=10_000, description="evaluations of e_low, e_high over the image training")
        filter_scale: float = Field(0.1, gt=0, le=100, description="filter variance delta as a multiple of the median squared distance between training inputs")
        activation: Literal["tanh", "relu"] = Field("tanh", description="activation of the 1-D net")
        num_train: int = Field(600, ge=10, le=60000, description="training images (the first ones)")

        @model_validator(mode="after")
        def _frequencies_on_the_grid(self):
            ks = self.frequencies
            if any(b <= a for a, b in zip(ks, ks[1:], strict=False)):
                raise ValueError(f"`frequencies` must be strictly increasing; got {ks}.")
            if ks[-1] >= self.num_grid // 2:
                raise ValueError(f"`frequencies` must be < num_grid / 2 = {self.num_grid // 2} (below Nyquist); got {ks}.")
            return self

    presets = {
        "tiny": {"num_grid": 32, "steps": 60, "width": 8, "num_train": 100, "image_hidden": 16, "image_steps": 20, "evaluations": 10},
        "quick": {},
        "full": {"num_grid": 256, "frequencies": [1, 3, 5, 7], "width": 200, "steps": 5000, "lr": 0.002, "num_train": 1500,
                 "image_hidden": 512, "image_steps": 3000, "image_lr": 0.001, "evaluations": 300},
    }

    def run(self, config: Config, log: RunLog) -> None:
        one_d = self._one_d(config, log)
        images = self._images(config, log)
        self._figure(log, config, one_d, images)

    # ---- 1-D: the DFT of the fit ---------------------------------------------------------------
    def _one_d(self, config: Config, log: RunLog) -> dict:
        dtype, dev, n, ks = torch.float64, log.device, config.num_grid, list(config.frequencies)
        x = -math.pi + 2 * math.pi * torch.arange(n, dtype=dtype, device=dev) / n
        f = sum(torch.sin(k * x) for k in ks)[:, None]  # (n, 1)
        X = x[:, None] if not config.features else torch.cat([torch.cos(j * x[:, None]) for j in config.features]
                                                              + [torch.sin(j * x[:, None]) for j in config.features], 1)
        net = mlp([X.shape[1], config.width, config.width, 1], activation=config.activation, generator=log.generator("init", "1d"), dtype=dtype).to(dev)
        fm = functionalize(net)

        def loss_fn(params, batch):
            return ((fm(params, X) - f) ** 2).mean()

        outs, steps = [], []

        def record(info):
            with torch.no_grad():
                outs.append(fm(info.params, X)[:, 0])
                steps.append(info.step)

        res = train(loss_fn, fm.params, steps=config.steps, optimizer="adam", lr=config.lr, callbacks=[Callback(record, every=1)],
                    description="1-D fit", progress=log.progress)
        H = torch.stack(outs)  # (S, n)
        D = dft_relative_error(H, f[:, 0], frequencies=ks).cpu().numpy()  # (S, K)
        steps = np.asarray(steps, dtype=float)
        Hn, fn = H.cpu().numpy(), f[:, 0].cpu().numpy()
        Fh, Ff = np.fft.fft(Hn, axis=1)[:, ks], np.fft.fft(fn)[ks]
        D_np = np.abs(Fh - Ff) / np.abs(Ff)
        times = [first_below(D[:, i], steps, THRESHOLD) for i in range(len(ks))]
        for i, k in enumerate(ks):
            log.metric(f"t_first_below_k{k}", times[i])
            log.metric(f"final_error_k{k}", float(D[-1, i]))
            for s in range(0, len(steps), max(1, len(steps) // 200)):
                log.scalar(f"dft_error_k{k}", steps[s], float(D[s, i]))
        gaps = np.diff(times)
        log.info(f"1-D: first step below {THRESHOLD}: " + ", ".join(f"k={k}: {t:g}" for k, t in zip(ks, times, strict=True)))
        log.claim_greater("frequency_order", f"smallest gap between successive first steps with Delta_F(k) < {THRESHOLD} over k = {ks} "
                          f"(times {', '.join(f'{t:g}' for t in times)}; NaN if one never gets there)",
                          float(gaps.min()) if np.all(np.isfinite(gaps)) else float("nan"), 0.0, source=SOURCE,
                          oracle="DFT of the outputs at every step (numpy's FFT agrees: check dft_matches_numpy)")
        log.claim_less("fitted", f"largest final Delta_F(k) over k = {ks} after {config.steps} Adam steps", float(D[-1].max()), THRESHOLD,
                       source="the ordering must be about frequencies that all get fitted", oracle="DFT of the final outputs")
        log.claim_less("dft_matches_numpy", "largest |Delta_F(probe) - Delta_F(numpy fft)| over steps and frequencies", float(np.abs(D - D_np).max()), 1e-9,
                       source="definition of Delta_F", oracle="numpy.fft.fft of the recorded outputs", kind="check")
        log.artifact("one_d", x=x, target=f[:, 0], features=np.array(config.features, dtype=int), frequencies=np.array(ks), steps=steps,
                     outputs=Hn, relative_error=D, first_below=np.array(times), **{f"param_{k}": v for k, v in res.params.items()})
        return {"x": x.cpu().numpy(), "f": fn, "h": Hn[-1], "D": D, "steps": steps, "ks": ks, "times": times}

    # ---- high-dimensional: the Gaussian-filter split ---------------------------------------------------
    def _images(self, config: Config, log: RunLog) -> dict:
        dtype, dev = torch.float32, log.device
        (X, y), _ = classification_split(config.dataset, config.num_train, data_root=config.data_root, dtype=dtype, device=dev)
        Y = torch.nn.functional.one_hot(y, 10).to(dtype)
        net = mlp([X.shape[1], config.image_hidden, 10], activation="relu", generator=log.generator("init", "images"), dtype=dtype).to(dev)
        fm = functionalize(net)

        def loss_fn(params, batch):
            return ((fm(params, X) - Y) ** 2).sum(1).mean()

        at = {int(s) for s in np.unique(np.round(np.linspace(0, config.image_steps, config.evaluations)))}
        outs, steps = [], []

        def record(info):
            if info.step in at:
                with torch.no_grad():
                    outs.append(fm(info.params, X))
                    steps.append(info.step)

        res = train(loss_fn, fm.params, steps=config.image_steps, optimizer="adam", lr=config.image_lr, callbacks=[Callback(record, every=1)],
                    description="image fit", progress=log.progress)
        X64, Y64, H64 = X.double(), Y.double(), torch.stack(outs).double()  # (S, n, 10)
        Xs = X64[:2000]  # the median over the pairs of the first 2000 points (all of them at quick)
        d2 = torch.cdist(Xs, Xs) ** 2
        delta = config.filter_scale * float(d2[torch.triu_indices(len(Xs), len(Xs), 1, device=dev).unbind()].median())
        r = low_high_errors(X64, H64, Y64, delta=delta)
        e_low, e_high = r.low.cpu().numpy(), r.high.cpu().numpy()
        steps = np.asarray(steps, dtype=float)
        # direct filter (dense Gaussian rows from scipy's distances) on the first m <= 2000 points, all n columns
        m = min(len(X64), 2000)
        xn, yn, hn = X64.cpu().numpy(), Y64.cpu().numpy(), H64[-1].cpu().numpy()
        G = np.exp(-cdist(xn[:m], xn, "sqeuclidean") / (2 * delta))  # (m, n)
        G /= G.sum(1, keepdims=True)
        fl = G @ yn
        check = float(np.abs(fl - r.target_low[:m].cpu().numpy()).max() / np.abs(fl).max())
        if m == len(X64):  # and the final errors, when every point is in
            hl = G @ hn
            direct = np.array([np.linalg.norm(hl - fl) / np.linalg.norm(fl), np.linalg.norm((hn - hl) - (yn - fl)) / np.linalg.norm(yn - fl)])
            check = max(check, float(np.abs(direct / np.array([e_low[-1], e_high[-1]]) - 1).max()))
        t_low = first_below(e_low, steps, THRESHOLD)
        before = e_high[steps <= t_low] if np.isfinite(t_low) else np.array([])
        for s, lo, hi in zip(steps, e_low, e_high, strict=True):
            log.scalar("e_low", s, float(lo))
            log.scalar("e_high", s, float(hi))
        log.metric("delta", delta)
        log.metric("target_low_fraction", float(r.target_low.norm() / Y64.norm()))
        log.metric("target_high_fraction", float(r.target_high.norm() / Y64.norm()))
        log.metric("t_low_below", t_low)
        log.metric("t_high_below", first_below(e_high, steps, THRESHOLD))
        log.metric("final_e_low", float(e_low[-1]))
        log.metric("final_e_high", float(e_high[-1]))
        with torch.no_grad():
            log.metric("train_accuracy", float((fm(res.params, X).argmax(1) == y).double().mean()))
        log.info(f"images: delta = {delta:.4g}, e_low < {THRESHOLD} first at step {t_low:g}; final e_low {e_low[-1]:.3g}, e_high {e_high[-1]:.3g}")
        log.claim_greater("low_before_high", f"smallest e_high up to the first step with e_low < {THRESHOLD} (step {t_low:g}; {config.dataset}, "
                          f"n = {config.num_train}, delta = {delta:.3g}; NaN if e_low never gets there)",
                          float(before.min()) if before.size else float("nan"), THRESHOLD, source=SOURCE_FILTER,
                          oracle="Gaussian-filter split of outputs and one-hot targets (a direct numpy filter agrees: check filter_matches_direct)")
        log.claim_less("filter_matches_direct", f"largest relative difference of the filtered target (first {m} points) and of the final (e_low, e_high) "
                       "(n <= 2000) from a dense Gaussian filter", check, 1e-6, source="definition of the filter (Xu et al. 2020, eq. 4.2)",
                       oracle="dense n x n Gaussian matrix from scipy.spatial.distance.cdist", kind="check")
        log.artifact("images", steps=steps, e_low=e_low, e_high=e_high, delta=np.array(delta), labels=y, outputs_final=H64[-1],
                     target_low=r.target_low, **{f"param_{k}": v for k, v in res.params.items()})
        return {"steps": steps, "e_low": e_low, "e_high": e_high, "delta": delta, "t_low": t_low}

    @staticmethod
    def _figure(log: RunLog, config, one_d: dict, images: dict) -> None:
        fig, axes = figure(3, 1, width=4.0, height=3.2)
        ax = axes[0]
        ax.plot(one_d["x"], one_d["f"], color="k", lw=1.5, label="target")
        ax.plot(one_d["x"], one_d["h"], "--", color=PALETTE[0], label="net, end")
        ax.set(xlabel="x", ylabel="f(x)", title=" + ".join(f"sin({k if k > 1 else ''}x)" for k in one_d["ks"]) + ("" if not config.features else f" (features {config.features})"))
        ax.legend(fontsize=7)
        ax = axes[1]
        D, st, ks = one_d["D"], one_d["steps"], one_d["ks"]
        im = ax.imshow(np.log10(np.maximum(D.T, 1e-4)), aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                       extent=(st[0], st[-1], -0.5, len(ks) - 0.5), vmin=-3, vmax=0.5)
        for i, t in enumerate(one_d["times"]):
            if np.isfinite(t):
                ax.plot(t, i, "w|", ms=12)
        ax.set(yticks=range(len(ks)), yticklabels=[f"k = {k}" for k in ks], xlabel="Adam step", title=f"log10 Delta_F(k) (|: first < {THRESHOLD})")
        fig.colorbar(im, ax=ax)
        ax = axes[2]
        ax.plot(images["steps"], images["e_low"], color=PALETTE[0], label="e_low")
        ax.plot(images["steps"], images["e_high"], color=PALETTE[1], label="e_high")
        ax.axhline(THRESHOLD, color="gray", ls=":", lw=1)
        ax.set(yscale="log", xlabel="Adam step", ylabel="relative error", title=f"{config.dataset}: Gaussian filter, delta = {images['delta']:.3g}")
        ax.legend(fontsize=7)
        log.figure("frequency_principle", fig)
