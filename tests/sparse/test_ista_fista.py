"""ISTA/FISTA against scikit-learn's Lasso (coordinate descent) and the duality gap; the
convergence rates of Beck & Teboulle (2009); gradients of the unrolled iterations against
finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sparse_problems import gaussian_dictionary, identity_hadamard, noisy_problem, sparse_codes

from dltheory.core.errors import DivergenceError
from dltheory.oracles.lasso import lasso_duality_gap, lasso_objective_np, lasso_sklearn
from dltheory.sparse import fista, ista, lasso_objective, lipschitz_constant

EPS64 = torch.finfo(torch.float64).eps


def _identity_hadamard_problem():
    D = identity_hadamard(16)
    X = sparse_codes(5, 32, 3, seed=3, low=0.5, high=1.5)
    return D, X @ D.T + 0.05 * torch.tensor(np.random.default_rng(4).standard_normal((5, 16))), 0.1


SOLVERS = {
    "ista": lambda D, Y, lam, **kw: ista(D, Y, lam, 50_000, tol=1e-13, **kw),
    "fista": lambda D, Y, lam, **kw: fista(D, Y, lam, 20_000, tol=1e-13, **kw),
    "fista-restart": lambda D, Y, lam, **kw: fista(D, Y, lam, 20_000, tol=1e-13, restart=True, **kw),
}


@pytest.mark.parametrize("problem", [noisy_problem, _identity_hadamard_problem], ids=["gaussian", "identity+hadamard"])
@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("nonnegative", [False, True], ids=["lasso", "nonnegative"])
def test_reaches_the_sklearn_lasso_objective(problem, solver, nonnegative):
    D, Y, lam = problem()
    sol = SOLVERS[solver](D, Y, lam, nonnegative=nonnegative)
    # (not asserting `converged`: identity + Hadamard is not in general position, the solution set
    # can be a segment, and plain FISTA keeps drifting along it at a constant objective)
    ref = lasso_sklearn(D, Y, lam, positive=nonnegative)
    F_ref = lasso_objective_np(D, Y, ref, lam)
    F = sol.objective.numpy()
    # the brief's criterion: objectives within 1e-8 relative (sklearn stops at a gap <= 1e-12 ||y||^2)
    np.testing.assert_array_less(np.abs(F - F_ref), 1e-8 * F_ref)
    # and a certificate that needs no reference: the duality gap of our codes
    assert (lasso_duality_gap(D, Y, sol.codes, lam, positive=nonnegative) <= 1e-8 * F).all()
    if nonnegative:
        assert (sol.codes >= 0).all()
    np.testing.assert_allclose(F, lasso_objective(D, Y, sol.codes, lam).numpy(), rtol=1e-14)


def test_beck_teboulle_rates():
    """F(x_k) - F* <= 2 L ||x0 - x*||^2 / (k+1)^2 for FISTA (Thm 4.4) and L ||x0 - x*||^2 / (2k) for
    ISTA (Thm 3.1), from x0 = 0; F*, x* from scikit-learn (F*_sklearn >= F*, so the check only
    gets stricter). ISTA is monotone (Thm 3.1's proof: F(x_{k+1}) <= F(x_k))."""
    D = gaussian_dictionary(30, 60, seed=7)
    D = D @ torch.diag(torch.linspace(0.2, 1.0, 60, dtype=torch.float64))  # unnormalized: slower, the bound is closer
    Y = sparse_codes(1, 60, 6, seed=8) @ D.T + 0.01
    lam, K = 0.05, 500
    x_star = lasso_sklearn(D, Y, lam)
    F_star = lasso_objective_np(D, Y, x_star, lam)[0]
    L = float(lipschitz_constant(D))
    R2 = float((x_star**2).sum())
    k = np.arange(1, K + 1)
    rounding = 16 * EPS64 * F_star  # the objective is evaluated in float64
    gap_f = fista(D, Y, lam, K, history=True).history[:, 0].numpy() - F_star
    assert (gap_f <= 2 * L * R2 / (k + 1) ** 2 + rounding).all()
    hist_i = ista(D, Y, lam, K, history=True).history[:, 0].numpy()
    assert (hist_i - F_star <= L * R2 / (2 * k) + rounding).all()
    assert (np.diff(hist_i) <= rounding).all()
    # FISTA is not monotone, but after K steps it is far ahead of ISTA on this problem
    assert gap_f[-1] < hist_i[-1] - F_star


def test_warm_start_at_the_solution_is_a_fixed_point():
    D, Y, lam = noisy_problem()
    x = fista(D, Y, lam, 20_000, tol=1e-14, restart=True).codes
    again = ista(D, Y, lam, 1, x0=x)
    # the proximal gradient map fixes x*; x is x* to about its duality gap
    torch.testing.assert_close(again.codes, x, rtol=0, atol=1e-9)
    assert again.iterations == 1


def test_relative_change_rule_stops_early():
    D, Y, lam = noisy_problem()
    for run in (ista, fista):
        sol = run(D, Y, lam, 50_000, tol=1e-6)
        assert sol.converged and sol.iterations < 50_000
        longer = run(D, Y, lam, sol.iterations + 1)
        assert not torch.equal(longer.codes, sol.codes)  # it stopped because of the rule, not the budget
    assert fista(D, Y, lam, 3).converged is None


def test_per_signal_lam_and_single_signal():
    D, Y, _ = noisy_problem()
    lams = torch.tensor([0.05, 0.1, 0.2, 0.05, 0.3, 0.0], dtype=torch.float64)
    batched = fista(D, Y, lams, 300)
    for b in range(Y.shape[0]):
        one = fista(D, Y[b], float(lams[b]), 300)
        assert one.codes.shape == (40,) and one.objective.shape == ()
        torch.testing.assert_close(one.codes, batched.codes[b], rtol=0, atol=1e-13)


def test_float32_follows_the_input_dtype():
    D, Y, lam = noisy_problem()
    f64 = fista(D, Y, lam, 3000, restart=True)
    f32 = fista(D.float(), Y.float(), lam, 3000, restart=True)
    assert f32.codes.dtype == f32.objective.dtype == torch.float32
    # float32 rounding (eps 1.2e-7) in a problem with objective ~0.1-1: agreement to 1e-5
    torch.testing.assert_close(f32.objective.double(), f64.objective, rtol=1e-5, atol=0)


def test_recorded_and_unrecorded_runs_agree():
    """Without autograd the iterates live in reused buffers; with it every step is a new tensor."""
    D, Y, lam = noisy_problem()
    for kw in ({}, {"restart": True}, {"nonnegative": True}):
        plain = fista(D, Y, lam, 200, **kw)
        tracked = fista(D.clone().requires_grad_(), Y, lam, 200, **kw)
        assert tracked.codes.requires_grad
        torch.testing.assert_close(tracked.codes.detach(), plain.codes, rtol=0, atol=1e-13)
    x0 = torch.ones(Y.shape[0], D.shape[1], dtype=torch.float64)
    ista(D, Y, lam, 5, x0=x0)
    assert (x0 == 1).all()  # the warm start is not written into


@pytest.mark.parametrize("solver", ["ista", "fista", "fista-restart"])
def test_unrolled_gradients_match_finite_differences(solver):
    n, m, B = 5, 7, 2
    D = gaussian_dictionary(n, m, seed=11)
    Y = torch.tensor(np.random.default_rng(12).standard_normal((B, n)))
    lam = torch.tensor([0.05, 0.1], dtype=torch.float64)
    run = {"ista": ista, "fista": fista, "fista-restart": lambda *a, **k: fista(*a, restart=True, **k)}[solver]

    def codes(D, Y, lam):
        return run(D, Y, lam, 12).codes  # L = ||D||^2 is recomputed from D, as the autograd path does

    inputs = tuple(t.clone().requires_grad_() for t in (D, Y, lam))
    # soft thresholding has kinks at |v| = lam/L: a pre-threshold value within eps of one would make
    # the finite differences cross it (probability about eps per value; not the case for this draw)
    assert torch.autograd.gradcheck(codes, inputs, eps=1e-7, atol=1e-6)


def test_errors_name_the_parameter():
    D, Y, lam = noisy_problem()
    with pytest.raises(ValueError, match="`steps` must be an int >= 1; got 0"):
        fista(D, Y, lam, 0)
    with pytest.raises(ValueError, match="`lam` must be a float >= 0.0; got -0.1"):
        ista(D, Y, -0.1, 10)
    with pytest.raises(ValueError, match=r"`lam` must be a float or a tensor of shape \(\) or \(6,\) \(one per signal\); got shape \(5,\)"):
        fista(D, Y, torch.ones(5, dtype=torch.float64), 10)
    with pytest.raises(ValueError, match="`tol` must be a float > 0.0; got 0.0"):
        fista(D, Y, lam, 10, tol=0.0)
    with pytest.raises(ValueError, match="`L` must be a float > 0.0; got -1.0"):
        fista(D, Y, lam, 10, L=-1.0)
    with pytest.raises(ValueError, match=r"`x0` must have shape \(6, 40\) \(B, m\) to match the signals and the dictionary \(20, 40\); got \(6, 39\)"):
        fista(D, Y, lam, 10, x0=torch.zeros(6, 39, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"`D` must be 2-D; got shape \(20,\)"):
        fista(D[:, 0], Y, lam, 10)
    with pytest.raises(ValueError, match=r"`Y` must have shape \(20,\) or \(B, 20\)"):
        fista(D, Y.T, lam, 10)
    with pytest.raises(ValueError, match="`Y` must be finite; got 1 non-finite entry of 120"):
        fista(D, torch.where(Y == Y[0, 0], float("nan"), Y), lam, 10)
    with pytest.raises(TypeError, match="`Y` must be a torch.Tensor; got ndarray"):
        fista(D, Y.numpy(), lam, 10)
    L = float(lipschitz_constant(D))
    with pytest.raises(DivergenceError, match=r"the step 1/L with L = .* is too large \(L must be >= \|\|D\|\|_2\^2"):
        ista(D, Y, lam, 2000, L=0.1 * L)
