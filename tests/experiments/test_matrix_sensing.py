"""implicit-bias/matrix-sensing: artifacts recheck against numpy, stacked runs are independent,
config validation."""

import numpy as np
import pytest

from dltheory.core.errors import ConfigError
from dltheory.runner import run_experiment

EXP = "implicit-bias/matrix-sensing"


def _artifacts(res):
    return np.load(res.run_dir / "artifacts" / "data_oracles_params.npz")


def test_artifacts_recheck(runs_dir):
    res = run_experiment(EXP, preset="tiny", seed=3, runs_dir=runs_dir)
    assert res.status in ("ok", "failed")
    z = _artifacts(res)
    A, b, X_star = z["A"], z["b"], z["X_star"]
    k, n, _ = A.shape
    np.testing.assert_allclose(A, A.transpose(0, 2, 1))  # symmetric sensing
    np.testing.assert_allclose(np.einsum("kij,ij->k", A, X_star), b, rtol=1e-10, atol=1e-12)
    assert np.linalg.matrix_rank(X_star, tol=1e-8) == 1 and np.linalg.norm(X_star) == pytest.approx(1.0)
    # oracles: the min-trace solution is PSD, feasible, and no worse than the truth; min-Frobenius is pinv
    X_nuc = z["X_min_nuclear"]
    assert np.linalg.eigvalsh(X_nuc).min() > -1e-6
    np.testing.assert_allclose(np.einsum("kij,ij->k", A, X_nuc), b, atol=1e-6)
    assert np.trace(X_nuc) <= np.trace(X_star) + 1e-6
    np.testing.assert_allclose(z["X_min_frobenius"].reshape(-1), np.linalg.pinv(A.reshape(k, -1)) @ b, atol=1e-10)
    # final parameters reproduce the reported distances
    U = z["U_final"]
    np.testing.assert_allclose(z["X_gd"], U @ U.transpose(0, 2, 1), rtol=1e-12)
    for alpha, X in zip(z["init_scales"], z["X_gd"], strict=True):
        d = np.linalg.norm(X - X_nuc) / np.linalg.norm(X_nuc)
        assert res.result["metrics"][f"d_nuclear_alpha{alpha:g}"] == pytest.approx(d, rel=1e-9)


def test_stacked_runs_are_independent(runs_dir):
    """Training several alphas side by side gives exactly the single-alpha runs."""
    a = run_experiment(EXP, preset="tiny", seed=1, runs_dir=runs_dir, overrides={"init_scales": [0.1, 0.01]})
    b = run_experiment(EXP, preset="tiny", seed=1, runs_dir=runs_dir, overrides={"init_scales": [0.01, 0.3]})
    Ua, Ub = _artifacts(a)["U_final"], _artifacts(b)["U_final"]
    np.testing.assert_allclose(Ua[1], Ub[0], rtol=1e-9, atol=1e-12)  # equal up to rounding of the per-run step
    assert a.result["metrics"]["d_nuclear_alpha0.01"] == pytest.approx(b.result["metrics"]["d_nuclear_alpha0.01"], rel=1e-10)


def test_config_validation(runs_dir):
    with pytest.raises(ConfigError, match="underdetermined"):
        run_experiment(EXP, preset="tiny", runs_dir=runs_dir, overrides={"n": 4, "measurements": 10})
    with pytest.raises(ConfigError, match="rank"):
        run_experiment(EXP, preset="tiny", runs_dir=runs_dir, overrides={"n": 4, "rank": 5, "measurements": 3})
    with pytest.raises(ConfigError, match="init_scales"):
        run_experiment(EXP, preset="tiny", runs_dir=runs_dir, overrides={"init_scales": [0.1]})


def test_negative_control_large_init_is_not_min_nuclear(runs_dir):
    """Large init (kernel-like regime): GD converges to an interpolant that is not the min-nuclear-norm one
    (Gunasekar et al. 2017, Fig. 2). The run has converged (residual at round-off), so this is the limit,
    not a finite-time tail; the informative draw guarantees other PSD interpolants exist."""
    res = run_experiment(EXP, preset="tiny", seed=5, overrides={"init_scales": [1.0, 0.3], "steps": 20_000}, runs_dir=runs_dir)
    assert res.status in ("ok", "failed"), res.result.get("error")
    c = {c["id"]: c for c in res.result["claims"]}
    assert not c["near_min_nuclear"]["holds"] and c["near_min_nuclear"]["measured"] > 0.1
    assert res.result["metrics"]["residual_alpha0.3"] < 1e-9


def test_uninformative_draws_are_refused_with_a_named_error(runs_dir):
    """Far above the uniqueness threshold the PSD interpolating set is the truth alone: no informative draw."""
    res = run_experiment(EXP, preset="tiny", seed=0, runs_dir=runs_dir, overrides={"measurements": 20, "max_draws": 3})
    assert res.status == "error" and "no informative draw of 20 measurements in `max_draws` = 3" in res.result["error"]


def test_max_trace_oracle_brackets_the_interpolating_set():
    """max-trace >= min-trace on the PSD interpolants; equal (a single point) with many measurements, unbounded with few."""
    from dltheory.oracles.nuclear import max_trace_psd_sensing, min_trace_psd_sensing

    rng = np.random.default_rng(0)
    G = rng.standard_normal((5, 1))
    X = G @ G.T
    for m, kind in ((14, "point"), (3, "unbounded")):
        A = rng.standard_normal((m, 5, 5))
        A = (A + A.transpose(0, 2, 1)) / 2
        b = np.einsum("kij,ij->k", A, X)
        Xmax = max_trace_psd_sensing(A, b)
        if kind == "unbounded":
            assert Xmax is None
        else:
            np.testing.assert_allclose(Xmax, min_trace_psd_sensing(A, b).X, atol=1e-5)
            np.testing.assert_allclose(Xmax, X, atol=1e-5)


def test_below_threshold_problem_reuses_the_first_measurements(runs_dir):
    res = run_experiment(EXP, preset="tiny", seed=3, runs_dir=runs_dir)
    z, zb = _artifacts(res), np.load(res.run_dir / "artifacts" / "below_data_oracles_params.npz")
    np.testing.assert_allclose(zb["A"], z["A"][:5])
    np.testing.assert_allclose(zb["X_star"], z["X_star"])
    assert "below_effective_rank_gd" in res.result["metrics"]
