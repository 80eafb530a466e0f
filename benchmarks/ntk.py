r"""Neural tangent kernels beside neural-tangents: infinite-width kernels (agreement) and the empirical NTK (time).

Run: ``.venv/bin/python benchmarks/ntk.py``. Writes the "## Neural tangent kernels (vs neural-tangents)"
section of ``benchmarks/RESULTS.md``. One process, one thread each side (torch threads 1; XLA on one
CPU thread through its flags).

neural-tangents 0.6.5 installs only beside jax/jaxlib 0.5.3 without its dependencies (``make bench``
does this), and its ``__init__`` imports an ``experimental`` module that needs TensorFlow: a stub
module stands in for it before the import.

1. Infinite-width kernels, float64: fully connected networks of depth 1-3, ReLU and erf, in the NTK
   parameterization with W_std = 1.5, b_std = 0.1 (``stax.Dense(..., parameterization="ntk")``), and in the
   standard parameterization with given hidden widths, on 20 random inputs of 10 features; CNNs of 1-3 circular
   3x3 convolutions with flatten or global-average-pool readouts on 20 random 8x8x3 images
   (:func:`dltheory.probes.ntk.cnn_kernels` against ``stax.Conv``): the largest relative difference of the
   NNGP and NTK Gram matrices against ``stax``'s ``kernel_fn``.
2. Empirical NTK, float32, one MLP 784-512-512-10 (669,706 parameters, NTK parameterization, the same weights on both sides) on 64 x 64 input pairs, trace
   over the outputs (mean) on both sides: time of :func:`dltheory.probes.ntk.empirical_ntk` (Jacobian
   contraction, NTK-vector products, and structured: per Linear layer, output-gradient inner products times
   input inner products) against neural-tangents' ``empirical_ntk_fn`` with each of its
   implementations (1: Jacobian contraction, 2: NTK-vector products, 3: structured derivatives), its
   function jit-compiled and timed after a warm-up call; the same weights on both sides; median of 3.
3. The same for a small CNN (two circular 3x3 convolutions of 64 channels, ReLU, global average pooling, 10
   outputs) on 32 x 32 pairs of 16x16x3 images (ours: Jacobian contraction, NTK-vector products, and
   structured: each convolution's per-example weight gradients as output gradients times unfolded patches).
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dltheory.probes.ntk import empirical_ntk, fc_kernels  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _results import median_time, write_section  # noqa: E402  (the shared RESULTS.md writer and timer)

HEAD = "## Neural tangent kernels (vs neural-tangents)"


def _nt():
    sys.modules.setdefault("neural_tangents.experimental", types.ModuleType("neural_tangents.experimental"))
    import jax

    jax.config.update("jax_enable_x64", True)
    import neural_tangents as nt
    from neural_tangents import stax

    return jax, nt, stax


def kernels_agree(stax) -> list[tuple]:
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 10))
    rows = []
    for act_name in ("relu", "erf"):
        for depth in (1, 2, 3):
            layers = []
            for _ in range(depth):
                layers += [stax.Dense(512, W_std=1.5, b_std=0.1, parameterization="ntk"), stax.Relu() if act_name == "relu" else stax.Erf()]
            layers += [stax.Dense(1, W_std=1.5, b_std=0.1, parameterization="ntk")]
            _, _, kernel_fn = stax.serial(*layers)
            t = time.perf_counter()
            k = kernel_fn(jnp.asarray(X), None, ("nngp", "ntk"))
            t_nt = time.perf_counter() - t
            t = time.perf_counter()
            S, T = fc_kernels(torch.tensor(X), depth=depth, activation=act_name, sigma_w=1.5, sigma_b=0.1)
            t_ours = time.perf_counter() - t
            dn = float(np.abs(np.asarray(k.nngp) - S.numpy()).max() / np.abs(S.numpy()).max())
            dt = float(np.abs(np.asarray(k.ntk) - T.numpy()).max() / np.abs(T.numpy()).max())
            rows.append((act_name, depth, dn, dt, t_nt, t_ours))
            print(rows[-1], flush=True)
    return rows


def more_kernels_agree(stax) -> list[tuple]:
    """Standard parameterization (fully connected, the hidden widths given) and the convolutional kernels (CNTK), float64."""
    import jax.numpy as jnp

    from dltheory.probes.ntk import cnn_kernels

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 10))
    rows = []
    for act_name in ("relu", "erf"):
        for widths in ([300], [300, 700], [64, 128, 256]):
            layers = []
            for w in widths:  # s = (1, 1): the finite-width standard network itself (neural-tangents' convention)
                layers += [stax.Dense(w, W_std=1.5, b_std=0.1, parameterization="standard"), stax.Relu() if act_name == "relu" else stax.Erf()]
            _, _, kernel_fn = stax.serial(*layers, stax.Dense(1, W_std=1.5, b_std=0.1, parameterization="standard"))
            t = time.perf_counter()
            k = kernel_fn(jnp.asarray(X), None, ("nngp", "ntk"))
            t_nt = time.perf_counter() - t
            t = time.perf_counter()
            S, T = fc_kernels(torch.tensor(X), depth=len(widths), activation=act_name, sigma_w=1.5, sigma_b=0.1, parameterization="standard", widths=widths)
            t_ours = time.perf_counter() - t
            rows.append((f"fully connected, standard, widths {'-'.join(map(str, widths))}", act_name,
                         float(np.abs(np.asarray(k.nngp) - S.numpy()).max() / np.abs(S.numpy()).max()),
                         float(np.abs(np.asarray(k.ntk) - T.numpy()).max() / np.abs(T.numpy()).max()), t_nt, t_ours))
            print(rows[-1], flush=True)
    Xc = rng.standard_normal((20, 3, 8, 8))  # (n, C, H, W); neural-tangents takes NHWC
    for pooling in ("flatten", "gap"):
        for act_name in ("relu", "erf"):
            for depth in (1, 2, 3):
                layers = []
                for _ in range(depth):
                    layers += [stax.Conv(64, (3, 3), padding="CIRCULAR", W_std=1.5, b_std=0.1, parameterization="ntk"), stax.Relu() if act_name == "relu" else stax.Erf()]
                layers += [stax.Flatten() if pooling == "flatten" else stax.GlobalAvgPool(), stax.Dense(1, W_std=1.5, b_std=0.1, parameterization="ntk")]
                _, _, kernel_fn = stax.serial(*layers)
                t = time.perf_counter()
                k = kernel_fn(jnp.asarray(np.transpose(Xc, (0, 2, 3, 1))), None, ("nngp", "ntk"))
                t_nt = time.perf_counter() - t
                t = time.perf_counter()
                S, T = cnn_kernels(torch.tensor(Xc), depth=depth, kernel_size=3, pooling=pooling, activation=act_name, padding="circular", sigma_w=1.5, sigma_b=0.1)
                t_ours = time.perf_counter() - t
                rows.append((f"CNN 8x8x3, {depth} x conv 3x3 (circular), {pooling}", act_name,
                             float(np.abs(np.asarray(k.nngp) - S.numpy()).max() / np.abs(S.numpy()).max()),
                             float(np.abs(np.asarray(k.ntk) - T.numpy()).max() / np.abs(T.numpy()).max()), t_nt, t_ours))
                print(rows[-1], flush=True)
    return rows


def relu_diagonal_exact(stax) -> tuple[float, float]:
    """Relative errors of both tools' depth-1 ReLU NTK at (x_0, x_0) against a 40-digit mpmath evaluation (theta = 0 exactly)."""
    import jax.numpy as jnp
    import mpmath

    mpmath.mp.dps = 40
    X = np.random.default_rng(0).standard_normal((5, 10))
    _, _, kf = stax.serial(stax.Dense(512, W_std=1.5, b_std=0.1, parameterization="ntk"), stax.Relu(), stax.Dense(1, W_std=1.5, b_std=0.1, parameterization="ntk"))
    theirs = float(np.asarray(kf(jnp.asarray(X), None, "ntk"))[0, 0])
    ours = float(fc_kernels(torch.tensor(X), depth=1, activation="relu", sigma_w=1.5, sigma_b=0.1)[1][0, 0])
    K = mpmath.mpf("2.25") * sum(mpmath.mpf(float(v)) ** 2 for v in X[0]) / 10 + mpmath.mpf("0.01")
    S1 = mpmath.mpf("2.25") * K / 2 + mpmath.mpf("0.01")  # E[relu(u)^2] = K / 2 at theta = 0
    ref = K * mpmath.mpf("2.25") / 2 + S1  # Theta = Sigma0 * sigma_w^2 E[relu'(u)^2] + Sigma1
    return abs(ours - float(ref)) / float(ref), abs(theirs - float(ref)) / float(ref)


