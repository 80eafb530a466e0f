r"""SVCCA: layers converge bottom-up, and a few SVCCA directions carry a layer's use (Raghu, Gilmer, Yosinski, Sohl-Dickstein, NeurIPS 2017).

SVCCA compares two representations of the same n inputs, :math:`X \in \mathbb R^{n\times p}` and
:math:`Y \in \mathbb R^{n\times q}` (a layer's activations): reduce each centered one to the top singular
directions that keep 99% of its variance, then take canonical correlation analysis between the reduced
ones; the similarity is the mean canonical correlation :math:`\bar\rho` (:func:`~dltheory.probes.similarity.svcca`).
It is invariant to invertible linear maps of either side. As in the paper, a convolutional layer's
channels are its neurons and each (image, position) is a data point; a fully connected layer (here the
logits) has one data point per image.

Setting: a small CNN (:func:`~dltheory.models.conv.convnet`, 3x3 conv + ReLU + 2x2 max-pool blocks of
``widths`` channels, then a linear read-out to the 10 logits) trained on scikit-learn's digits (8x8) by
minibatch SGD with heavy-ball momentum through the one training loop, ``checkpoints + 1`` saved states
evenly spaced from step 0 to the end.

1. Learning dynamics (Sec. 4.1, Fig. 4). For each layer l (each conv layer after its ReLU, and the
   logits) and each checkpoint t, :math:`S_l(t)` = SVCCA similarity of layer l at t with layer l at the
   end, on ``probe_images`` training images. The *convergence time* :math:`T_l` of a layer is the first
   checkpoint from which on :math:`S_l` stays :math:`\ge` ``threshold`` = 0.9 (fixed before running; "stays"
   so a single noisy crossing does not count). The paper: learning "broadly happens bottom up": layers
   closer to the input solidify into their final representations first, "with the exception of the very
   top layers" (Fig. 4's caption). Statistics fixed before running, over the conv layers (the logits
   are plotted and logged, not counted, as the caption excepts the top layers; here they converge about
   when the second conv layer does): Spearman's rank correlation between layer index and
   :math:`T_l` is positive (0 when every layer converges at the same checkpoint), and the first conv
   layer converges strictly before the last.
2. A few SVCCA directions carry the layer's use (Sec. 3.1, Fig. 3a). A second network B is trained from
   another initialization (and another batch order). For the last block's output of network A (after the
   max-pool: the layer the read-out sees, ``widths[-1]`` features at quick: the paper's fc layer), the
   SVCCA directions against the same layer of B are found on the training images
   (:func:`~dltheory.probes.similarity.svcca_directions`), ordered by canonical correlation; direction i in
   neuron space is the vector of the neurons' covariances with canonical variate i,
   :math:`\bar H^\top z_i`. Every comparison projects A's centered layer orthogonally onto a k-dimensional
   subspace of neuron space, :math:`\hat h = \mu + QQ^\top(h - \mu)` (:func:`project`; the mean of the
   training images restored), and runs A's read-out on it: the top-k SVCCA directions; k random
   Gaussian directions (mean over ``random_draws`` draws); the k neurons of largest mean activation (the
   paper's "max activation neurons": the others set to their mean); the top-k principal directions of
   A's layer alone (plotted, no claim). Claim: at ``k`` = 10 of 64 features the SVCCA projection keeps the
   test accuracy within 0.03 of the full layer (the paper: ~25 of 500 directions recover the full
   accuracy), while random directions and max-activation neurons each lose at least 0.03 more.
   Why k = 10, the number of classes: a rank-k projection leaves the 10 logits in a k-dimensional
   affine subspace, and separating 10 classes linearly needs k >= 9. (A first version used k = 8 and a
   least-squares refit of the layer from the k features for every baseline: the SVCCA projection lost
   0.039-0.040 on seeds 414, 415 (k below 9), and with a refit 12 random directions of this low-rank
   layer recover it within 0.01-0.02, far from the paper's gap; its random-neuron and max-activation
   baselines are plain projections, as here.)

Claims (quick preset): ``bottom_up_spearman`` (> 0), ``first_layer_converges_before_last`` (T_last - T_first > 0),
``top_svcca_directions_keep_accuracy`` (full - projected accuracy < 0.03; the directions are
``directions``: ``svcca`` normally), ``random_directions_lose_more`` (accuracy of the SVCCA projection
minus that of random directions > 0.03), ``max_activation_neurons_lose_more`` (the same against the k
neurons of largest mean activation, > 0.03).

Checks (oracle: scipy, independent of the library's code path): ``svcca_matches_scipy_angles`` (the
correlations of :func:`svcca` for every layer, initial vs final, equal the cosines of scipy's
principal angles between the SVD-reduced centered representations); ``directions_are_canonical`` (the
variates of :func:`svcca_directions` are orthonormal, :math:`Z_A^\top Z_B = \operatorname{diag}(\rho)`, and
:math:`\rho` equals :func:`svcca`'s); the Spearman statistic is scipy's ``spearmanr``.

Negative control (tests/experiments/test_svcca.py): ``directions = random``: claim 2's projection onto k
random directions does not keep the accuracy within 0.03 (random directions of a layer do not carry its
use; Fig. 3a's random baselines), so ``top_svcca_directions_keep_accuracy`` fails.

Checked on: quick preset, seeds 0-2 and 400-419 (23 seeds): every claim and check holds on every seed.
Convergence steps (act1, act2, act3; checkpoints every 30 steps): act1 at step 0 on every seed (its
SVCCA similarity to the final is 0.97-0.98 from initialization), act2 at 0-60, act3 at 60-150; Spearman
0.866-1.0; last minus first 60-150 steps. The logits (not counted) converge at 30-90. Claim 2 at k = 10
of 64: full accuracy minus the SVCCA projection's -0.003 to 0.012; SVCCA minus random directions
0.55-0.82; SVCCA minus max-activation neurons 0.27-0.64. Checks: <= 2.3e-14. About 5-6 s of CPU per run
on the shared 2-core machine (measured as process time under heavy load, imports excluded).
A changed size, widths = [8, 16, 32] (32 features in the last block, k = 10), seeds 400-409: every
claim holds; convergence steps act1 0, act2 60-90, act3 120-210 (Spearman 1.0 on every seed);
SVCCA projection within 0.010; random directions lose 0.29-0.65 more, max-activation neurons
0.05-0.42 more.
Before the switch to plain projections and k = 10 (k = 8, least-squares refit for every subspace), the
dynamics claims held on the same 20 seeds, the SVCCA projection failed on seeds 414 and 415, and a
"max-activation neurons lose more" claim failed on seeds 0 and 2.
Full preset (1500 training images, 1500 steps, 51 checkpoints, 500 probe images), seeds 0 and 1: every claim
holds in 44-49 s; convergence steps act1 0, act2 60, act3 150 and 120 (logits 60); SVCCA projection within 0.007,
random directions lose 0.65-0.69 more, max-activation neurons 0.17-0.45 more. A wider network, widths = [32, 64, 128]
with 3000 steps (an earlier full preset), fails claim 1: every conv layer's SVCCA similarity to its
final is already >= 0.9 at initialization (0.94, 0.92, 0.90; wider layers move less), so all converge
at step 0 and the order shows only at a higher threshold (0.95: steps 100, 200, 200); the fixed 0.9 is
a statement about layers that do move, as in the paper's CIFAR nets (claim 2 held there: 0.007, 0.75, 0.57).
No negative control is asserted for claim 1: freezing every layer but the first (tried on seeds 0, 1)
keeps the order (the downstream layers follow the first), so it does not separate the phenomenon.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field
from scipy.linalg import subspace_angles
from scipy.stats import spearmanr

from dltheory.core.params import clone_params, functionalize
from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.data.images import classification_split
from dltheory.experiments.base import Experiment, ImageClassificationConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.conv import convnet
from dltheory.probes.similarity import layer_activations, svcca, svcca_directions
from dltheory.train.loop import Callback, train
from dltheory.train.optimizers import momentum

SOURCE = "Raghu, Gilmer, Yosinski, Sohl-Dickstein 2017 (NeurIPS)"
SOURCE_DYN = SOURCE + ", Sec. 4.1, Fig. 4 (networks converge bottom up)"
SOURCE_DIR = SOURCE + ", Sec. 3.1, Fig. 3a (top SVCCA directions vs random and max-activation neurons)"


def as_points(a: torch.Tensor) -> torch.Tensor:
    """A layer's activations as (data points, neurons): conv (n, C, H, W) -> (n H W, C); linear (n, p) as is."""
    return a.permute(0, 2, 3, 1).reshape(-1, a.shape[1]) if a.ndim == 4 else a.reshape(a.shape[0], -1)


