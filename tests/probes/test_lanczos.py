"""Krylov solvers on explicit symmetric matrices with known spectra."""

from __future__ import annotations

import math

import pytest
import torch

from dltheory.probes.lanczos import SymmetricOperator, extreme_eigenvalues, lanczos_tridiagonal
from dltheory.probes.randomized import slq_density, stochastic_trace

D = torch.float64


def _matrix_op(eigs: torch.Tensor, seed: int = 0) -> tuple[SymmetricOperator, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=g, dtype=D))
    A = Q @ torch.diag(eigs.to(D)) @ Q.T
    A = 0.5 * (A + A.T)
    return SymmetricOperator(lambda v: A @ v, len(eigs), D, torch.device("cpu"), lambda V: V @ A), A


def test_repeated_eigenvalues_need_a_block():
    """A Krylov space from one vector holds one copy of a repeated eigenvalue (in exact arithmetic);
    a block of size >= the multiplicity finds all copies at a loose tolerance."""
    eigs = torch.cat([torch.tensor([5.0, 5.0, 5.0, 4.0]), torch.linspace(-1, 1, 56)])
    op, A = _matrix_op(eigs)
    block = extreme_eigenvalues(op, k=4, tol=1e-4, block_size=3)
    torch.testing.assert_close(block.eigenvalues, torch.tensor([5.0, 5.0, 5.0, 4.0], dtype=D), rtol=1e-6, atol=0)
    assert block.hvps % 3 == 0 and block.iterations == block.hvps // 3
    true_res = torch.linalg.vector_norm(block.eigenvectors @ A - block.eigenvalues[:, None] * block.eigenvectors, dim=1)
    torch.testing.assert_close(block.residuals, true_res, rtol=1e-3, atol=1e-13)
    single = extreme_eigenvalues(op, k=4, tol=1e-4)
    assert float(single.eigenvalues[0]) == pytest.approx(5.0, rel=1e-8)


def test_breakdown_in_low_rank_operator_finds_null_space():
    eigs = torch.cat([torch.tensor([3.0, 4.0, 5.0]), torch.zeros(17)])
    op, _ = _matrix_op(eigs, seed=1)
    spec = extreme_eigenvalues(op, k=3, which="both", tol=1e-8)
    assert spec.converged
    torch.testing.assert_close(spec.eigenvalues[:3], torch.tensor([5.0, 4.0, 3.0], dtype=D), rtol=1e-8, atol=0)
    torch.testing.assert_close(spec.eigenvalues[3:], torch.zeros(3, dtype=D), rtol=0, atol=1e-8)
    # the returned vectors are orthonormal even inside the repeated null space
    G = spec.eigenvectors @ spec.eigenvectors.T
    torch.testing.assert_close(G, torch.eye(6, dtype=D), rtol=0, atol=1e-8)


def test_whole_space_is_exact():
    eigs = torch.linspace(-2, 3, 7)
    op, _ = _matrix_op(eigs)
    spec = extreme_eigenvalues(op, k=7, which="largest", tol=1e-12)
    torch.testing.assert_close(spec.eigenvalues, eigs.flip(0).to(D), rtol=1e-10, atol=1e-12)
    assert spec.hvps <= 7


def test_largest_is_algebraic_not_magnitude():
    eigs = torch.cat([torch.tensor([-10.0, 2.0]), torch.linspace(-1, 1, 30)])
    op, _ = _matrix_op(eigs)
    assert float(extreme_eigenvalues(op, tol=1e-10).eigenvalues[0]) == pytest.approx(2.0, rel=1e-9)
    assert float(extreme_eigenvalues(op, which="smallest", tol=1e-10).eigenvalues[0]) == pytest.approx(-10.0, rel=1e-9)


def test_quadrature_is_exact_for_low_degree_polynomials():
    eigs = torch.linspace(0.1, 2.0, 40)
    op, A = _matrix_op(eigs)
    v = torch.randn(40, generator=torch.Generator().manual_seed(0), dtype=D)
    nodes, weights = lanczos_tridiagonal(op, v, 6)
    u = v / v.norm()
    for r in range(12):  # Gauss quadrature with m nodes is exact up to degree 2m - 1
        exact = float(u @ torch.linalg.matrix_power(A, r) @ u)
        assert float((weights * nodes**r).sum()) == pytest.approx(exact, rel=1e-9)


