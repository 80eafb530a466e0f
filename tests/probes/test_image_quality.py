"""probes.image_quality: PSNR and the ring-averaged power spectrum against closed forms and a numpy reference."""

import math

import numpy as np
import pytest
import torch

from dltheory.probes.image_quality import hann_window2d, psnr, radial_power_spectrum, top_band


def numpy_radial_power_spectrum(x: np.ndarray, window: str = "none") -> np.ndarray:
    """Reference: numpy FFT, a loop over the frequency grid, rings by integer-rounded radius."""
    n = x.shape[-1]
    w = np.outer(np.hanning(n), np.hanning(n)) if window == "hann" else np.ones((n, n))
    F = np.abs(np.fft.fft2(x * w)) ** 2 / (w**2).sum()
    k = np.fft.fftfreq(n) * n
    sums, counts = np.zeros(n // 2 + 1), np.zeros(n // 2 + 1)
    for a in range(n):
        for b in range(n):
            r = int(np.floor(np.hypot(k[a], k[b]) + 0.5))
            if r <= n // 2:
                sums[r] += F[a, b]
                counts[r] += 1
    return sums / counts


@pytest.mark.parametrize("n", [8, 9, 16])
@pytest.mark.parametrize("window", ["none", "hann"])
def test_radial_spectrum_matches_numpy_loop(n, window):
    x = np.random.default_rng(n).normal(size=(3, n, n))
    got = radial_power_spectrum(torch.tensor(x), window=window)
    assert got.shape == (3, n // 2 + 1) and got.dtype == torch.float64
    for i in range(3):
        np.testing.assert_allclose(got[i].numpy(), numpy_radial_power_spectrum(x[i], window), rtol=1e-12, atol=1e-14)


def test_hann_window_matches_numpy():
    np.testing.assert_allclose(hann_window2d(7, dtype=torch.float64).numpy(), np.outer(np.hanning(7), np.hanning(7)), atol=1e-15)


def test_cosine_puts_its_power_on_one_ring():
    # x = cos(2 pi (3 i + 4 j) / 16): the only nonzero Fourier coefficients are at (+-3, +-4), |.|^2 = (n^2/2)^2 each,
    # radius 5 exactly; periodogram |X|^2 / n^2 = n^2 / 4 at both, ring 5 holds the 4 points (0, +-5), (+-5, 0), (+-3, +-4), (+-4, +-3) -> 12 points
    n = 16
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x = torch.tensor(np.cos(2 * np.pi * (3 * i + 4 * j) / n))
    P = radial_power_spectrum(x)
    k = np.fft.fftfreq(n) * n
    ring5 = int((np.floor(np.hypot(k[:, None], k[None, :]) + 0.5) == 5).sum())
    expected = np.zeros(n // 2 + 1)
    expected[5] = 2 * (n**2 / 4) / ring5
    np.testing.assert_allclose(P.numpy(), expected, atol=1e-10)
    # Parseval: the total power over all frequencies is sum x^2 (no window)
    assert float(P[5]) * ring5 == pytest.approx(float((x**2).sum()), rel=1e-12)


def test_white_noise_spectrum_is_flat_at_its_variance():
    x = torch.randn(400, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.5
    P = radial_power_spectrum(x).mean(0)
    np.testing.assert_allclose(P[1:].numpy(), 0.25, rtol=0.1)  # E|X_k|^2 / n^2 = sigma^2 at every k != 0


def test_spectrum_keeps_batch_shape_dtype_and_rejects_bad_input():
    x = torch.rand(2, 3, 10, 10, dtype=torch.float32)
    P = radial_power_spectrum(x, window="hann")
    assert P.shape == (2, 3, 6) and P.dtype == torch.float32
    with pytest.raises(ValueError, match="square"):
        radial_power_spectrum(torch.rand(4, 5))
    with pytest.raises(ValueError, match="window"):
        radial_power_spectrum(torch.rand(4, 4), window="hamming")
    with pytest.raises(TypeError, match="images"):
        radial_power_spectrum(np.zeros((4, 4)))


def test_psnr_closed_form():
    target = torch.zeros(2, 8, 8, dtype=torch.float64)
    estimate = target + torch.tensor([0.1, 0.01], dtype=torch.float64)[:, None, None]  # MSE 1e-2, 1e-4
    torch.testing.assert_close(psnr(estimate, target), torch.tensor([20.0, 40.0], dtype=torch.float64))
    assert float(psnr(estimate[0], target[0], peak=255.0)) == pytest.approx(20 + 20 * math.log10(255))
    a, b = np.random.default_rng(1).random((2, 5, 7))
    assert float(psnr(torch.tensor(a), torch.tensor(b))) == pytest.approx(10 * np.log10(1 / np.mean((a - b) ** 2)), rel=1e-12)


def test_psnr_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        psnr(torch.zeros(3, 4), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="peak"):
        psnr(torch.zeros(3, 3), torch.ones(3, 3), peak=0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        psnr(np.zeros((3, 3)), torch.zeros(3, 3))


def test_top_band():
    assert top_band(32).tolist() == list(range(11, 17))
    assert top_band(16).tolist() == [6, 7, 8]
    assert top_band(30).tolist() == list(range(11, 16))
    assert top_band(16, fraction=1.0).tolist() == list(range(1, 9))  # r > 0: the mean (ring 0) is no band
    with pytest.raises(ValueError, match="fraction"):
        top_band(16, fraction=0)
