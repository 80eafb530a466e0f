r"""Linear mode connectivity: copies spawned after an early point of training stay linearly connected.

Paper: Frankle, Dziugaite, Roy, Carbin, "Linear mode connectivity and the lottery ticket
hypothesis", ICML 2020. Train a network to step k, spawn two copies and train each to the end
with different SGD noise (data order). The instability of the network at k is the error
barrier between the two end points (their Def. 1 / Eq. 1): the largest gap of the error along
the straight line above the linear interpolation of the end points' errors. A network is
*stable* at k when the barrier is below 2% (their threshold). Their finding (Sec. 3, Fig. 3):
the standard vision networks (ResNet-20 and VGG-16 on CIFAR-10, ResNet-50 on ImageNet) are
unstable at initialization (k = 0) and become stable early in training (ResNet-20 at about 3% of
training); LeNet on MNIST, and ResNet-20 with a low learning rate, are stable from k = 0.

Which setup, and why: at digits scale a plain ReLU MLP trained by SGD is stable at k = 0,
as LeNet is on MNIST: error barriers of 0.0-0.9% at k = 0 for widths 32-128 and depths 1-3 at
step sizes 0.05-0.2 (and on harder variants: inputs with noise, a random-teacher task, XOR).
Larger step sizes (0.3-0.5) make the plain MLP chaotic for the whole run (barriers of 5-45% at
every k, no early stabilization). What makes the vision networks unstable early is, we use,
BatchNorm at a large step: a layer followed by BatchNorm computes the same function when its
weights are scaled, so the gradient is orthogonal to the weights and plain SGD grows their
norm, :math:`\|W_{t+1}\|^2 = \|W_t\|^2 + \eta^2\|\nabla_W L\|^2` (van Laarhoven 2017; Arora, Li,
Lyu, ICLR 2019). The effective step on the direction of W is :math:`\eta/\|W\|^2`: large at
init, so early SGD noise moves the direction far, and it shrinks as the norm grows, so later
noise no longer separates the copies. Setup: scikit-learn digits (the first ``num_train`` images
train, the rest test), an MLP ``64 -> width -> ... -> 10`` with BatchNorm after every hidden
(bias-free) linear layer (``mlp(norm="batch")``), plain SGD (no momentum, no weight decay) at
step ``lr`` = 8 on minibatches of 32 for ``epochs``, the step divided by 10 for the last quarter
(an annealed end point, as the papers' schedules); copies differ only in their minibatch order.
With ``dataset="mnist"`` or ``"cifar10"`` and ``data_root`` the same protocol runs on MNIST or
CIFAR-10 from the user's folder (784 or 3072 inputs; the official test set), towards the paper's
scale; only digits is verified here (no download on this machine).
The error barrier is measured on the test images, with BatchNorm statistics recomputed from
the training images at each point of the path (Frankle et al., App.), by
:func:`dltheory.probes.connectivity.barrier` (25-point grid refined near its maximum).

Claims (thresholds fixed before the seed blocks; 2% is Frankle et al.'s stability threshold):

- ``unstable_at_init``: spawned at k = 0, the mean error barrier over ``pairs`` pairs of copies
  is > 2%.
- ``stable_after_early``: spawned at any k >= ``stable_from`` of training (10%), every pair's error
  barrier is < 2%.

Checks: ``scale_invariance``: at init the gradient of every BatchNorm-preceded weight matrix is
orthogonal to it, :math:`\max_l |\cos(W_l, \nabla_{W_l} L)|` < 1e-3 (BatchNorm's eps makes the
invariance approximate to eps / var ~ 1e-5; float32). ``fine_grid_k0`` and ``fine_grid_last``:
the probe's barrier at k = 0 and at the last k (first pair) equals the largest gap of the test
error on 101 equispaced t, evaluated by loading each point into a copy of the module and
recomputing its statistics with ``torch.optim.swa_utils.update_bn`` (a code path the probe does
not use); tolerance one test image plus the grid's resolution of the error's steps.
Metrics: the barrier at each k (error and loss), the end points' test errors, and the effective
step :math:`\eta/\|W_1\|^2` at each spawn point (``effective_step_fall``: at init over at the last spawn
point).

Oracles: the direct fine-grid evaluation (the barrier values); the stability threshold is the
paper's. Negative control (tests/experiments/test_linear_mode_connectivity.py): the same network
at a 80x smaller step (0.1, "ResNet-20 low" of Frankle et al.): the network is stable at k = 0 and
``unstable_at_init`` fails; and without BatchNorm at 0.1 (the LeNet case).

Prototype (seeds 0-5, 20 epochs, 2 pairs, BatchNorm without affine parameters): at lr 8 the k = 0
barriers were 4.0-11.0% per pair (mean over pairs >= 6.6%) and every barrier at k >= 30 steps (4%)
was <= 0.6%; at lr 2 the k = 0 barriers were 0.2-3.1% (not robustly unstable), at lr 0.5 0.3-1.8%.
With BatchNorm's affine scale and shift (trained at the full step 8, they are not scale-invariant)
the run is chaotic late too (seed 0: barrier 8.5% at k = 10%), hence ``norm_affine=False``.

Checked on (quick preset, 15 epochs = 555 steps, spawn points 0, 6, 56, 139): seeds 400-419 and
900-919, 40/40 for every claim and check: ``unstable_at_init`` 5.2-13.4% (median 8.4% and 9.4%),
``stable_after_early`` 0.03-0.92%, ``scale_invariance`` <= 7e-6; the first layer's squared norm
grows from ~21 to ~1300-1600 in the first 6 steps (the effective step falls ~70x), to ~3500 at
k = 139. Changed size (width 128, depth 3), seeds 1000-1009: 10/10 (at init 12.3-23.9%, late <= 1.4%).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from dltheory.core import functionalize, to_numpy
from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.data.images import classification_split
from dltheory.experiments.base import Experiment, ImageClassificationConfig, RunLog
from dltheory.experiments.landscape.git_rebasin import ce_loss, fine_grid_barrier
from dltheory.experiments.registry import register
from dltheory.models.mlp import mlp
from dltheory.probes.connectivity import barrier
from dltheory.train import train

SOURCE = "Frankle et al. 2020, Sec. 3 (Def. 1; stable: error barrier < 2%)"
SOURCE_BN = "van Laarhoven 2017; Arora, Li, Lyu 2019 (a scale-invariant layer's gradient is orthogonal to its weights)"
THRESHOLD = 0.02
FINE = 101


@register
class LinearModeConnectivity(Experiment):
    """Copies of a BatchNorm MLP spawned at k = 0 end in different basins; spawned after an early point, they are linearly connected."""

    id = "landscape/linear-mode-connectivity"
    lecture = 4
    title = "Linear mode connectivity: SGD becomes stable to its noise early in training"
    papers = ("frankle2020",)

    class Config(ImageClassificationConfig):
        width: int = Field(64, ge=2, le=4096, description="width of every hidden layer")
        depth: int = Field(2, ge=1, le=8, description="number of hidden layers")
        batchnorm: bool = Field(True, description="BatchNorm after every hidden linear layer (False: a plain MLP, the LeNet case of the paper)")
        lr: float = Field(8.0, gt=0, le=100, description="SGD step size (large: BatchNorm makes the effective step lr / ||W||^2)")
        decay_fraction: float = Field(0.25, ge=0, lt=1, description="the last fraction of the steps runs at lr * decay_factor")
        decay_factor: float = Field(0.1, gt=0, le=1, description="step-size factor of the final phase")
        batch_size: int = Field(32, ge=1, le=1700, description="minibatch size")
        epochs: int = Field(15, ge=1, le=1000, description="training epochs (one run: trunk to k, then each copy to the end)")
        spawn_fractions: list[Annotated[float, Field(ge=0, lt=1)]] = Field([0.0, 0.01, 0.1, 0.25], min_length=2, max_length=32,
                                                                          description="spawn points k as fractions of the training steps (must include 0)")
        stable_from: float = Field(0.1, gt=0, lt=1, description="claim: stable (barrier < 2%) at every spawn point k >= stable_from of training")
        pairs: int = Field(2, ge=1, le=20, description="pairs of copies per spawn point")
        grid: int = Field(25, ge=3, le=1001, description="coarse t-grid of the barrier probe (refined around its maximum)")
        dtype: Literal["float32", "float64"] = Field("float32", description="parameter and data dtype")

        @model_validator(mode="after")
        def _spawn_points(self):
            if 0.0 not in self.spawn_fractions:
                raise ValueError(f"`spawn_fractions` must include 0 (spawning at initialization); got {self.spawn_fractions}.")
            if not any(f >= self.stable_from for f in self.spawn_fractions):
                raise ValueError(f"`spawn_fractions` must include a point >= stable_from = {self.stable_from}; got {self.spawn_fractions}.")
            return self

    presets = {
        "tiny": {"num_train": 300, "width": 16, "epochs": 2, "spawn_fractions": [0.0, 0.5], "stable_from": 0.5, "pairs": 1, "grid": 5},
        "quick": {},
        "full": {"width": 256, "depth": 3, "epochs": 60, "pairs": 3, "spawn_fractions": [0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.1, 0.25, 0.5]},
    }

    def run(self, config: Config, log: RunLog) -> None:
        dtype = getattr(torch, config.dtype)
        train_set, test_set = classification_split(config.dataset, config.num_train, data_root=config.data_root, dtype=dtype, device=log.device)
        depth, width = config.depth, config.width
        net = mlp([train_set[0].shape[1]] + [width] * depth + [int(train_set[1].max()) + 1], activation="relu", bias=[not config.batchnorm] * depth + [True],
                  norm="batch" if config.batchnorm else "none", norm_affine=False, generator=log.generator("init"), dtype=dtype).train()
        fm = functionalize(net)

        def loss_fn(params, batch):
            return F.cross_entropy(fm(params, batch[0]), batch[1])

        total = config.epochs * max(1, config.num_train // config.batch_size)
        decay_at = int(round((1 - config.decay_fraction) * total))
        ks = sorted({int(round(f * total)) for f in config.spawn_fractions})

        def sgd(params, start: int, stop: int, generator: torch.Generator, what: str) -> dict:
            """SGD from step ``start`` to ``stop`` of the schedule (lr, then lr * decay_factor from ``decay_at``)."""
            for lo, hi, lr in ((start, min(stop, decay_at), config.lr), (max(start, decay_at), stop, config.lr * config.decay_factor)):
                if hi > lo:
                    params = train(loss_fn, params, steps=hi - lo, optimizer="sgd", lr=lr, data=train_set, batch_size=config.batch_size,
                                   generator=generator, description=f"SGD, {what}", progress=log.progress).params
            return params

        def bar(pa, pb, metric):
            return barrier(net, ce_loss, test_set, pa, pb, n=config.grid, metric=metric, bn="recompute" if config.batchnorm else "eval",
                           bn_data=(train_set[0],) if config.batchnorm else None)

        cos = self._scale_invariance(fm, loss_fn, train_set, depth) if config.batchnorm else None
        trunk, done, trunk_gen = fm.params, 0, log.generator("trunk")
        results, trunk_norms, ends = {}, {}, {}
        for k in ks:
            trunk = sgd(trunk, done, k, trunk_gen, f"trunk to k={k}")
            done = k
            trunk_norms[k] = float(trunk["linear1.weight"].norm() ** 2)
            rows = []
            for p in range(config.pairs):
                pair = [sgd(trunk, k, total, log.generator("copy", k, p, c), f"k={k}, pair {p}, copy {c}") for c in range(2)]
                err, loss = bar(*pair, "error"), bar(*pair, "loss")
                rows.append({"error": err, "loss": loss})
                if p == 0:
                    ends[k] = pair
            results[k] = rows
            log.scalar("error_barrier_mean", k, float(np.mean([r["error"].value for r in rows])))
            log.info(f"k={k} ({k / total:.1%}): error barriers {[round(r['error'].value, 4) for r in rows]}, "
                     f"loss barriers {[round(r['loss'].value, 4) for r in rows]}, ||W1||^2 = {trunk_norms[k]:.1f}")

        k_stable = sorted({int(round(f * total)) for f in config.spawn_fractions if f >= config.stable_from})
        at_init = float(np.mean([r["error"].value for r in results[0]]))
        late = max(r["error"].value for k in k_stable for r in results[k])
        log.claim_greater("unstable_at_init", f"spawned at k = 0, the copies are separated by an error barrier (test error, mean over {config.pairs} pairs)",
                          at_init, THRESHOLD, source=SOURCE + " (vision networks at their standard step size are unstable at initialization)",
                          oracle="direct fine-grid evaluation (check fine_grid_k0)")
        log.claim_less("stable_after_early", f"spawned at any k >= {config.stable_from:g} of training (k in {k_stable} of {total} steps), "
                       "every pair is linearly connected: largest error barrier", late, THRESHOLD,
                       source=SOURCE + " (stable after an early point: ResNet-20 at about 3% of training)", oracle="direct fine-grid evaluation (check fine_grid_last)")
        if cos is not None:
            log.claim_less("scale_invariance", "at init the gradient of every BatchNorm-preceded weight is orthogonal to it: max_l |cos(W_l, grad W_l)|",
                           cos, 1e-3, source=SOURCE_BN, oracle="closed form (the identity <W, grad_W L> = 0 of a scale-invariant layer)", kind="check")
        fine = {}
        for tag, k in (("k0", 0), ("last", ks[-1])):
            fb, ts, errs = fine_grid_barrier(net, *ends[k], test_set, n=FINE, metric="error", bn_x=train_set[0] if config.batchnorm else None)
            fine[tag] = (ts, errs)
            log.claim_close(f"fine_grid_{tag}", f"the probe's error barrier at k = {k} (first pair) equals the largest gap on {FINE} t-values "
                            "by direct evaluation with recomputed statistics", results[k][0]["error"].value, fb,
                            atol=1.0 / len(test_set[1]) + 0.01, source="definition of the barrier (Frankle et al. 2020, Def. 1)",
                            oracle="copy of the module per t, torch.optim.swa_utils.update_bn on the training images, eval-mode forward", kind="check")

        for k in ks:
            log.metric(f"error_barrier_k{k}", float(np.mean([r["error"].value for r in results[k]])))
            log.metric(f"loss_barrier_k{k}", float(np.mean([r["loss"].value for r in results[k]])))
        log.metric("effective_step_fall", trunk_norms[ks[-1]] / trunk_norms[0])
        end_errors = [e for k in ks for r in results[k] for e in (r["error"].f_a, r["error"].f_b)]
        log.metric("endpoint_test_error_max", float(max(end_errors)))
        log.metric("endpoint_test_error_mean", float(np.mean(end_errors)))
        log.metric("total_steps", total)
        log.artifact("data_and_params", x_train=train_set[0], y_train=train_set[1], x_test=test_set[0], y_test=test_set[1], spawn_steps=np.array(ks),
                     error_barriers=np.array([[r["error"].value for r in results[k]] for k in ks]),
                     **{f"k{k}_copy{c}_{n}": v for k in (0, ks[-1]) for c in range(2) for n, v in to_numpy(ends[k][c]).items()},
                     fine_t=fine["k0"][0], fine_error_k0=fine["k0"][1], fine_error_last=fine["last"][1])
        self._figures(log, config, ks, total, results, trunk_norms, fine)

    @staticmethod
    def _scale_invariance(fm, loss_fn, train_set, depth: int) -> float:
        params = {k: v.clone().requires_grad_(True) for k, v in fm.params.items()}
        names = [f"linear{i + 1}.weight" for i in range(depth)]
        grads = torch.autograd.grad(loss_fn(params, (train_set[0][:256], train_set[1][:256])), [params[n] for n in names])
        return max(abs(float((params[n].detach() * g).sum() / (params[n].detach().norm() * g.norm()))) for n, g in zip(names, grads, strict=True))

    @staticmethod
    def _figures(log, config, ks, total, results, trunk_norms, fine) -> None:
        fig, axes = figure(3, 1, width=4.2, height=3.4)
        ax = axes[0]
        x = np.array(ks, dtype=float)
        for p in range(config.pairs):
            ax.plot(x, [100 * results[k][p]["error"].value for k in ks], "o", color=PALETTE[0], alpha=0.5, label="each pair of copies" if p == 0 else None)
        ax.plot(x, [100 * np.mean([r["error"].value for r in results[k]]) for k in ks], "-", color=PALETTE[0], label="mean")
        ax.axhline(100 * THRESHOLD, **THEORY, label="stability threshold 2%")
        ax.axvline(config.stable_from * total, color="0.6", linestyle=":", label=f"{config.stable_from:g} of training")
        ax.set_xscale("symlog", linthresh=1)
        ax.set(xlim=(-0.3, 1.5 * max(ks)), xlabel=f"spawn step k (of {total}; symlog)", ylabel="test-error barrier (%)", title="Instability vs. spawn point")
        ax.legend(fontsize=7)
        ax = axes[1]
        for tag, k, color in (("k0", 0, PALETTE[1]), ("last", ks[-1], PALETTE[0])):
            ts, errs = fine[tag]
            ax.plot(ts, 100 * errs, color=color, label=f"spawned at k = {k}")
        ax.set(xlabel="t (copy 1 at 0, copy 2 at 1)", ylabel="test error (%)", title="Along the straight line (first pair)")
        ax.legend(fontsize=7)
        ax = axes[2]
        ax.plot(x, [config.lr / trunk_norms[k] for k in ks], "o-", color=PALETTE[2])
        ax.set_xscale("symlog", linthresh=1)
        ax.set(xlim=(-0.3, 1.5 * max(ks)), yscale="log", xlabel="step k (symlog)", ylabel="lr / ||W1||^2", title="Effective step of the first layer")
        log.figure("instability", fig)
