r"""Minibatch linear CKA beside torch-cka: agreement, time, and the inputs where torch-cka returns NaN.

Run: ``.venv/bin/python benchmarks/similarity.py [--examples 10000]``. Writes the "## Representation
similarity (vs torch-cka)" section of ``benchmarks/RESULTS.md``. One process, one thread.

Models: two 784-512-512-10 ReLU MLPs (669,706 parameters each) from seeds 0 and 1; data: ``--examples``
inputs of 784 features with a rank-20 structure plus noise, in batches of 500 (float32, as users'
activations are). Both tools compute the same estimator, the unbiased HSIC per minibatch averaged over
batches (Nguyen, Raghu, Kornblith 2021), between the outputs of the three Linear layers of each
model (a 3 x 3 matrix): torch-cka's ``CKA(...).compare(loader)`` (float32, hooks left on the model,
so it runs on deep copies) and :func:`dltheory.probes.similarity.minibatch_cka` (float64
accumulation). Median of 3 interleaved repetitions; agreement is the largest absolute difference of
the matrices; inputs scaled by 1, 1e2 and 1e4 (float32 Gram matrices of large activations).

Failure cases: a layer whose output is constant over the data (a ReLU layer pushed below zero, a
common dead layer): CKA is undefined (0/0); and layers requested in an order other than the
forward order (torch-cka keys its rows by the order in which the hooks fire).
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dltheory.probes.similarity import minibatch_cka

sys.path.insert(0, str(Path(__file__).parent))
from _results import write_section  # noqa: E402  (the one RESULTS.md writer)

HEAD = "## Representation similarity (vs torch-cka)"
LAYERS = ["0", "2", "4"]
BATCH = 500
REPS = 3


def mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def theirs(ma: nn.Module, mb: nn.Module, X: torch.Tensor, la=LAYERS, lb=LAYERS) -> torch.Tensor:
    from torch_cka import CKA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = CKA(copy.deepcopy(ma), copy.deepcopy(mb), model1_layers=la, model2_layers=lb, model1_name="a", model2_name="b")
        import contextlib
        import io

        with contextlib.redirect_stderr(io.StringIO()):  # its tqdm bar
            c.compare(DataLoader(TensorDataset(X), batch_size=BATCH))
    return c.export()["CKA"].double()


def ours(ma: nn.Module, mb: nn.Module, X: torch.Tensor, la=LAYERS, lb=LAYERS) -> torch.Tensor:
    return minibatch_cka(ma, (X[i:i + BATCH] for i in range(0, len(X), BATCH)), la, mb, lb)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=10_000)
    args = ap.parse_args()
    from importlib.metadata import version

    import torch_cka  # noqa: F401  (fail early if the bench extra is missing)

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    n = args.examples
    X = torch.randn(n, 20, generator=g) @ torch.randn(20, 784, generator=g) / 4.5 + 0.3 * torch.randn(n, 784, generator=g)
    ma, mb = mlp(0), mlp(1)
    rows = []
    for scale in (1.0, 1e2, 1e4):
        Xs = X * scale
        t_ours, t_theirs = [], []
        for _ in range(REPS):
            t = time.perf_counter()
            a = ours(ma, mb, Xs)
            t_ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            b = theirs(ma, mb, Xs)
            t_theirs.append(time.perf_counter() - t)
        rows.append((scale, statistics.median(t_theirs), statistics.median(t_ours), float((a - b).abs().max()), float(a.diagonal().min()), float(a.diagonal().max())))
        print(rows[-1], flush=True)

    # a dead layer: every ReLU output 0 on the data
    dead = mlp(1)
    with torch.no_grad():
        dead[2].bias.fill_(-1e3)
    try:
        r = theirs(ma, dead, X[:2000], LAYERS, ["3"])
        dead_theirs = f"returns {r.flatten().tolist()}"
    except AssertionError as e:
        dead_theirs = f"AssertionError: {e}"
    try:
        ours(ma, dead, X[:2000], LAYERS, ["3"])
        dead_ours = "no error"
    except ValueError as e:
        dead_ours = f"ValueError: {e}"

    # layers requested against the forward order
    rev = ["4", "0"]
    b = theirs(ma, mb, X[:2000], rev, rev)
    a = ours(ma, mb, X[:2000], rev, rev)
    fwd = ours(ma, mb, X[:2000], ["0", "4"], ["0", "4"])
    order_err = float((b - a).abs().max())
    order_theirs_is_forward = float((b - fwd).abs().max())

    lines = [HEAD, "",
             f"`benchmarks/similarity.py`; torch {torch.__version__}, torch-cka {version('torch-cka')}, 1 thread, {platform.machine()}, shared machine; "
             f"two 784-512-512-10 ReLU MLPs (669,706 parameters each, seeds 0 and 1), {n} float32 inputs of rank-20 structure plus noise, batches of {BATCH}; "
             f"the 3 x 3 linear minibatch-CKA matrix (unbiased HSIC per batch, Nguyen et al. 2021) between the three Linear layers' outputs; median of {REPS}.", "",
             "| input scale | torch-cka s | dltheory s | speed-up | max abs. difference | CKA range on the diagonal |", "|---|---|---|---|---|---|"]
    for scale, tt, to, d, lo, hi in rows:
        lines.append(f"| {scale:g} | {tt:.2f} | {to:.2f} | {tt / to:.2f}x | {d:.1e} | {lo:.3f}-{hi:.3f} |")
    lines += ["",
              f"Dead layer (the second ReLU of model B pushed below zero: its output is 0 on every input; CKA is 0/0): torch-cka: {dead_theirs}; "
              f"dltheory: {dead_ours}",
              "",
              f"Layers asked for as {rev} (against the forward order): torch-cka's rows follow the order in which its hooks fire, not the order asked for: "
              f"its matrix differs from ours (in the order asked) by {order_err:.2f} and from ours in forward order by {order_theirs_is_forward:.1e}.",
              "",
              f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."]
    write_section("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
