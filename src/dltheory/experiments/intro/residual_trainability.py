r"""Degradation: deeper plain networks train worse; identity shortcuts remove it (He et al. 2016).

Setup (He, Zhang, Ren, Sun, CVPR 2016, Sec. 4.1 and Fig. 1/4, at laptop scale): fully connected
networks on scikit-learn digits (``num_train`` images), :class:`dltheory.models.mlp.ResidualMLP`
with B blocks of two ``width x width`` layers (2B hidden layers), He-normal init, trained by
full-batch SGD with momentum 0.9 (the paper's optimizer) through the one training loop, the same
steps and step size for every depth. The plain network has the same layers without shortcuts
(:math:`h_{b+1} = \sigma(V_b\sigma(U_b h_b))`); the residual one adds the identity,
:math:`h_{b+1} = h_b + V_b\sigma(U_b h_b)/\sqrt B`.

Theory. A deeper network can represent everything a shallower one can (extra layers as identities),
so a higher *training* loss at depth is an optimization failure, not overfitting: the degradation
problem of He et al. With identity shortcuts the extra blocks start near the identity and the
deep network trains at least as well as the shallow one (their Fig. 4: 34-layer ResNet below
18-layer, 34-layer plain above 18-layer plain).

Claims (depths B in ``blocks``; the shallowest and the deepest are compared, every arm from its own
seeded init):

1. ``plain_degrades_with_depth``: the training loss averaged over the run (the area under the training
   curve, recorded every 1% of the steps) of the deepest plain net over the shallowest's: > 1;
2. ``residual_does_not_degrade`` (main): the same ratio for the residual nets: <= 1.

The final losses are metrics. A first version claimed the final-loss ratio; it held on 20/20 seeds
at the quick size, but with width 48, 800 images and step 0.005 the 24-layer plain net sometimes
caught up by the last step (2 of 5 seeds) while still training far slower (average loss 1.05-1.24
against 0.71-0.72): at equal steps, the deep plain net is behind for most of the run, which is what
the average measures. The paper's statement is about the whole curve: in He et al.'s Figs. 1 and 4 the
deeper plain net's training error is above the shallower one's throughout training, not only at the end.

Metrics and figure: the training curves, the final training error, and the gradient norm of the
first layer at initialization for every depth (He et al. argue that the plain nets' failure is not
simply vanishing gradients; the norms are shown, not claimed).

Check: ``same_parameter_count`` (plain and residual nets of equal depth have the same number of weights).

Negative control (tests/experiments/test_residual_trainability.py): ``shortcuts=false`` (the residual arm
built without its identity shortcuts, i.e. plain): claim 2 fails.

Checked on (2026-12-03): quick preset, seeds 400-419: every claim holds on every seed (plain ratio
2.8-5.5, residual 0.51-0.83; on final losses 16.7-87 and 0.09-0.20). Changed size, width 48, 800
images, step 0.005, seeds 900-904: all hold (1.5-2.7, 0.50-0.73); with step 0.01 at that width
seed 901 diverged (the loop stops with an error naming step 241). With 20 instead of 24 layers the
final-loss degradation held on 19 of 20 seeds: the depth of the quick preset is where it is robust.
Quick takes about 6 s on an idle machine.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from dltheory.core.params import functionalize, num_params
from dltheory.core.plotting import PALETTE, figure
from dltheory.data.images import classification_split
from dltheory.experiments.base import Experiment, ImageClassificationConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.mlp import ResidualMLP
from dltheory.train.loop import train
from dltheory.train.optimizers import momentum

SOURCE = "He, Zhang, Ren, Sun 2016 (CVPR), Sec. 4.1, Figs. 1 and 4: the degradation problem and its removal by identity shortcuts"


@register
class ResidualTrainability(Experiment):
    """Plain fully connected nets train worse the deeper they are (degradation); the same layers with identity shortcuts do not."""

    id = "intro/residual-trainability"
    lecture = 1
    title = "Degradation: deeper plain nets reach a higher training loss; residual nets of the same depth do not"
    papers = ("he2016",)

    class Config(ImageClassificationConfig):
        num_train: int = Field(500, ge=10, le=60000, description="training images")
        width: int = Field(32, ge=2, le=4096, description="hidden width")
        blocks: list[Annotated[int, Field(ge=1, le=100)]] = Field([1, 12], min_length=2, max_length=10,
                                                                  description="depths B: blocks of two hidden layers (2B hidden layers)")
        steps: int = Field(300, ge=1, le=100000, description="full-batch SGD steps")
        lr: float = Field(0.01, gt=0, le=10, description="step size (momentum 0.9)")
        shortcuts: bool = Field(True, description="identity shortcuts in the residual arm (false: negative control, the arm is plain)")

    presets = {
        "tiny": {"num_train": 50, "width": 8, "blocks": [1, 2], "steps": 10},
        "quick": {},
        "full": {"dataset": "digits", "num_train": 1500, "width": 64, "blocks": [1, 2, 4, 8, 16, 28], "steps": 2000},
    }

    def run(self, config: Config, log: RunLog) -> None:
        dtype = torch.float32
        (xtr, ytr), _ = classification_split(config.dataset, config.num_train, data_root=config.data_root, dtype=dtype, device=log.device)
        depths = sorted(config.blocks)
        rows, curves, finals = [], {}, {}
        for kind, shortcuts in (("plain", False), ("residual", config.shortcuts)):
            for B in depths:
                net = ResidualMLP(xtr.shape[1], config.width, 10, blocks=B, shortcuts=shortcuts, generator=log.generator("init", kind, B), dtype=dtype)
                fm = functionalize(net)

                def loss_fn(p, batch, fm=fm):
                    return torch.nn.functional.cross_entropy(fm(p, batch[0]), batch[1])

                p0 = {k: v.clone().requires_grad_(True) for k, v in fm.params.items()}
                g0 = torch.autograd.grad(loss_fn(p0, (xtr, ytr)), p0["input.weight"])[0]
                res = train(loss_fn, fm.params, steps=config.steps, optimizer=momentum(config.lr, beta=0.9), data=(xtr, ytr),
                            description=f"{kind} {2 * B} layers", progress=log.progress, record_every=max(1, config.steps // 100))
                with torch.no_grad():
                    out = fm(res.params, xtr)
                    loss = float(torch.nn.functional.cross_entropy(out, ytr))
                    err = float((out.argmax(1) != ytr).float().mean())
                s, v = res.history["loss"]
                curves[(kind, B)] = (s, v)
                finals[(kind, B)] = res.params
                rows.append({"kind": kind, "blocks": B, "layers": 2 * B, "loss": loss, "mean_loss": float(np.mean(v)), "error": err, "grad_norm_init": float(g0.norm()), "params": num_params(fm.params)})
                log.metric(f"{kind}_loss_{2 * B}_layers", loss)
                log.metric(f"{kind}_mean_loss_{2 * B}_layers", float(np.mean(v)))
                log.metric(f"{kind}_grad_norm_init_{2 * B}_layers", float(g0.norm()))
                log.info(f"{kind}, {2 * B} hidden layers: final training loss {loss:.4g}, error {err:.3g}, first-layer gradient norm at init {float(g0.norm()):.3g}")
        log.artifact("data_and_params", x_train=xtr, y_train=ytr,
                     **{f"{k}_{2 * B}layers_{name.replace('.', '_')}": t for (k, B), p in finals.items() for name, t in p.items()},
                     **{f"curve_{k}_{2 * B}layers": np.stack(c) for (k, B), c in curves.items()})

        get = {(r["kind"], r["blocks"]): r for r in rows}
        lo, hi = depths[0], depths[-1]
        arm = "residual" if config.shortcuts else "residual arm without shortcuts"
        log.claim_greater("plain_degrades_with_depth", f"plain nets: training loss averaged over the {config.steps} SGD steps, {2 * hi} hidden layers over {2 * lo}",
                          get[("plain", hi)]["mean_loss"] / get[("plain", lo)]["mean_loss"], 1.0, source=SOURCE, oracle="training loss on the full training set")
        log.claim_less("residual_does_not_degrade", f"{arm}: training loss averaged over the steps, {2 * hi} hidden layers over {2 * lo}",
                       get[("residual", hi)]["mean_loss"] / get[("residual", lo)]["mean_loss"], 1.0, source=SOURCE, oracle="training loss on the full training set")
        log.claim_less("same_parameter_count", "plain and residual nets of equal depth: max |difference in parameter count|",
                       float(max(abs(get[("plain", B)]["params"] - get[("residual", B)]["params"]) for B in depths)), 0.5,
                       source="shortcuts add no parameters (He et al. 2016)", oracle="parameter count", kind="check")
        self._figure(log, rows, curves, depths)

    @staticmethod
    def _figure(log: RunLog, rows: list[dict], curves: dict, depths: list[int]) -> None:
        fig, axes = figure(3, 1, width=3.9, height=3.3)
        for ax, kind in zip(axes[:2], ("plain", "residual"), strict=True):
            for i, B in enumerate(depths):
                s, v = curves[(kind, B)]
                ax.plot(s, v, color=PALETTE[i % len(PALETTE)], label=f"{2 * B} layers")
            ax.set(yscale="log", xlabel="SGD step", ylabel="training loss", title=f"{kind.capitalize()} networks")
            ax.legend(fontsize=7)
        ax = axes[2]
        for i, kind in enumerate(("plain", "residual")):
            rs = [r for r in rows if r["kind"] == kind]
            ax.plot([r["layers"] for r in rs], [r["grad_norm_init"] for r in rs], "o-", color=PALETTE[i], label=kind)
        ax.set(yscale="log", xlabel="hidden layers", ylabel="first-layer gradient norm at init", title="Gradients at initialization")
        ax.legend(fontsize=7)
        log.figure("degradation", fig)
