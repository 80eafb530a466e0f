r"""Dropout lowers the test error and the train-test gap of an over-parameterized MLP on small real data (Srivastava et al., JMLR 2014).

Setup (the paper's Sec. 6.1.1 / Fig. 4 on MNIST, at the size of scikit-learn's 8x8 digits):
each of ``pairs`` pairs draws its own random split of the 1797 digits (``num_train`` training
images, the rest held out) and one initialization (PyTorch's default uniform init of
:func:`~dltheory.models.mlp.mlp`) of a ReLU MLP 64-``width``-...-``width``-10 (``depth`` hidden
layers); the two nets of a pair start from the same weights, see the same minibatches in the
same order and take the same number of Adam steps on the cross-entropy, one plainly, one with
dropout: every hidden unit is kept with probability :math:`1-p` (``dropout``) and every input
pixel with :math:`1-p_\text{in}` (``input_dropout``) at each step, independently, with the
kept units scaled by :math:`1/(1-p)` ("inverted" dropout: the paper's test-time rule
:math:`W \to (1-p)W`, applied during training instead, so the test-time net is the plain one).
All 2 x ``pairs`` nets are trained at once as one batched parameter set by
:func:`dltheory.train.loop.train` (Adam is coordinate-wise and the loss a sum over nets, so
this is exactly independent training); the forward pass is checked against
:func:`~dltheory.models.mlp.mlp`'s module.

Theory. Dropout trains an exponential family of thinned nets with shared weights and predicts
with their approximate geometric average; it stops units from co-adapting to the training set.
The paper (Figs. 4, 9-10, Tables 2-9) finds that the dropout net has a lower test error than the
same net trained without it, with the same architecture and training; its training error is
the same or higher, so the train-test gap shrinks. Sec. 7.4 (Fig. 10, MNIST): the gain is nil at
100-500 training images (the net overfits even through the noise) and appears from about 1000
on; quick uses 800 of the digits (64 pixels instead of 784). The over-parameterized plain net
reaches zero training error within a few epochs, so its test error is what its implicit bias
gives.

Statistic. For each net, train and test error are averaged over the evaluations in the last
quarter of training (one evaluation every ``eval_every`` steps): a single final evaluation
moves by +-0.3% from one evaluation to the next with dropout's noise, more than the effect.
Paired differences :math:`d_i = e_i^\text{plain} - e_i^\text{dropout}` over the pairs; claims use
the lower end of the two-sided 95% Student-t interval :math:`\bar d - t_{0.975,P-1}\,s_d/\sqrt P`.

Claims:

1. ``dropout_lowers_test_error``: lower end of the 95% interval of the paired test-error
   difference (plain - dropout) > 0 (Srivastava et al. Fig. 4, Tables 2-3: dropout's test error
   is lower at equal architecture);
2. ``dropout_lowers_gap``: the same for the train-test gap (test error - train error).

Check: ``batched_forward_matches_mlp``: the batched forward pass of pair 0's trained plain
and dropout nets (no mask) equals the logits of :func:`~dltheory.models.mlp.mlp`'s
``nn.Sequential`` loaded with those weights (max |difference| < 1e-4, float32).

Negative control (tests/experiments/test_dropout_generalization.py): ``dropout = 0``: the two
nets of a pair are the same computation, every paired difference is exactly 0 and claim 1
fails (lower end 0, not > 0).

Checked on (quick: 12 pairs of 64-128-10 nets, 800 training digits, 1200 steps): seeds 0-2 and
400-419 (23 seeds; 415-419 after the merge; a changed size was not run): both claims hold on every
one; lower ends 0.00035-0.0032 (test error) and 0.0007-0.0038 (gap); mean test errors about 3.3% without and 2.9% with dropout. About 11 s of
one unloaded CPU thread, above the ~6 s target: with 6 pairs the claim failed on 8 of 16 seeds
(mean effect ~0.35 points, per-pair standard deviation ~0.4 points, the noise of a 997-image test
set); 64-64-64-10 nets gained less (mean 0.1-0.3 points, claim failed on seed 0), in line with
the paper's advice of n/p units per layer. Full preset not run.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from dltheory.core.plotting import PALETTE, figure
from dltheory.core.stats import t_interval
from dltheory.data.images import digits_data
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.mlp import mlp
from dltheory.train.loop import Callback, train

SOURCE = "Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov 2014 (JMLR 15(56))"
DIGITS = 1797


def batched_mlp(params: dict[str, torch.Tensor], x: torch.Tensor, keep: list[torch.Tensor] | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Logits of M ReLU MLPs at once: ``params`` ``W{l}`` (M, fan_in, fan_out), ``b{l}`` (M, 1, fan_out); ``x`` (M, B, d).

    ``keep`` (one (M, 1, 1) tensor per layer input, or None: no dropout): the probability of keeping
    each unit of that layer's input; kept units are scaled by 1/keep (inverted dropout), masks drawn
    from ``generator``. Cost: :math:`M B \sum_l n_{l-1} n_l` multiply-adds.
    """
    L = len([k for k in params if k.startswith("W")])
    h = x
    for i in range(L):
        if keep is not None:
            q = keep[i]
            h = h * ((torch.rand(h.shape, generator=generator, dtype=h.dtype, device=h.device) < q).to(h.dtype) / q)
        h = torch.baddbmm(params[f"b{i}"], h, params[f"W{i}"])
        if i < L - 1:
            h = torch.relu(h)
    return h