def test_hutchpp_beats_hutchinson_on_a_low_rank_operator():
    """Meyer et al. 2021: Hutch++'s error decays like 1/m on (near) low-rank PSD matrices."""
    eigs = torch.cat([torch.logspace(2, 0, 10), torch.full((190,), 1e-3)])
    op, _ = _matrix_op(eigs)
    true = float(eigs.sum())
    err = {m: [] for m in ("hutchpp", "hutchinson")}
    for s in range(8):
        for m in err:
            est = stochastic_trace(op, method=m, matvecs=30, generator=torch.Generator().manual_seed(s))
            err[m].append(abs(est.value - true) / true)
    assert sum(err["hutchpp"]) < 0.1 * sum(err["hutchinson"])


def test_slq_density_is_normalized_and_centered():
    eigs = torch.cat([torch.zeros(50), torch.tensor([1.0, 2.0, 3.0])])
    op, _ = _matrix_op(eigs)
    dens = slq_density(op, num_probes=4, lanczos_steps=10, sigma=0.05, grid=torch.linspace(-1, 4, 2001))
    assert float(torch.trapezoid(dens.density, dens.grid)) == pytest.approx(1.0, abs=1e-6)
    assert dens.mass(-0.5, 0.5) > 0.8  # 50/53 of the eigenvalues sit at 0
    assert dens.hvps <= 40
    assert dens.sigma == 0.05


def test_operator_errors():
    op, _ = _matrix_op(torch.linspace(0, 1, 10))
    with pytest.raises(ValueError, match=r"`k` must be an int <= 10 \(the operator has dimension 10\); got 11\."):
        extreme_eigenvalues(op, k=11)
    with pytest.raises(ValueError, match=r"`block_size` must be an int >= 1; got 0\."):
        extreme_eigenvalues(op, block_size=0)
    with pytest.raises(TypeError, match=r"`grid` must be an int or a 1-D tensor"):
        slq_density(op, grid=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"`sigma` must be a float > 0"):
        slq_density(op, sigma=-1.0)
    with pytest.raises(ValueError, match=r"`v0` must have shape \(10,\) or \(b, 10\); got \(2, 3\)\."):
        lanczos_tridiagonal(op, torch.ones(2, 3), 3)
    assert math.isinf(stochastic_trace(op, method="hutchinson", matvecs=1).std_error)
    bad = SymmetricOperator(lambda v: v * float("nan"), 10, D, torch.device("cpu"))
    with pytest.raises(ValueError, match=r"the operator returned non-finite values"):
        extreme_eigenvalues(bad)


def test_eigenvalue_only_lanczos_matches_dense_and_survives_ghosts():
    """Without a basis (eigenvectors=False) the extreme Ritz value still converges to the extreme
    eigenvalue, also in float32 after orthogonality is lost (a slowly converging top eigenvalue,
    many steps); reference: dense eigvalsh. The basis method is the comparison for HVPs."""
    g = torch.Generator().manual_seed(3)
    n = 400
    eigs = torch.cat([torch.tensor([1.0, 0.995, 0.99]), torch.rand(n - 3, generator=g, dtype=D) * 0.98 - 0.3])
    for dtype, tol in ((D, 1e-10), (torch.float32, 1e-5)):
        _, A = _matrix_op(eigs, seed=4)
        A = A.to(dtype)
        op = SymmetricOperator(lambda v, A=A: A @ v, n, dtype, torch.device("cpu"), lambda V, A=A: V @ A)
        ref = torch.linalg.eigvalsh(A.double())
        for which, want in (("largest", ref[-1]), ("smallest", ref[0])):
            lean = extreme_eigenvalues(op, which=which, tol=tol, max_iter=n, eigenvectors=False, generator=torch.Generator().manual_seed(1))
            assert lean.converged and lean.eigenvectors.shape == (0, n) and lean.basis_size == 3
            assert abs(float(lean.eigenvalues[0]) - float(want)) <= 10 * tol * abs(float(want)), (dtype, which)
            full = extreme_eigenvalues(op, which=which, tol=tol, max_iter=n, generator=torch.Generator().manual_seed(1))
            assert lean.hvps <= full.hvps + 2, (lean.hvps, full.hvps)
    with pytest.raises(ValueError, match="eigenvectors=False.*k=1"):
        extreme_eigenvalues(op, k=2, eigenvectors=False)
    with pytest.raises(ValueError, match="eigenvectors=False"):
        extreme_eigenvalues(op, which="both", eigenvectors=False)
