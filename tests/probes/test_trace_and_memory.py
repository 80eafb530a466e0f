"""Adaptive trace estimation, selective reorthogonalization and bounded memory, on explicit matrices.

References are independent of the probes: dense traces and ``eigvalsh`` of the matrices,
scipy's ``eigsh`` (ARPACK), and plain Hutchinson at the same budget and seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch

import dltheory.probes as probes
from dltheory.probes.lanczos import (
    Basis,
    SymmetricOperator,
    _orthogonalize,
    extreme_eigenvalues,
    lanczos_tridiagonal,
    random_vectors,
)
from dltheory.probes.randomized import slq_density, stochastic_trace

D = torch.float64


def _matrix_op(eigs: torch.Tensor, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n = len(eigs)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=D))
    A = Q @ torch.diag(eigs.to(D)) @ Q.T
    A = 0.5 * (A + A.T)
    return SymmetricOperator(lambda v: A @ v, n, D, torch.device("cpu"), lambda V: V @ A), A


N = 400
FLAT = torch.rand(N, generator=torch.Generator().manual_seed(1), dtype=D) + 0.5  # flat: Hutch++ cannot deflate
LOW_RANK = torch.cat([torch.logspace(2, 0, 10, dtype=D), 0.01 * torch.rand(N - 10, generator=torch.Generator().manual_seed(2), dtype=D)])


def _errors(op, true, method, matvecs, seeds):
    return np.array([(stochastic_trace(op, method=method, matvecs=matvecs, generator=torch.Generator().manual_seed(s)).value - true) / true for s in seeds])


@pytest.mark.parametrize("spectrum", ["flat", "low_rank"])
def test_adaptive_trace_is_unbiased_and_never_worse_than_hutchinson(spectrum):
    """Over 40 seeds at 60 products: the mean error is within 4 standard errors of 0 (dense trace),
    and the RMS error is at most 1.1x Hutchinson's at the same budget (flat: it falls back to
    Hutchinson; low rank + noise: at least 20x better, near Hutch++)."""
    op, A = _matrix_op(FLAT if spectrum == "flat" else LOW_RANK)
    true = float(torch.linalg.eigvalsh(A).sum())
    seeds = range(40)
    ada = _errors(op, true, "adaptive", 60, seeds)
    hut = _errors(op, true, "hutchinson", 60, seeds)
    hpp = _errors(op, true, "hutchpp", 60, seeds)
    assert abs(ada.mean()) < 4 * ada.std(ddof=1) / math.sqrt(len(ada))
    rms = {k: float(np.sqrt((e**2).mean())) for k, e in (("ada", ada), ("hut", hut), ("hpp", hpp))}
    assert rms["ada"] <= 1.1 * rms["hut"], rms
    if spectrum == "flat":
        assert rms["hpp"] > 1.3 * rms["hut"]  # the failure mode the adaptive rule removes (sqrt(3) in theory)
    else:
        assert rms["ada"] < 0.05 * rms["hut"] and rms["ada"] < 2 * rms["hpp"], rms


@pytest.mark.parametrize("spectrum", ["flat", "low_rank"])
def test_rtol_stopping_meets_the_tolerance(spectrum):
    """rtol=1%: at least 85% of 20 seeds within 1% of the dense trace (95% interval, so ~95%
    expected), the reported standard error meets the stopping test, and the low-rank case
    stops far earlier than the flat one needs."""
    op, A = _matrix_op(FLAT if spectrum == "flat" else LOW_RANK)
    true = float(torch.linalg.eigvalsh(A).sum())
    ests = [stochastic_trace(op, rtol=0.01, matvecs=N - 1, generator=torch.Generator().manual_seed(s)) for s in range(20)]
    assert all(e.converged and e.hvps < N for e in ests)
    within = np.mean([abs(e.value - true) / true <= 0.01 for e in ests])
    assert within >= 0.85, within
    assert all(e.std_error * 1.96 <= 0.01 * abs(e.value) for e in ests)
    if spectrum == "low_rank":
        assert max(e.hvps for e in ests) < 80 and min(e.sketch_size for e in ests) >= 10


def test_rtol_reports_non_convergence_within_budget():
    op, _ = _matrix_op(FLAT)
    est = stochastic_trace(op, rtol=1e-6, matvecs=30)
    assert not est.converged and est.hvps == 30 and math.isfinite(est.std_error)


def test_adaptive_is_exact_when_the_budget_covers_the_dimension():
    op, A = _matrix_op(LOW_RANK[:50])
    est = stochastic_trace(op, matvecs=50)
    assert est.hvps == 50 and est.std_error == 0.0
    assert est.value == pytest.approx(float(A.trace()), rel=1e-12)


def test_selective_reorthogonalization_keeps_the_basis_orthonormal():
    """A Krylov basis built with the DGKS-style test stays orthonormal to ~sqrt(u) in float32
    and to ~1e-12 in float64, and the Lanczos eigenvalues match scipy's ARPACK."""
    eigs = torch.cat([torch.tensor([10.0, 9.0, 8.5, 8.0, 7.9], dtype=D), torch.linspace(-1, 1, 295, dtype=D)])
    op, A = _matrix_op(eigs)
    for dtype, level in ((torch.float64, 1e-12), (torch.float32, 5e-4)):
        B = Basis(A.shape[0], dtype, torch.device("cpu"))
        v = torch.randn(1, A.shape[0], generator=torch.Generator().manual_seed(0), dtype=dtype)
        B.append(v / v.norm())
        Ad = A.to(dtype)
        for _ in range(60):
            w, _ = _orthogonalize((B.rows(B.m - 1, B.m) @ Ad), B)
            B.append(w / w.norm())
        Q = B.combine(torch.eye(B.m, dtype=dtype))
        assert float((Q @ Q.T - torch.eye(B.m, dtype=dtype)).abs().max()) < level
    spec = extreme_eigenvalues(op, k=5, tol=1e-9, max_iter=500)
    ref = sla.eigsh(A.numpy(), k=5, which="LA", tol=1e-12)[0]
    np.testing.assert_allclose(np.sort(spec.eigenvalues.numpy()), np.sort(ref), rtol=1e-8)