def convergence_time(similarity: np.ndarray, threshold: float) -> int:
    """Index of the first checkpoint from which on ``similarity`` stays >= ``threshold`` (the last index if only the end does)."""
    below = np.flatnonzero(similarity < threshold)
    return 0 if below.size == 0 else int(below[-1]) + 1


def project(H: torch.Tensor, V: torch.Tensor, H_new: torch.Tensor) -> torch.Tensor:
    r"""Orthogonal projection of a layer's centered activations onto the span of the columns of V (p, k), mean restored.

    :math:`\hat h = \mu + Q Q^\top (h - \mu)` with :math:`Q` an orthonormal basis of :math:`\operatorname{span}(V)` and
    :math:`\mu` the mean of H (n, p) (the fitting data); applied to H_new. With V = k columns of the identity
    the other neurons are set to their mean."""
    mu = H.mean(0)
    Q = torch.linalg.qr(V).Q
    return mu + (H_new - mu) @ Q @ Q.T


@register
class SVCCADynamics(Experiment):
    """SVCCA on a small CNN on digits: layers converge to their final representation bottom-up; the top SVCCA directions (against another network) carry the layer's use."""

    id = "representations/svcca"
    lecture = 4
    title = "SVCCA: layers converge bottom-up; a few SVCCA directions carry a layer's use"
    papers = ("raghu2017",)

    class Config(ImageClassificationConfig):
        widths: list[Annotated[int, Field(ge=1, le=1024)]] = Field([16, 32, 64], min_length=1, max_length=5,
                                                                    description="channels of the conv blocks (3x3 conv, ReLU, 2x2 max-pool); the image side must be divisible by 2^len")
        steps: int = Field(300, ge=1, le=100_000, description="SGD steps of each network")
        lr: float = Field(0.05, gt=0, le=10, description="SGD step size (heavy-ball momentum 0.9)")
        batch_size: int = Field(64, ge=1, le=60_000, description="minibatch size")
        checkpoints: int = Field(10, ge=2, le=1000, description="intervals between the saved states (checkpoints + 1 states, step 0 to the end)")
        probe_images: int = Field(150, ge=10, le=60_000, description="training images on which the per-layer SVCCA over training is computed")
        threshold: float = Field(0.9, gt=0, lt=1, description="a layer has converged from the first checkpoint on which its SVCCA similarity to the final stays >= this")
        keep: float = Field(0.99, gt=0, le=1, description="variance fraction kept by SVCCA's SVD step (0.99 in the paper)")
        k: int = Field(10, ge=1, le=1024, description="SVCCA directions kept in claim 2 (10 = the classes: C - 1 = 9 is the least rank that lets a linear read-out separate 10 classes)")
        ks: list[Annotated[int, Field(ge=1, le=1024)]] = Field([1, 2, 4, 6, 8, 12, 16, 32], min_length=1, max_length=32,
                                                              description="numbers of directions in the accuracy-vs-directions figure")
        random_draws: int = Field(5, ge=1, le=1000, description="random subspaces averaged per k")
        directions: Literal["svcca", "random", "max_activation", "pca"] = Field(
            "svcca", description="directions projected on in claim 2 (svcca normally; the others are the negative controls)")

    presets = {
        "tiny": {"num_train": 300, "widths": [4, 8], "steps": 40, "checkpoints": 4, "probe_images": 50, "k": 2, "ks": [1, 2, 4], "random_draws": 2},
        "quick": {},
        "full": {"num_train": 1500, "steps": 1500, "checkpoints": 50, "probe_images": 500,
                 "ks": [1, 2, 3, 4, 6, 8, 10, 12, 16, 24, 32, 48, 64], "random_draws": 20},
    }

    def run(self, config: Config, log: RunLog) -> None:
        dtype = torch.float32
        (xtr, ytr), (xte, yte) = classification_split(config.dataset, config.num_train, data_root=config.data_root, dtype=dtype, device=log.device)
        C = 3 if config.dataset == "cifar10" else 1
        side = int(round((xtr.shape[1] // C) ** 0.5))
        xtr, xte = xtr.reshape(-1, C, side, side), xte.reshape(-1, C, side, side)
        if side % 2 ** len(config.widths):
            raise ValueError(f"`widths` must have at most as many blocks as the image side {side} has factors of 2 (each block max-pools by 2); got {len(config.widths)} blocks.")
        width = config.widths[-1] * (side // 2 ** len(config.widths)) ** 2  # features of the last block (the read-out's input)
        if config.k > width:
            raise ValueError(f"`k` must be <= the {width} features of the last block (widths[-1] x its positions); got {config.k}.")
        if config.probe_images > len(xtr):
            raise ValueError(f"`probe_images` must be <= num_train = {len(xtr)}; got {config.probe_images}.")
        L = len(config.widths)
        names = [f"act{i + 1}" for i in range(L)] + ["linear"]
        every = max(1, config.steps // config.checkpoints)

        nets, states = [], []
        for which in ("A", "B"):
            net = convnet(C, config.widths, 10, image_size=side, pooling="max", generator=log.generator("init", which), dtype=dtype).to(log.device)
            fm = functionalize(net)
            saved: list[tuple[int, dict]] = []

            def keep_state(info, saved=saved):
                saved.append((info.step, clone_params(info.params)))

            def loss_fn(params, batch, fm=fm):
                return torch.nn.functional.cross_entropy(fm(params, batch[0]), batch[1])

            res = train(loss_fn, fm.params, steps=config.steps, optimizer=momentum(config.lr), data=(xtr, ytr), batch_size=config.batch_size,
                        generator=log.generator("batches", which), callbacks=[Callback(keep_state, every=every)] if which == "A" else [],
                        description=f"network {which}", progress=log.progress)
            nets.append((fm, res.params))
            states.append(saved)
        (fmA, pA), (fmB, pB) = nets
        saved = states[0]
        if saved[-1][0] != config.steps:
            saved.append((config.steps, clone_params(pA)))
        steps = np.array([s for s, _ in saved])

        # ---- claim 1: similarity of each layer to its final representation over training
        probe = xtr[: config.probe_images]

        def layers(params) -> list[torch.Tensor]:
            acts = layer_activations(fmA.load_into(params), probe, names)
            return [as_points(acts[n]) for n in names]

        final = layers(saved[-1][1])
        first = layers(saved[0][1])
        S = np.array([[svcca(a, b, keep=config.keep).similarity for a, b in zip(layers(p), final, strict=True)] for _, p in saved])  # (T, L+1)
        T = np.array([convergence_time(S[:, j], config.threshold) for j in range(L + 1)])
        T_steps = steps[T]
        Tc = T[:L]  # the conv layers: the paper's Fig. 4 sees bottom-up convergence "with the exception of the very top layers"
        rho = float(spearmanr(np.arange(L), Tc).statistic) if len(set(Tc.tolist())) > 1 else 0.0
        for t, s in enumerate(steps):
            for j, n in enumerate(names):
                log.scalar(f"svcca_to_final_{n}", int(s), float(S[t, j]))
        for j, n in enumerate(names):
            log.metric(f"convergence_step_{n}", int(T_steps[j]))
            log.metric(f"svcca_init_to_final_{n}", float(S[0, j]))
        log.metric("spearman_layer_vs_convergence", rho)
        log.info("convergence steps " + ", ".join(f"{n}={int(s)}" for n, s in zip(names, T_steps, strict=True)) + f"; Spearman {rho:.3f}")

        # scipy oracle for svcca: principal angles between the SVD-reduced centered representations (init vs final)
        angle_gap = 0.0
        for a, b in zip(first, final, strict=True):
            ref = np.sort(np.cos(subspace_angles(_reduced(a, config.keep), _reduced(b, config.keep))))[::-1]
            angle_gap = max(angle_gap, float(np.abs(svcca(a, b, keep=config.keep).correlations.cpu().numpy() - ref).max()))

        # ---- claim 2: project A's last block onto k directions
        lname = f"pool{L}"

        def block(fm, params, x) -> torch.Tensor:
            return layer_activations(fm.load_into(params), x, [lname])[lname].reshape(len(x), -1).double()

        HA, HB, HA_test = block(fmA, pA, xtr), block(fmB, pB, xtr), block(fmA, pA, xte)
        readout_w, readout_b = pA["linear.weight"].double(), pA["linear.bias"].double()

        def accuracy(H: torch.Tensor) -> float:
            return float(((H @ readout_w.T + readout_b).argmax(1) == yte).double().mean())

        full = accuracy(HA_test)
        d = svcca_directions(HA, HB, keep=config.keep)
        Zx, Zy = (HA - d.mean_x) @ d.weights_x, (HB - d.mean_y) @ d.weights_y
        eye = torch.eye(Zx.shape[1], dtype=Zx.dtype, device=Zx.device)
        canon_gap = max(float((Zx.T @ Zx - eye).abs().max()), float((Zy.T @ Zy - eye).abs().max()), float((Zx.T @ Zy - torch.diag(d.correlations)).abs().max()),
                        float((d.correlations - svcca(HA, HB, keep=config.keep).correlations).abs().max()))
        m = d.weights_x.shape[1]
        loadings = (HA - d.mean_x).T @ Zx  # (p, m): direction i in neuron space, the neurons' covariances with canonical variate i
        Vh = torch.linalg.svd(HA - HA.mean(0), full_matrices=False).Vh
        order = HA.mean(0).argsort(descending=True)
        g = log.generator("random_directions")
        eye_p = torch.eye(width, dtype=HA.dtype, device=HA.device)

        def accuracies(k: int) -> dict[str, float]:
            rand = [accuracy(project(HA, torch.randn(width, k, generator=g, device=g.device, dtype=HA.dtype).to(HA.device), HA_test))
                    for _ in range(config.random_draws)]
            return {"svcca": accuracy(project(HA, loadings[:, :k], HA_test)) if k <= m else float("nan"),
                    "random": float(np.mean(rand)), "max_activation": accuracy(project(HA, eye_p[:, order[:k]], HA_test)),
                    "pca": accuracy(project(HA, Vh[:k].T, HA_test))}

        ks = sorted({k for k in config.ks if k <= width} | {config.k})
        table = {k: accuracies(k) for k in ks}
        for k in ks:
            for key, v in table[k].items():
                log.scalar(f"accuracy_{key}", k, v)
        at = table[config.k]
        for key, v in at.items():
            log.metric(f"accuracy_{key}_k{config.k}", v)
        log.metric("accuracy_full", full)
        log.metric("svcca_directions_available", m)
        log.metric("svcca_A_B_last_block", float(d.correlations.mean()))
        log.info(f"full accuracy {full:.4f}; k = {config.k}: " + ", ".join(f"{key} {v:.4f}" for key, v in at.items()) + f"; {m} SVCCA directions")

        log.artifact("svcca_dynamics", steps=steps, layers=np.array(names), similarity_to_final=S, convergence_checkpoint=T, convergence_step=T_steps,
                     ks=np.array(ks), **{f"accuracy_{key}": np.array([table[k][key] for k in ks]) for key in ("svcca", "random", "max_activation", "pca")},
                     accuracy_full=full, svcca_correlations=d.correlations, svcca_weights_A=d.weights_x, svcca_mean_A=d.mean_x,
                     y_train=ytr, y_test=yte, **{f"params_A_{n.replace('.', '_')}": v for n, v in pA.items()},
                     **{f"params_B_{n.replace('.', '_')}": v for n, v in pB.items()})

        log.claim_greater("bottom_up_spearman", f"Spearman correlation of conv layer index ({', '.join(names[:L])}) and convergence step ({T_steps[:L].tolist()}; "
                          f"first checkpoint from which SVCCA to the final stays >= {config.threshold:g})", rho, 0.0, source=SOURCE_DYN,
                          oracle="scipy.stats.spearmanr (0 when every layer converges at the same checkpoint)")
        log.claim_greater("first_layer_converges_before_last", f"convergence step of the last conv layer ({names[L - 1]}) minus that of the first ({names[0]})",
                          float(T_steps[L - 1] - T_steps[0]), 0.0, source=SOURCE_DYN, oracle="SVCCA (probes.similarity.svcca) at saved checkpoints")
        used = at[config.directions]
        log.claim_less("top_svcca_directions_keep_accuracy", f"test accuracy of the full last block ({width} features; {full:.4f}) minus that after projecting it on "
                       f"its top {config.k} {config.directions} directions ({used:.4f})", full - used, 0.03, source=SOURCE_DIR,
                       oracle="held-out digits through network A's read-out")
        log.claim_greater("random_directions_lose_more", f"accuracy with the top {config.k} SVCCA directions minus with {config.k} random directions "
                          f"(mean of {config.random_draws} draws)", at["svcca"] - at["random"], 0.03, source=SOURCE_DIR, oracle="held-out digits")
        log.claim_greater("max_activation_neurons_lose_more", f"accuracy with the top {config.k} SVCCA directions minus with the {config.k} neurons of largest mean activation "
                          "(the others at their mean)", at["svcca"] - at["max_activation"], 0.03, source=SOURCE_DIR, oracle="held-out digits")
        log.claim_less("svcca_matches_scipy_angles", "every layer, init vs final: max |svcca correlations - cos(scipy principal angles of the SVD-reduced representations)|",
                       angle_gap, 1e-8, source=SOURCE + ", Sec. 2 (SVCCA = SVD then CCA)", oracle="scipy.linalg.subspace_angles", kind="check")
        log.claim_less("directions_are_canonical", "svcca_directions: max deviation of Z_A^T Z_A, Z_B^T Z_B from I, of Z_A^T Z_B from diag(rho), of rho from svcca's",
                       canon_gap, 1e-8, source=SOURCE + ", Sec. 2", oracle="definition of canonical variates; probes.similarity.svcca", kind="check")
        self._figure(log, steps, S, T_steps, names, config.threshold, ks, table, full, config.k)

    @staticmethod
    def _figure(log: RunLog, steps, S, T_steps, names, threshold, ks, table, full, k) -> None:
        fig, axes = figure(2, 1, width=4.6, height=3.5)
        ax = axes[0]
        for j, n in enumerate(names):
            c = PALETTE[j % len(PALETTE)]
            ax.plot(steps, S[:, j], "o-", ms=3, color=c, label=f"{n} (converged at step {int(T_steps[j])})")
            ax.axvline(T_steps[j], color=c, linestyle=":", linewidth=0.8)
        ax.axhline(threshold, **{**THEORY, "label": f"threshold {threshold:g}"})
        ax.set(xlabel="SGD step", ylabel="SVCCA similarity to the final layer", title="Learning dynamics: layers converge bottom-up")
        ax.legend(fontsize=7)
        ax = axes[1]
        styles = {"svcca": ("o-", "top SVCCA directions (vs network B)"), "pca": ("s--", "top principal directions"),
                  "max_activation": ("^-", "max-activation neurons"), "random": ("x-", "random directions")}
        for i, (key, (st, label)) in enumerate(styles.items()):
            ax.plot(ks, [table[kk][key] for kk in ks], st, color=PALETTE[i], label=label)
        ax.axhline(full, **{**THEORY, "label": f"full layer ({full:.3f})"})
        ax.axvline(k, color="gray", linestyle=":", linewidth=0.8)
        ax.set(xscale="log", xlabel="directions kept", ylabel="test accuracy", title="Projecting the last block onto k directions")
        ax.legend(fontsize=7)
        log.figure("svcca", fig)


def _reduced(X: torch.Tensor, keep: float) -> np.ndarray:
    """Centered X (numpy, float64) on its top singular directions keeping a ``keep`` fraction of the variance (SVCCA's SVD step, for the scipy oracle)."""
    Xc = X.double().cpu().numpy()
    Xc = Xc - Xc.mean(0)
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    frac = np.cumsum(s**2) / np.sum(s**2)
    r = int(np.sum(frac < keep - 1e-12)) + 1
    return U[:, :r] * s[:r]
