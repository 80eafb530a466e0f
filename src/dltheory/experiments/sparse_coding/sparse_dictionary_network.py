r"""A CSC layer in place of a CNN's first convolution: comparable accuracy, and a larger test-time lambda buys robustness to noise (Li et al. 2022, SDNet).

Setup (SDNet, Li et al., NeurIPS 2022, at laptop scale): scikit-learn's 8x8 digits (or MNIST /
CIFAR-10 from the user's folder), standardized by the training images' mean and std (SDNet
normalizes its inputs the same way). Two networks of :func:`dltheory.models.conv.convnet`'s layout,
[first layer -> ReLU -> 2x2 max pool] -> [3x3 conv -> ReLU -> pool] -> linear, from the same seed:

- the *conv* baseline, whose first layer is an ordinary ``k x k`` convolution (``filters`` channels,
  "same" zero padding);
- *SDNet*, whose first layer is a :class:`dltheory.sparse.csc_layer.CSCLayer` with as many ``k x k``
  atoms: its output is the nonnegative convolutional Lasso code
  :math:`z^\star(x) = \operatorname{arg\,min}_{z \ge 0} \tfrac12\|x - \sum_j d_j \circledast z_j\|^2 + \lambda\|z\|_1`
  computed by ``fista_steps`` unrolled FISTA steps (SDNet's released configuration: 2 steps,
  nonnegative codes, unit-norm atoms, :math:`\lambda = 0.1`), circular boundary.

Both are trained by Adam on minibatches through the one training loop, on the first
``num_train - num_val`` images; the last ``num_val`` training images are a validation split; the
test set is the rest of the digits (597 images at ``num_train`` = 1200). Each network is trained
``trainings`` times (4 in quick), with independent initializations and minibatch orders (training
t of the two kinds shares its seed), and the claims use the averages over the trainings: SDNet's
claims are about architectures, and a single 800-image training varies by a few points of test
accuracy from seed to seed (with one training, claim 1 failed on 1 of 20 seeds: a CSC net that
happened to train to 0.90 against the baseline's 0.95, and the test-time gain of claim 2 was absent,
even for the test set's best factor, on some single trainings).

Theory. The CSC layer models its input as a sparse combination of atoms plus noise; :math:`\lambda`
trades the data term against sparsity. Gaussian noise of std :math:`\sigma` has correlation of std
:math:`\sigma` with every unit atom at every position (in standardized units), so at the training
:math:`\lambda` it enters the codes, while a larger :math:`\lambda \approx` a few :math:`\sigma` removes it
and keeps the large coefficients of the signal (stable recovery of the Lasso: the error of
:math:`z^\star` scales with the noise level when :math:`\lambda` is of the order of the noise's
correlation with the atoms). SDNet's claims (abstract, Sec. 4): such networks reach "equally strong
empirical performance" as the CNNs they modify, and are "much more robust to input corruptions ...
through a simple proper trade-off between sparse regularization and data reconstruction terms": in
SDNet's ``robust_inference.py`` the test-time :math:`\lambda` is swept over 0.1-1.4 (1-14 times the
training value) for each noise level, without retraining.

Claims (thresholds fixed before any run):

1. ``comparable_clean_accuracy``: :math:`|\mathrm{acc}_{csc} - \mathrm{acc}_{conv}|` on the clean test set
   (each the mean over the trainings) is below 3 binomial standard errors of the difference of two
   accuracies, :math:`3\sqrt{(p_1(1 - p_1) + p_2(1 - p_2))/n}` (a gap the test set could produce by
   chance; averaging trained nets on the same test images does not lower the test set's sampling
   error below about this, so the bound stays that of one pair);
2. ``larger_lambda_is_robust_to_noise`` (main): at input noise of std ``noise`` (added to the [0, 1]
   pixels, clipped to [0, 1] as in CIFAR-10-C and SDNet's ``robust_inference.py``; 0.6 in quick), for
   each training the factor :math:`c^\star` in ``lam_factors`` (1, 2, 4, 8 in quick) with the best
   *validation* accuracy (``val_draws`` = 8 noise draws of the validation images; ties: the smallest)
   gives a test accuracy at :math:`\lambda = c^\star\lambda_{train}` that exceeds the accuracy at
   :math:`\lambda_{train}` by more than 2 standard errors of the paired difference (per test image, the
   difference of correct predictions averaged over the trainings and over ``noise_draws`` noise draws
   per training shared by both :math:`\lambda`; SE = their standard deviation / :math:`\sqrt n`). If
   :math:`c^\star = 1` the gain of that training is 0. 2 SEs is a one-sided test at about the 2% level,
   fixed before the runs.

Check: ``csc_layer_is_the_lasso``: the trained layer run to convergence (its steps raised to
``check_steps``, adaptive restart on, float64) on ``check_images`` test images gives the convolutional
Lasso codes of scikit-learn's Lasso on the explicit banded-circulant matrix
(:func:`dltheory.oracles.convolution.circulant_dictionary`): relative error < 1e-4. The 2-step layer
used in training is far from that solution (relative distance ~0.85, the metric
``unrolled_layer_distance_to_lasso``): SDNet's layer is a truncated pursuit. FFT-domain ADMM
(:func:`dltheory.sparse.conv_admm`, its penalty adapted only during the first 200 steps) converges on
these trained dictionaries as well (on seed 408's: 2e-5 from scikit-learn's solution after 1000 steps,
1.5e-8, the reference's own precision, after 2000; an earlier version that adapted the penalty
throughout stalled at ~3%); the check keeps the layer's own solver, restarted FISTA, since it
is the layer that is checked, and the layer is tested against ADMM in tests/sparse/test_csc_layer.py.

Metrics and figure: test accuracy against the noise std for the conv baseline, SDNet at
:math:`\lambda_{train}`, and SDNet at the :math:`\lambda` chosen on the validation split for each noise
level; and test accuracy against :math:`\lambda / \lambda_{train}` at each noise level (SDNet's
:math:`\lambda`-accuracy curves).

Negative control (tests/experiments/test_sparse_dictionary_network.py): ``noise = 0`` (clean inputs):
there is no noise to remove, raising :math:`\lambda` only shrinks the signal's codes, and claim 2
fails.

Checked on (2026-12-04), quick preset with 4 trainings per network (this version; factors 1-2-4-8, 8
validation and 8 test noise draws per training): seeds 400-419 and 0-2, every claim holds on 23/23:
clean-accuracy gaps 0.7-2.6 points against margins of 4.1-4.4; robustness gains 1.2-5.1 points against
2 SEs of 0.7-1.3, thin on three seeds (409: 1.37 vs 1.24; 411: 1.17 vs 1.09; 418: 1.20 vs 1.16); the
Lasso check 1e-8 to 8e-8. Changed size (``num_train`` = 1000), seeds 900-904: 5/5 (gains 1.5-3.2 against
0.5-1.3). Negative control (noise 0), seeds 0-2: claim 2 fails on 3/3 (gains -0.13 to 0 points). Quick
takes ~20-25 s on one thread with another job on the second core. The doubling from 2 trainings came
after the version below failed on 2 of 20 seeds; the 2-SE bound and the factors are unchanged.

The version with 2 trainings per network, seeds 400-419 (machine heavily shared during the sweep; the
claims did NOT hold on every seed):

- ``comparable_clean_accuracy`` holds on 20/20 (gap 0.3-2.9 points against margins of 4.0-4.5; SDNet
  91.5-94.1%, the baseline 93.2-94.8%: the CSC net is ~1.5 points behind on average). Seed 408, which
  failed with one training (4.5 points against 4.3), gives 2.9 against 4.4;
- ``larger_lambda_is_robust_to_noise`` holds on 18/20: gains 1.25-5.6 points at noise 0.6 against
  2 SEs of 0.7-1.7 (mean chosen factors 4-8). It fails on 403 (0.73 against 0.75; the test set's own
  best factors would give 0.86) and 411 (1.06 against 1.34; on one training validation chose a worse
  factor than the test set's best, which would give 1.76). Seeds 401, 405, 407, which failed with one
  training, hold (2.0 vs 1.0, 2.1 vs 1.7, 2.4 vs 0.7);
- ``csc_layer_is_the_lasso``: the sweep ran with 2000 steps (tried to save time): 19/20, seed 404 at
  1.2e-4; its trained layer at 3000 steps gives 1.9e-8, so the default is back to 3000 (the other 19
  seeds were not rerun at 3000; with one training all 20 held at 3000, 1e-8 to 8e-8). Fresh seed 743
  (audit, 2026-12-04) failed it at 3000 steps (1.5e-3: restarted FISTA not yet converged on that trained
  dictionary); 10000 steps, the full preset's count, give 6.6e-8, so quick now runs 10000 (bound unchanged):
  seeds 743 and 950-959 hold every claim and check, 11/11 (Lasso check 6e-9 to 1.0e-7), 17-27 s a seed.

The gain is a few points on 597 test images, comparable to its paired SE, so the claim stays
marginal on some seeds whatever the selection: with 16 validation draws and 4 test draws per
training (an intermediate setup, 11 seeds) it held on 10 of 11 (405: 1.93 against 1.95), and 411
held there (1.74 against 1.53) while it fails here. The negative control (noise 0) fails claim 2 on
seed 0 in the tests; with one training it failed on 20/20 seeds (validation picked c = 1, gain 0, on
11; elsewhere gains -0.7 to 0.8 points, below 2 SE). Changed size (``num_train`` = 1000: 800
training images, 797 test), seeds 900-904: every claim holds on 5/5 (gaps 0.1-1.3 points against
3.5-3.7; gains 1.45-3.9 against 0.5-1.3).

One training per network (the first version) held all claims on 16/20 of seeds 400-419 (claim 1
failed on 408, claim 2 on 401, 405, 407) and on 4/5 at the changed size. A cosine decay of Adam's
step (tried for claim 1 on 4 seeds) widened the gap (SDNet 88-92% against 93%; 408 still failed,
5.4 against 4.6) and was dropped. Other setups tried without success earlier: kernel 5, average
pooling, 5 FISTA steps, 5x5 atoms, digits upsampled to 16x16 (60 s per run), noise 0.3 with 3 draws
(gains 0-4 points). The effect on 8x8 digits is a few points; probably (not tested) an 8x8 digit has
too few pixels per stroke for a 3x3 atom to separate signal from noise as cleanly as on CIFAR,
where SDNet reports its robustness.

Cost: two trainings per network make quick slower than the ~6-8 s target: about 14-15 s on one
thread (runs of the sweep at lighter machine load; not measured on an idle machine).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from dltheory.core.params import functionalize
from dltheory.core.plotting import PALETTE, figure
from dltheory.data.images import classification_split
from dltheory.experiments.base import Experiment, ImageClassificationConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.conv import convnet
from dltheory.models.mlp import init_bias, init_weight
from dltheory.oracles.convolution import circulant_dictionary
from dltheory.oracles.lasso import lasso_sklearn
from dltheory.sparse.csc_layer import CSCLayer
from dltheory.train.loop import train
from dltheory.train.optimizers import adam

SOURCE = "Li et al. 2022 (NeurIPS), SDNet, abstract and Sec. 4: CSC layers as drop-in replacements of convolutions reach equally strong accuracy"
SOURCE_ROBUST = ("Li et al. 2022 (NeurIPS), SDNet, abstract and Sec. 4: much more robust to input corruptions through a proper trade-off between sparse "
                 "regularization and data reconstruction (test-time lambda chosen per noise level)")
IMAGE_SHAPES = {"digits": (1, 8), "mnist": (1, 28), "cifar10": (3, 32)}  # (channels, side)


@register
class SparseDictionaryNetwork(Experiment):
    """Replacing a CNN's first convolution by a convolutional sparse coding layer (unrolled FISTA) keeps its accuracy; raising lambda at test time makes it robust to input noise."""

    id = "sparse-coding/sparse-dictionary-network"
    lecture = 5
    title = "SDNet: a CSC layer as a conv replacement; a larger test-time lambda buys robustness to noise"
    papers = ("li2022",)

    class Config(ImageClassificationConfig):
        num_val: int = Field(200, ge=10, le=10000, description="validation images (the last of the num_train), used only to choose the test-time lambda")
        filters: int = Field(16, ge=1, le=256, description="atoms of the CSC layer = channels of the baseline's first conv")
        kernel_size: int = Field(3, ge=1, le=15, description="side k of the atoms / first conv filters")
        width: int = Field(16, ge=1, le=256, description="channels of the second (ordinary 3x3) conv block")
        lam: float = Field(0.1, gt=0, le=10, description="lambda_train of the CSC layer (SDNet: 0.1)")
        fista_steps: int = Field(2, ge=1, le=100, description="unrolled FISTA steps of the CSC layer (SDNet: 2)")
        nonnegative: bool = Field(True, description="nonnegative codes (SDNet's default)")
        upsample: int = Field(1, ge=1, le=4, description="bilinear upsampling factor of the images (before the noise)")
        pooling: Literal["max", "avg"] = Field("max", description="2x2 pooling after each block")
        steps: int = Field(200, ge=1, le=100000, description="Adam steps")
        lr: float = Field(0.01, gt=0, le=1, description="Adam step size")
        batch_size: int = Field(100, ge=1, le=60000, description="minibatch size")
        noise: float = Field(0.6, ge=0, le=2, description="std of the Gaussian input noise of claim 2 (pixels in [0, 1], clipped)")
        noise_levels: list[Annotated[float, Field(ge=0, le=2)]] = Field([0.0, 0.3, 0.6], min_length=1, max_length=20,
                                                                       description="noise stds of the figure")
        lam_factors: list[Annotated[float, Field(ge=1, le=100)]] = Field([1, 2, 4, 8], min_length=1, max_length=30,
                                                                         description="test-time lambda / lambda_train tried (must include 1)")
        trainings: int = Field(4, ge=1, le=20, description="independent trainings (initialization and minibatch order) of each network; the claims use their averages")
        noise_draws: int = Field(8, ge=1, le=100, description="independent noise draws of the test set at the claim's noise level, per training")
        val_draws: int = Field(8, ge=1, le=200, description="independent noise draws of the validation set at the claim's noise level, per training")
        figure_draws: int = Field(1, ge=1, le=100, description="noise draws at the other noise levels (the figure)")
        check_images: int = Field(2, ge=1, le=64, description="test images of the Lasso check")
        check_steps: int = Field(10000, ge=1, le=200000, description="restarted FISTA steps of the layer in the Lasso check")

        @model_validator(mode="after")
        def _fits(self):
            if 1 not in self.lam_factors:
                raise ValueError(f"`lam_factors` must include 1 (lambda_train); got {self.lam_factors}.")
            if self.num_val > self.num_train - 10:
                raise ValueError(f"`num_val` must be <= num_train - 10 = {self.num_train - 10} (at least 10 training images); got {self.num_val}.")
            side = IMAGE_SHAPES[self.dataset][1]
            if self.kernel_size > side:
                raise ValueError(f"`kernel_size` must be <= the image side {side} of {self.dataset}; got {self.kernel_size}.")
            return self

    presets = {
        "tiny": {"num_train": 300, "num_val": 50, "filters": 4, "width": 4, "steps": 10, "noise_levels": [0.0, 0.3], "lam_factors": [1, 4],
                 "trainings": 1, "noise_draws": 1, "val_draws": 1, "check_images": 1, "check_steps": 2000},
        "quick": {},
        "full": {"num_train": 1200, "filters": 32, "width": 32, "steps": 2000, "noise_levels": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                 "lam_factors": [1, 2, 3, 4, 5, 6, 8, 10, 12, 14], "trainings": 4, "noise_draws": 10, "val_draws": 20, "figure_draws": 10, "check_images": 8, "check_steps": 10000},
    }

    def run(self, config: Config, log: RunLog) -> None:
        dtype, dev = torch.float32, log.device
        C, side = IMAGE_SHAPES[config.dataset]
        (xall, yall), (xte, yte) = classification_split(config.dataset, config.num_train, data_root=config.data_root, dtype=dtype, device=dev)
        xall, xte = xall.reshape(-1, C, side, side), xte.reshape(-1, C, side, side)
        if config.upsample > 1:
            xall, xte = (F.interpolate(x, scale_factor=config.upsample, mode="bilinear", align_corners=False) for x in (xall, xte))
            side *= config.upsample
        n_fit = config.num_train - config.num_val
        xtr, ytr, xva, yva = xall[:n_fit], yall[:n_fit], xall[n_fit:], yall[n_fit:]
        mean, std = float(xtr.mean()), float(xtr.std())

        def standardize(x: Tensor) -> Tensor:
            return (x - mean) / std

        T = config.trainings
        nets, params = {}, {"conv": [], "csc": []}  # params[kind][t]: training t (t = 0 draws from the generators "init", "first-layer", "batches")
        for t in range(T):
            tag = "" if t == 0 else f"-{t}"
            for kind in ("conv", "csc"):
                net = convnet(C, [config.filters, config.width], 10, image_size=side, pooling=config.pooling, generator=log.generator("init" + tag), dtype=dtype)
                g = log.generator("first-layer" + tag)
                if kind == "csc":
                    net.conv1 = CSCLayer(C, config.filters, config.kernel_size, lam=config.lam, steps=config.fista_steps, nonnegative=config.nonnegative,
                                         generator=g, dtype=dtype)
                else:
                    k, fan_in = config.kernel_size, C * config.kernel_size ** 2
                    conv = torch.nn.utils.skip_init(nn.Conv2d, C, config.filters, k, padding="same", dtype=dtype, device=dev)
                    draw = dict(init="pytorch", gain=1.0, generator=g, dtype=dtype)
                    conv.weight = nn.Parameter(init_weight((config.filters, C, k, k), fan_in=fan_in, fan_out=config.filters * k * k, **draw))
                    conv.bias = nn.Parameter(init_bias(config.filters, fan_in=fan_in, **draw))
                    net.conv1 = conv
                fm = functionalize(net)

                def loss_fn(p, batch, fm=fm):
                    return F.cross_entropy(fm(p, standardize(batch[0])), batch[1])

                res = train(loss_fn, fm.params, steps=config.steps, optimizer=adam(config.lr), data=(xtr, ytr), batch_size=config.batch_size,
                            generator=log.generator("batches" + tag), description=f"{kind} network {t}", progress=log.progress,
                            record_every=max(1, config.steps // 100))
                nets.setdefault(kind, fm)
                params[kind].append(res.params)
                s, v = res.history["loss"]
                for si, vi in zip(s, v, strict=True):
                    log.scalar(f"train_loss_{kind}{tag}", int(si), float(vi))
                log.metric(f"final_train_loss_{kind}{tag}", res.final_loss)

        layer: CSCLayer = nets["csc"].module.conv1
        levels = sorted(set(config.noise_levels) | {config.noise, 0.0})  # 0: the clean accuracy of claim 1
        factors = sorted(set(config.lam_factors))
        n_te = len(xte)
        ng = log.generator("noise")
        # per split and level: correct predictions (T, factors, draws, n) of SDNet, (T, draws, n) of the baseline; each training sees its own noise draws
        correct_csc, correct_conv = {"val": [], "test": []}, {"val": [], "test": []}
        with torch.no_grad():
            for sigma in levels:
                for split, x, y in (("val", xva, yva), ("test", xte, yte)):
                    R = 1 if sigma == 0 else (config.val_draws if split == "val" else config.noise_draws) if sigma == config.noise else config.figure_draws
                    conv_t, csc_t = [], []
                    for t in range(T):
                        noisy = torch.cat([(x + sigma * torch.randn(x.shape, generator=ng, dtype=dtype, device=dev)).clamp(0, 1) for _ in range(R)]) if sigma > 0 else x.repeat(R, 1, 1, 1)
                        z, yr = standardize(noisy), y.repeat(R)  # the same noisy images for every lambda and for the baseline
                        conv_t.append((nets["conv"](params["conv"][t], z).argmax(1) == yr).cpu().numpy().reshape(R, -1))
                        rows = []
                        for c in factors:
                            layer.lam = c * config.lam
                            rows.append((nets["csc"](params["csc"][t], z).argmax(1) == yr).cpu().numpy().reshape(R, -1))
                        csc_t.append(np.stack(rows))
                    correct_conv[split].append(np.stack(conv_t))
                    correct_csc[split].append(np.stack(csc_t))
            layer.lam = config.lam
        val_csc = np.stack([a.mean((2, 3)) for a in correct_csc["val"]])  # (levels, T, factors)
        test_csc_t = np.stack([a.mean((2, 3)) for a in correct_csc["test"]])  # (levels, T, factors)
        test_csc = test_csc_t.mean(1)  # (levels, factors): averaged over the trainings
        test_conv = np.array([a.mean() for a in correct_conv["test"]])
        base = factors.index(1.0)
        chosen = val_csc.argmax(2)  # (levels, T): per training, the factor with the best validation accuracy (ties: the smallest)
        test_chosen = np.take_along_axis(test_csc_t, chosen[..., None], 2)[..., 0].mean(1)  # (levels,)

        def paired_gain(i: int) -> tuple[float, float]:
            """Test accuracy at the validation-chosen factors minus at lambda_train (averaged over trainings and draws), and the SE of the per-image difference."""
            a = correct_csc["test"][i].astype(float)  # (T, factors, R, n)
            d = np.stack([a[t, chosen[i, t]] - a[t, base] for t in range(T)]).mean((0, 1))  # (n_te,)
            return float(d.mean()), float(d.std(ddof=1) / np.sqrt(n_te))

        def chosen_str(i: int) -> str:
            return ", ".join(f"{factors[j]:g}" for j in chosen[i])

        for i, sigma in enumerate(levels):
            g_i, se_i = paired_gain(i)
            log.metric(f"gain_noise_{sigma:g}", g_i)
            log.metric(f"gain_se_noise_{sigma:g}", se_i)
            log.metric(f"acc_conv_noise_{sigma:g}", test_conv[i])
            log.metric(f"acc_csc_train_lambda_noise_{sigma:g}", test_csc[i, base])
            log.metric(f"acc_csc_chosen_lambda_noise_{sigma:g}", test_chosen[i])
            log.metric(f"mean_chosen_lambda_factor_noise_{sigma:g}", float(np.mean([factors[j] for j in chosen[i]])))
            log.info(f"noise {sigma:g}: conv {test_conv[i]:.4f}, csc at lambda_train {test_csc[i, base]:.4f}, at the validation-chosen ({chosen_str(i)}) x lambda_train "
                     f"{test_chosen[i]:.4f}; test accuracy by factor {np.round(test_csc[i], 4).tolist()} (per training {np.round(test_csc_t[i], 4).tolist()})")

        # claim 1: clean accuracy averaged over the trainings (noise level 0 is always evaluated for this claim)
        i0 = levels.index(0.0)
        clean_csc, clean_conv = float(test_csc[i0, base]), float(test_conv[i0])
        margin = 3 * np.sqrt((clean_csc * (1 - clean_csc) + clean_conv * (1 - clean_conv)) / n_te)
        log.metric("acc_clean_csc", clean_csc)
        log.metric("acc_clean_conv", clean_conv)
        log.metric("clean_margin_3se", margin)
        for t in range(T):
            log.metric(f"acc_clean_csc_training_{t}", float(test_csc_t[i0, t, base]))
            log.metric(f"acc_clean_conv_training_{t}", float(correct_conv["test"][i0][t].mean()))

        # claim 2: at the claim's noise level, the validation-chosen lambda against lambda_train, paired per test image
        i = levels.index(config.noise)
        gain, se = paired_gain(i)
        log.metric("robust_gain", gain)
        log.metric("robust_gain_se", se)
        log.metric("robust_gain_test_oracle", float((test_csc_t[i].max(1) - test_csc_t[i, :, base]).mean()))
        log.metric("mean_chosen_lambda_factor", float(np.mean([factors[j] for j in chosen[i]])))

        check = self._lasso_check(config, params["csc"][0]["conv1.weight"], standardize(xte[: config.check_images]), log)

        log.artifact("data_and_params", x_train=xtr, y_train=ytr, x_val=xva, y_val=yva, x_test=xte, y_test=yte, mean=mean, std=std,
                     noise_levels=np.array(levels), lam_factors=np.array(factors), chosen_factor_index=chosen,
                     val_acc=val_csc, test_acc=test_csc_t, test_acc_conv=test_conv,
                     **{f"correct_csc_{sp}_noise_{sg:g}": a for sp in ("val", "test") for sg, a in zip(levels, correct_csc[sp], strict=True)},
                     **{f"correct_conv_{sp}_noise_{sg:g}": a for sp in ("val", "test") for sg, a in zip(levels, correct_conv[sp], strict=True)}, **check,
                     **{f"{k}_{t}_{name.replace('.', '_')}": w for k, ps in params.items() for t, p in enumerate(ps) for name, w in p.items()})

        log.claim_less("comparable_clean_accuracy", f"|clean test accuracy of SDNet (CSC first layer, lambda = {config.lam:g}) - of the conv baseline| "
                       f"({clean_csc:.4f} vs {clean_conv:.4f}, means of {T} trainings, n = {n_te}), against 3 binomial SEs of the difference",
                       abs(clean_csc - clean_conv), float(margin), source=SOURCE, oracle="binomial standard error of two test accuracies")
        log.claim_greater("larger_lambda_is_robust_to_noise", f"noise std {config.noise:g}: test accuracy at the validation-chosen lambda = "
                          f"({chosen_str(i)}) x lambda_train minus at lambda_train (paired, {T} trainings x {config.noise_draws} noise draws, n = {n_te}), against 2 SEs of the paired difference",
                          gain, 2 * se, source=SOURCE_ROBUST, oracle="paired per-image differences on held-out test images; lambda chosen on a validation split")
        log.claim_less("csc_layer_is_the_lasso", f"the trained CSC layer run to convergence ({config.check_steps} restarted FISTA steps, float64) on "
                       f"{config.check_images} test images: relative error against scikit-learn's Lasso on the explicit circulant matrix",
                       check["rel_err"], 1e-4, source="the CSC layer's output is the convolutional Lasso code (SDNet, Sec. 3)",
                       oracle="scikit-learn Lasso (coordinate descent, duality gap <= 1e-10 ||x||^2) on dltheory.oracles.convolution.circulant_dictionary", kind="check")
        self._figure(log, levels, factors, test_csc, test_conv, test_chosen, chosen, base, config.noise)

    @staticmethod
    def _lasso_check(config, weight: Tensor, x: Tensor, log: RunLog) -> dict:
        """The trained layer run to convergence (float64, restarted FISTA) against scikit-learn's Lasso on the explicit matrix."""
        w, x = weight.detach().double(), x.double()
        exact = CSCLayer(w.shape[1], w.shape[0], w.shape[-1], lam=config.lam, steps=config.fista_steps, nonnegative=config.nonnegative,
                         generator=log.generator("check"), dtype=torch.float64)
        with torch.no_grad():
            exact.weight.copy_(w)
            z_unrolled = exact(x)  # the layer as trained
            exact.steps, exact.restart = config.check_steps, True
            z = exact(x)
            D = exact.filters()
        M = circulant_dictionary(D.cpu().numpy(), x.shape[2:])
        ref = lasso_sklearn(M, x.flatten(1).cpu().numpy(), config.lam, positive=config.nonnegative, tol=1e-10).reshape(z.shape)
        ref_t = torch.as_tensor(ref, dtype=torch.float64, device=z.device)
        rel = float((z - ref_t).norm() / ref_t.norm())
        rel_unrolled = float((z_unrolled - ref_t).norm() / ref_t.norm())
        log.metric("lasso_check_rel_err", rel)
        log.metric("unrolled_layer_distance_to_lasso", rel_unrolled)
        log.metric("lasso_code_density", float((ref != 0).mean()))
        return {"check_images": x, "check_codes_layer": z, "check_codes_sklearn": ref, "check_codes_unrolled": z_unrolled, "rel_err": rel}

    @staticmethod
    def _figure(log: RunLog, levels, factors, test_csc, test_conv, test_chosen, chosen, base, noise) -> None:
        fig, axes = figure(2, 1, width=4.4, height=3.4)
        ax = axes[0]
        ax.plot(levels, test_conv, "s-", color=PALETTE[2], label="conv baseline")
        ax.plot(levels, test_csc[:, base], "o-", color=PALETTE[0], label="SDNet, lambda_train")
        ax.plot(levels, test_chosen, "^-", color=PALETTE[1], label="SDNet, lambda chosen on validation")
        ax.axvline(noise, color="0.6", linestyle=":", linewidth=1)
        ax.set(xlabel="input noise std", ylabel="test accuracy", title="Robustness to Gaussian noise")
        ax.legend(fontsize=7)
        ax = axes[1]
        for i, sigma in enumerate(levels):
            ax.plot(factors, test_csc[i], "o-", color=PALETTE[i % len(PALETTE)], markersize=3, label=f"noise {sigma:g}")
            for j in sorted(set(chosen[i].tolist())):
                ax.plot([factors[j]], [test_csc[i, j]], "*", color=PALETTE[i % len(PALETTE)], markersize=9)
        ax.set(xscale="log", xlabel="test lambda / lambda_train", ylabel="test accuracy (mean of trainings)",
               title="SDNet: accuracy vs test-time lambda (* = chosen on validation)")
        ax.legend(fontsize=7)
        log.figure("robustness", fig)
