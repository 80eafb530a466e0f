"""probes.frequency: the DFT relative error against numpy's FFT, the Gaussian filter against a direct numpy sum, and the error paths."""

import numpy as np
import pytest
import torch

from dltheory.probes.frequency import dft_relative_error, gaussian_filter, low_high_errors


def _np_dft_error(h, f, ks):
    H, F = np.fft.fft(h, axis=0), np.fft.fft(f, axis=0)
    return np.abs(H[ks] - F[ks]) / np.abs(F[ks])


def test_dft_relative_error_matches_numpy_fft():
    rng = np.random.default_rng(0)
    n = 64
    x = -np.pi + 2 * np.pi * np.arange(n) / n
    f = np.stack([np.sin(x) + np.sin(3 * x) + np.sin(5 * x), np.cos(2 * x) + 0.5 * np.sin(7 * x) + 0.1], 1)  # (n, 2)
    h = f + 0.3 * rng.standard_normal((n, 2))
    ks = [1, 3, 5]
    got = dft_relative_error(torch.tensor(h), torch.tensor(f[:, :1].repeat(2, 1)), frequencies=ks)
    np.testing.assert_allclose(got.numpy(), _np_dft_error(h, f[:, :1].repeat(2, 1), ks), rtol=1e-10)
    got2 = dft_relative_error(torch.tensor(h[:, 1]), torch.tensor(f[:, 1]), frequencies=[0, 2, 7])
    assert got2.shape == (3,) and got2.dtype == torch.float64
    np.testing.assert_allclose(got2.numpy(), _np_dft_error(h[:, 1], f[:, 1], [0, 2, 7]), rtol=1e-10)


def test_dft_relative_error_snapshots_and_exact_fit():
    rng = np.random.default_rng(1)
    n = 32
    x = -np.pi + 2 * np.pi * np.arange(n) / n
    f = np.sin(x) + np.sin(3 * x)
    hs = f[None] + rng.standard_normal((4, n))
    got = dft_relative_error(torch.tensor(hs), torch.tensor(f), frequencies=[1, 3])
    assert got.shape == (4, 2)
    for s in range(4):
        np.testing.assert_allclose(got[s].numpy(), _np_dft_error(hs[s], f, [1, 3]), rtol=1e-10)
    assert float(dft_relative_error(torch.tensor(f), torch.tensor(f), frequencies=[1, 3]).max()) == 0.0
    # a zero fit has relative error 1 at every frequency; float32 stays float32
    z = dft_relative_error(torch.zeros(n), torch.tensor(f, dtype=torch.float32), frequencies=[1, 3])
    assert z.dtype == torch.float32 and torch.allclose(z, torch.ones(2))


def test_dft_relative_error_errors():
    f = torch.sin(torch.linspace(0, 2 * np.pi, 17)[:-1])
    with pytest.raises(ValueError, match="numerically"):
        dft_relative_error(f, f, frequencies=[1, 2])  # sin(x) has no frequency 2
    with pytest.raises(ValueError, match="frequencies"):
        dft_relative_error(f, f, frequencies=[9])  # > n // 2 = 8
    with pytest.raises(ValueError, match="at least one"):
        dft_relative_error(f, f, frequencies=[])
    with pytest.raises(ValueError, match="outputs"):
        dft_relative_error(f[:8], f, frequencies=[1])
    with pytest.raises(ValueError, match="targets"):
        dft_relative_error(f.reshape(1, 2, 8), f.reshape(1, 2, 8), frequencies=[1])
    with pytest.raises(TypeError, match="floating"):
        dft_relative_error(torch.arange(16), f, frequencies=[1])


def _np_filter(x, v, delta):
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    g = np.exp(-d2 / (2 * delta))
    return (g @ v) / g.sum(1, keepdims=True)


@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_gaussian_filter_matches_direct_sum(chunk_size):
    rng = np.random.default_rng(2)
    x, v = rng.standard_normal((50, 5)), rng.standard_normal((50, 3))
    got = gaussian_filter(torch.tensor(x), torch.tensor(v), delta=1.7, chunk_size=chunk_size)
    np.testing.assert_allclose(got.numpy(), _np_filter(x, v, 1.7), rtol=1e-9, atol=1e-12)
    got1 = gaussian_filter(torch.tensor(x), torch.tensor(v[:, 0]), delta=1.7, chunk_size=chunk_size)
    assert got1.shape == (50,)
    np.testing.assert_allclose(got1.numpy(), _np_filter(x, v[:, :1], 1.7)[:, 0], rtol=1e-9, atol=1e-12)


def test_gaussian_filter_limits():
    rng = np.random.default_rng(3)
    x, v = torch.tensor(rng.standard_normal((30, 4))), torch.tensor(rng.standard_normal((30, 2)))
    torch.testing.assert_close(gaussian_filter(x, v, delta=1e-6), v)  # tiny variance: every point alone
    torch.testing.assert_close(gaussian_filter(x, v, delta=1e8), v.mean(0, keepdim=True).expand(30, 2))  # huge: the mean
    c = torch.full((30, 2), 2.5, dtype=torch.float64)
    torch.testing.assert_close(gaussian_filter(x, c, delta=0.7), c)  # constants pass unchanged


def test_low_high_errors_match_numpy():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((40, 6))
    f = np.eye(3)[rng.integers(0, 3, 40)]  # one-hot targets
    hs = f[None] + 0.4 * rng.standard_normal((5, 40, 3))
    delta = 2.0
    r = low_high_errors(torch.tensor(x), torch.tensor(hs), torch.tensor(f), delta=delta, chunk_size=9)
    fl = _np_filter(x, f, delta)
    for s in range(5):
        hl = _np_filter(x, hs[s], delta)
        el = np.linalg.norm(hl - fl) / np.linalg.norm(fl)
        eh = np.linalg.norm((hs[s] - hl) - (f - fl)) / np.linalg.norm(f - fl)
        np.testing.assert_allclose([float(r.low[s]), float(r.high[s])], [el, eh], rtol=1e-9)
    np.testing.assert_allclose(r.target_low.numpy() + r.target_high.numpy(), f, atol=1e-12)
    one = low_high_errors(torch.tensor(x), torch.tensor(hs[2]), torch.tensor(f), delta=delta)
    assert one.low.shape == () and abs(float(one.low) - float(r.low[2])) < 1e-12
    exact = low_high_errors(torch.tensor(x), torch.tensor(f), torch.tensor(f), delta=delta)
    assert float(exact.low) < 1e-12 and float(exact.high) < 1e-12


def test_filter_errors():
    x, v = torch.randn(10, 3, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="delta"):
        gaussian_filter(x, v, delta=0.0)
    with pytest.raises(ValueError, match="chunk_size"):
        gaussian_filter(x, v, delta=1.0, chunk_size=0)
    with pytest.raises(ValueError, match="inputs"):
        gaussian_filter(x[0], v, delta=1.0)
    with pytest.raises(ValueError, match="values"):
        gaussian_filter(x, v[:5], delta=1.0)
    with pytest.raises(ValueError, match="outputs"):
        low_high_errors(x, v[:, :1], v, delta=1.0)
    with pytest.raises(ValueError, match="nonzero"):
        low_high_errors(x, v, torch.ones(10, 2, dtype=torch.float64), delta=1.0)  # a constant has no high part