def _nt_rows(jax, nt, apply_fn, params, j1, j2, ours: torch.Tensor) -> list[tuple]:
    """neural-tangents' three empirical-NTK implementations, jit-compiled, timed after a warm-up call (or the error that stops one)."""
    rows = []
    for impl in (1, 2, 3):
        fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=impl))
        try:
            k = fn(j1, j2, params).block_until_ready()
        except Exception as e:  # noqa: BLE001  (report what breaks in the baseline)
            rows.append((f"neural-tangents implementation {impl}: fails ({type(e).__name__}: {str(e).splitlines()[0][:90]})", float("nan"), float("nan")))
            continue
        diff = float(np.abs(np.asarray(k) - ours.numpy()).max() / np.abs(ours.numpy()).max())  # trace_axes averages, as ours
        rows.append((f"neural-tangents implementation {impl}", median_time(lambda fn=fn: fn(j1, j2, params).block_until_ready()), diff))
    return rows


def empirical_times(jax, nt, stax) -> tuple[list[tuple], float]:
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", False)
    from dltheory.models.ntk import ntk_mlp

    net = ntk_mlp([784, 512, 512, 10], sigma_w=1.0, sigma_b=0.1, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    x1, x2 = torch.randn(64, 784, generator=g), torch.randn(64, 784, generator=g)
    init_fn, apply_fn, _ = stax.serial(stax.Dense(512, W_std=1.0, b_std=0.1, parameterization="ntk"), stax.Relu(),
                                       stax.Dense(512, W_std=1.0, b_std=0.1, parameterization="ntk"), stax.Relu(),
                                       stax.Dense(10, W_std=1.0, b_std=0.1, parameterization="ntk"))
    lins = [net.linear1, net.linear2, net.linear3]
    params = []
    for i, m in enumerate(lins):
        params.append((jnp.asarray(m.weight.detach().numpy().T), jnp.asarray(m.bias.detach().numpy())))
        if i < len(lins) - 1:
            params.append(())
    with torch.no_grad():
        assert np.abs(np.asarray(apply_fn(params, jnp.asarray(x1.numpy()))) - net(x1).numpy()).max() < 1e-4, "the two networks differ"
    j1, j2 = jnp.asarray(x1.numpy()), jnp.asarray(x2.numpy())
    ours = empirical_ntk(net, x1, x2, method="jacobian")
    rows = _nt_rows(jax, nt, apply_fn, params, j1, j2, ours)
    for method in ("jacobian", "ntvp", "structured"):
        rows.append((f"dltheory {method}", median_time(lambda method=method: empirical_ntk(net, x1, x2, method=method)), 0.0 if method == "jacobian" else float((empirical_ntk(net, x1, x2, method=method) - ours).abs().max() / ours.abs().max())))
    for r in rows:
        print(r, flush=True)
    return rows, 0.0


def empirical_cnn_times(jax, nt, stax) -> list[tuple]:
    """Empirical NTK of a small CNN (two circular 3x3 convolutions of 64 channels, ReLU, global average pooling, 10 outputs) on 16x16x3 images."""
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", False)
    from dltheory.models.ntk import ntk_cnn

    net = ntk_cnn(3, 64, 2, 10, image_size=16, pooling="gap", generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    x1, x2 = torch.randn(32, 3, 16, 16, generator=g), torch.randn(32, 3, 16, 16, generator=g)
    sw = float(np.sqrt(2.0))
    init_fn, apply_fn, _ = stax.serial(stax.Conv(64, (3, 3), padding="CIRCULAR", W_std=sw, b_std=None, parameterization="ntk"), stax.Relu(),
                                       stax.Conv(64, (3, 3), padding="CIRCULAR", W_std=sw, b_std=None, parameterization="ntk"), stax.Relu(),
                                       stax.GlobalAvgPool(), stax.Dense(10, W_std=sw, b_std=None, parameterization="ntk"))
    conv = lambda w: jnp.asarray(w.detach().numpy().transpose(2, 3, 1, 0))  # noqa: E731  (out, in, q, q) -> HWIO
    params = [(conv(net.conv1.weight), None), (), (conv(net.conv2.weight), None), (), (), (jnp.asarray(net.readout.weight.detach().numpy().T), None)]
    j1, j2 = jnp.asarray(x1.numpy().transpose(0, 2, 3, 1)), jnp.asarray(x2.numpy().transpose(0, 2, 3, 1))
    with torch.no_grad():
        assert np.abs(np.asarray(apply_fn(params, j1)) - net(x1).numpy()).max() < 1e-4, "the two networks differ"
    ours = empirical_ntk(net, x1, x2, method="jacobian")
    rows = _nt_rows(jax, nt, apply_fn, params, j1, j2, ours)
    for method in ("jacobian", "ntvp", "structured"):
        K = empirical_ntk(net, x1, x2, method=method)
        rows.append((f"dltheory {method}", median_time(lambda method=method: empirical_ntk(net, x1, x2, method=method)), float((K - ours).abs().max() / ours.abs().max())))
    for r in rows:
        print(r, flush=True)
    return rows, head_to_head(jax, nt, apply_fn, params, j1, j2, net, x1, x2)


def head_to_head(jax, nt, apply_fn, params, j1, j2, net, x1, x2, rounds: int = 9) -> dict:
    """neural-tangents' implementation 1 (its fastest here) and our structured route timed in alternation, ``rounds`` times
    each, so that the machine's drifts (runs here vary by up to ~30% from one minute to the next) fall on both alike."""
    fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=1))
    fn(j1, j2, params).block_until_ready()
    empirical_ntk(net, x1, x2, method="structured")
    theirs, ours = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        fn(j1, j2, params).block_until_ready()
        theirs.append(time.perf_counter() - t)
        t = time.perf_counter()
        empirical_ntk(net, x1, x2, method="structured")
        ours.append(time.perf_counter() - t)
    out = {"rounds": rounds, "theirs": statistics.median(theirs), "ours": statistics.median(ours),
           "ours_faster": sum(o < t for o, t in zip(ours, theirs, strict=True)), "ratios": sorted(t / o for o, t in zip(ours, theirs, strict=True))}
    print(out, flush=True)
    return out


