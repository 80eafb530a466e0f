"""Dictionary learning on signals: planted recovery, monotone objective, the atom update against numpy /
least squares / cvxpy, the final objective against scikit-learn's DictionaryLearning, minibatch mode, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dltheory.sparse import dictionary_objective, dictionary_update, fista, learn_dictionary


def _planted(n=16, m=20, B=1000, k=3, noise=0.01, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(n, m, generator=g, dtype=dtype)
    D = D / D.norm(dim=0)
    X = torch.randn(B, m, generator=g, dtype=dtype) * (torch.rand(B, m, generator=g) < k / m)
    return D, X @ D.T + noise * torch.randn(B, n, generator=g, dtype=dtype)


def _numpy_sweep(D, A, B):
    """Mairal et al. 2009, Algorithm 2, one sweep, written independently in numpy."""
    D = D.copy()
    for j in range(D.shape[1]):
        u = D[:, j] + (B[:, j] - D @ A[:, j]) / A[j, j]
        D[:, j] = u / max(np.linalg.norm(u), 1.0)
    return D


def test_planted_dictionary_is_recovered_and_the_objective_never_increases():
    D_true, Y = _planted()
    res = learn_dictionary(Y, 20, 0.05, iterations=120, code_steps=30)
    h = res.objective.numpy()
    assert (np.diff(h) <= 1e-12 * h[0]).all()
    torch.testing.assert_close(res.dictionary.norm(dim=0), torch.ones(20, dtype=Y.dtype))
    cos = (res.dictionary.T @ D_true).abs()
    assert cos.max(0).values.min() > 0.99  # every true atom has a learned one within |cos| > 0.99
    assert float(dictionary_objective(res.dictionary, Y, res.codes, 0.05)) == pytest.approx(h[-1], rel=1e-12)


def test_dictionary_update_is_the_block_coordinate_step():
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randn(50, 6, generator=g, dtype=torch.float64), torch.randn(50, 5, generator=g, dtype=torch.float64)
    D0 = torch.randn(5, 6, generator=g, dtype=torch.float64)
    Xn, Yn = X.numpy(), Y.numpy()
    ref = _numpy_sweep(D0.numpy(), Xn.T @ Xn, Yn.T @ Xn)
    np.testing.assert_allclose(dictionary_update(X, Y, D0).numpy(), ref, atol=1e-12)
    ref2 = _numpy_sweep(ref, Xn.T @ Xn, Yn.T @ Xn)
    np.testing.assert_allclose(dictionary_update(X, Y, D0, sweeps=2).numpy(), ref2, atol=1e-12)


def test_dictionary_update_converges_to_least_squares_when_the_constraint_is_inactive():
    g = torch.Generator().manual_seed(2)
    X = torch.randn(80, 4, generator=g, dtype=torch.float64)
    Y = 0.05 * torch.randn(80, 6, generator=g, dtype=torch.float64)  # small signals: the least-squares atoms have norm < 1
    ls = np.linalg.lstsq(X.numpy(), Y.numpy(), rcond=None)[0].T  # (n, m) = B A^{-1}
    assert np.linalg.norm(ls, axis=0).max() < 1
    D = dictionary_update(X, Y, torch.zeros(6, 4, dtype=torch.float64), sweeps=300)
    np.testing.assert_allclose(D.numpy(), ls, atol=1e-10)


def test_dictionary_update_converges_to_the_constrained_minimum():
    cp = pytest.importorskip("cvxpy")
    g = torch.Generator().manual_seed(3)
    X, Y = torch.randn(40, 3, generator=g, dtype=torch.float64), 3 * torch.randn(40, 4, generator=g, dtype=torch.float64)
    Dv = cp.Variable((4, 3))
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y.numpy() - X.numpy() @ Dv.T)), [cp.norm(Dv, 2, axis=0) <= 1]).solve()
    D = dictionary_update(X, Y, torch.zeros(4, 3, dtype=torch.float64), sweeps=500)
    f = lambda M: 0.5 * np.sum((Y.numpy() - X.numpy() @ M.T) ** 2)  # noqa: E731
    assert np.linalg.norm(D.numpy(), axis=0).max() <= 1 + 1e-12
    assert f(D.numpy()) <= f(Dv.value) + 1e-6 * abs(f(Dv.value))
    np.testing.assert_allclose(D.numpy(), Dv.value, atol=1e-4)


def test_unused_atom_is_resampled_without_changing_the_objective():
    g = torch.Generator().manual_seed(4)
    X = torch.randn(30, 3, generator=g, dtype=torch.float64)
    X[:, 1] = 0
    Y = torch.randn(30, 5, generator=g, dtype=torch.float64)
    D0 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    D = dictionary_update(X, Y, D0)
    assert not torch.allclose(D[:, 1], D0[:, 1]) and float(D[:, 1].norm()) == pytest.approx(1.0)
    assert float(((Y - X @ D.T) ** 2).sum()) <= float(((Y - X @ D0.T) ** 2).sum())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_final_objective_is_comparable_to_scikit_learn():
    from sklearn.decomposition import DictionaryLearning

    _, Y = _planted(n=10, m=12, B=300, seed=5)
    lam = 0.05
    sk = DictionaryLearning(n_components=12, alpha=lam, max_iter=40, tol=1e-10, fit_algorithm="cd", transform_algorithm="lasso_cd",
                            transform_alpha=lam, random_state=0).fit(Y.numpy())
    ours = learn_dictionary(Y, 12, lam, iterations=40, code_steps=50)

    def F(D):  # the same function for both: mean Lasso objective with (nearly) exact codes for the dictionary
        D = D / D.norm(dim=0)
        return float(dictionary_objective(D, Y, fista(D, Y, lam, 3000, restart=True).codes, lam))

    f_sk, f_ours = F(torch.tensor(sk.components_.T.copy())), F(ours.dictionary)
    assert f_ours <= 1.05 * f_sk, (f_ours, f_sk)


def test_minibatch_runs_seeded_on_float32_with_unit_atoms():
    D_true, Y = _planted(B=600, dtype=torch.float32)
    res = learn_dictionary(Y, 20, 0.05, iterations=60, batch_size=100, seed=3)
    assert res.dictionary.dtype == torch.float32 and res.codes.shape == (600, 20) and res.objective.shape == (60,)
    torch.testing.assert_close(res.dictionary.norm(dim=0), torch.ones(20))
    assert float(res.objective[-10:].mean()) < float(res.objective[:10].mean())
    again = learn_dictionary(Y, 20, 0.05, iterations=60, batch_size=100, seed=3)
    torch.testing.assert_close(again.dictionary, res.dictionary, rtol=0, atol=0)
    nonneg = learn_dictionary(Y, 20, 0.05, iterations=5, batch_size=100, nonnegative=True)
    assert (nonneg.codes >= 0).all()


def test_errors_name_the_parameter():
    _, Y = _planted(B=50)
    with pytest.raises(ValueError, match="`Y` must be 2-D"):
        learn_dictionary(Y[0], 4, 0.1, iterations=2)
    with pytest.raises(ValueError, match="`num_atoms` must be an int >= 1"):
        learn_dictionary(Y, 0, 0.1, iterations=2)
    with pytest.raises(ValueError, match="`lam` must be"):
        learn_dictionary(Y, 4, -1.0, iterations=2)
    with pytest.raises(ValueError, match="`iterations` must be an int >= 1"):
        learn_dictionary(Y, 4, 0.1, iterations=0)
    with pytest.raises(ValueError, match="`batch_size` must be an int <= 50"):
        learn_dictionary(Y, 4, 0.1, iterations=2, batch_size=51)
    with pytest.raises(ValueError, match="`D0` must have shape"):
        learn_dictionary(Y, 4, 0.1, iterations=2, D0=torch.ones(16, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="`D0` must have no zero atoms"):
        learn_dictionary(Y, 2, 0.1, iterations=2, D0=torch.zeros(16, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="float32 or float64"):
        learn_dictionary(Y.long(), 4, 0.1, iterations=2)
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator"):
        learn_dictionary(Y, 4, 0.1, iterations=2, generator=0)
    with pytest.raises(ValueError, match=r"`X` must have shape \(50, 4\)"):
        dictionary_update(torch.zeros(50, 3, dtype=torch.float64), Y, torch.ones(16, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"`Y` must have shape \(B, 8\)"):
        dictionary_update(torch.zeros(50, 4, dtype=torch.float64), Y, torch.ones(8, 4, dtype=torch.float64))
