r"""The convolutional Lasso on a 256x256 image with 32 filters of 8x8, beside SPORCO's ``ConvBPDN``.

Run: ``.venv/bin/python benchmarks/conv_sparse.py [--size 256] [--iters 50,200]`` (SPORCO comes
with the ``bench`` extra). Writes the "## Convolutional sparse
coding (vs SPORCO)" section of ``benchmarks/RESULTS.md`` (rows cached in
``benchmarks/conv_sparse.json``). One process, one thread everywhere (torch, the BLAS under numpy
through threadpoolctl, and pyFFTW inside SPORCO: ``sporco.fft.pyfftw_threads = 1``), float64.

Problem (SPORCO's own convolutional sparse coding example, at the issue's size): a ``size`` x
``size`` crop of scikit-learn's ``china.jpg`` (grayscale in [0, 1]), high-pass filtered by
subtracting its Tikhonov low-pass (:math:`\min_x \|x - s\|^2 + 5\|\nabla x\|^2`, solved exactly by
FFT), coded over SPORCO's bundled learned dictionary ``G:8x8x32`` with :math:`\lambda = 0.05`.

Protocol, time to the same objective: SPORCO ``admm.cbpdn.ConvBPDN`` with its defaults
(over-relaxation 1.8, residual balancing every step, :math:`\rho_0 = 50\lambda + 1`; ours
the same but balancing every 10 steps) and
``RelStopTol = 0`` runs exactly K iterations; its target is the true Lasso objective at its sparse
variable ``Y`` (:func:`dltheory.sparse.conv_lasso_objective`, the same function for both). For
each of ours (:func:`dltheory.sparse.conv_admm`, :func:`~dltheory.sparse.conv_fista`), the fewest
steps whose objective is <= that target are found untimed, then a run of exactly that many steps
is timed. Each time includes everything a call does (SPORCO's constructor with its FFT of the
dictionary; our FFT of the filters and Lipschitz constant). Median of ``REPS`` interleaved
repetitions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from dltheory.sparse import conv_admm, conv_fista, conv_lasso_objective

sys.path.insert(0, str(Path(__file__).parent))
from _results import write_section  # noqa: E402  (the one RESULTS.md writer)
from sparse import stamp, timed, when  # noqa: E402  (row stamps shared with the patch benchmark)

HERE = Path(__file__).parent
CACHE = HERE / "conv_sparse.json"
HEAD = "## Convolutional sparse coding (vs SPORCO)"
LAM = 0.05
REPS = 3


def image(size: int) -> np.ndarray:
    """The high-pass part of a size x size grayscale crop of china.jpg (Tikhonov low-pass, weight 5, removed)."""
    from sklearn.datasets import load_sample_image

    img = load_sample_image("china.jpg").mean(axis=2) / 255.0
    s = img[100:100 + size, 300:300 + size]
    wy, wx = np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None, :]
    lowpass = 1 / (1 + 5 * ((2 * np.sin(np.pi * wy)) ** 2 + (2 * np.sin(np.pi * wx)) ** 2))
    return s - np.fft.irfft2(np.fft.rfft2(s) * lowpass, s=s.shape)


def sporco_run(D: np.ndarray, S: np.ndarray, iters: int) -> np.ndarray:
    """SPORCO ConvBPDN for exactly ``iters`` iterations; its sparse variable Y as (m, H, W)."""
    from sporco.admm import cbpdn

    opt = cbpdn.ConvBPDN.Options({"Verbose": False, "MaxMainIter": iters, "RelStopTol": 0.0, "DataType": np.float64})
    solver = cbpdn.ConvBPDN(D, S, LAM, opt)
    solver.solve()
    return np.moveaxis(solver.Y.reshape(S.shape + (D.shape[-1],)), -1, 0)


def bench(D: np.ndarray, S: np.ndarray, iters: int) -> list[dict]:
    load = os.getloadavg()[0]
    Dt, St = torch.tensor(np.moveaxis(D, -1, 0)[:, None].copy()), torch.tensor(S)[None, None]
    Y_sp = sporco_run(D, S, iters)
    target = float(conv_lasso_objective(Dt, St, torch.tensor(Y_sp)[None], LAM))
    ours = {"admm": lambda n: conv_admm(Dt, St, LAM, n), "fista": lambda n: conv_fista(Dt, St, LAM, n)}
    searches = {"admm": lambda n: conv_admm(Dt, St, LAM, n, history=True), "fista": lambda n: conv_fista(Dt, St, LAM, n, history=True)}
    steps = {}
    for name, search in searches.items():  # untimed search for the first step on target
        hist = search(4 * iters).history[:, 0].numpy()
        reached = np.flatnonzero(hist <= target)
        steps[name] = (int(reached[0]) + 1 if reached.size else None, float(hist[-1]))
    t_sp, t_ours, sols = [], {n: [] for n in ours}, {}
    for _ in range(REPS):
        t_sp.append(timed(lambda: sporco_run(D, S, iters))[1])
        for name, (n, _) in steps.items():
            if n is not None:
                sols[name], s = timed(lambda n=n, name=name: ours[name](n))
                t_ours[name].append(s)
    rows = []
    for name, (n, F_last) in steps.items():
        row = {"task": f"{name}-{iters}", "solver": name, "sporco_iters": iters, "target": target, "steps": n, "F_last": F_last,
               "sporco_s": statistics.median(t_sp), "nnz_sporco": int((Y_sp != 0).sum())} | stamp(load)
        if n is not None:
            X = sols[name].codes[0].numpy()
            row |= {"ours_s": statistics.median(t_ours[name]), "F_ours": float(sols[name].objective[0]), "nnz_ours": int((X != 0).sum()),
                    "code_diff": float(np.abs(X - Y_sp).max()), "code_scale": float(np.abs(Y_sp).max())}
        rows.append(row)
    return rows


def report(rows: dict) -> str:
    meta = rows.get("meta", {})
    lines = [HEAD, "",
             f"`benchmarks/conv_sparse.py` (rows cached in `benchmarks/conv_sparse.json`); torch {meta.get('torch', '?')}, SPORCO {meta.get('sporco', '?')} (pyFFTW {meta.get('pyfftw', '?')}), "
             f"1 thread everywhere, float64, {meta.get('machine', '?')}, {meta.get('cpus', '?')} cores visible, shared machine (each row gives when it ran and the 1-minute load average before and after); median of {REPS} interleaved repetitions.",
             f"Problem: the convolutional Lasso on the high-pass part of a {meta.get('size', '?')}x{meta.get('size', '?')} crop of `china.jpg` with SPORCO's learned dictionary `G:8x8x32` (32 filters of 8x8), lambda = {LAM}. "
             "SPORCO's `ConvBPDN` (its defaults; ADMM with the per-frequency Sherman-Morrison solve) runs K iterations; ours runs the fewest steps that reach the same Lasso objective (found untimed, then timed). Target (issue): at least as fast as SPORCO on one core.", "",
             "| ours | SPORCO iterations (objective) | SPORCO s | dltheory s (steps) | time ratio | objective: SPORCO / dltheory | nonzeros: SPORCO / dltheory | max code difference (max code) | target | run (load) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows.get("conv", {}).values():
        name = {"admm": "`conv_admm` (FFT ADMM, residual balancing every 10 steps)", "fista": "`conv_fista` (FFT FISTA + restart)"}[r["solver"]]
        if r["steps"] is None:
            lines.append(f"| {name} | {r['sporco_iters']} ({r['target']:.6f}) | {r['sporco_s']:.2f} | not reached in {4 * r['sporco_iters']} steps ({r['F_last']:.6f}) | - | - | - | - | NOT met | {when(r)} |")
            continue
        ratio = r["sporco_s"] / r["ours_s"]
        lines.append(f"| {name} | {r['sporco_iters']} ({r['target']:.6f}) | {r['sporco_s']:.2f} | {r['ours_s']:.2f} ({r['steps']}) | {ratio:.2f}x | {r['target']:.6f} / {r['F_ours']:.6f} | "
                     f"{r['nnz_sporco']} / {r['nnz_ours']} | {r['code_diff']:.1e} ({r['code_scale']:.2f}) | {'met' if ratio >= 1 else 'NOT met'} | {when(r)} |")
    return "\n".join(lines) + "\n"


def main(size: int, iters: list[int]) -> int:
    try:
        import pyfftw
        import sporco
        import sporco.fft
        from sporco import util
    except ImportError:
        print("error: this benchmark needs SPORCO and pyFFTW: make setup EXTRAS=dev,bench", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    sporco.fft.pyfftw_threads = 1
    rows = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    if rows.get("meta", {}).get("size") != size:
        rows = {}
    D = util.convdicts()["G:8x8x32"].astype(np.float64)
    S = image(size)
    rows["meta"] = {"torch": torch.__version__, "sporco": sporco.__version__, "pyfftw": pyfftw.__version__, "machine": platform.machine(), "cpus": os.cpu_count(), "size": size}
    with threadpool_limits(1):
        for k in iters:
            for r in bench(D, S, k):
                rows.setdefault("conv", {})[r["task"]] = r
                print(r, file=sys.stderr, flush=True)
    CACHE.write_text(json.dumps(rows, indent=1))
    write_section(report(rows))
    print(report(rows))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iters", default="50,200", help="SPORCO iteration counts that set the targets")
    args = parser.parse_args()
    raise SystemExit(main(args.size, [int(k) for k in args.iters.split(",") if k]))
