r"""Loss landscapes and re-basin beside the established packages.

Run: ``.venv/bin/python benchmarks/landscape.py [--models MLP-512,ResNet-20] [--skip-rebasin]``
(needs the ``bench`` extra: loss-landscapes and rebasin). Writes the "## Landscapes and
re-basin" section of ``benchmarks/RESULTS.md``.

Plane: a 21 x 21 plane :math:`L(\theta + a d_1 + b d_2)` with the same two filter-normalized
directions (ours, :func:`dltheory.probes.random_direction`) for both packages: loss-landscapes'
``planar_interpolation(start, start + d_1, start + d_2, Loss(...), steps=21)`` (its
``random_plane`` draws its own directions, so the same-directions comparison goes through the
planar interpolation) against ``dltheory.probes.loss_plane`` on the grid loss-landscapes
actually evaluates. That grid is not the one its docstring describes: it moves the model in
place along :math:`d_2` *before* each evaluation of an even column and after it in an odd one, so
even columns sit at :math:`b = 1/21, \dots, 1` and odd ones at :math:`b = 0, \dots, 20/21`, and
:math:`a` runs over :math:`0, \dots, 20/21` (never 1). We evaluate exactly those points and
report the largest difference of the two planes (the values must agree: the check that both
compute the same thing). Models at initialization, float32, one batch of random inputs, 1
thread; time: median of 3 repetitions of each, interleaved.

Re-basin: weight matching (Ainsworth et al. 2023, Alg. 1) between two independently trained
networks, ours (:func:`dltheory.probes.weight_matching`) against rebasin's
``PermutationCoordinateDescent`` (its weight-matching default); wall time of the matching,
and the loss barrier on the straight line between network A and permuted B (the same barrier
evaluation for both).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dltheory.core import functionalize
from dltheory.probes import loss_plane, random_direction

sys.path.insert(0, str(Path(__file__).parent))
from _results import write_section  # noqa: E402  (the one RESULTS.md writer)
from curvature_scale import build_model  # noqa: E402  (the one benchmark model builder)

HERE = Path(__file__).parent
CACHE = HERE / "landscape.json"
STEPS = 21


def ll_grid() -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) coefficients loss-landscapes' planar_interpolation evaluates, as a (steps, steps, 2) array."""
    out = np.zeros((STEPS, STEPS, 2))
    for i in range(STEPS):
        bs = np.arange(1, STEPS + 1) / STEPS if i % 2 == 0 else np.arange(0, STEPS) / STEPS
        out[i, :, 0] = i / STEPS
        out[i, :, 1] = bs
    return out


def plane_ll(model, X, y, d1, d2):
    import loss_landscapes
    from loss_landscapes.metrics import Loss

    fm = functionalize(model)
    end1, end2 = copy.deepcopy(model), copy.deepcopy(model)
    with torch.no_grad():
        for m, d in ((end1, d1), (end2, d2)):
            for n, p in m.named_parameters():
                p.add_(d[n])
    del fm
    t = time.perf_counter()
    with torch.no_grad():
        Z = loss_landscapes.planar_interpolation(model, end1, end2, Loss(F.cross_entropy, X, y), steps=STEPS, deepcopy_model=True)
    return np.asarray(Z), time.perf_counter() - t


def plane_ours(model, X, y, d1, d2, chunk):
    """The same points through loss_plane: the even columns' grid and the odd columns' grid."""
    params = functionalize(model).params
    t = time.perf_counter()
    grid = ll_grid()
    a = grid[:, 0, 0]
    even = loss_plane(model, F.cross_entropy, (X, y), params, d1, d2, xs=a[0::2], ys=grid[0, :, 1], chunk_size=chunk)
    odd = loss_plane(model, F.cross_entropy, (X, y), params, d1, d2, xs=a[1::2], ys=grid[1, :, 1], chunk_size=chunk)
    Z = np.zeros((STEPS, STEPS))
    Z[0::2], Z[1::2] = even.loss, odd.loss
    return Z, time.perf_counter() - t, even.vectorized


