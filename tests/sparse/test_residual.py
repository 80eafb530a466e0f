"""ResidualPursuit: Conv1d residual blocks against the FFT ISTA step, dilation as zero-stuffing, convergence to scikit-learn's nonnegative Lasso, gradients, errors."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso

from dltheory.core.errors import DivergenceError
from dltheory.oracles.convolution import circulant_dictionary
from dltheory.sparse import conv_adjoint, conv_lipschitz, conv_reconstruct
from dltheory.sparse.residual import ResidualPursuit, stuffed_filters


def _problem(m=2, n=4, dil=(1, 2), N=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(m, n, generator=g, dtype=torch.float64)
    S = stuffed_filters(f, dil)
    y = torch.randn(3, 1, N, generator=g, dtype=torch.float64)
    return f, S, y, g


def test_stuffed_filters_insert_zeros():
    f = torch.tensor([[1.0, 2.0, 3.0]])
    S = stuffed_filters(f, (1, 3))
    torch.testing.assert_close(S[:, 0], torch.tensor([[1.0, 2, 3, 0, 0, 0, 0], [1, 0, 0, 2, 0, 0, 3]]))


@pytest.mark.parametrize("dil", [(1,), (1, 2, 4), (3,)])
def test_block_is_the_ista_step_of_the_fft_operators(dil):
    f, S, y, g = _problem(dil=dil, N=40)
    L = float(conv_lipschitz(S, (40,)))
    net = ResidualPursuit(f, dilations=dil, lam=0.3, step=1 / L, blocks=5)
    G = torch.rand(3, S.shape[0], 40, generator=g, dtype=torch.float64)
    torch.testing.assert_close(net.reconstruct(G), conv_reconstruct(S, G), atol=1e-13, rtol=0)
    torch.testing.assert_close(net.correlate(y), conv_adjoint(S, y) / L, atol=1e-13, rtol=0)
    torch.testing.assert_close(net.block(G, y), torch.relu(G + conv_adjoint(S, y - conv_reconstruct(S, G)) / L - 0.3 / L), atol=1e-13, rtol=0)


def test_unrolled_network_reaches_the_nonnegative_lasso():
    f, S, y, _ = _problem()
    N = y.shape[-1]
    L = float(conv_lipschitz(S, (N,)))
    codes = ResidualPursuit(f, dilations=(1, 2), lam=0.5, step=1 / L, blocks=20000)(y).detach()
    A = circulant_dictionary(S.numpy(), (N,))
    for b in range(3):
        ref = Lasso(alpha=0.5 / N, fit_intercept=False, positive=True, tol=1e-14, max_iter=10**6).fit(A, y[b, 0].numpy()).coef_
        np.testing.assert_allclose(codes[b].reshape(-1).numpy(), ref, atol=1e-7)


def test_gradients_match_finite_differences():
    f, S, y, _ = _problem(N=12, n=3)
    net = ResidualPursuit(f, dilations=(1, 2), lam=0.1, step=0.05, blocks=3)
    assert torch.autograd.gradcheck(lambda v: net(v).pow(2).sum(), (y.clone().requires_grad_(),))
    loss = net(y).pow(2).sum()
    loss.backward()
    w = net.w1[1]
    for idx in [(0, 0, 0), (0, 1, 2)]:  # a central difference on two filter taps
        with torch.no_grad():
            w[idx] += 1e-6
            up = net(y).pow(2).sum()
            w[idx] -= 2e-6
            down = net(y).pow(2).sum()
            w[idx] += 1e-6
        assert float(w.grad[idx]) == pytest.approx(float(up - down) / 2e-6, rel=1e-5, abs=1e-8)


def test_untied_weights_are_free_and_errors():
    f, S, y, g = _problem()
    net = ResidualPursuit(f, dilations=(1, 2), lam=0.1, step=0.1, blocks=3, tied=False, generator=g)
    assert len(list(net.parameters())) == 5  # two W1, two W2, the bias
    with pytest.raises(ValueError, match="filters"):
        ResidualPursuit(f[0], lam=0.1, step=0.1, blocks=2)
    with pytest.raises(ValueError, match="lam"):
        ResidualPursuit(f, lam=0.0, step=0.1, blocks=2)
    with pytest.raises(ValueError, match="y"):
        net(y[:, 0])
    with pytest.raises(ValueError, match="at least as long"):
        ResidualPursuit(f, dilations=(8,), lam=0.1, step=0.1, blocks=2)(y[..., :10])
    with pytest.raises(DivergenceError, match="block|step 100"):
        ResidualPursuit(f * 100, lam=0.1, step=1.0, blocks=400)(y)
