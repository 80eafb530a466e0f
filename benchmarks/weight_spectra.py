r"""Power-law fits of weight spectra beside WeightWatcher: planted exponents, a 784-512-512-10 MLP, time.

Run: ``.venv/bin/python benchmarks/weight_spectra.py``. Writes the "## Weight spectra (vs WeightWatcher)"
section of ``benchmarks/RESULTS.md``. One process, one thread.

1. Planted exponents: a 1000 x 500 matrix :math:`W = U\,\mathrm{diag}(\sqrt{N\lambda})\,V^\top` with random
   orthogonal U, V and :math:`\lambda_i` drawn from a Pareto law of density exponent alpha (xmin 1), so the ESD
   of :math:`W^\top W/N` is exactly those draws and the true exponent is known. Five draws per alpha; the
   error of each tool's alpha against the truth, and against the MLE on the same draws with the true xmin
   (the best any xmin search can do).
2. A fresh 784-512-512-10 MLP (PyTorch's default init): i.i.d. weights, so Marchenko-Pastur and no power
   law; both tools' alpha, ours with the MP fit's KS distance.
3. Time for the whole summary of that MLP and of a ResNet-like stack of 3x3 convolutions.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dltheory.probes.weights import fit_power_law, weight_spectra

sys.path.insert(0, str(Path(__file__).parent))
from _results import write_section  # noqa: E402  (the one RESULTS.md writer)

HEAD = "## Weight spectra (vs WeightWatcher)"


def ww_analyze(model: nn.Module):
    import weightwatcher as ww

    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ww.WeightWatcher(model=model).analyze()


def planted(alpha: float, seed: int, N: int = 1000, M: int = 500) -> tuple[nn.Module, np.ndarray]:
    rng = np.random.default_rng(seed)
    lam = (1 - rng.uniform(size=M)) ** (-1 / (alpha - 1))  # Pareto, density exponent alpha, xmin 1
    U, _ = np.linalg.qr(rng.standard_normal((N, M)))
    V, _ = np.linalg.qr(rng.standard_normal((M, M)))
    W = U @ np.diag(np.sqrt(N * lam)) @ V.T  # (N, M): W^T W / N = V diag(lam) V^T
    lin = nn.Linear(N, M, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(W.T, dtype=torch.float32))  # weight (out=M, in=N)
    return nn.Sequential(lin), lam


def main() -> int:
    torch.set_num_threads(1)
    rows = []
    for alpha in (2.0, 3.0, 4.0):
        ours, theirs, oracle = [], [], []
        for seed in range(5):
            model, lam = planted(alpha, seed)
            ours.append(weight_spectra(model)[0].alpha)
            theirs.append(float(ww_analyze(model)["alpha"].iloc[0]))
            oracle.append(fit_power_law(lam, xmin=1.0).alpha)
        rows.append((alpha, ours, theirs, oracle))
        print(rows[-1], flush=True)

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    ours_mlp = weight_spectra(mlp)
    ww_mlp = ww_analyze(mlp)
    convs = nn.Sequential(*[nn.Conv2d(c_in, c_out, 3, padding=1) for c_in, c_out in [(3, 16), (16, 16), (16, 32), (32, 32), (32, 64), (64, 64)]])
    times = {}
    for name, model in (("MLP 784-512-512-10", mlp), ("6 conv 3x3 layers (3-64 channels)", convs)):
        t_o, t_w = [], []
        for _ in range(3):
            t = time.perf_counter()
            weight_spectra(model, conv="slices")
            t_o.append(time.perf_counter() - t)
            t = time.perf_counter()
            ww_analyze(model)
            t_w.append(time.perf_counter() - t)
        times[name] = (statistics.median(t_w), statistics.median(t_o))

    def mae(v, a):
        return float(np.mean(np.abs(np.asarray(v) - a)))

    lines = [HEAD, "",
             f"`benchmarks/weight_spectra.py`; torch {torch.__version__}, weightwatcher {version('weightwatcher')} (powerlaw {version('powerlaw')}), 1 thread, shared machine.", "",
             "**Planted exponents** (1000 x 500 matrices whose ESD is exactly a Pareto sample of density exponent alpha, xmin 1; 5 draws each): "
             "mean absolute error of alpha against the truth; 'MLE at the true xmin' is the best an xmin search can do on these draws.", "",
             "| true alpha | dltheory alpha (range) | WeightWatcher alpha (range) | dltheory error | WeightWatcher error | MLE at the true xmin, error |", "|---|---|---|---|---|---|"]
    for alpha, o, w, orc in rows:
        lines.append(f"| {alpha:g} | {min(o):.2f}-{max(o):.2f} | {min(w):.2f}-{max(w):.2f} | {mae(o, alpha):.3f} | {mae(w, alpha):.3f} | {mae(orc, alpha):.3f} |")
    lines += ["", "**Fresh 784-512-512-10 MLP** (i.i.d. init: the ESD is Marchenko-Pastur, there is no power law to fit):", "",
              "| layer | dltheory alpha | WeightWatcher alpha | dltheory MP KS distance | dltheory spikes |", "|---|---|---|---|---|"]
    for r, (_, w) in zip(ours_mlp, ww_mlp.iterrows(), strict=False):
        lines.append(f"| {r.layer} ({r.shape[0]}x{r.shape[1]}) | {r.alpha:.2f} | {float(w['alpha']):.2f} | {r.mp_ks_distance:.3f} | {r.num_spikes} |")
    lines += ["", "**Time** for the summary of every layer (median of 3):", "", "| model | WeightWatcher s | dltheory s | speed-up |", "|---|---|---|---|"]
    for name, (tw, to) in times.items():
        lines.append(f"| {name} | {tw:.2f} | {to:.2f} | {tw / to:.1f}x |")
    lines += ["", f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."]
    write_section("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