@register
class DropoutGeneralization(Experiment):
    """Dropout lowers the test error and the train-test gap of an over-parameterized ReLU MLP on 800 digits (paired over splits and inits)."""

    id = "dropout/generalization"
    lecture = 3
    title = "Dropout lowers the test error and the train-test gap of an over-parameterized MLP"
    papers = ("srivastava2014",)

    class Config(ExperimentConfig):
        num_train: int = Field(800, ge=20, le=1700, description="training images of each pair's random split of the 1797 digits (the rest is the test set)")
        width: int = Field(128, ge=2, le=4096, description="units of each hidden layer")
        depth: int = Field(1, ge=1, le=6, description="hidden layers")
        dropout: float = Field(0.5, ge=0.0, le=0.9, description="drop probability p of each hidden unit at each step (the paper's 0.5)")
        input_dropout: float = Field(0.0, ge=0.0, le=0.9, description="drop probability of each input pixel (the paper uses 0.2 on MNIST's 784 pixels)")
        steps: int = Field(1200, ge=1, le=200_000, description="Adam steps, the same for both nets of a pair")
        lr: float = Field(3e-3, gt=0.0, le=1.0, description="Adam step size")
        batch_size: int = Field(50, ge=1, le=1700, description="minibatch size (minibatches drawn by random reshuffling, the same for both nets of a pair)")
        pairs: int = Field(12, ge=2, le=64, description="pairs (plain, dropout), each with its own split and init")
        eval_every: int = Field(60, ge=1, le=100_000, description="steps between evaluations of train and test error")

    presets = {
        "tiny": {"num_train": 200, "width": 16, "steps": 60, "pairs": 2, "eval_every": 20},
        "quick": {},
        "full": {"width": 512, "depth": 2, "input_dropout": 0.2, "steps": 4000, "pairs": 8, "eval_every": 100},
    }

    def run(self, config: Config, log: RunLog) -> None:
        P, M, dtype, dev = config.pairs, 2 * config.pairs, torch.float32, log.device
        if config.batch_size > config.num_train:
            raise ValueError(f"`batch_size` must be <= num_train = {config.num_train}; got {config.batch_size}.")
        x, y1 = digits_data(DIGITS, input_scale=1.0, dtype=dtype, device=dev)
        x, y = x.reshape(DIGITS, -1), y1.argmax(1)
        splits = [torch.as_tensor(log.rng("split", p).permutation(DIGITS), device=dev) for p in range(P)]
        tr = torch.stack([s[:config.num_train] for s in splits])  # (P, n)
        te = torch.stack([s[config.num_train:] for s in splits])  # (P, N - n)
        xtr, ytr = x[tr].repeat(2, 1, 1), y[tr].repeat(2, 1)  # (M, n, 64), (M, n): net j and j + P share pair j's data
        xte, yte = x[te].repeat(2, 1, 1), y[te].repeat(2, 1)
        sizes = [x.shape[1]] + [config.width] * config.depth + [10]
        nets = [mlp(sizes, activation="relu", generator=log.generator("init", p), dtype=dtype) for p in range(P)]
        params = {}
        for i in range(len(sizes) - 1):
            W = torch.stack([n.get_submodule(f"linear{i + 1}").weight.detach().T for n in nets])  # (P, fan_in, fan_out)
            b = torch.stack([n.get_submodule(f"linear{i + 1}").bias.detach()[None] for n in nets])  # (P, 1, fan_out)
            params[f"W{i}"], params[f"b{i}"] = W.repeat(2, 1, 1), b.repeat(2, 1, 1)
        is_drop = torch.arange(M, device=dev) >= P  # nets P..2P-1 use dropout
        keep = [torch.where(is_drop, 1.0 - (config.input_dropout if i == 0 else config.dropout), 1.0).to(dtype)[:, None, None] for i in range(len(sizes) - 1)]
        masks = log.generator("masks")

        def loss_fn(ps, batch):
            xb, yb = batch  # (B, M, 64), (B, M): pair j's images at the batch's positions
            out = batched_mlp(ps, xb.transpose(0, 1), keep, masks)
            return F.cross_entropy(out.reshape(-1, 10), yb.T.reshape(-1), reduction="sum") / len(xb)  # sum over nets of each net's mean loss

        curves: dict[str, list] = {"step": [], "train": [], "test": []}

        def evaluate(info):
            with torch.no_grad():
                e_tr = (batched_mlp(info.params, xtr).argmax(-1) != ytr).to(torch.float64).mean(1)
                e_te = (batched_mlp(info.params, xte).argmax(-1) != yte).to(torch.float64).mean(1)
            curves["step"].append(info.step)
            curves["train"].append(e_tr.cpu().numpy())
            curves["test"].append(e_te.cpu().numpy())
            return {"test_error_plain": float(e_te[:P].mean()), "test_error_dropout": float(e_te[P:].mean())}

        res = train(loss_fn, params, steps=config.steps, optimizer="adam", lr=config.lr, data=(xtr.transpose(0, 1), ytr.T), batch_size=config.batch_size,
                    generator=log.generator("batches"), callbacks=[Callback(evaluate, every=config.eval_every)], description="plain and dropout MLPs", progress=log.progress)
        steps = np.asarray(curves["step"])
        E_tr, E_te = np.stack(curves["train"]), np.stack(curves["test"])  # (evals, M)
        last = steps >= 0.75 * steps[-1]
        tr_avg, te_avg = E_tr[last].mean(0), E_te[last].mean(0)  # (M,)
        gap = te_avg - tr_avg
        d_test, d_gap = te_avg[:P] - te_avg[P:], gap[:P] - gap[P:]
        m_test, lo_test, hi_test = t_interval(d_test)
        m_gap, lo_gap, hi_gap = t_interval(d_gap)
        for k, s in enumerate(steps):
            for name, E in (("train_error", E_tr), ("test_error", E_te)):
                log.scalar(f"{name}_plain", s, float(E[k, :P].mean()))
                log.scalar(f"{name}_dropout", s, float(E[k, P:].mean()))
        for name, v in (("test_error_plain", te_avg[:P].mean()), ("test_error_dropout", te_avg[P:].mean()), ("train_error_plain", tr_avg[:P].mean()),
                        ("train_error_dropout", tr_avg[P:].mean()), ("gap_plain", gap[:P].mean()), ("gap_dropout", gap[P:].mean()),
                        ("test_diff_mean", m_test), ("test_diff_ci_low", lo_test), ("test_diff_ci_high", hi_test), ("gap_diff_mean", m_gap),
                        ("gap_diff_ci_low", lo_gap), ("pairs_dropout_better", float((d_test > 0).sum())), ("final_loss_sum", res.final_loss)):
            log.metric(name, float(v))
        log.info("paired test-error differences (plain - dropout): " + ", ".join(f"{v:.4f}" for v in d_test))

        # check: the batched forward pass equals mlp()'s module with pair 0's trained weights
        gap_fwd = 0.0
        for j in (0, P):
            net = mlp(sizes, activation="relu", generator=log.generator("check"), dtype=dtype)
            with torch.no_grad():
                for i in range(len(sizes) - 1):
                    lin = net.get_submodule(f"linear{i + 1}")
                    lin.weight.copy_(res.params[f"W{i}"][j].T)
                    lin.bias.copy_(res.params[f"b{i}"][j, 0])
                gap_fwd = max(gap_fwd, float((net(xte[j]) - batched_mlp({k: v[j:j + 1] for k, v in res.params.items()}, xte[j:j + 1])[0]).abs().max()))
        log.artifact("data_and_params", train_index=tr.cpu(), test_index=te.cpu(), steps=steps, train_error=E_tr, test_error=E_te, dropout_net=is_drop.cpu(),
                     sizes=np.asarray(sizes), **{k: v.cpu() for k, v in res.params.items()})

        n_te = DIGITS - config.num_train
        log.claim_greater("dropout_lowers_test_error", f"{P} pairs (own split of {config.num_train} train / {n_te} test digits and own init), MLP {'-'.join(map(str, sizes))}, "
                          f"{config.steps} Adam steps, hidden dropout {config.dropout:g}, input dropout {config.input_dropout:g}: lower end of the 95% t-interval of the paired "
                          f"test-error difference (plain - dropout; errors averaged over the last quarter of training); mean {m_test:.4f}",
                          lo_test, 0.0, source=SOURCE + ", Fig. 4 and Tables 2-3 (dropout lowers the test error at equal architecture and training)",
                          oracle="held-out digits; paired Student-t interval (scipy.stats.t)")
        log.claim_greater("dropout_lowers_gap", f"the same pairs: lower end of the 95% t-interval of the paired difference of train-test gaps (plain - dropout); mean {m_gap:.4f} "
                          f"(gaps {gap[:P].mean():.4f} plain, {gap[P:].mean():.4f} dropout)",
                          lo_gap, 0.0, source=SOURCE + ", Sec. 1 and Fig. 4 (dropout prevents overfitting: the train-test gap shrinks)",
                          oracle="held-out digits; paired Student-t interval (scipy.stats.t)")
        log.claim_less("batched_forward_matches_mlp", "pair 0's trained plain and dropout nets: batched forward pass (no mask) vs dltheory.models.mlp's nn.Sequential with the same weights, "
                       "max |logit difference| on the test images", gap_fwd, 1e-4, source="definition of the MLP", oracle="nn.Sequential of nn.Linear + ReLU", kind="check")
        self._figure(log, steps, E_tr, E_te, d_test, d_gap, P, (m_test, lo_test, hi_test), (m_gap, lo_gap, hi_gap))

    @staticmethod
    def _figure(log: RunLog, steps, E_tr, E_te, d_test, d_gap, P, ci_test, ci_gap) -> None:
        fig, axes = figure(2, 1, width=4.6, height=3.4)
        ax = axes[0]
        for j in range(P):
            ax.plot(steps, E_te[:, j], color=PALETTE[1], alpha=0.25, linewidth=0.7)
            ax.plot(steps, E_te[:, P + j], color=PALETTE[0], alpha=0.25, linewidth=0.7)
        ax.plot(steps, E_te[:, :P].mean(1), color=PALETTE[1], label="test, without dropout")
        ax.plot(steps, E_te[:, P:].mean(1), color=PALETTE[0], label="test, with dropout")
        ax.plot(steps, E_tr[:, :P].mean(1), ":", color=PALETTE[1], label="train, without dropout")
        ax.plot(steps, E_tr[:, P:].mean(1), ":", color=PALETTE[0], label="train, with dropout")
        ax.axvspan(0.75 * steps[-1], steps[-1], color="0.9", zorder=0, label="averaged for the claims")
        ax.set(xlabel="step", ylabel="classification error", ylim=(0, max(0.15, float(E_te[len(steps) // 4:].max()) * 1.1)), title="Error vs steps (cf. Srivastava et al. Fig. 4)")
        ax.legend(fontsize=7)
        ax = axes[1]
        for k, (d, ci) in enumerate(((d_test, ci_test), (d_gap, ci_gap))):
            ax.plot(np.full(len(d), k) + np.linspace(-0.1, 0.1, len(d)), d, "o", color=PALETTE[2 + k], alpha=0.7)
            ax.errorbar([k + 0.3], [ci[0]], yerr=[[ci[0] - ci[1]], [ci[2] - ci[0]]], fmt="s", color="black", capsize=4, label="mean, 95% t-interval" if k == 0 else None)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks([0, 1], ["test error", "train-test gap"])
        ax.set(ylabel="plain - dropout (per pair)", title="Paired differences (> 0: dropout better)")
        ax.legend(fontsize=7)
        log.figure("error_vs_steps", fig)
