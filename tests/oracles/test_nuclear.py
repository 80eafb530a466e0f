"""Matrix oracles against known solutions: analytic 2x2 cases, exact low-rank recovery, pinv."""

import numpy as np
import pytest
import torch

from dltheory.oracles import nuclear


def test_completion_2x2_analytic():
    # X = [[1, 1], [1, t]]: ||X||_* = 1 + t for t >= 1 and sqrt((t - 1)^2 + 4) for t < 1, so t = 1, norm 2.
    for solver in ("CLARABEL", "SCS"):
        sol = nuclear.min_nuclear_norm_completion([0, 0, 1], [0, 1, 0], [1.0, 1.0, 1.0], (2, 2), solver=solver)
        # the objective is quadratic in t - 1 near the optimum: X is accurate to sqrt(objective tol)
        np.testing.assert_allclose(sol.X, np.ones((2, 2)), atol=1e-4)
        assert sol.objective == pytest.approx(2.0, abs=1e-7)
        assert sol.status == "optimal" and sol.solver == solver and sol.residual < 1e-6


def test_trace_psd_2x2_analytic():
    # <A, X> = 2 X_12 = 2 with X PSD: X_11 X_22 >= 1, min X_11 + X_22 = 2 at X = [[1, 1], [1, 1]].
    A = np.array([[[0.0, 1.0], [1.0, 0.0]]])
    sol = nuclear.min_trace_psd_sensing(A, [2.0])
    np.testing.assert_allclose(sol.X, np.ones((2, 2)), atol=1e-6)
    assert sol.objective == pytest.approx(2.0, abs=1e-6) and sol.solver == "CLARABEL"
    # a non-symmetric A only acts through its symmetric part
    sol2 = nuclear.min_trace_psd_sensing(np.array([[[0.0, 2.0], [0.0, 0.0]]]), [2.0])
    np.testing.assert_allclose(sol2.X, np.ones((2, 2)), atol=1e-6)


def test_diagonal_sensing_analytic():
    # measuring the diagonal only: the min nuclear norm solution is diag(b) with norm sum|b|
    n = 4
    A = np.stack([np.outer(np.eye(n)[i], np.eye(n)[i]) for i in range(n)])
    b = np.array([3.0, -1.0, 0.5, 2.0])
    sol = nuclear.min_nuclear_norm_sensing(A, b)
    np.testing.assert_allclose(sol.X, np.diag(b), atol=1e-6)
    assert sol.objective == pytest.approx(6.5, abs=1e-6)
    fro = nuclear.min_frobenius_sensing(A, b)
    np.testing.assert_allclose(fro.X, np.diag(b), atol=1e-12)


def _low_rank(n, r, seed, psd=False):
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((n, r))
    M = U @ U.T if psd else U @ rng.standard_normal((n, r)).T
    return M / np.linalg.norm(M), rng


def test_exact_recovery_from_gaussian_measurements():
    # rank 1, 6 x 6 (11 degrees of freedom) from 30 Gaussian measurements: recovered exactly
    M, rng = _low_rank(6, 1, 0)
    A = rng.standard_normal((30, 6, 6))
    b = np.einsum("kmn,mn->k", A, M)
    sol = nuclear.min_nuclear_norm_sensing(A, b)
    assert nuclear.relative_distance(sol.X, M) < 1e-5
    assert sol.residual < 1e-6 and sol.status == "optimal"  # auto falls back to SCS if CLARABEL is inaccurate
    fro = nuclear.min_frobenius_sensing(A, b)  # the least-norm solution does not recover it
    assert nuclear.relative_distance(fro.X, M) > 0.1


def test_exact_recovery_psd_and_trace_equals_nuclear():
    M, rng = _low_rank(6, 1, 1, psd=True)
    G = rng.standard_normal((24, 6, 6))
    A = 0.5 * (G + G.transpose(0, 2, 1))
    b = np.einsum("kmn,mn->k", A, M)
    sol = nuclear.min_trace_psd_sensing(A, b)
    assert nuclear.relative_distance(sol.X, M) < 1e-5
    assert np.linalg.eigvalsh(sol.X).min() > -1e-7
    assert sol.objective == pytest.approx(np.linalg.norm(sol.X, "nuc"), rel=1e-6)


