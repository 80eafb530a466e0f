"""Representation similarity against references that share none of its code: numpy from the definitions,
brute-force U-statistics, scipy's principal angles and orthogonal Procrustes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from dltheory.probes.similarity import (
    MinibatchCKA,
    cca,
    cka,
    gram,
    hsic,
    layer_activations,
    minibatch_cka,
    procrustes_distance,
    pwcca,
    svcca,
    svcca_directions,
)


def _pair(n=60, p=7, q=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = np.tanh(X @ rng.standard_normal((p, q))) + 0.3 * rng.standard_normal((n, q))
    return X, Y


def _np_cka(K, L):
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    h = lambda A, B: np.trace(A @ H @ B @ H)  # noqa: E731
    return h(K, L) / np.sqrt(h(K, K) * h(L, L))


def test_linear_and_rbf_cka_equal_the_definition():
    X, Y = _pair()
    assert cka(torch.tensor(X), torch.tensor(Y)) == pytest.approx(_np_cka(X @ X.T, Y @ Y.T), rel=1e-12)
    # n < p: the Gram-matrix branch
    Xw, Yw = _pair(n=6, p=20, q=30, seed=1)
    assert cka(Xw, Yw) == pytest.approx(_np_cka(Xw @ Xw.T, Yw @ Yw.T), rel=1e-12)
    # RBF with sigma = 0.5 x the median distance, computed here from scipy's distances
    d2 = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(X, "sqeuclidean"))
    e2 = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(Y, "sqeuclidean"))
    K = np.exp(-d2 / (2 * 0.25 * np.median(scipy.spatial.distance.pdist(X, "sqeuclidean"))))
    L = np.exp(-e2 / (2 * 0.25 * np.median(scipy.spatial.distance.pdist(Y, "sqeuclidean"))))
    assert cka(X, Y, kernel="rbf", sigma_fraction=0.5) == pytest.approx(_np_cka(K, L), rel=1e-10)


def test_unbiased_hsic_is_the_u_statistic():
    # Song et al. 2012: HSIC_1 = mean over ordered distinct (i, j, q, r) of k_ij l_ij + k_ij l_qr - 2 k_ij l_iq
    rng = np.random.default_rng(3)
    n = 7
    A, B = rng.standard_normal((n, 3)), rng.standard_normal((n, 2))
    K, L = A @ A.T, np.exp(-((B[:, None] - B[None]) ** 2).sum(-1))
    tot, cnt = 0.0, 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        tot += K[i, j] * L[i, j] + K[i, j] * L[q, r] - 2 * K[i, j] * L[i, q]
        cnt += 1
    assert float(hsic(torch.tensor(K), torch.tensor(L), unbiased=True)) == pytest.approx(tot / cnt, rel=1e-10)
    H = np.eye(n) - 1 / n
    assert float(hsic(torch.tensor(K), torch.tensor(L))) == pytest.approx(np.trace(K @ H @ L @ H) / (n - 1) ** 2, rel=1e-12)


def test_cka_invariances_orthogonal_and_scale_but_not_invertible_linear():
    X, Y = _pair(n=80, p=6, q=6, seed=2)
    rng = np.random.default_rng(5)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    base = cka(X, Y)
    assert cka(X @ Q * 3.7 + 2.0, Y) == pytest.approx(base, abs=1e-12)
    assert cka(X, Y, unbiased=True) == pytest.approx(cka(X @ Q * 0.1, Y, unbiased=True), abs=1e-12)
    A = np.diag([1, 1, 1, 1, 1, 30.0]) @ rng.standard_normal((6, 6))
    assert abs(cka(X @ A, Y) - base) > 1e-2
    assert cka(X, X) == pytest.approx(1.0, abs=1e-12)


def test_float32_and_constant_and_rank_deficient_inputs():
    X, Y = _pair(n=200, p=50, q=40, seed=4)
    X32 = torch.tensor(X * 1e4 + 1e6, dtype=torch.float32)  # large offset: float32 centering in the user's dtype would lose it
    ref = _np_cka((X - X.mean(0)) @ (X - X.mean(0)).T, Y @ Y.T)
    assert cka(X32, torch.tensor(Y, dtype=torch.float32)) == pytest.approx(ref, abs=1e-3)
    with pytest.raises(ValueError, match="`Y` has no variance"):
        cka(X, np.ones((200, 3)))
    with pytest.raises(ValueError, match="same number of examples"):
        cka(X, Y[:10])
    with pytest.raises(ValueError, match="NaN"):
        cka(X, np.full((200, 2), np.nan))
    R = X[:, :3] @ np.random.default_rng(0).standard_normal((3, 50))  # rank 3 in 50 features
    assert np.isfinite(cka(R, Y)) and np.isfinite(svcca(R, Y).similarity) and np.isfinite(pwcca(R, Y))
    assert len(cca(R, Y)) == 3


def test_minibatch_cka_converges_to_the_full_data_value():
    rng = np.random.default_rng(6)
    n = 4096
    X = rng.standard_normal((n, 10))
    Y = X[:, :4] @ rng.standard_normal((4, 8)) + rng.standard_normal((n, 8))
    full = cka(X, Y, unbiased=True)
    errs = []
    for k in (64, 512):
        acc = MinibatchCKA(1, 1)
        for s in range(0, n, k):
            acc.update([torch.tensor(X[s:s + k])], [torch.tensor(Y[s:s + k])])
        errs.append(abs(float(acc.value()[0, 0]) - full))
    assert errs[1] < 0.01
    assert errs[0] < 0.03
    # the biased estimator on batches of 64 is off by more: the point of the unbiased one
    biased = np.mean([cka(X[s:s + 64], Y[s:s + 64]) for s in range(0, n, 64)])
    assert abs(biased - cka(X, Y)) > errs[0]


def test_cca_svcca_against_scipy_principal_angles():
    X, Y = _pair(n=100, p=6, q=4, seed=7)
    rho = cca(X, Y).numpy()
    ref = np.cos(scipy.linalg.subspace_angles(X - X.mean(0), Y - Y.mean(0)))
    np.testing.assert_allclose(np.sort(rho), np.sort(ref), atol=1e-10)
    s = svcca(X, Y, keep=1.0)
    assert s.similarity == pytest.approx(ref.mean(), abs=1e-10) and (s.dims_x, s.dims_y) == (6, 4)
    # keep=2: CCA of the top-2 principal components of each
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    U, S, _ = np.linalg.svd(Xc, full_matrices=False)
    V, T, _ = np.linalg.svd(Yc, full_matrices=False)
    ref2 = np.cos(scipy.linalg.subspace_angles(U[:, :2] * S[:2], V[:, :2] * T[:2]))
    assert svcca(X, Y, keep=2).similarity == pytest.approx(ref2.mean(), abs=1e-10)


def test_svcca_directions_are_the_classical_canonical_directions():
    X, Y = _pair(n=200, p=6, q=4, seed=9)
    X = np.hstack([X, X[:, :1] + X[:, 1:2]])  # a collinear feature: rank 6 of 7
    d = svcca_directions(X, Y, keep=1.0)
    # numpy, classical route on full-rank coordinates: eigen-decomposition of Sxx^-1 Sxy Syy^-1 Syx
    Xr, Yr = X[:, :6] - X[:, :6].mean(0), Y - Y.mean(0)
    Sxx, Syy, Sxy = Xr.T @ Xr, Yr.T @ Yr, Xr.T @ Yr
    ev, vec = np.linalg.eig(np.linalg.solve(Sxx, Sxy) @ np.linalg.solve(Syy, Sxy.T))
    order = np.argsort(-ev.real)[:4]
    np.testing.assert_allclose(d.correlations.numpy(), np.sqrt(ev.real[order]), atol=1e-10)
    np.testing.assert_allclose(d.correlations.numpy(), svcca(X, Y, keep=1.0).correlations.numpy(), atol=1e-12)
    Zx = (torch.as_tensor(X) - d.mean_x) @ d.weights_x
    Zy = (torch.as_tensor(Y) - d.mean_y) @ d.weights_y
    torch.testing.assert_close(Zx.T @ Zx, torch.eye(4, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(Zx.T @ Zy, torch.diag(d.correlations), atol=1e-10, rtol=0)
    for i, j in enumerate(order):  # each variate is the classical one up to sign and scale
        z = Xr @ vec[:, j].real
        assert abs(np.corrcoef(z, Zx[:, i].numpy())[0, 1]) == pytest.approx(1.0, abs=1e-8)
    # keep=2: the directions live in the top-2 principal subspace and reproduce svcca(keep=2)
    d2 = svcca_directions(X, Y, keep=2)
    assert d2.weights_x.shape == (7, 2) and d2.weights_y.shape == (4, 2)
    np.testing.assert_allclose(d2.correlations.numpy(), svcca(X, Y, keep=2).correlations.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="Y"):
        svcca_directions(X, np.ones((200, 3)))
    with pytest.raises(ValueError, match="same number of examples"):
        svcca_directions(X, Y[:10])


def test_pwcca_from_an_independent_numpy_computation():
    X, Y = _pair(n=120, p=8, q=5, seed=8)
    # numpy: canonical directions of the smaller side (Y here) by the classical whitening route
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Sxx, Syy, Sxy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    Wy = np.linalg.inv(scipy.linalg.sqrtm(Syy)).real
    Wx = np.linalg.inv(scipy.linalg.sqrtm(Sxx)).real
    u, rho, vt = np.linalg.svd(Wy @ Sxy.T @ Wx)
    H = Yc @ Wy @ u  # canonical variates of Y, orthonormal
    alpha = np.abs(H.T @ Yc).sum(1)
    assert pwcca(X, Y) == pytest.approx((alpha * rho).sum() / alpha.sum(), rel=1e-8)
    assert pwcca(X, X) == pytest.approx(1.0, abs=1e-10)


def test_procrustes_against_scipy():
    X, Y = _pair(n=50, p=5, q=5, seed=9)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Xc, Yc = Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc)
    R, _ = scipy.linalg.orthogonal_procrustes(Xc, Yc)
    assert procrustes_distance(X, Y) == pytest.approx(np.linalg.norm(Xc @ R - Yc) ** 2, rel=1e-10)
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((5, 5)))
    assert procrustes_distance(X, X @ Q * 2) == pytest.approx(0.0, abs=1e-12)


def test_layer_activations_leave_the_module_unchanged_and_minibatch_heatmap():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3)).train()
    x = torch.randn(64, 5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    acts = layer_activations(net, iter([x[:32], x[32:]]), ["0", "2", "3"])  # a list of tensors would be one (inputs, targets) batch
    assert {k: tuple(v.shape) for k, v in acts.items()} == {"0": (64, 16), "2": (64, 16), "3": (64, 3)}
    torch.testing.assert_close(acts["0"], net[0](x).detach())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not net[0]._forward_hooks
    with pytest.raises(ValueError, match="did you mean '2'|not a submodule"):
        layer_activations(net, x, ["relu"])
    M = minibatch_cka(net.eval(), [x[i:i + 16] for i in range(0, 64, 16)], ["0", "2", "3"])
    assert M.shape == (3, 3)
    torch.testing.assert_close(torch.diagonal(M), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(M, M.T)


def test_gram_rbf_rejects_coincident_examples():
    with pytest.raises(ValueError, match="median distance"):
        gram(torch.zeros(5, 2), "rbf")
    with pytest.raises(ValueError, match="kernel"):
        cka(np.eye(4), np.eye(4), kernel="cosine")


def test_minibatch_cka_names_a_dead_layer():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    with torch.no_grad():
        net[0].bias.fill_(-100.0)
    other = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    x = torch.randn(32, 4)
    with pytest.raises(ValueError, match=r"model_b\.1.*no variance"):
        minibatch_cka(other, [x[:16], x[16:]].__iter__(), ["0"], net, ["1"])