def test_basis_memory_is_bounded_through_restarts():
    eigs = torch.cat([torch.tensor([10.0, 9.0, 8.5, 8.0, 7.9], dtype=D), torch.linspace(-1, 1, 295, dtype=D)])
    op, A = _matrix_op(eigs)
    spec = extreme_eigenvalues(op, k=5, tol=1e-8, max_basis=14, max_iter=2000)
    assert spec.converged and spec.restarts > 0
    assert spec.basis_size <= 16  # max_basis + one block, rounded up to the 4-vector chunks
    torch.testing.assert_close(spec.eigenvalues, eigs[:5], rtol=1e-7, atol=0)
    default = extreme_eigenvalues(op, k=5, tol=1e-8, max_iter=2000)
    assert default.basis_size <= 24  # default max(20, 2k + 1) rounded up to chunks


def test_basis_in_place_restart_equals_the_product():
    B = Basis(10, D, torch.device("cpu"), chunk=3)
    Q, _ = torch.linalg.qr(torch.randn(10, 7, generator=torch.Generator().manual_seed(0), dtype=D))
    B.append(Q.T)
    S = torch.randn(7, 4, generator=torch.Generator().manual_seed(1), dtype=D)
    expected = S.T @ Q.T
    B.transform_(S, slab=3)
    assert B.m == 4 and len(B.chunks) == 2
    torch.testing.assert_close(B.combine(torch.eye(4, dtype=D)), expected)