def test_exact_completion_of_low_rank_matrix():
    # 12 x 12 rank 1 from 100 of 144 entries (uniform sample, every row and column observed)
    M, rng = _low_rank(12, 1, 2)
    idx = rng.choice(144, 100, replace=False)
    rows, cols = idx // 12, idx % 12
    assert len(set(rows)) == 12 and len(set(cols)) == 12
    for solver in ("auto", "SCS"):
        sol = nuclear.min_nuclear_norm_completion(torch.from_numpy(rows), torch.from_numpy(cols), M[rows, cols], (12, 12), solver=solver)
        assert nuclear.relative_distance(sol.X, M) < 1e-4, solver
    assert sol.solver == "SCS" and sol.status == "optimal"
    fro = nuclear.min_frobenius_completion(rows, cols, M[rows, cols], (12, 12))
    Z = np.zeros((12, 12))
    Z[rows, cols] = M[rows, cols]
    np.testing.assert_array_equal(fro.X, Z)


def test_completion_dual_and_primal_agree_below_recovery():
    # 10 x 10 rank 2 from 40 entries: no exact recovery; the CLARABEL dual and the SCS primal
    # are two independent formulations of the same program and must give the same optimal value
    M, rng = _low_rank(10, 2, 5)
    idx = rng.choice(100, 40, replace=False)
    rows, cols = idx // 10, idx % 10
    dual = nuclear.min_nuclear_norm_completion(rows, cols, M[rows, cols], (10, 10), solver="CLARABEL")
    primal = nuclear.min_nuclear_norm_completion(rows, cols, M[rows, cols], (10, 10), solver="SCS")
    assert dual.status == "optimal" and dual.residual < 1e-8
    assert dual.objective == pytest.approx(primal.objective, rel=1e-6)
    assert dual.objective < np.linalg.norm(M, "nuc") and nuclear.relative_distance(dual.X, M) > 1e-3


def test_min_frobenius_equals_pinv():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((7, 3, 4))
    b = rng.standard_normal(7)
    sol = nuclear.min_frobenius_sensing(A, b)
    ref = (np.linalg.pinv(A.reshape(7, 12)) @ b).reshape(3, 4)
    np.testing.assert_allclose(sol.X, ref, atol=1e-12)
    assert sol.residual < 1e-10 and sol.status == "closed_form"


def test_repeated_entries():
    sol = nuclear.min_nuclear_norm_completion([0, 0], [1, 1], [2.0, 2.0], (2, 2))
    assert sol.X[0, 1] == pytest.approx(2.0, abs=1e-6)
    with pytest.raises(nuclear.InfeasibleProblemError, match=r"entry \(0, 1\) is observed twice"):
        nuclear.min_nuclear_norm_completion([0, 0], [1, 1], [2.0, 3.0], (2, 2))


def test_infeasible_programs_raise():
    # a PSD matrix cannot have X_11 = -1
    A = np.zeros((1, 2, 2))
    A[0, 0, 0] = 1.0
    with pytest.raises(nuclear.InfeasibleProblemError, match="min-trace PSD sensing is infeasible"):
        nuclear.min_trace_psd_sensing(A, [-1.0])
    # two contradictory measurements of the same entry
    A2 = np.concatenate([A, A])
    with pytest.raises(nuclear.InfeasibleProblemError, match="infeasible"):
        nuclear.min_nuclear_norm_sensing(A2, [1.0, 2.0])


def test_input_errors():
    with pytest.raises(ValueError, match=r"`A` must have shape \(k, m, n\)"):
        nuclear.min_nuclear_norm_sensing(np.ones((2, 2)), [1.0, 1.0])
    with pytest.raises(ValueError, match="same number of measurements"):
        nuclear.min_frobenius_sensing(np.ones((2, 2, 2)), [1.0])
    with pytest.raises(ValueError, match="square"):
        nuclear.min_trace_psd_sensing(np.ones((1, 2, 3)), [1.0])
    with pytest.raises(ValueError, match="`b` must be finite"):
        nuclear.min_nuclear_norm_sensing(np.ones((1, 2, 2)), [np.nan])
    with pytest.raises(ValueError, match="`solver` must be one of"):
        nuclear.min_nuclear_norm_sensing(np.ones((1, 2, 2)), [1.0], solver="MOSEK")
    with pytest.raises(ValueError, match=r"`rows` must lie in \[0, 2\)"):
        nuclear.min_nuclear_norm_completion([2], [0], [1.0], (2, 2))
    with pytest.raises(ValueError, match="equal length"):
        nuclear.min_frobenius_completion([0, 1], [0], [1.0], (2, 2))
    with pytest.raises(TypeError, match="must hold integers"):
        nuclear.min_frobenius_completion([0.5], [0], [1.0], (2, 2))
    with pytest.raises(ValueError, match="same shape"):
        nuclear.relative_distance(np.ones(2), np.ones(3))
