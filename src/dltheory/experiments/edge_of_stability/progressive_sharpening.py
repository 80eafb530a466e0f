r"""Progressive sharpening and the edge of stability (Cohen, Kaur, Li, Kolter, Talwalkar, ICLR 2021).

Full-batch gradient descent :math:`\theta_{t+1} = \theta_t - \eta \nabla L(\theta_t)` on the
square loss :math:`L(\theta) = \frac{1}{2n}\sum_i \|f_\theta(x_i) - y_i\|^2`. On a quadratic,
GD is stable iff the sharpness :math:`S(\theta) = \lambda_{\max}(\nabla^2 L(\theta)) < 2/\eta`.
Cohen et al. observe on neural networks (abstract and Sec. 3, Fig. 1-2):

1. **progressive sharpening**: the sharpness rises during training, starting well below
   :math:`2/\eta`;
2. **edge of stability**: once it reaches :math:`2/\eta` it stops rising and "hovers just
   above the value 2/(step size)";
3. meanwhile the training loss "behaves non-monotonically over short timescales, yet
   consistently decreases over long timescales".

Setup. ``chebyshev`` (quick): the paper's synthetic regression (official code
``synthetic.make_chebyshev_dataset`` and ``archs.make_one_layer_network``): 20 points evenly
spaced on [-1, 1] labelled by the Chebyshev polynomial :math:`T_k`, a 1-100-1 tanh network
with Xavier-normal weights (first-layer gain 1.9), zero first-layer bias and no output bias.
With this init the sharpness starts at 2.7-4.0 (seeds 0-9), so step sizes
:math:`\eta \le 0.2` (:math:`2/\eta \ge 10`) start below half of :math:`2/\eta` by
construction; degree 4 is one of the paper's targets (``chebyshev-{3,4,5}-20``).

``digits`` (full): the first n scikit-learn 8x8 digit images with pixel values in
[0, ``input_scale``] and one-hot targets (the paper's "mse" on one-hot labels), a 64-32-32-10
tanh MLP and a small ReLU CNN (``conv 3x3 -> ReLU -> maxpool`` x 2 -> linear, Cohen et al.'s
``convnet`` layout), both with PyTorch's default init. Pixel scale 1/2 puts the initial
sharpness at about 3.5-4 (raw [0, 1] pixels give about 7.5, too close to 2/eta = 16), while
the sharpness still rises past 2/eta for eta in {0.1, 0.125}. Progressive sharpening is
limited on this easy data (with raw pixels and eta = 0.05 the MLP's sharpness peaked near 24,
below 2/eta = 40, in 8000 steps), hence the moderate step sizes; the CNN sharpens much faster
(it reaches 2/eta within about 200 steps).

The sharpness is tracked with warm-started Lanczos (:func:`dltheory.probes.curvature.
sharpness_callback`); the oracle is the dense Hessian's top eigenvalue (``dense_hessian`` +
``torch.linalg.eigvalsh``) at a few checkpoints.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from dltheory.core import functionalize, num_params, to_numpy
from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.data.images import digits_data
from dltheory.data.synthetic import chebyshev_data
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.conv import convnet
from dltheory.models.mlp import mlp
from dltheory.probes.curvature import dense_hessian, sharpness_callback
from dltheory.train import Callback, train

SOURCE = "Cohen et al. 2021, abstract, Sec. 3 and Fig. 1-2"






def square_loss(fm):
    r"""``loss(params, (x, y)) = \frac{1}{2n}\sum_i \|f(x_i) - y_i\|^2`` (the paper's "mse")."""
    def loss(params, batch):
        x, y = batch
        return 0.5 * ((fm(params, x) - y) ** 2).sum(dim=1).mean()

    return loss


def eos_statistics(sharp_steps: np.ndarray, sharp: np.ndarray, loss: np.ndarray, lr: float, *, reach: float = 0.9) -> dict[str, float]:
    r"""Summaries of one GD run against the threshold :math:`2/\eta`.

    ``crossing``: first step with :math:`S \ge` ``reach`` :math:`\cdot 2/\eta` (nan if none);
    ``median``/``q10``/``q90``: quantiles of :math:`S\eta/2` over the second half of the steps
    after the crossing; ``increases``: number of steps t >= crossing with
    :math:`L_{t+1} > L_t`; ``loss_ratio``: median loss over the last 10% of the steps (the
    loss oscillates at the edge of stability, so the last value alone is noisy) over the loss
    at the crossing. ``loss`` holds the loss at every step 0..T.
    """
    thr = 2.0 / lr
    ratio = sharp / thr
    out = {"init_ratio": float(ratio[0]), "max_ratio": float(ratio.max()), "crossing": math.nan, "median": math.nan,
           "q10": math.nan, "q90": math.nan, "increases": math.nan, "loss_ratio": math.nan, "loss_at_crossing": math.nan}
    hit = np.nonzero(ratio >= reach)[0]
    if len(hit) == 0:
        return out
    c = int(sharp_steps[hit[0]])
    last = int(sharp_steps[-1])
    tail = ratio[sharp_steps >= c + (last - c) / 2]
    if len(tail) == 0:
        tail = ratio[-1:]
    out.update(crossing=c, median=float(np.median(tail)), q10=float(np.quantile(tail, 0.1)), q90=float(np.quantile(tail, 0.9)),
               increases=float(np.sum(np.diff(loss[c:]) > 0)), loss_at_crossing=float(loss[c]),
               loss_ratio=float(np.median(loss[-max(1, len(loss) // 10):]) / loss[c]))
    return out


@register
class ProgressiveSharpening(Experiment):
    """Full-batch GD on the square loss: the sharpness rises to 2/eta and hovers there while the loss keeps falling, non-monotonically."""

    id = "edge-of-stability/progressive-sharpening"
    lecture = 2
    title = "Progressive sharpening and the edge of stability of full-batch GD"
    papers = ("cohen2021",)

    class Config(ExperimentConfig):
        dataset: Literal["chebyshev", "digits"] = Field("chebyshev", description="Chebyshev regression (1-d) or scikit-learn digits")
        degree: int = Field(4, ge=1, le=20, description="degree k of the Chebyshev target T_k (chebyshev)")
        num_points: int = Field(20, ge=2, le=1797, description="training points (chebyshev: grid on [-1, 1]; digits: first n images)")
        input_scale: float = Field(0.5, gt=0, description="digits pixel range [0, input_scale] (sets the initial sharpness)")
        models: list[Literal["mlp", "cnn"]] = Field(["mlp"], min_length=1, description="networks to train (cnn: digits only)")
        hidden: list[int] = Field([100], min_length=1, description="hidden widths of the MLP")
        activation: Literal["tanh", "relu", "elu", "softplus"] = Field("tanh", description="MLP nonlinearity")
        cnn_widths: list[int] = Field([8, 8], min_length=1, description="channels of the CNN's conv blocks (ReLU, max-pool)")
        lrs: list[float] = Field([0.2, 0.1], min_length=2, description="GD step sizes eta")
        steps: int = Field(12_000, ge=1, description="GD steps per run")
        sharpness_every: int = Field(20, ge=1, description="steps between Lanczos sharpness evaluations")
        tol: float = Field(1e-3, gt=0, lt=0.1, description="relative residual tolerance of Lanczos")
        oracle_checkpoints: int = Field(2, ge=1, le=10, description="checkpoints (evenly spaced, last = final step) checked with the dense Hessian")
        dtype: Literal["float32", "float64"] = Field("float64", description="parameter and data dtype")

        @model_validator(mode="after")
        def _cnn_needs_images(self):
            if "cnn" in self.models and self.dataset != "digits":
                raise ValueError(f"`models` may contain 'cnn' only with dataset 'digits' (images); got dataset {self.dataset!r}")
            return self

    presets = {
        "tiny": {"steps": 200, "sharpness_every": 50, "hidden": [16], "oracle_checkpoints": 1},
        "quick": {},
        "full": {"dataset": "digits", "num_points": 512, "models": ["mlp", "cnn"], "hidden": [32, 32], "lrs": [0.125, 0.1],
                 "steps": 4000, "sharpness_every": 25},
    }

    def run(self, config: Config, log: RunLog) -> None:
        dtype = getattr(torch, config.dtype)
        if config.dataset == "chebyshev":
            x, y = chebyshev_data(config.degree, config.num_points, dtype=dtype, device=log.device)
        else:
            x, y = digits_data(config.num_points, input_scale=config.input_scale, dtype=dtype, device=log.device)
        data = (x, y)
        every = config.sharpness_every
        ckpts = sorted({every * round(config.steps * (j + 1) / config.oracle_checkpoints / every) for j in range(config.oracle_checkpoints)} - {0} | {config.steps})
        arrays: dict[str, np.ndarray] = {"x": x.cpu().numpy(), "y": y.cpu().numpy(), "lrs": np.array(config.lrs)}
        results: dict[str, list] = {}
        for model in config.models:
            net = self._network(model, config, log, dtype)
            fm = functionalize(net)
            loss_fn = square_loss(fm)
            log.info(f"{model}: {num_params(fm.params)} parameters, {len(y)} training points")
            results[model] = []
            for lr in config.lrs:
                tag = f"{model}, eta={lr:g}"
                saved: dict[int, dict] = {}

                def keep(info, saved=saved):
                    if info.step in ckpts:
                        saved[info.step] = dict(info.params)

                cb = sharpness_callback(loss_fn, every=every, tol=config.tol, data=data, generator=log.generator("lanczos", model, str(lr)))
                res = train(loss_fn, fm.params, steps=config.steps, lr=lr, data=data, callbacks=[cb, Callback(keep, every=every)],
                            description=f"GD {tag}", progress=log.progress)
                s_steps, sharp = res.history["sharpness"]
                _, loss = res.history["loss"]
                stats = eos_statistics(s_steps, sharp, loss, lr)
                oracle = self._oracle(loss_fn, data, saved, s_steps, sharp)
                results[model].append((lr, s_steps, sharp, loss, stats, oracle))
                self._claims(log, tag, lr, stats, oracle, config.tol)
                key = f"{model}_eta{lr:g}"
                arrays[f"{key}_sharpness_steps"], arrays[f"{key}_sharpness"], arrays[f"{key}_loss"] = s_steps, sharp, loss
                for name, v in to_numpy(res.params).items():
                    arrays[f"{key}_final_{name}"] = v
                for step, (_, _, eigs) in oracle.items():
                    arrays[f"{key}_dense_eigenvalues_step{step}"] = eigs
                for k, v in stats.items():
                    log.metric(f"{key}_{k}", v)
                for s, v in zip(s_steps, sharp, strict=True):
                    log.scalar(f"sharpness/{key}", s, v)
        log.artifact("data_params_spectra", **arrays)
        self._figures(log, results)

    @staticmethod
    def _network(model: str, config, log: RunLog, dtype):
        g = log.generator("init", model)
        if config.dataset == "chebyshev":  # Cohen et al.'s `make_one_layer_network`
            sizes = [1, *config.hidden, 1]
            n = len(sizes) - 1
            return mlp(sizes, activation=config.activation, bias=[True] * (n - 1) + [False], init="xavier_normal",
                       gains=[1.9] + [1.0] * (n - 1), generator=g, dtype=dtype)
        if model == "mlp":
            return mlp([64, *config.hidden, 10], activation=config.activation, generator=g, dtype=dtype)
        return convnet(1, config.cnn_widths, 10, image_size=8, activation="relu", pooling="max", generator=g, dtype=dtype)

    @staticmethod
    def _oracle(loss_fn, data, saved, s_steps, sharp) -> dict[int, tuple[float, float, np.ndarray]]:
        """Dense-Hessian top eigenvalue at each saved checkpoint, beside the Lanczos value there."""
        out = {}
        for step, params in sorted(saved.items()):
            H = dense_hessian(lambda p: loss_fn(p, data), params)
            eigs = torch.linalg.eigvalsh(H).cpu().numpy()
            out[step] = (float(eigs[-1]), float(sharp[np.nonzero(s_steps == step)[0][-1]]), eigs)
        return out

    @staticmethod
    def _claims(log: RunLog, tag: str, lr: float, stats: dict, oracle: dict, tol: float) -> None:
        slug = tag.replace(", eta=", "_eta")
        log.claim_less(f"init_below_{slug}", f"{tag}: the sharpness at init is well below 2/eta (S_0 eta/2)",
                       stats["init_ratio"], 0.5, source=SOURCE + " (progressive sharpening starts below 2/eta)",
                       oracle="Lanczos sharpness (checked against the dense Hessian below)")
        log.claim_greater(f"reaches_{slug}", f"{tag}: progressive sharpening: max_t S_t eta/2 reaches the edge of stability",
                          stats["max_ratio"], 0.9, source=SOURCE + " (sharpness rises until it reaches 2/eta)",
                          oracle="Lanczos sharpness; dense Hessian at checkpoints")
        log.claim_between(f"hovers_{slug}", f"{tag}: after reaching 2/eta the sharpness hovers there: median S eta/2 over the second half of the EoS phase",
                          stats["median"], 0.9, 1.1, source=SOURCE + ": 'hovers just above the value 2/(step size)' (+-10% band)",
                          oracle="Lanczos sharpness; dense Hessian at checkpoints")
        log.claim_greater(f"nonmonotone_{slug}", f"{tag}: the loss is non-monotone at the edge of stability: steps with L_t+1 > L_t after the crossing",
                          stats["increases"], 0, source=SOURCE + " ('non-monotonically over short timescales')", oracle="training loss at every step")
        log.claim_less(f"loss_falls_{slug}", f"{tag}: the loss keeps falling at the edge of stability: median loss over the last 10% of steps / loss at the crossing",
                       stats["loss_ratio"], 1.0, source=SOURCE + " ('consistently decreases over long timescales')", oracle="training loss at every step")
        err = max((abs(lam_l - lam_d) / abs(lam_d) for lam_d, lam_l, _ in oracle.values()), default=math.nan)
        log.claim_less(f"oracle_{slug}", f"{tag}: Lanczos sharpness = dense-Hessian top eigenvalue at {len(oracle)} checkpoint(s) (max relative error)",
                       err, tol, source="residual bound |theta - lambda| <= ||H v - theta v|| <= tol |theta| (Parlett 1998, Thm 4.5.1)",
                       oracle="dense_hessian + torch.linalg.eigvalsh")

    @staticmethod
    def _figures(log: RunLog, results: dict) -> None:
        models = list(results)
        fig, axes = figure(len(models), 1, squeeze=False, width=5.5, height=3.8)
        for ax, model in zip(axes[0], models, strict=True):
            for i, (lr, s_steps, sharp, _, _, oracle) in enumerate(results[model]):
                c = PALETTE[i % len(PALETTE)]
                ax.plot(s_steps, sharp, color=c, label=f"eta = {lr:g}")
                ax.axhline(2.0 / lr, color=c, linestyle="--", linewidth=1.2, label=f"2/eta = {2 / lr:g}")
                steps = list(oracle)
                ax.plot(steps, [oracle[s][0] for s in steps], "o", mfc="none", color=THEORY["color"], label="dense eigvalsh" if i == 0 else None)
            ax.set(xlabel="GD step", ylabel="sharpness  lambda_max(Hessian)", title=f"Sharpness ({model}); dashed: 2/eta")
            ax.legend(loc="upper left", fontsize=8)
        log.figure("sharpness", fig)
        fig, axes = figure(len(models), 1, squeeze=False, width=5.5, height=3.8)
        for ax, model in zip(axes[0], models, strict=True):
            for i, (lr, _, _, loss, stats, _) in enumerate(results[model]):
                c = PALETTE[i % len(PALETTE)]
                ax.plot(np.arange(len(loss)), loss, color=c, linewidth=1.0, label=f"eta = {lr:g}")
                if math.isfinite(stats["crossing"]):
                    ax.axvline(stats["crossing"], color=c, linestyle=":", linewidth=1.0)
            ax.set(xlabel="GD step", ylabel="training loss", yscale="log", title=f"Training loss ({model}); dotted: S reaches 0.9 * 2/eta")
            ax.legend()
        log.figure("loss", fig)
