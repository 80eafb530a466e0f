"""NTKs against independent references: the explicit per-example Jacobian (torch.autograd.functional), Monte Carlo
over random wide networks for the infinite-width kernels, closed forms against quadrature."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from dltheory.models.ntk import Erf, ntk_cnn, ntk_mlp
from dltheory.probes.ntk import empirical_ntk, fc_kernels


def _explicit_jacobian(model, x):
    params = dict(model.named_parameters())
    names = list(params)

    def f(*ps):
        out = torch.func.functional_call(model, dict(zip(names, ps, strict=True)), (x,))
        return out.reshape(-1)

    J = torch.autograd.functional.jacobian(f, tuple(params.values()))
    return torch.cat([j.reshape(j.shape[0], -1) for j in J], dim=1)  # (n k, P)


@pytest.mark.parametrize("method", ["jacobian", "ntvp"])
def test_empirical_ntk_equals_the_explicit_jacobian_product(method):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 5, 4)).double()
    x1, x2 = torch.randn(5, 2, 5, dtype=torch.float64), torch.randn(3, 2, 5, dtype=torch.float64)
    J1 = _explicit_jacobian(model, x1).reshape(5, 4, -1)
    J2 = _explicit_jacobian(model, x2).reshape(3, 4, -1)
    full = torch.einsum("akp,blp->abkl", J1, J2)
    torch.testing.assert_close(empirical_ntk(model, x1, x2, output="full", method=method, chunk_size=2), full)
    torch.testing.assert_close(empirical_ntk(model, x1, x2, method=method, chunk_size=2), torch.einsum("abkk->ab", full) / 4)
    G = empirical_ntk(model, x1, method=method)
    torch.testing.assert_close(G, G.T)
    # the kernel of the last layer's parameters only
    Jl = J1[..., -(3 * 5 * 4 + 4):]
    torch.testing.assert_close(empirical_ntk(model, x1, names=["3"], method=method), torch.einsum("akp,bkp->ab", Jl, Jl) / 4)


def test_empirical_ntk_errors():
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="names"):
        empirical_ntk(model, torch.randn(2, 3), names=["nope"])
    with pytest.raises(ValueError, match="output"):
        empirical_ntk(model, torch.randn(2, 3), output="diag")


def test_relu_expectations_against_scipy_integration():
    import numpy as np
    import scipy.integrate
    import scipy.stats

    from dltheory.probes.ntk import _relu_expect

    for K in ([[1.3, 0.4], [0.4, 0.7]], [[2.0, -1.1], [-1.1, 0.9]], [[0.5, 0.49], [0.49, 0.5]]):
        K = np.array(K)
        pdf = scipy.stats.multivariate_normal(mean=[0, 0], cov=K).pdf
        ref, _ = scipy.integrate.dblquad(lambda v, u, pdf=pdf: u * v * pdf([u, v]), 0, np.inf, 0, np.inf, epsabs=1e-11, epsrel=1e-10)
        ref_d = scipy.stats.multivariate_normal(mean=[0, 0], cov=K).cdf([0, 0])  # P(u > 0, v > 0) = P(u < 0, v < 0)
        e, ed = _relu_expect(*(torch.tensor(K[i, j], dtype=torch.float64) for i, j in ((0, 0), (1, 1), (0, 1))))
        assert float(e) == pytest.approx(ref, rel=1e-6)
        assert float(ed) == pytest.approx(ref_d, abs=1e-6)


def test_erf_closed_form_equals_gauss_hermite_quadrature():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    phi = (torch.erf, lambda t: 2 / math.sqrt(math.pi) * torch.exp(-t * t))
    for depth in (1, 3):
        S, T = fc_kernels(x, depth=depth, activation="erf", sigma_w=1.3, sigma_b=0.2)
        Sq, Tq = fc_kernels(x, depth=depth, activation=phi, sigma_w=1.3, sigma_b=0.2, quadrature=200)
        torch.testing.assert_close(S, Sq, rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(T, Tq, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_infinite_width_kernels_against_monte_carlo_over_wide_networks(activation):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, generator=g, dtype=torch.float64)
    S, T = fc_kernels(x, depth=2, activation=activation, sigma_w=1.5, sigma_b=0.3)
    # NTK: the empirical kernel of wide nets, averaged over a few draws (fluctuations ~ 1/sqrt(width))
    ntks = [empirical_ntk(ntk_mlp([5, 2048, 2048, 1], activation=activation, sigma_w=1.5, sigma_b=0.3, generator=g, dtype=torch.float64), x) for _ in range(3)]
    torch.testing.assert_close(torch.stack(ntks).mean(0), T, rtol=0.05, atol=0.02 * float(T.diagonal().mean()))
    # NNGP: the covariance of the outputs over many random nets of moderate width
    outs = torch.stack([ntk_mlp([5, 256, 256, 1], activation=activation, sigma_w=1.5, sigma_b=0.3, generator=g, dtype=torch.float64)(x)[:, 0] for _ in range(2000)])
    cov = outs.T @ outs / len(outs)
    torch.testing.assert_close(cov, S, rtol=0.1, atol=0.06 * float(S.diagonal().mean()))


def test_linearized_model_is_the_first_order_expansion():
    from dltheory.probes.ntk import LinearizedModel

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    lin = LinearizedModel(net)
    v = {k: torch.randn_like(p) for k, p in lin.params.items()}
    f = lambda p: torch.func.functional_call(net, p, (x,))  # noqa: E731
    gaps = []
    for eps in (1e-2, 1e-3):
        p = {k: lin.params[k] + eps * v[k] for k in v}
        gaps.append(float((lin(p, x) - f(p)).abs().max()))
    assert gaps[1] < gaps[0] / 50  # second-order remainder: 100x smaller for a 10x smaller step
    torch.testing.assert_close(lin(lin.params, x), f(lin.params))


def test_closed_form_trajectory_equals_gradient_descent_on_the_linearized_model():
    from dltheory.probes.ntk import LinearizedModel, kernel_regression, mse_gd_trajectory
    from dltheory.train.loop import train
    from dltheory.train.optimizers import gd

    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 1)).double()
    X, Xs = torch.randn(8, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    y = torch.sin(X[:, :1] * 2)
    lin = LinearizedModel(net)
    K, Ks = empirical_ntk(net, X), empirical_ntk(net, Xs, X)
    with torch.no_grad():
        f0, f0s = net(X), net(Xs)
    lr, T = 8 / float(torch.linalg.eigvalsh(K)[-1]), 40  # 1 / lambda_max of the mean loss's Gram matrix K / n (n = 8)
    res = train(lambda p, b: 0.5 * ((lin(p, b[0]) - b[1]) ** 2).mean(), lin.params, steps=T, optimizer=gd(lr), data=(X, y), progress=False)
    with torch.no_grad():
        torch.testing.assert_close(lin(res.params, X), mse_gd_trajectory(K, y, f0, lr, T)[0], rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(lin(res.params, Xs), mse_gd_trajectory(K, y, f0, lr, T, K_test=Ks, f0_test=f0s)[0], rtol=1e-9, atol=1e-10)
    # infinite time: kernel regression from f0
    far = mse_gd_trajectory(K, y, f0, lr, 10**7, K_test=Ks, f0_test=f0s)[0]
    torch.testing.assert_close(far, kernel_regression(K, y, Ks, f0_train=f0, f0_test=f0s), rtol=1e-6, atol=1e-6)


def test_structured_method_equals_the_jacobian_contraction():
    torch.manual_seed(2)
    for net in (nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)).double(),
                ntk_mlp([4, 16, 16, 3], sigma_w=1.3, sigma_b=0.2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)):
        x1, x2 = torch.randn(5, 4, dtype=torch.float64), torch.randn(7, 4, dtype=torch.float64)
        for output in ("trace", "full"):
            torch.testing.assert_close(empirical_ntk(net, x1, x2, output=output, method="structured", chunk_size=3),
                                       empirical_ntk(net, x1, x2, output=output, method="jacobian"))
        name = [n for n, _ in net.named_parameters()][-1]  # the last bias only
        torch.testing.assert_close(empirical_ntk(net, x1, names=[name], method="structured"), empirical_ntk(net, x1, names=[name], method="jacobian"))
    with pytest.raises(ValueError, match="structured"):
        empirical_ntk(nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(2, 1)), torch.randn(2, 1, 3), method="structured")
    with pytest.raises(ValueError, match="structured"):  # grouped convolutions are not covered
        empirical_ntk(nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten(), nn.Linear(2, 1)), torch.randn(2, 2, 3, 3), method="structured")


@pytest.mark.parametrize("case", ["zeros-stride-dilation", "circular", "reflect-no-bias", "ntk-circular-bias", "ntk-zeros-gap"])
def test_structured_method_on_convolutions_equals_the_jacobian_contraction(case):
    # the weight gradient of a convolution as output gradient x unfolded patches, against per-example jacrev
    torch.manual_seed(3)
    g = torch.Generator().manual_seed(1)
    if case.startswith("ntk"):
        net = ntk_cnn(2, 5, 2, 3, image_size=6, pooling="gap" if case.endswith("gap") else "flatten", padding=case.split("-")[1],
                      sigma_b=0.3 if case.endswith("bias") else 0.0, generator=g, dtype=torch.float64)
    else:
        conv = {"zeros-stride-dilation": nn.Conv2d(2, 4, 3, stride=2, padding=2, dilation=2),
                "circular": nn.Conv2d(2, 4, 3, padding=1, padding_mode="circular"),
                "reflect-no-bias": nn.Conv2d(2, 4, (3, 1), padding=(1, 0), padding_mode="reflect", bias=False)}[case]
        with torch.no_grad():
            probe = conv(torch.zeros(1, 2, 6, 6))
        net = nn.Sequential(conv, nn.Tanh(), nn.Conv2d(4, 3, 1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * probe.shape[2] * probe.shape[3], 3)).double()
    x1, x2 = torch.randn(5, 2, 6, 6, dtype=torch.float64), torch.randn(4, 2, 6, 6, dtype=torch.float64)
    for output in ("trace", "full"):
        torch.testing.assert_close(empirical_ntk(net, x1, x2, output=output, method="structured", chunk_size=3),
                                   empirical_ntk(net, x1, x2, output=output, method="jacobian"), rtol=1e-10, atol=1e-12)
    first = [n for n, _ in net.named_parameters()][0]  # the first convolution's weight alone
    torch.testing.assert_close(empirical_ntk(net, x1, names=[first]), empirical_ntk(net, x1, names=[first], method="jacobian"), rtol=1e-10, atol=1e-12)


def _standard_mlp(sizes, activation, sigma_w, sigma_b, g):
    """PyTorch layers with a Gaussian init W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2): the standard parameterization."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = torch.nn.Linear(a, b, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g, dtype=torch.float64) * sigma_w / math.sqrt(a))
            lin.bias.copy_(torch.randn(b, generator=g, dtype=torch.float64) * sigma_b)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU() if activation == "relu" else Erf())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_standard_parameterization_ntk_against_wide_pytorch_networks(activation):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 5, generator=g, dtype=torch.float64)
    widths = [512, 512]
    S, T = fc_kernels(x, depth=2, activation=activation, sigma_w=1.5, sigma_b=0.3, parameterization="standard", widths=widths)
    S_ntk, T_ntk = fc_kernels(x, depth=2, activation=activation, sigma_w=1.5, sigma_b=0.3)
    torch.testing.assert_close(S, S_ntk, rtol=0, atol=0)  # the forward pass (NNGP) is the same network
    assert float(T.diagonal().mean()) > 100 * float(T_ntk.diagonal().mean())  # the NTK grows with the widths
    # the kernel is dominated by the readout's n_2 E[phi phi'], whose fluctuations (heavy fourth moments of the units)
    # fall like 1/sqrt(width) per draw: average 40 draws (measured: max relative error 2.9% for ReLU)
    ntks = [empirical_ntk(_standard_mlp([5, *widths, 1], activation, 1.5, 0.3, g), x) for _ in range(40)]
    torch.testing.assert_close(torch.stack(ntks).mean(0), T, rtol=0.05, atol=0.02 * float(T.diagonal().mean()))