def main() -> int:
    torch.set_num_threads(1)
    jax, nt, stax = _nt()
    agree = kernels_agree(stax)
    more = more_kernels_agree(stax)
    diag_ours, diag_theirs = relu_diagonal_exact(stax)
    times, _ = empirical_times(jax, nt, stax)
    cnn_times, h2h = empirical_cnn_times(jax, nt, stax)
    best_nt = min((t for name, t, _ in times if name.startswith("neural") and t == t), default=float("nan"))
    best_ours = min(t for name, t, _ in times if name.startswith("dltheory"))
    lines = [HEAD, "",
             f"`benchmarks/ntk.py`; torch {torch.__version__}, neural-tangents {version('neural-tangents')} with jax {version('jax')}, one thread each, shared machine.", "",
             "**Infinite-width kernels** (float64; fully connected, NTK parameterization, W_std 1.5, b_std 0.1; 20 inputs of 10 features): largest difference relative to the largest entry.", "",
             "| activation | hidden layers | NNGP difference | NTK difference | neural-tangents s | dltheory s |", "|---|---|---|---|---|---|"]
    for a, d, dn, dt, tn, to in agree:
        lines.append(f"| {a} | {d} | {dn:.1e} | {dt:.1e} | {tn:.3f} | {to:.4f} |")
    lines += ["", "**Standard parameterization and convolutional kernels** (float64; W_std 1.5, b_std 0.1; 20 inputs of 10 features, or 20 images 8 x 8 x 3; "
              "neural-tangents' first call of a kernel includes its tracing):", "",
              "| network | activation | NNGP difference | NTK difference | neural-tangents s | dltheory s |", "|---|---|---|---|---|---|"]
    for name, a, dn, dt, tn, to in more:
        lines.append(f"| {name} | {a} | {dn:.1e} | {dt:.1e} | {tn:.3f} | {to:.4f} |")
    lines += ["", f"The ReLU NTKs differ only on the diagonal: against a 40-digit mpmath evaluation of Theta(x, x) (depth 1), dltheory is off by {diag_ours:.1e} relative, "
              f"neural-tangents by {diag_theirs:.1e} (the arccos of a correlation rounded to 1 - 1e-16 is 1.5e-8, not 0; dltheory takes the angle from atan2 and "
              "sets the Gram matrix's diagonal exactly)."]
    lines += ["", "**Empirical NTK** (float32; MLP 784-512-512-10, 669,706 parameters, NTK parameterization, the same weights; 64 x 64 inputs; mean over the 10 outputs' diagonal; neural-tangents jit-compiled, timed after a warm-up; median of 3):", "",
              "| method | s | relative difference to dltheory jacobian |", "|---|---|---|"]
    for name, t, diff in times:
        lines.append(f"| {name} | {t:.3f} | {diff:.1e} |")
    lines += ["", "**Empirical NTK of a small CNN** (float32; 2 circular 3x3 convolutions of 64 channels, ReLU, global average pooling, 10 outputs: 38,592 parameters, "
              "NTK parameterization, the same weights; 32 x 32 images of 16x16x3; mean over the outputs; as above):", "",
              "| method | s | relative difference to dltheory jacobian |", "|---|---|---|"]
    for name, t, diff in cnn_times:
        lines.append(f"| {name} | {t:.3f} | {diff:.1e} |")
    r = h2h["ratios"]
    lines += ["", f"Head to head (CNN): neural-tangents implementation 1 and dltheory structured timed in alternation, {h2h['rounds']} rounds each: "
              f"medians {h2h['theirs']:.3f} s vs {h2h['ours']:.3f} s ({h2h['theirs'] / h2h['ours']:.2f}x); ours faster in {h2h['ours_faster']} of {h2h['rounds']} rounds; "
              f"per-round ratios {r[0]:.2f}-{r[-1]:.2f} (median {statistics.median(r):.2f})."]
    met_cnn = "met" if h2h["ours"] <= h2h["theirs"] else "NOT met"
    met = "met" if best_ours <= best_nt else "NOT met"
    lines += ["", f"Target (issue): the same kernels, and the empirical NTK at least as fast as neural-tangents' fastest method on CPU: MLP, fastest ours {best_ours:.3f} s vs {best_nt:.3f} s ({best_nt / best_ours:.2f}x): {met}; "
              f"CNN (head to head) {h2h['ours']:.3f} s vs {h2h['theirs']:.3f} s ({h2h['theirs'] / h2h['ours']:.2f}x): {met_cnn}.",
              "", f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."]
    write_section("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
