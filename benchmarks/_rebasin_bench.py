r"""Weight matching beside the ``rebasin`` package (used by ``benchmarks/landscape.py``).

Two networks of one architecture trained independently (different initializations and data
orders) on scikit-learn's digits upsampled to 28 x 28 (MLP 784-512-512-512-10) or 16 x 16
(a small residual CNN without normalization), Adam, cross-entropy. Both packages align B to A
by weight matching; the barrier is measured identically for both (``dltheory.probes.barrier``
on the training data), and so is the matching objective each reached, :math:`\sum_k \langle
W_A^{(k)}, \pi(W_B)^{(k)}\rangle` over all parameter tensors (the unpermuted ones add the same
constant to both).
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from dltheory.core import functionalize
from dltheory.probes import (
    apply_permutation,
    barrier,
    loss_closure,
    permutation_spec,
    weight_matching,
)
from dltheory.train import train


class ResidualCNN(nn.Module):
    """conv 1->C, two residual blocks (conv-ReLU-conv + identity), global average pool, linear."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.b1 = nn.ModuleList([nn.Conv2d(channels, channels, 3, padding=1) for _ in range(2)])
        self.b2 = nn.ModuleList([nn.Conv2d(channels, channels, 3, padding=1) for _ in range(2)])
        self.head = nn.Linear(channels, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        for blk in (self.b1, self.b2):
            x = F.relu(x + blk[1](F.relu(blk[0](x))))
        return self.head(x.mean(dim=(2, 3)))


def data(name: str):
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    x = F.interpolate(x, size=(28, 28) if name == "MLP" else (16, 16), mode="bilinear", align_corners=False)
    return x, torch.tensor(d.target)


def make(name: str, seed: int) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if name == "MLP":
            return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
        return ResidualCNN()


def trained(name: str, seed: int, X, y) -> nn.Module:
    model = make(name, seed)
    fm = functionalize(model)
    res = train(loss_closure(model, F.cross_entropy), fm.params, steps=300 if name == "MLP" else 400, optimizer="adam", lr=1e-3, data=(X, y),
                batch_size=64, generator=torch.Generator().manual_seed(100 + seed), progress=False)
    return fm.load_into(res.params).eval()


def bench_rebasin(name: str, reps: int = 3) -> dict:
    from rebasin import PermutationCoordinateDescent

    X, y = data(name)
    a, b = trained(name, 1, X, y), trained(name, 2, X, y)
    pa = functionalize(a).params
    pb = functionalize(b).params

    def bar(params_b) -> float:
        return barrier(a, F.cross_entropy, (X, y), pa, params_b).value

    b_none = bar(pb)
    t_ours, t_rb = [], []
    for _ in range(reps):  # interleaved repetitions, median time
        # ours: spec from the module, matching, applying
        t = time.perf_counter()
        spec = permutation_spec(a, X[:2])
        perms = weight_matching(spec, pa, pb)
        ours = apply_permutation(spec, pb, perms)
        t_ours.append(time.perf_counter() - t)
        # rebasin: tracing (torchview) + coordinate descent + permuting a copy of model B in place
        b2 = copy.deepcopy(b)
        t = time.perf_counter()
        pcd = PermutationCoordinateDescent(copy.deepcopy(a), b2, X[:2])
        pcd.rebasin()
        t_rb.append(time.perf_counter() - t)
    prb = {k: v.detach() for k, v in b2.named_parameters()}

    def inner(params_b) -> float:  # the weight-matching objective, up to the constant of the unpermuted tensors
        return float(sum((pa[k].double() * params_b[k].double()).sum() for k in pa))

    return {"name": name, "P": sum(p.numel() for p in a.parameters()), "ours_s": statistics.median(t_ours), "rb_s": statistics.median(t_rb), "b_none": b_none, "b_ours": bar(ours), "b_rb": bar(prb),
            "obj_none": inner(pb), "obj_ours": inner(ours), "obj_rb": inner(prb)}
