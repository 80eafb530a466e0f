"""Factorized models against hand-written products, invariants of the inits, operators against
explicit inner products, and error paths."""

import numpy as np
import pytest
import torch

from dltheory.core import functionalize, torch_generator
from dltheory.models.factorization import (
    DeepFactorization,
    DiagonalNet,
    EntrySample,
    GaussianSensing,
    LinearAutoencoder,
    balanced_factors,
    end_to_end,
    low_rank_matrix,
)


def _g(seed=0):
    return torch_generator(seed, "test")


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_deep_factorization_forward_is_the_product(depth):
    model = DeepFactorization((3, 5), depth=depth, width=4, init_scale=0.7, generator=_g())
    Ws = [f.detach().numpy() for f in model.factors]
    dims = [5] + [4] * (depth - 1) + [3]
    assert [W.shape for W in Ws] == [(dims[j + 1], dims[j]) for j in range(depth)]
    ref = np.eye(5)
    for W in Ws:
        ref = W @ ref
    np.testing.assert_allclose(model().detach().numpy(), ref, rtol=1e-12)
    fm = functionalize(model)
    assert list(fm.params) == [f"factors.{j}" for j in range(depth)]
    np.testing.assert_allclose(end_to_end(fm.params).numpy(), ref, rtol=1e-12)
    # entries N(0, init_scale^2) without balancing
    big = DeepFactorization((60, 60), depth=2, init_scale=0.7, generator=_g(1))
    assert float(big.factors[0].detach().std()) == pytest.approx(0.7, rel=0.05)


def test_end_to_end_orders_factors_numerically():
    # 11 factors: "factors.10" must come after "factors.9", not after "factors.1"
    params = {f"factors.{j}": torch.eye(2, dtype=torch.float64) * (j + 1) if j != 10 else torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64) for j in range(11)}
    params["factors.0"] = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64)
    ref = np.eye(2)
    for j in range(11):
        ref = params[f"factors.{j}"].numpy() @ ref
    np.testing.assert_allclose(end_to_end(params).numpy(), ref)


@pytest.mark.parametrize("depth,shape,width", [(2, (4, 4), None), (3, (4, 6), 5), (4, (6, 3), 3), (1, (3, 2), None)])
def test_balanced_init(depth, shape, width):
    model = DeepFactorization(shape, depth=depth, width=width, init_scale=0.3, balanced=True, generator=_g(2))
    Ws = [f.detach().numpy() for f in model.factors]
    for j in range(depth - 1):
        np.testing.assert_allclose(Ws[j + 1].T @ Ws[j + 1], Ws[j] @ Ws[j].T, atol=1e-12)
    W = model().detach().numpy()
    assert np.linalg.norm(W) == pytest.approx(0.3, rel=1e-12)
    # every factor carries the N-th root of the end-to-end singular values
    s = np.linalg.svd(W, compute_uv=False)
    for Wj in Ws:
        sj = np.linalg.svd(Wj, compute_uv=False)[: len(s)]
        np.testing.assert_allclose(sj, s ** (1.0 / depth), rtol=1e-10)


@pytest.mark.parametrize("depth,shape,width", [(1, (4, 3), None), (3, (4, 6), None), (4, (5, 5), 7)])
def test_balanced_factors_of_a_given_matrix(depth, shape, width):
    W = torch.from_numpy(np.random.default_rng(depth).standard_normal(shape))
    fs = [f.numpy() for f in balanced_factors(W, depth, width=width)]
    k = max(shape) if width is None else width
    dims = [shape[1]] + [k] * (depth - 1) + [shape[0]]
    assert [f.shape for f in fs] == [(dims[j + 1], dims[j]) for j in range(depth)]
    prod = np.eye(shape[1])
    for f in fs:
        prod = f @ prod
    np.testing.assert_allclose(prod, W.numpy(), atol=1e-12)
    for j in range(depth - 1):
        np.testing.assert_allclose(fs[j + 1].T @ fs[j + 1], fs[j] @ fs[j].T, atol=1e-12)
    with pytest.raises(ValueError, match="`width` must be >= min"):
        balanced_factors(torch.ones(4, 4, dtype=torch.float64), 2, width=3)
    with pytest.raises(ValueError, match="must be a matrix"):
        balanced_factors(torch.ones(4, dtype=torch.float64), 2)