def test_standard_parameterization_depth_zero_is_exact_and_errors_are_clear():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 4, generator=g, dtype=torch.float64)
    _, T = fc_kernels(x, depth=0, sigma_b=0.5, parameterization="standard")
    torch.testing.assert_close(T, empirical_ntk(_standard_mlp([4, 1], "relu", 1.0, 0.5, g), x))  # x.x' + 1, any draw
    with pytest.raises(ValueError, match="widths"):
        fc_kernels(x, depth=2, parameterization="standard")
    with pytest.raises(ValueError, match="widths"):
        fc_kernels(x, depth=2, parameterization="standard", widths=[8])
    with pytest.raises(ValueError, match="widths"):
        fc_kernels(x, depth=1, widths=8)
    with pytest.raises(ValueError, match="parameterization"):
        fc_kernels(x, parameterization="mup")


def test_kernel_distance_is_the_relative_frobenius_distance():
    from dltheory.probes.ntk import kernel_distance

    g = np.random.default_rng(0)
    A, B = g.standard_normal((5, 5)), g.standard_normal((5, 5))
    assert kernel_distance(torch.tensor(A), torch.tensor(B)) == pytest.approx(np.linalg.norm(A - B) / np.linalg.norm(B), rel=1e-12)
    assert kernel_distance(torch.tensor(B), torch.tensor(B)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        kernel_distance(torch.zeros(2, 2), torch.ones(3, 3))
    with pytest.raises(ValueError, match="nonzero"):
        kernel_distance(torch.ones(2, 2), torch.zeros(2, 2))


def test_flow_trajectory_equals_the_matrix_exponential_and_is_the_small_step_limit_of_gd():
    from scipy.linalg import expm

    from dltheory.probes.ntk import mse_flow_trajectory, mse_gd_trajectory

    g = np.random.default_rng(0)
    A = g.standard_normal((6, 6))
    K, Ks = A @ A.T + 0.1 * np.eye(6), g.standard_normal((3, 6))
    y, f0, f0s = g.standard_normal((6, 1)), g.standard_normal((6, 1)), g.standard_normal((3, 1))
    t, n = 2.5, 6
    ref = y + expm(-t * K / n) @ (f0 - y)
    ref_s = f0s + Ks @ np.linalg.solve(K, (np.eye(n) - expm(-t * K / n)) @ (y - f0))
    T = [torch.tensor(v) for v in (K, y, f0)]
    torch.testing.assert_close(mse_flow_trajectory(*T, t)[0], torch.tensor(ref), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(mse_flow_trajectory(*T, [t], K_test=torch.tensor(Ks), f0_test=torch.tensor(f0s))[0], torch.tensor(ref_s), rtol=1e-9, atol=1e-11)
    errs = [float((mse_gd_trajectory(*T, t / s, s)[0] - torch.tensor(ref)).abs().max()) for s in (100, 1000)]
    assert errs[1] < errs[0] / 5  # gradient descent at step eta -> the flow, error O(eta)
    with pytest.raises(ValueError, match="f0_test"):
        mse_flow_trajectory(*T, t, K_test=torch.tensor(Ks))
