r"""Minimum-norm solutions of linear matrix equations: the convex oracles of the factorization
experiments (Lectures 2-4).

For measurements :math:`\mathcal A(X)_i = \langle A_i, X\rangle = b_i` (sensing) or observed
entries :math:`X_{ij} = M_{ij},\ (i,j) \in \Omega` (completion):

- :func:`min_nuclear_norm_sensing`: :math:`\min \|X\|_*` s.t. :math:`\mathcal A(X) = b`;
- :func:`min_nuclear_norm_completion`: :math:`\min \|X\|_*` s.t. :math:`X_\Omega = M_\Omega`
  (Candes & Recht 2009; the "depth 1" baseline of Arora, Cohen, Hu, Luo 2019);
- :func:`min_trace_psd_sensing`: :math:`\min \operatorname{tr} X` s.t. :math:`X \succeq 0,\ \mathcal A(X) = b`
  (the limit of gradient flow on :math:`X = UU^\top` from small init conjectured by Gunasekar
  et al. 2017, Conjecture 1; on PSD matrices trace = nuclear norm);
- :func:`min_frobenius_sensing`, :func:`min_frobenius_completion`: :math:`\min\|X\|_F` s.t. the
  same constraints (closed form: :math:`\operatorname{vec} X = \mathcal A^+ b`; zero-filling for
  completion), the solution plain GD on :math:`X` from 0 converges to, for contrast.

The nuclear-norm and trace programs are semidefinite programs solved with cvxpy. ``solver="auto"``
picks the interior-point CLARABEL (tight, about 1e-9 feasibility, but its cost grows fast with
the size) for matrices of at most :data:`CLARABEL_MAX_ENTRIES` entries, and SCS (first-order
splitting, one :math:`(m+n)\times(m+n)` eigendecomposition per iteration) with tight tolerances
(:data:`SCS_EPS`, at most :data:`SCS_MAX_ITERS` iterations) above that: SCS solves a 100 x 100
completion in 1-15 s. Completion with CLARABEL solves the dual program (k variables; 10-100x
faster than the primal there). When CLARABEL ends with ``optimal_inaccurate`` (it does on some
small nuclear-norm programs) or fails, ``auto`` re-solves with SCS. Measured on this project's
problems: SCS at its default tolerance (1e-4) is off by ~1e-5 in the objective, and on small
ill-posed completions (30 x 30 from 100 entries) it needed minutes even at 1e-6, where the
CLARABEL dual takes 0.1 s. The result records the solver and its status; an infeasible program
raises :class:`InfeasibleProblemError`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse
import torch

from dltheory.core.arrays import ArrayLike, as_float64
from dltheory.core.errors import DltheoryError, check_choice

#: matrices with at most this many entries (m * n) go to CLARABEL under ``solver="auto"``.
CLARABEL_MAX_ENTRIES = 1600
#: SCS tolerances used by ``solver="auto"`` / ``"SCS"`` (its defaults, 1e-4, are too loose for an oracle).
SCS_EPS = 1e-8
#: iteration cap of SCS (it then returns ``optimal_inaccurate``, recorded in the status).
SCS_MAX_ITERS = 50_000
SOLVERS = ("auto", "CLARABEL", "SCS")


class InfeasibleProblemError(DltheoryError, ValueError):
    """The constraints of an oracle program admit no solution."""


class OracleSolverError(DltheoryError, RuntimeError):
    """The convex solver failed or stopped without a usable solution."""


@dataclass(frozen=True)
class MatrixSolution:
    """Solution of a matrix oracle program.

    Attributes:
        X: the solution, shape (m, n), float64.
        objective: the minimized norm evaluated at ``X`` by numpy (nuclear norm, trace or
            Frobenius norm).
        status: the solver status (``optimal``, ``optimal_inaccurate``) or ``closed_form``.
        solver: ``CLARABEL``, ``SCS`` or ``lstsq`` / ``zero_fill``.
        residual: largest constraint violation :math:`\\max_i |\\mathcal A(X)_i - b_i|`.
        solve_time_s: wall time of the solve in seconds.
    """

    X: np.ndarray
    objective: float
    status: str
    solver: str
    residual: float
    solve_time_s: float


# --- input validation --------------------------------------------------------------------------
def _sensing(A: ArrayLike, b: ArrayLike, *, square: bool = False) -> tuple[np.ndarray, np.ndarray]:
    A, b = as_float64(A, "A"), as_float64(b, "b").reshape(-1)
    if A.ndim != 3:
        raise ValueError(f"`A` must have shape (k, m, n): one measurement matrix per row; got shape {A.shape}.")
    if A.shape[0] != b.shape[0]:
        raise ValueError(f"`A` and `b` must hold the same number of measurements; got A {A.shape} and b {b.shape}.")
    if square and A.shape[1] != A.shape[2]:
        raise ValueError(f"`A` must hold square (n, n) matrices for a PSD program; got shape {A.shape}.")
    return A, b


def _entries(rows: ArrayLike, cols: ArrayLike, values: ArrayLike, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    r = np.asarray(rows.detach().cpu() if isinstance(rows, torch.Tensor) else rows)
    c = np.asarray(cols.detach().cpu() if isinstance(cols, torch.Tensor) else cols)
    v = as_float64(values, "values").reshape(-1)
    if len(shape) != 2 or int(shape[0]) < 1 or int(shape[1]) < 1:
        raise ValueError(f"`shape` must be (m, n) with m, n >= 1; got {tuple(shape)}.")
    m, n = int(shape[0]), int(shape[1])
    if r.ndim != 1 or c.ndim != 1 or not (r.shape == c.shape == v.shape):
        raise ValueError(f"`rows`, `cols` and `values` must be 1-D of equal length; got shapes {r.shape}, {c.shape}, {v.shape}.")
    if r.size and not (np.issubdtype(r.dtype, np.integer) and np.issubdtype(c.dtype, np.integer)):
        raise TypeError(f"`rows` and `cols` must hold integers; got dtypes {r.dtype} and {c.dtype}.")
    r, c = r.astype(np.int64), c.astype(np.int64)
    if r.size and (r.min() < 0 or r.max() >= m or c.min() < 0 or c.max() >= n):
        raise ValueError(f"`rows` must lie in [0, {m}) and `cols` in [0, {n}) for shape {(m, n)}.")
    flat = r * n + c
    uniq, first = np.unique(flat, return_index=True)
    if uniq.size < flat.size:  # repeated entries: consistent values are merged, conflicting ones are infeasible
        for idx in range(flat.size):
            j = first[np.searchsorted(uniq, flat[idx])]
            if v[idx] != v[j]:
                raise InfeasibleProblemError(f"entry ({r[idx]}, {c[idx]}) is observed twice with different values {v[j]:g} and {v[idx]:g}: no matrix satisfies both.")
        r, c, v = r[first], c[first], v[first]
    return r, c, v, (m, n)


def _pick_solver(solver: str, entries: int) -> str:
    check_choice("solver", solver, SOLVERS)
    if solver == "auto":
        return "CLARABEL" if entries <= CLARABEL_MAX_ENTRIES else "SCS"
    return solver


def _solve(problem: cp.Problem, X: cp.Variable, solver: str, what: str) -> tuple[np.ndarray, str, str, float]:
    """Solve with ``solver`` ("auto": by size, see the module docstring); returns (X, status, solver, seconds).

    Under ``auto`` a CLARABEL result that is only ``optimal_inaccurate`` (or a CLARABEL failure)
    is re-solved with SCS, and the more accurate of the two is kept.
    """
    auto = solver == "auto"
    first = _pick_solver(solver, X.size)
    out = _solve_once(problem, X, first, what, raise_on_failure=not auto)
    if auto and first == "CLARABEL" and (out is None or out[1] != cp.OPTIMAL):
        second = _solve_once(problem, X, "SCS", what, raise_on_failure=out is None)
        if out is None or (second is not None and second[1] == cp.OPTIMAL):
            out = second
    return out  # type: ignore[return-value]


def _solve_once(problem: cp.Problem, X: cp.Variable, solver: str, what: str, *, raise_on_failure: bool) -> tuple[np.ndarray, str, str, float] | None:
    kwargs = {"eps_abs": SCS_EPS, "eps_rel": SCS_EPS, "max_iters": SCS_MAX_ITERS} if solver == "SCS" else {}
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():  # the status carries the "inaccurate" information
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            problem.solve(solver=solver, **kwargs)
    except cp.error.SolverError as e:
        if not raise_on_failure:
            return None
        raise OracleSolverError(f"{what}: the solver {solver} failed ({e}); try solver='SCS' or 'CLARABEL'.") from e
    elapsed = time.perf_counter() - t0
    status = str(problem.status)
    if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise InfeasibleProblemError(f"{what} is infeasible (solver {solver}, status '{status}'): no matrix satisfies the constraints.")
    if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or X.value is None:
        if not raise_on_failure:
            return None
        raise OracleSolverError(f"{what}: solver {solver} stopped with status '{status}' and no solution; try the other solver.")
    return np.asarray(X.value, dtype=np.float64), status, solver, elapsed


def _sensing_residual(A: np.ndarray, b: np.ndarray, X: np.ndarray) -> float:
    return float(np.max(np.abs(np.einsum("kmn,mn->k", A, X) - b))) if b.size else 0.0


# --- programs -----------------------------------------------------------------------------------
def min_nuclear_norm_sensing(A: ArrayLike, b: ArrayLike, *, solver: str = "auto") -> MatrixSolution:
    r""":math:`\operatorname{argmin} \|X\|_*` s.t. :math:`\langle A_i, X\rangle = b_i` (Recht, Fazel, Parrilo 2010).

    Args:
        A: measurement matrices, shape (k, m, n).
        b: measurements, shape (k,).
        solver: ``auto`` (CLARABEL for at most :data:`CLARABEL_MAX_ENTRIES` entries, else SCS),
            ``CLARABEL`` or ``SCS``.

    Returns:
        :class:`MatrixSolution` with the nuclear norm as ``objective``.

    Raises:
        InfeasibleProblemError: no matrix meets the measurements.

    Cost: an SDP with an (m+n) x (m+n) PSD block and k equality constraints.
    """
    A, b = _sensing(A, b)
    k, m, n = A.shape
    check_choice("solver", solver, SOLVERS)
    X = cp.Variable((m, n))
    problem = cp.Problem(cp.Minimize(cp.normNuc(X)), [A.reshape(k, m * n) @ cp.vec(X, order="C") == b])
    Xv, status, solver, t = _solve(problem, X, solver, "min-nuclear-norm sensing")
    return MatrixSolution(Xv, float(np.linalg.norm(Xv, "nuc")), status, solver, _sensing_residual(A, b, Xv), t)


def min_nuclear_norm_completion(rows: ArrayLike, cols: ArrayLike, values: ArrayLike, shape, *, solver: str = "auto") -> MatrixSolution:
    r""":math:`\operatorname{argmin} \|X\|_*` s.t. :math:`X_{ij} = M_{ij}` for the observed entries
    (Candes & Recht 2009). The "depth 1" line of Arora, Cohen, Hu, Luo 2019, Fig. 2.

    CLARABEL solves the dual, :math:`\max_y \langle y, M_\Omega\rangle` s.t.
    :math:`\|P_\Omega^*(y)\|_2 \le 1` written as
    :math:`\begin{bmatrix} I & Y \\ Y^\top & I\end{bmatrix} \succeq 0` (k variables instead of the
    primal's ~2mn; 10-100x faster), and X is read off the multiplier
    :math:`Z \succeq 0` of that constraint (:math:`X = \pm 2 Z_{12}`, the sign fixed by the
    observed entries). SCS solves the primal SDP.

    Args:
        rows, cols: integer indices of the observed entries, shape (k,).
        values: observed values :math:`M_{ij}`, shape (k,).
        shape: ``(m, n)`` of the matrix.
        solver: ``auto``, ``CLARABEL`` or ``SCS`` (see the module docstring).

    Raises:
        InfeasibleProblemError: an entry is observed twice with different values.

    Cost: an SDP with an (m+n) x (m+n) PSD block and k equality constraints (or k variables).
    """
    r, c, v, (m, n) = _entries(rows, cols, values, shape)
    check_choice("solver", solver, SOLVERS)
    what = "min-nuclear-norm completion"
    first = _pick_solver(solver, m * n)
    if first == "CLARABEL" and v.size:
        try:
            out = _completion_dual(r, c, v, (m, n), what)
        except OracleSolverError:
            if solver != "auto":
                raise
            out = None
        if solver == "auto" and (out is None or out[1] != cp.OPTIMAL):  # fall back to SCS on the primal
            second = _completion_primal(r, c, v, (m, n), "SCS", what)
            out = second if out is None or second[1] == cp.OPTIMAL else out
    else:
        out = _completion_primal(r, c, v, (m, n), first, what)
    Xv, status, solver, t = out
    residual = float(np.max(np.abs(Xv[r, c] - v))) if v.size else 0.0
    return MatrixSolution(Xv, float(np.linalg.norm(Xv, "nuc")), status, solver, residual, t)


def _completion_primal(r, c, v, shape, solver: str, what: str):
    m, n = shape
    X = cp.Variable((m, n))
    constraints = [cp.vec(X, order="C")[r * n + c] == v] if v.size else []
    return _solve(cp.Problem(cp.Minimize(cp.normNuc(X)), constraints), X, solver, what)


def _completion_dual(r, c, v, shape, what: str):
    m, n = shape
    k = v.size
    y = cp.Variable(k)
    S = scipy.sparse.csr_matrix((np.ones(k), (r * n + c, np.arange(k))), shape=(m * n, k))
    Y = cp.reshape(S @ y, (m, n), order="C")  # P_Omega^*(y)
    psd = cp.bmat([[np.eye(m), Y], [Y.T, np.eye(n)]]) >> 0
    problem = cp.Problem(cp.Maximize(v @ y), [psd])
    _, status, solver, t = _solve(problem, y, "CLARABEL", what + " (dual)")
    Z12 = 2.0 * np.asarray(psd.dual_value, dtype=np.float64)[:m, m:]
    Xv = Z12 if np.abs(Z12[r, c] - v).max() <= np.abs(-Z12[r, c] - v).max() else -Z12
    # certify: X must interpolate and close the duality gap (||X||_* = <v, y>), else call it inaccurate
    scale = 1.0 + np.abs(v).max()
    gap = abs(float(np.linalg.norm(Xv, "nuc")) - float(problem.value))
    if np.abs(Xv[r, c] - v).max() > 1e-6 * scale or gap > 1e-6 * (1.0 + abs(float(problem.value))):
        status = cp.OPTIMAL_INACCURATE
    return Xv, status, solver, t


def min_trace_psd_sensing(A: ArrayLike, b: ArrayLike, *, solver: str = "auto") -> MatrixSolution:
    r""":math:`\operatorname{argmin} \operatorname{tr} X` s.t. :math:`X \succeq 0`, :math:`\langle A_i, X\rangle = b_i`.

    On the PSD cone :math:`\operatorname{tr} X = \|X\|_*`, so this is the minimum-nuclear-norm PSD
    solution: the conjectured limit of gradient flow on :math:`X = UU^\top` as the init scale
    goes to 0 (Gunasekar et al., NeurIPS 2017, Conjecture 1 and Thm 1). Only the symmetric part
    :math:`(A_i + A_i^\top)/2` of each measurement matters for symmetric X.

    Args:
        A: measurement matrices, shape (k, n, n).
        b: measurements, shape (k,).
        solver: ``auto``, ``CLARABEL`` or ``SCS``.

    Raises:
        InfeasibleProblemError: no PSD matrix meets the measurements.

    Cost: an SDP with one n x n PSD block and k equality constraints.
    """
    A, b = _sensing(A, b, square=True)
    k, n, _ = A.shape
    A = 0.5 * (A + A.transpose(0, 2, 1))
    check_choice("solver", solver, SOLVERS)
    X = cp.Variable((n, n), PSD=True)
    problem = cp.Problem(cp.Minimize(cp.trace(X)), [A.reshape(k, n * n) @ cp.vec(X, order="C") == b])
    Xv, status, solver, t = _solve(problem, X, solver, "min-trace PSD sensing")
    Xv = 0.5 * (Xv + Xv.T)
    return MatrixSolution(Xv, float(np.trace(Xv)), status, solver, _sensing_residual(A, b, Xv), t)


def max_trace_psd_sensing(A: ArrayLike, b: ArrayLike) -> np.ndarray | None:
    r""":math:`\operatorname{argmax} \operatorname{tr} X` s.t. :math:`X \succeq 0`, :math:`\langle A_i, X\rangle = b_i`,
    or ``None`` when the trace is unbounded on the feasible set.

    With :func:`min_trace_psd_sensing` it measures the extent of the PSD interpolating set: the
    two coincide exactly when that set is a single point, where every interpolating
    :math:`UU^\top` is the min-trace solution and the implicit-bias question is vacuous.

    Cost: an SDP with one n x n PSD block and k equality constraints (CLARABEL).
    """
    A, b = _sensing(A, b, square=True)
    k, n, _ = A.shape
    A = 0.5 * (A + A.transpose(0, 2, 1))
    X = cp.Variable((n, n), PSD=True)
    problem = cp.Problem(cp.Maximize(cp.trace(X)), [A.reshape(k, n * n) @ cp.vec(X, order="C") == b])
    errors = []
    for solver in ("CLARABEL", "SCS"):  # SCS when CLARABEL fails (it does on some nearly unbounded sets)
        kwargs = {"eps_abs": SCS_EPS, "eps_rel": SCS_EPS, "max_iters": SCS_MAX_ITERS} if solver == "SCS" else {}
        try:
            with warnings.catch_warnings():  # the status carries the "inaccurate" information
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                problem.solve(solver=solver, **kwargs)
        except cp.error.SolverError as e:
            errors.append(f"{solver}: {e}")
            continue
        if problem.status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
            return None
        if problem.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            raise InfeasibleProblemError(f"max-trace PSD sensing is infeasible (status '{problem.status}'): no PSD matrix meets the measurements.")
        if X.value is not None:
            break
        errors.append(f"{solver}: status '{problem.status}' and no solution")
    else:
        raise OracleSolverError("max-trace PSD sensing: every solver failed (" + "; ".join(errors) + ").")
    return 0.5 * (X.value + X.value.T)


def min_frobenius_sensing(A: ArrayLike, b: ArrayLike) -> MatrixSolution:
    r"""Least-norm solution :math:`\operatorname{argmin}\|X\|_F` s.t. :math:`\langle A_i, X\rangle = b_i`:
    :math:`\operatorname{vec} X = \mathcal A^+ b` (what GD on X itself reaches from X = 0).

    With symmetric :math:`A_i` the solution is symmetric (it lies in their span) but need not be
    PSD. When :math:`b` is not in the range of :math:`\mathcal A` this is the least-squares
    solution and ``residual`` is positive.

    Cost: one SVD of the (k, m n) measurement matrix (``numpy.linalg.lstsq``).
    """
    A, b = _sensing(A, b)
    k, m, n = A.shape
    t0 = time.perf_counter()
    x = np.linalg.lstsq(A.reshape(k, m * n), b, rcond=None)[0]
    Xv = x.reshape(m, n)
    return MatrixSolution(Xv, float(np.linalg.norm(Xv)), "closed_form", "lstsq", _sensing_residual(A, b, Xv), time.perf_counter() - t0)


def min_frobenius_completion(rows: ArrayLike, cols: ArrayLike, values: ArrayLike, shape) -> MatrixSolution:
    r"""Least-norm completion :math:`\operatorname{argmin}\|X\|_F` s.t. :math:`X_\Omega = M_\Omega`: the
    observed entries, zeros elsewhere. Cost: O(mn)."""
    r, c, v, (m, n) = _entries(rows, cols, values, shape)
    Xv = np.zeros((m, n))
    Xv[r, c] = v
    return MatrixSolution(Xv, float(np.linalg.norm(Xv)), "closed_form", "zero_fill", 0.0, 0.0)


def relative_distance(X: ArrayLike, Y: ArrayLike) -> float:
    r""":math:`\|X - Y\|_F / \|Y\|_F` (``inf`` when Y = 0 and X != Y)."""
    X, Y = as_float64(X, "X"), as_float64(Y, "Y")
    if X.shape != Y.shape:
        raise ValueError(f"`X` and `Y` must have the same shape; got {X.shape} and {Y.shape}.")
    d, ny = float(np.linalg.norm(X - Y)), float(np.linalg.norm(Y))
    if ny == 0:
        return 0.0 if d == 0 else float("inf")
    return d / ny


__all__ = [
    "CLARABEL_MAX_ENTRIES", "InfeasibleProblemError", "MatrixSolution", "OracleSolverError", "SCS_EPS", "SCS_MAX_ITERS", "SOLVERS",
    "min_frobenius_completion", "min_frobenius_sensing", "min_nuclear_norm_completion",
    "min_nuclear_norm_sensing", "min_trace_psd_sensing", "relative_distance",
]