def bench_plane(name: str, batch: int, chunk: int, reps: int = 3) -> dict:
    model, X, y = build_model(name, batch)
    params = functionalize(model).params
    g = torch.Generator().manual_seed(1)
    d1 = random_direction(params, kind="filter", generator=g)
    d2 = random_direction(params, kind="filter", generator=g)
    plane_ours(model, X, y, d1, d2, chunk)  # warm-up (vmap's first-call cost), not timed
    t_ll, t_ours = [], []
    for _ in range(reps):
        Z_ll, s = plane_ll(model, X, y, d1, d2)
        t_ll.append(s)
        Z, s, vec = plane_ours(model, X, y, d1, d2, chunk)
        t_ours.append(s)
    diff = float(np.abs(Z - Z_ll).max() / np.abs(Z_ll).max())
    P = sum(p.numel() for p in model.parameters())
    return {"name": name, "P": P, "batch": batch, "chunk": chunk, "ll_s": statistics.median(t_ll), "ours_s": statistics.median(t_ours), "rel_diff": diff, "vectorized": vec,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": os.getloadavg()[0]}


def report(rows: dict) -> str:
    lines = ["## Landscapes and re-basin (vs loss-landscapes and rebasin)", "",
             f"`benchmarks/landscape.py` (rows cached in `benchmarks/landscape.json`); torch {torch.__version__}, 1 thread, {platform.machine()}, {os.cpu_count()} cores visible, shared machine (each row gives its load average); median of 3 interleaved repetitions.",
             f"Plane: {STEPS} x {STEPS} points, the same two filter-normalized directions for both, cross-entropy on one batch of random inputs at initialization. loss-landscapes 3.0.6 `planar_interpolation` (moves a deep copy of the model in place; its grid is shifted by one step in every other column, see the module docstring: we evaluate its exact points). Agreement: largest difference of the two planes relative to the largest loss.", "",
             "| model (P, batch) | loss-landscapes s | dltheory `loss_plane` s (vmap chunk) | time ratio (target >= 5x) | planes agree (rel. diff) |", "|---|---|---|---|---|"]
    for r in rows.get("plane", {}).values():
        ratio = r["ll_s"] / r["ours_s"]
        lines.append(f"| {r['name']} ({r['P']}, {r['batch']}) | {r['ll_s']:.2f} | {r['ours_s']:.2f} ({r['chunk']}{'' if r['vectorized'] else ', loop fallback'}) | {ratio:.1f}x, {'met' if ratio >= 5 else 'NOT met'} | {r['rel_diff']:.1e} (run {r['date']}, load {r['load']:.1f}) |")
    rb = rows.get("rebasin", {})
    if rb:
        lines += ["", "Weight matching between two independently trained networks: dltheory `weight_matching` vs rebasin 0.0.47 `PermutationCoordinateDescent`; the barrier is the loss barrier on the straight line from A to the permuted B (max over 25 points refined near the maximum of the loss minus the endpoints' interpolation), evaluated the same way for both; 'no matching' is the barrier before alignment.", "",
                  "| model (P) | rebasin s | dltheory s | time ratio (target >= 5x) | barrier: no matching | rebasin | dltheory | target: equal or lower barrier | objective sum <W_A, pi(W_B)>: no matching / rebasin / dltheory |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rb.values():
            ratio = r["rb_s"] / r["ours_s"]
            obj = f"{r['obj_none']:.2f} / {r['obj_rb']:.2f} / {r['obj_ours']:.2f}" if "obj_ours" in r else "not recorded"
            when = f" (run {r['date']}, load {r['load']:.1f})" if "date" in r else ""
            lines.append(f"| {r['name']} ({r['P']}) | {r['rb_s']:.2f} | {r['ours_s']:.2f} | {ratio:.1f}x, {'met' if ratio >= 5 else 'NOT met'} | {r['b_none']:.4f} | {r['b_rb']:.4f} | {r['b_ours']:.4f} | {'met' if r['b_ours'] <= r['b_rb'] + 1e-4 else 'NOT met'} | {obj}{when} |")
    lines += ["", *said_plainly(rows)]
    return "\n".join(lines) + "\n"


def said_plainly(rows: dict) -> list[str]:
    """The verdicts in words, from the cached rows, and why."""
    out = [f"**Said plainly** ({time.strftime('%Y-%m-%d', time.gmtime())}):"]
    for r in rows.get("plane", {}).values():
        ratio = r["ll_s"] / r["ours_s"]
        out.append(f"- **Plane, {r['name']}: {ratio:.1f}x against loss-landscapes, target 5x {'met' if ratio >= 5 else 'NOT met'}.**")
    if rows.get("plane"):
        out += ["  - Both spend one forward pass per grid point, the same FLOPs, and vmap batching buys nothing on one CPU thread.",
                "  - On top of that, our evaluation builds each point as θ + a·d1 + b·d2, which is three P-sized operations, and goes through `functional_call`. loss-landscapes walks the grid by one in-place add per point.",
                "  - Measured on a 7 x 7 plane of the same MLP, per point: a plain `functional_call` loop 18 ms; `loss_plane` 16 ms at chunk 7 and 19 ms at chunk 1; loss-landscapes 14 ms.",
                "  - Ways to close the gap, not done: walk the grid incrementally; and use the fact that a first linear layer's output is linear in its weights (W x + a D1 x + b D2 x), which removes 60% of this MLP's FLOPs per point. Neither reaches 5x: at equal FLOPs per point the ratio is bounded by the FLOPs saved."]
    for r in rows.get("rebasin", {}).values():
        ratio = r["rb_s"] / r["ours_s"]
        lower = r["b_ours"] <= r["b_rb"] + 1e-4
        out.append(f"- **Weight matching, {r['name']}: {ratio:.1f}x faster than rebasin (target 5x {'met' if ratio >= 5 else 'NOT met'}); barrier {r['b_ours']:.4f} against rebasin's {r['b_rb']:.4f} "
                   f"({'met' if lower else 'NOT met'}).**")
        if "obj_ours" in r:
            better = r["obj_ours"] >= r["obj_rb"]
            out.append(f"  - The matching objective each reached: ours {r['obj_ours']:.2f}, rebasin's {r['obj_rb']:.2f} ({'ours higher' if better else 'rebasin higher'}; both are coordinate-wise maxima of an NP-hard problem, reached in different group orders).")
    if rows.get("rebasin"):
        out += ["- **Why the time target is not met.** The two do the same work per sweep: the cost-matrix products and one linear assignment (scipy) per group; the assignments are most of our time (40 of them, 14 sweeps, on the MLP). "
                "Ours caches each cost-matrix term until a permutation it depends on changes and skips a group whose cost matrix has not changed (from 54 to 40 assignments on the MLP, the same permutations); 5x would need fewer sweeps, not faster ones.",
                "- **Why the CNN's barrier is not lower.** The residual CNN (32 channels, no normalization, trained 400 Adam steps to a training loss ~0.5) is not linearly connected after any matching: the aligned path's loss rises above the unaligned one (the midpoint of aligned weights stays confident and wrong, the unaligned midpoint averages towards uniform outputs). "
                "Trained to loss 0.08 (1500 steps) it is no better: barrier 4.10 unaligned, 3.47 after our weight matching, error barrier 87% either way. Ainsworth et al. needed wide ResNets with LayerNorm on CIFAR-10; this row measures the time and the objective, and its barrier column says that weight matching does not help here, for either package."]
    return out


def main(models: list[str], rebasin_models: list[str]) -> int:
    torch.set_num_threads(1)
    rows = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    batches = {"MLP-512": (512, 21), "ResNet-20": (32, 7)}
    for name in models:
        if name not in batches:
            print(f"error: unknown model {name!r}; choose from {sorted(batches)}", file=sys.stderr)
            return 2
        r = bench_plane(name, *batches[name])
        rows.setdefault("plane", {})[name] = r
        print(f"plane {name}: {r}", file=sys.stderr, flush=True)
        CACHE.write_text(json.dumps(rows, indent=1))
        write_section(report(rows))
    if rebasin_models:
        from _rebasin_bench import bench_rebasin  # noqa: PLC0415

        for name in rebasin_models:
            r = bench_rebasin(name) | {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": os.getloadavg()[0]}
            rows.setdefault("rebasin", {})[name] = r
            print(f"rebasin {name}: {r}", file=sys.stderr, flush=True)
            CACHE.write_text(json.dumps(rows, indent=1))
            write_section(report(rows))
    print((HERE / "RESULTS.md").read_text())
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="MLP-512,ResNet-20")
    parser.add_argument("--rebasin-models", default="MLP,CNN", help="comma-separated; empty to skip")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    raise SystemExit(main([m for m in args.models.split(",") if m], [m for m in args.rebasin_models.split(",") if m]))