def test_symmetric_factorization():
    model = DeepFactorization((5, 5), width=3, init_scale=0.2, symmetric=True, generator=_g(3))
    U = model.U.detach().numpy()
    assert U.shape == (5, 3)
    X = model().detach().numpy()
    np.testing.assert_allclose(X, U @ U.T, rtol=1e-12)
    np.testing.assert_allclose(end_to_end(functionalize(model).params).numpy(), X, rtol=1e-12)
    assert np.linalg.eigvalsh(X).min() > -1e-14
    assert DeepFactorization((4, 4), symmetric=True, generator=_g()).U.shape == (4, 4)


def test_diagonal_net_both_parametrizations():
    x = torch.randn(7, 4, generator=_g(4), dtype=torch.float64)
    pm = DiagonalNet(4, init_scale=0.5)
    np.testing.assert_allclose(pm.beta().detach().numpy(), np.zeros(4))  # beta(0) = 0
    fm = functionalize(pm)
    wp = torch.tensor([1.0, 2.0, 0.5, 0.0], dtype=torch.float64)
    wm = torch.tensor([0.5, 1.0, 1.5, 3.0], dtype=torch.float64)
    out = fm({"w_plus": wp, "w_minus": wm}, x)
    np.testing.assert_allclose(out.detach().numpy(), x.numpy() @ (wp**2 - wm**2).numpy(), rtol=1e-12)
    uv = DiagonalNet(4, init_scale=0.5, parametrization="uv")
    np.testing.assert_allclose(uv.u.detach().numpy(), 0.5 * np.ones(4))
    np.testing.assert_allclose(uv.v.detach().numpy(), np.zeros(4))
    u, v = torch.arange(4.0, dtype=torch.float64), torch.ones(4, dtype=torch.float64) * -2
    np.testing.assert_allclose(functionalize(uv)({"u": u, "v": v}, x).detach().numpy(), x.numpy() @ (u * v).numpy(), rtol=1e-12)
    rnd = DiagonalNet(200, init_scale=0.5, parametrization="uv", generator=_g(5))
    assert float(rnd.u.detach().std()) == pytest.approx(0.5, rel=0.15) and float(rnd.beta().detach().abs().max()) == 0.0


def test_linear_autoencoder_forward():
    ae = LinearAutoencoder(5, 2, init_scale=0.3, generator=_g(6))
    A, B = ae.decoder.detach().numpy(), ae.encoder.detach().numpy()
    assert A.shape == (5, 2) and B.shape == (2, 5)
    x = torch.randn(4, 5, generator=_g(7), dtype=torch.float64)
    np.testing.assert_allclose(ae(x).detach().numpy(), (A @ B @ x.numpy().T).T, rtol=1e-12)


@pytest.mark.parametrize("symmetric", [False, True])
def test_gaussian_sensing_matches_inner_products(symmetric):
    shape = (4, 4) if symmetric else (3, 4)
    op = GaussianSensing.sample(6, shape, generator=_g(8), symmetric=symmetric)
    A = op.A.numpy()
    assert A.shape == (6, *shape)
    if symmetric:
        np.testing.assert_array_equal(A, A.transpose(0, 2, 1))
    X = np.random.default_rng(0).standard_normal(shape)
    ref = np.array([np.trace(A[i].T @ X) for i in range(6)])
    np.testing.assert_allclose(op(torch.from_numpy(X)).numpy(), ref, rtol=1e-12)
    # N(0, 1) entries (off-diagonal variance 1/2 when symmetrized)
    big = GaussianSensing.sample(400, (5, 5), generator=_g(9)).A
    assert float(big.std()) == pytest.approx(1.0, rel=0.05)


def test_entry_sample_distinct_and_uniform_marginals():
    s = EntrySample.sample(12, (3, 4), generator=_g(10))
    pairs = set(zip(s.rows.tolist(), s.cols.tolist(), strict=True))
    assert len(pairs) == 12  # num = m n: every entry exactly once
    s = EntrySample.sample(5, (4, 6), generator=_g(11))
    assert len(set(zip(s.rows.tolist(), s.cols.tolist(), strict=True))) == 5
    M = torch.arange(24.0, dtype=torch.float64).reshape(4, 6)
    np.testing.assert_array_equal(s(M).numpy(), M.numpy()[s.rows.numpy(), s.cols.numpy()])
    mask = s.mask().numpy()
    assert mask.sum() == 5 and set(np.unique(mask)) <= {0.0, 1.0}
    assert all(mask[r, c] == 1 for r, c in zip(s.rows.tolist(), s.cols.tolist(), strict=True))
    # uniform: each entry is included with probability num / (m n)
    g = _g(12)
    counts = np.zeros((3, 3))
    trials = 600
    for _ in range(trials):
        e = EntrySample.sample(3, (3, 3), generator=g)
        counts[e.rows.numpy(), e.cols.numpy()] += 1
    p = 3 / 9
    assert np.abs(counts / trials - p).max() < 4 * np.sqrt(p * (1 - p) / trials)


