"""probes.ntk.cnn_kernels (the exact CNTK) against: fc_kernels on 1 x 1 images, a direct numpy transcription of
Arora et al. 2019's recursion (loops over pixel pairs and the patch sets D), Monte Carlo over wide random CNNs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dltheory.models.ntk import ntk_cnn
from dltheory.probes.ntk import cnn_kernels, empirical_ntk, fc_kernels


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("pooling", ["flatten", "gap"])
def test_one_pixel_images_reduce_to_the_fully_connected_kernels(activation, pooling):
    # circular padding on a 1 x 1 image: every tap of the q x q filter reads the one pixel, the patch sum is q^2 times it
    x = torch.randn(5, 3, 1, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for depth in (1, 3):
        S, T = cnn_kernels(x, depth=depth, kernel_size=3, pooling=pooling, activation=activation, sigma_w=1.3, sigma_b=0.2)
        S0, T0 = fc_kernels(x.reshape(5, 3), depth=depth, activation=activation, sigma_w=1.3, sigma_b=0.2)
        torch.testing.assert_close(S, S0, rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(T, T0, rtol=1e-12, atol=1e-13)


def _paper_cntk(x1: np.ndarray, x2: np.ndarray, depth: int, q: int, pooling: str, padding: str) -> tuple[float, float]:
    """Arora et al. 2019, Sec. 4, written out with loops for one image pair (C, H, W): c_sigma = 2, ReLU, unscaled
    first layer, readout trace (flatten) or mean over pixel pairs (gap) of c_sigma / q^2 * E."""
    C, H, W = x1.shape
    r = q // 2
    pix = [(i, j) for i in range(H) for j in range(W)]

    def D(p, pp):  # the pairs of pixels (p + delta, p' + delta) over the q x q offsets, inside the image (or wrapped)
        for a in range(-r, r + 1):
            for b in range(-r, r + 1):
                u, v = (p[0] + a, p[1] + b), (pp[0] + a, pp[1] + b)
                if padding == "circular":
                    yield (u[0] % H, u[1] % W), (v[0] % H, v[1] % W)
                elif 0 <= u[0] < H and 0 <= u[1] < W and 0 <= v[0] < H and 0 <= v[1] < W:
                    yield u, v

    imgs = {0: x1, 1: x2}
    # Sigma^(0)(x_s, x_t)_{p,p'} for s, t in {0, 1}
    Sig = {(s, t): {(p, pp): sum(float(imgs[s][:, u[0], u[1]] @ imgs[t][:, v[0], v[1]]) for u, v in D(p, pp)) for p in pix for pp in pix}
           for s in (0, 1) for t in (0, 1)}
    Th = dict(Sig[0, 1])
    for h in range(1, depth + 1):
        K, Kd = {}, {}
        for s, t in ((0, 0), (1, 1), (0, 1)):
            for p in pix:
                for pp in pix:
                    k11, k22, k12 = Sig[s, s][p, p], Sig[t, t][pp, pp], Sig[s, t][p, pp]
                    rho = np.clip(k12 / math.sqrt(k11 * k22), -1, 1)
                    th = math.acos(rho)
                    K[s, t, p, pp] = 2 / q ** 2 * math.sqrt(k11 * k22) / (2 * math.pi) * (math.sin(th) + (math.pi - th) * rho)
                    Kd[s, t, p, pp] = 2 / q ** 2 * (math.pi - th) / (2 * math.pi)
        if h == depth:
            pairs = [(p, p) for p in pix] if pooling == "flatten" else [(p, pp) for p in pix for pp in pix]
            scale = 1.0 if pooling == "flatten" else 1.0 / len(pix) ** 2
            nngp = scale * sum(K[0, 1, p, pp] for p, pp in pairs)
            ntk = scale * sum(Kd[0, 1, p, pp] * Th[p, pp] + K[0, 1, p, pp] for p, pp in pairs)
            return nngp, ntk
        Sig = {(s, t): {(p, pp): sum(K[s, t, u, v] for u, v in D(p, pp)) for p in pix for pp in pix} for s, t in ((0, 0), (1, 1), (0, 1))}
        Th = {(p, pp): sum(Kd[0, 1, u, v] * Th[u, v] + K[0, 1, u, v] for u, v in D(p, pp)) for p in pix for pp in pix}
    raise AssertionError("unreachable")


@pytest.mark.parametrize("pooling", ["flatten", "gap"])
@pytest.mark.parametrize("padding", ["circular", "zeros"])
def test_against_a_direct_transcription_of_the_paper(pooling, padding):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 2, 3, 4, generator=g, dtype=torch.float64)
    C, P = 2, 12
    S, T = cnn_kernels(x, depth=2, kernel_size=3, pooling=pooling, padding=padding)  # sigma_w^2 = 2 = c_sigma
    # the paper's normalization differs by a constant (documented in cnn_kernels): 2 / (C P) for flatten, 2 / C for gap
    # (relative tolerance 1e-7: the transcription's arccos of a rounded rho = 1 - 1e-16 on an image with itself is off by 1e-8)
    const = 2 / (C * P) if pooling == "flatten" else 2 / C
    for a in range(3):
        for b in range(a, 3):
            nngp, ntk = _paper_cntk(x[a].numpy(), x[b].numpy(), 2, 3, pooling, padding)
            assert float(S[a, b]) == pytest.approx(const * nngp, rel=1e-7)
            assert float(T[a, b]) == pytest.approx(const * ntk, rel=1e-7)
    torch.testing.assert_close(T, T.T)


def test_chunking_and_cross_kernels_agree():
    g = torch.Generator().manual_seed(4)
    x1, x2 = torch.rand(5, 1, 4, 4, generator=g, dtype=torch.float64), torch.rand(3, 1, 4, 4, generator=g, dtype=torch.float64)
    for pooling in ("flatten", "gap"):
        S, T = cnn_kernels(torch.cat([x1, x2]), depth=3, pooling=pooling, sigma_b=0.1, chunk_size=2)
        S12, T12 = cnn_kernels(x1, x2, depth=3, pooling=pooling, sigma_b=0.1, chunk_size=4)
        torch.testing.assert_close(S12, S[:5, 5:], rtol=1e-12, atol=0)
        torch.testing.assert_close(T12, T[:5, 5:], rtol=1e-12, atol=0)
        assert float(torch.linalg.eigvalsh(T)[0]) > 0


@pytest.mark.parametrize("pooling", ["flatten", "gap"])
def test_against_monte_carlo_over_wide_random_cnns(pooling):
    g = torch.Generator().manual_seed(5)
    x = torch.rand(4, 1, 5, 5, generator=g, dtype=torch.float64)
    S, T = cnn_kernels(x, depth=2, kernel_size=3, pooling=pooling, padding="zeros", sigma_b=0.2)

    def net(width):
        return ntk_cnn(1, width, 2, 1, image_size=5, pooling=pooling, padding="zeros", sigma_b=0.2, generator=g, dtype=torch.float64)

    # NTK: the mean of the empirical kernels of 4 wide nets (fluctuations ~ 1/sqrt(channels), bias ~ 1/channels)
    ntks = torch.stack([empirical_ntk(net(512), x) for _ in range(4)])
    torch.testing.assert_close(ntks.mean(0), T, rtol=0.05, atol=0.03 * float(T.diagonal().mean()))
    # NNGP: the covariance of the outputs over many random nets of moderate width
    with torch.no_grad():
        outs = torch.stack([net(32)(x)[:, 0] for _ in range(1500)])
    torch.testing.assert_close(outs.T @ outs / len(outs), S, rtol=0.1, atol=0.08 * float(S.diagonal().mean()))


def test_errors():
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(ValueError, match="kernel_size"):
        cnn_kernels(x, kernel_size=4)
    with pytest.raises(ValueError, match="pooling"):
        cnn_kernels(x, pooling="max")
    with pytest.raises(ValueError, match="padding"):
        cnn_kernels(x, padding="reflect")
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        cnn_kernels(torch.rand(2, 16))
    with pytest.raises(ValueError, match="same"):
        cnn_kernels(x, torch.rand(2, 1, 4, 5))
    with pytest.raises(ValueError, match="activation"):
        cnn_kernels(x, activation="tanh")


def test_neural_tangents_reference_if_available(monkeypatch):
    import sys
    import types

    # as benchmarks/ntk.py: neural-tangents' __init__ imports an `experimental` module that needs TensorFlow
    if "neural_tangents.experimental" not in sys.modules:
        monkeypatch.setitem(sys.modules, "neural_tangents.experimental", types.ModuleType("neural_tangents.experimental"))
    try:
        import jax
        from neural_tangents import stax
    except Exception:  # not installed (the bench extra, `make bench`): nothing to compare against
        pytest.skip("neural_tangents is not importable (installed by `make bench`)")
    jax.config.update("jax_enable_x64", True)
    x = np.random.default_rng(0).random((3, 4, 4, 2))  # NHWC
    _, _, kernel_fn = stax.serial(stax.Conv(5, (3, 3), padding="CIRCULAR", W_std=math.sqrt(2), b_std=None), stax.Relu(),
                                  stax.Conv(5, (3, 3), padding="CIRCULAR", W_std=math.sqrt(2), b_std=None), stax.Relu(),
                                  stax.Flatten(), stax.Dense(1, W_std=math.sqrt(2), b_std=None))
    k = kernel_fn(x, x, ("nngp", "ntk"))
    S, T = cnn_kernels(torch.tensor(x).permute(0, 3, 1, 2), depth=2, pooling="flatten")
    np.testing.assert_allclose(S.numpy(), np.asarray(k.nngp), rtol=1e-6)
    np.testing.assert_allclose(T.numpy(), np.asarray(k.ntk), rtol=1e-6)