def test_slq_without_reorthogonalization_keeps_the_quadrature():
    """Without reorthogonalization the nodes include copies of converged outliers, but moments
    of degree < 2m still match the full-reorthogonalization quadrature and the dense spectrum."""
    eigs = torch.cat([torch.tensor([50.0, 30.0], dtype=D), torch.linspace(0, 1, 198, dtype=D)])
    op, A = _matrix_op(eigs)
    v = torch.randn(200, generator=torch.Generator().manual_seed(3), dtype=D)
    u = v / v.norm()
    n_full, w_full = lanczos_tridiagonal(op, v, 60, reorthogonalize="full")
    n_none, w_none = lanczos_tridiagonal(op, v, 60, reorthogonalize="none")
    for r in range(1, 5):
        exact = float(u @ torch.linalg.matrix_power(A, r) @ u)
        assert float((w_none * n_none**r).sum()) == pytest.approx(exact, rel=1e-8)
        assert float((w_full * n_full**r).sum()) == pytest.approx(exact, rel=1e-8)
    assert float(n_none.max()) == pytest.approx(50.0, rel=1e-10)
    dens = slq_density(op, num_probes=8, lanczos_steps=40, generator=torch.Generator().manual_seed(0))
    assert dens.mass(20.0, 60.0) == pytest.approx(2 / 200, abs=0.02)


def test_random_vectors_are_drawn_in_the_operator_dtype():
    op = SymmetricOperator(lambda v: v, 7, torch.float32, torch.device("cpu"))
    z = random_vectors(op, 3, torch.Generator().manual_seed(0), kind="rademacher")
    assert z.dtype == torch.float32 and set(z.unique().tolist()) == {-1.0, 1.0}
    assert random_vectors(op, 2, None).dtype == torch.float32


def test_public_probes_are_reexported():
    from dltheory.probes import hessian_eigenvalues, hessian_trace
    from dltheory.probes import stochastic_trace as st

    assert st is stochastic_trace
    for name in probes.__all__:
        assert getattr(probes, name) is not None
    assert hessian_eigenvalues.__module__ == "dltheory.probes.curvature" and callable(hessian_trace)


def _recording_operator(A: torch.Tensor):
    """A CPU operator that records, per product, how many P-vectors the storage behind the
    vector holds: a block drawn at once shows its full size even when passed row by row."""
    P = A.shape[0]
    rows: list[int] = []

    def matvec(v):
        rows.append(v.untyped_storage().nbytes() // (P * v.element_size()))
        return A @ v

    return SymmetricOperator(matvec, P, A.dtype, torch.device("cpu")), rows


@pytest.mark.parametrize("method", ["hutchinson", "hutchpp", "adaptive"])
def test_trace_memory_does_not_grow_with_the_budget(method, monkeypatch):
    """30 vs 300 products: the largest block of probes drawn at once (random_vectors) and the
    largest block behind any product stay at most 8 (Hutch++: its sketch, capped at
    max_sketch=16), so peak memory does not grow with the number of products. With the
    sketch capped, Hutch++ and adaptive still land within 2% of the dense trace (the 10
    large eigenvalues fit in 16 sketch vectors)."""
    import dltheory.probes.randomized as randomized

    _, A = _matrix_op(LOW_RANK)
    drawn: list[int] = []
    draw = randomized.random_vectors

    def recording_draw(op, count, generator, **kw):
        drawn.append(count)
        return draw(op, count, generator, **kw)

    monkeypatch.setattr(randomized, "random_vectors", recording_draw)
    peaks = {}
    for budget in (30, 300):
        drawn.clear()
        op, rows = _recording_operator(A)
        est = stochastic_trace(op, method=method, matvecs=budget, max_sketch=16, generator=torch.Generator().manual_seed(0))
        assert len(rows) == est.hvps == budget and est.sketch_size <= 16
        peaks[budget] = (max(drawn), max(rows))
    limit = 16 if method == "hutchpp" else 8  # Hutch++ applies A to rows of its sketch Q (s, P), one tensor
    assert all(d <= 8 and r <= limit for d, r in peaks.values()), peaks
    assert est.value == pytest.approx(float(A.trace()), rel=0.1 if method == "hutchinson" else 0.02)
