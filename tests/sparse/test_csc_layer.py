"""CSCLayer (SDNet's convolutional sparse coding layer) against independent references: the explicit
banded-circulant matrix (one ISTA step in closed form, scikit-learn's Lasso), FFT-domain ADMM,
gradients against finite differences (gradcheck), lambda and steps set at test time, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dltheory.core.params import functionalize
from dltheory.oracles.convolution import circulant_dictionary
from dltheory.oracles.lasso import lasso_duality_gap, lasso_sklearn
from dltheory.sparse import conv_admm, conv_reconstruct
from dltheory.sparse.csc_layer import CSCLayer


def _layer(m=3, C=1, k=3, *, seed=0, **kw):
    return CSCLayer(C, m, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64, **kw)


def _images(B=2, C=1, H=6, W=7, seed=1):
    return torch.rand(B, C, H, W, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("nonnegative", [False, True])
def test_one_step_is_the_soft_thresholded_correlation_on_the_explicit_matrix(nonnegative):
    layer = _layer(4, 2, 3, lam=0.2, steps=1, nonnegative=nonnegative)
    x = _images(C=2)
    M = circulant_dictionary(layer.filters().detach().numpy(), (6, 7))  # (C N, m N), numpy.roll, no FFT
    L = np.linalg.norm(M, 2) ** 2
    u = x.reshape(2, -1).numpy() @ M / L
    t = 0.2 / L
    ref = np.maximum(u - t, 0) if nonnegative else np.sign(u) * np.maximum(np.abs(u) - t, 0)
    with torch.no_grad():
        np.testing.assert_allclose(layer(x).reshape(2, -1).numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("nonnegative", [False, True])
@pytest.mark.parametrize("channels", [1, 2])
def test_many_steps_reach_the_lasso_of_sklearn_and_of_admm(nonnegative, channels):
    layer = _layer(3, channels, 3, lam=0.1, steps=10000, nonnegative=nonnegative)  # plain FISTA, no restart: slow on the last digits
    x = _images(C=channels, H=6, W=6)
    M = circulant_dictionary(layer.filters().detach().numpy(), (6, 6))
    xn = x.reshape(2, -1).numpy()
    with torch.no_grad():
        z = layer(x)
    codes = z.reshape(2, -1).numpy()
    ref = lasso_sklearn(M, xn, 0.1, positive=nonnegative, tol=1e-12)
    admm = conv_admm(layer.filters().detach(), x, 0.1, 5000, tol=1e-11, nonnegative=nonnegative).codes
    assert np.linalg.norm(codes - ref) <= 1e-6 * np.linalg.norm(ref)
    assert float((z - admm).norm() / admm.norm()) <= 1e-6
    assert (lasso_duality_gap(M, xn, codes, 0.1, positive=nonnegative) <= 1e-7).all()  # objective ~1
    if nonnegative:
        assert (z >= 0).all()


@pytest.mark.parametrize("nonnegative", [False, True])
def test_gradients_match_finite_differences(nonnegative):
    layer = _layer(3, 2, 3, lam=0.05, steps=4, nonnegative=nonnegative)
    fm = functionalize(layer)
    x = _images(C=2, H=5, W=5)

    def f(weight, x):
        return fm({"weight": weight}, x)

    assert torch.autograd.gradcheck(f, (fm.params["weight"].clone().requires_grad_(True), x.clone().requires_grad_(True)), eps=1e-6, atol=1e-6)


def test_lambda_and_steps_are_settable_at_test_time():
    layer = _layer(4, 1, 3, lam=0.05, steps=50)
    x = _images()
    with torch.no_grad():
        z1 = layer(x)
        layer.lam = 0.5
        z2 = layer(x)
        layer.lam, layer.steps = 0.0, 4000
        z0 = layer(x)
    assert (z2 != 0).sum() < (z1 != 0).sum()  # a larger penalty: sparser codes
    assert z2.abs().sum() < z1.abs().sum()
    # lambda = 0 (an overcomplete dictionary): least squares, the codes reproduce the input
    torch.testing.assert_close(conv_reconstruct(layer.filters().detach(), z0), x, atol=1e-6, rtol=0)


def test_normalization_dtype_device_and_float32():
    layer = _layer(5, 1, 4, normalize=True)
    with torch.no_grad():
        layer.weight.mul_(3.0)
    torch.testing.assert_close(layer.filters().flatten(1).norm(dim=1), torch.ones(5, dtype=torch.float64))
    raw = _layer(5, 1, 4, normalize=False)
    with torch.no_grad():
        raw.weight.mul_(3.0)
    torch.testing.assert_close(raw.filters(), raw.weight)
    l32 = CSCLayer(1, 3, 3, generator=torch.Generator().manual_seed(0))
    x = torch.rand(2, 1, 8, 8)
    z = l32(x)
    assert z.dtype == torch.float32 and z.device == x.device and z.shape == (2, 3, 8, 8)
    z.sum().backward()
    assert l32.weight.grad is not None and bool(torch.isfinite(l32.weight.grad).all())
    assert "lam=0.1" in repr(l32)


def test_errors_name_the_parameter():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="`lam` must be a float >= 0"):
        CSCLayer(1, 2, 3, lam=-0.1, generator=g)
    with pytest.raises(ValueError, match="`steps` must be an int >= 1"):
        CSCLayer(1, 2, 3, steps=0, generator=g)
    with pytest.raises(ValueError, match="`num_filters` must be an int >= 1"):
        CSCLayer(1, 0, 3, generator=g)
    with pytest.raises(ValueError, match="`dtype` must be torch.float32 or torch.float64"):
        CSCLayer(1, 2, 3, generator=g, dtype=torch.float16)
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator"):
        CSCLayer(1, 2, 3, generator=0)
    with pytest.raises(TypeError, match="`nonnegative` must be a bool"):
        CSCLayer(1, 2, 3, nonnegative=1, generator=g)
    layer = CSCLayer(2, 3, 5, generator=g)
    with pytest.raises(ValueError, match="`lam` must be a float >= 0"):
        layer.lam = -1.0
    with pytest.raises(ValueError, match=r"`x` must have shape \(B, 2, N1, N2\) with N1 >= 5, N2 >= 5"):
        layer(torch.rand(2, 2, 4, 8))
    with pytest.raises(ValueError, match=r"`x` must have shape \(B, 2, N1, N2\)"):
        layer(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="`x` must have the dictionary's dtype and device"):
        layer(torch.rand(2, 2, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="`x` must be 4-D"):
        layer(torch.rand(2, 8, 8))
    with torch.no_grad():
        layer.weight[1].zero_()
    with pytest.raises(ValueError, match="atom 1 is zero"):
        layer(torch.rand(2, 2, 8, 8))
