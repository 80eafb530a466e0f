"""Weight spectra against scipy (Pareto MLE, KS statistics, quadrature of the MP density), numpy eigenvalues and
the explicit matrix of a circular convolution."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from dltheory.probes.weights import (
    esd,
    fit_marchenko_pastur,
    fit_power_law,
    mp_cdf,
    spectra_table,
    weight_matrices,
    weight_spectra,
)


def test_power_law_mle_recovers_the_pareto_exponent_and_matches_scipy():
    rng = np.random.default_rng(0)
    alpha, xmin = 2.5, 0.7
    x = scipy.stats.pareto(b=alpha - 1, scale=xmin).rvs(20_000, random_state=rng)
    fit = fit_power_law(x, xmin=xmin)
    b, _, _ = scipy.stats.pareto.fit(x, floc=0, fscale=xmin)
    assert fit.alpha == pytest.approx(b + 1, rel=1e-10)
    assert abs(fit.alpha - alpha) < 4 * fit.std_error
    ks = scipy.stats.kstest(x, scipy.stats.pareto(b=fit.alpha - 1, scale=xmin).cdf).statistic
    assert fit.ks_distance == pytest.approx(ks, abs=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_xmin_search_finds_where_the_tail_starts(seed):
    # a uniform body on [0.05, 1) below a Pareto tail from 1 (alpha 3): CSN's KS-minimizing xmin is not in the
    # body (any xmin >= 1 is a valid power law, so where above 1 it lands is a random draw) and alpha is right
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(0.05, 1.0, 4000), scipy.stats.pareto(b=2.0, scale=1.0).rvs(4000, random_state=rng)])
    fit = fit_power_law(x)
    assert 0.95 <= fit.xmin <= 3.0 and fit.n_tail >= 400
    assert abs(fit.alpha - 3.0) < 4 * fit.std_error


def test_mp_cdf_is_the_integral_of_the_density():
    q, s2 = 0.3, 1.7
    lm, lp = s2 * (1 - math.sqrt(q)) ** 2, s2 * (1 + math.sqrt(q)) ** 2
    dens = lambda t: math.sqrt(max((lp - t) * (t - lm), 0)) / (2 * math.pi * s2 * q * t)  # noqa: E731
    for t in (lm + 0.1, (lm + lp) / 2, lp - 0.2):
        assert mp_cdf(np.array([t]), q, s2)[0] == pytest.approx(scipy.integrate.quad(dens, lm, t)[0], abs=2e-5)


def test_marchenko_pastur_fits_a_gaussian_matrix_and_finds_a_planted_spike():
    g = torch.Generator().manual_seed(0)
    N, M, s2 = 2000, 500, 0.7
    W = torch.randn(N, M, generator=g, dtype=torch.float64) * math.sqrt(s2)
    e = esd(W)
    np.testing.assert_allclose(e.numpy(), np.linalg.eigvalsh(W.numpy().T @ W.numpy() / N), rtol=1e-9, atol=1e-12)
    fit = fit_marchenko_pastur(e, N, M)
    assert fit.sigma2 == pytest.approx(s2, rel=0.02)
    assert fit.ks_distance < 0.03 and fit.num_spikes == 0
    assert float(e[-1]) == pytest.approx(fit.lambda_plus, rel=0.03)
    u = torch.randn(N, 1, generator=g, dtype=torch.float64)
    v = torch.randn(1, M, generator=g, dtype=torch.float64)
    spiked = W + 3 * u @ v / math.sqrt(M)  # a rank-one signal far above the bulk edge
    assert fit_marchenko_pastur(esd(spiked), N, M).num_spikes == 1
    # the ESD of a wide matrix is that of its transpose
    torch.testing.assert_close(esd(W.T), e)


def test_conv_fft_gives_the_singular_values_of_the_circular_convolution():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, bias=False).double()
    n = 6
    basis = torch.eye(2 * n * n, dtype=torch.float64).reshape(-1, 2, n, n)
    with torch.no_grad():
        A = conv(F.pad(basis, (1, 1, 1, 1), mode="circular")).reshape(2 * n * n, -1).T  # (3 n^2, 2 n^2)
    ref = np.sort(np.linalg.svd(A.numpy(), compute_uv=False))
    mats = weight_matrices(nn.Sequential(conv), conv="fft", input_size=n)["0"]
    sv = np.sort(torch.linalg.svdvals(mats).reshape(-1).numpy())
    np.testing.assert_allclose(sv, ref, atol=1e-10)
    sl = weight_matrices(nn.Sequential(conv), conv="slices")["0"]
    assert sl.shape == (9, 3, 2)
    torch.testing.assert_close(sl[4], conv.weight[:, :, 1, 1].detach())
    with pytest.raises(ValueError, match="input_size"):
        weight_matrices(nn.Sequential(conv), conv="fft")


def test_weight_spectra_summary_and_errors():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 30 * 30, 200), nn.ReLU(), nn.Linear(200, 100))
    rows = weight_spectra(model)
    assert [r.layer for r in rows] == ["0", "3", "5"]
    r = rows[1]
    assert (r.N, r.M) == (14400, 200) and r.num_eigenvalues == 200
    assert r.num_spikes == 0 and r.mp_ks_distance < 0.1  # a fresh (uniform-init) layer is MP-like
    table = spectra_table(rows)
    assert "alpha" in table and table.count("\n") == 3
    with pytest.raises(ValueError, match="no nn.Linear"):
        weight_spectra(nn.ReLU())
    with pytest.raises(ValueError, match="`M` must be <= `N`"):
        fit_marchenko_pastur(np.ones(10), 5, 10)
    with pytest.raises(ValueError, match="min_tail"):
        fit_power_law(np.ones(3))