def test_entry_sample_nonuniform_marginals():
    # a single draw picks entry (i, j) with probability p_i q_j exactly
    p, q = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0, 1.0])
    target = np.outer([0.25, 0.75], [0.5, 0.25, 0.25])
    g = _g(13)
    counts = np.zeros((2, 3))
    trials = 2000
    for _ in range(trials):
        e = EntrySample.sample(1, (2, 3), generator=g, row_probs=p, col_probs=q)
        counts[int(e.rows[0]), int(e.cols[0])] += 1
    se = np.sqrt(target * (1 - target) / trials)
    assert np.all(np.abs(counts / trials - target) < 4 * se)
    # zero-probability rows are never observed
    e = EntrySample.sample(3, (3, 3), generator=g, row_probs=torch.tensor([0.0, 1.0, 1.0]))
    assert 0 not in e.rows.tolist()


def test_low_rank_matrix():
    M = low_rank_matrix((6, 5), 2, generator=_g(14))
    assert np.linalg.matrix_rank(M.numpy()) == 2 and float(torch.linalg.norm(M)) == pytest.approx(1.0)
    P = low_rank_matrix((5, 5), 3, generator=_g(15), symmetric_psd=True, normalize=False)
    np.testing.assert_allclose(P.numpy(), P.numpy().T)
    ev = np.linalg.eigvalsh(P.numpy())
    assert ev.min() > -1e-10 and (ev > 1e-8).sum() == 3


def test_error_paths():
    with pytest.raises(ValueError, match="`depth` must be an int >= 1"):
        DeepFactorization((3, 3), depth=0, generator=_g())
    with pytest.raises(ValueError, match="`init_scale` must be a float >= 0.0"):
        DeepFactorization((3, 3), init_scale=-1.0, generator=_g())
    with pytest.raises(ValueError, match="square for a symmetric"):
        DeepFactorization((3, 4), symmetric=True, generator=_g())
    with pytest.raises(ValueError, match="`width` must be >= min"):
        DeepFactorization((4, 4), depth=3, width=2, balanced=True, generator=_g())
    with pytest.raises(ValueError, match=r"`shape` must be \(m, n\)"):
        DeepFactorization((3,), generator=_g())
    with pytest.raises(ValueError, match="`shape\\[1\\]` must be an int >= 1"):
        GaussianSensing.sample(2, (3, 0), generator=_g())
    with pytest.raises(ValueError, match="must hold 'U' or 'factors.j'"):
        end_to_end({"w": torch.eye(2)})
    with pytest.raises(ValueError, match="`parametrization` must be one of"):
        DiagonalNet(3, init_scale=1.0, parametrization="xy")
    with pytest.raises(ValueError, match="`hidden` must be an int <= 3"):
        LinearAutoencoder(3, 4, generator=_g())
    with pytest.raises(ValueError, match="square for symmetric sensing"):
        GaussianSensing.sample(2, (3, 4), generator=_g(), symmetric=True)
    op = GaussianSensing.sample(2, (3, 4), generator=_g())
    with pytest.raises(ValueError, match=r"`X` must have shape \(3, 4\)"):
        op(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="`num` must be an int <= 6"):
        EntrySample.sample(7, (2, 3), generator=_g())
    with pytest.raises(ValueError, match="non-negative"):
        EntrySample.sample(2, (2, 3), generator=_g(), row_probs=torch.tensor([-1.0, 2.0]))
    with pytest.raises(ValueError, match=r"`row_probs` must have shape \(2,\)"):
        EntrySample.sample(2, (2, 3), generator=_g(), row_probs=torch.ones(3))
    with pytest.raises(ValueError, match="`num` must be an int <= 3 \\(entries with positive probability\\)"):
        EntrySample.sample(4, (2, 3), generator=_g(), row_probs=torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="`rank` must be an int <= 2"):
        low_rank_matrix((2, 5), 3, generator=_g())
    with pytest.raises(ValueError, match="square for a symmetric PSD"):
        low_rank_matrix((3, 4), 1, generator=_g(), symmetric_psd=True)
