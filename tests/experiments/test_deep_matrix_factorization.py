"""implicit-bias/deep-matrix-factorization: the official optimizer, the rate fit, artifacts
recheck, stacked runs = separate runs, config validation."""

import math

import numpy as np
import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.experiments.implicit_bias import deep_matrix_factorization as dmf
from dltheory.runner import run_experiment

EXP = "implicit-bias/deep-matrix-factorization"


def test_group_rmsprop_matches_the_official_update_per_problem():
    """Each problem (leading axis) follows opt.py's GroupRMSprop step with its own normalizer:
    s <- alpha s + (1 - alpha) ||g||^2, p <- p - lr g / (sqrt(s / (1 - alpha^t)) + eps)."""
    g = torch.Generator().manual_seed(0)
    targets = torch.randn(2, 3, 3, generator=g, dtype=torch.float64)
    start = {"a": torch.randn(2, 3, 3, generator=g, dtype=torch.float64), "b": torch.randn(2, 3, generator=g, dtype=torch.float64)}
    opt = dmf.group_rmsprop(0.05)
    state, p, batched = opt.init(start), dict(start), []
    for step in range(5):  # gradient of ||a - T_c||^2 + 3 ||b||^2 for each problem c
        p, state = opt.update(p, {"a": 2 * (p["a"] - targets), "b": 6 * p["b"]}, state, step)
        batched.append({k: v.clone() for k, v in p.items()})
    for c in range(2):
        sq, a, b = 0.0, start["a"][c].clone(), start["b"][c].clone()
        for t in range(1, 6):
            ga, gb = 2 * (a - targets[c]), 6 * b
            sq = 0.99 * sq + 0.01 * float((ga * ga).sum() + (gb * gb).sum())
            s = 0.05 / (math.sqrt(sq / (1 - 0.99**t)) + 1e-4)
            a, b = a - s * ga, b - s * gb
            np.testing.assert_allclose(batched[t - 1]["a"][c].numpy(), a.numpy(), rtol=1e-12)
            np.testing.assert_allclose(batched[t - 1]["b"][c].numpy(), b.numpy(), rtol=1e-12)


def test_rate_fit_recovers_slope_and_intercept():
    rng = np.random.default_rng(0)
    sigma = 10 ** rng.uniform(-3, 1, 200)
    rho = 3.0 * sigma ** (4 / 3)
    slope, intercept = dmf.rate_fit(sigma, rho)
    assert slope == pytest.approx(4 / 3, rel=1e-10) and math.exp(intercept) == pytest.approx(3.0, rel=1e-10)
    # one intercept per group (a step size varying over steps) does not bias the slope
    group = np.repeat(np.arange(20), 10)
    eta = 10 ** rng.uniform(-3, 0, 20)
    slope_fe, nan = dmf.rate_fit(sigma, eta[group] * rho, group)
    assert slope_fe == pytest.approx(4 / 3, rel=1e-10) and math.isnan(nan)
    assert math.isnan(dmf.rate_fit(sigma[:1], rho[:1])[0])


def test_artifacts_recheck_and_rate_claims(runs_dir):
    res = run_experiment(EXP, preset="tiny", seed=2, runs_dir=runs_dir)
    assert res.status in ("ok", "failed")
    z = np.load(res.run_dir / "artifacts" / "data_oracle_params.npz")
    M, rows, cols = z["W_star"], z["order_rows"], z["order_cols"]
    n = M.shape[0]
    assert np.linalg.norm(M) == pytest.approx(n) and np.linalg.matrix_rank(M, tol=1e-8) == 1
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) == n * n  # one order of all entries
    m = res.result["metrics"]
    for k in z["observations"]:
        r, c = rows[:k], cols[:k]
        X = z[f"nuclear_k{k}"]
        np.testing.assert_allclose(X[r, c], M[r, c], atol=1e-6)  # the oracle interpolates
        assert np.linalg.norm(X, "nuc") <= np.linalg.norm(M, "nuc") + 1e-6  # and is no worse than the truth
        assert m[f"error_nuclear_k{k}"] == pytest.approx(np.sum((X - M) ** 2) / np.sum(M**2), rel=1e-9, abs=1e-15)
        for N in (2, 3):
            W = z[f"W_depth{N}_k{k}"]
            assert m[f"error_depth{N}_k{k}"] == pytest.approx(np.sum((W - M) ** 2) / np.sum(M**2), rel=1e-9)
            assert m[f"train_loss_depth{N}_k{k}"] == pytest.approx(np.mean((W[r, c] - M[r, c]) ** 2), rel=1e-9)
    # Thm 3 holds along any GD run, tiny ones included
    for c in res.result["claims"]:
        if c["id"].startswith("sigma_"):
            assert c["holds"], c


def test_stacked_counts_equal_separate_runs(runs_dir):
    a = run_experiment(EXP, preset="tiny", seed=4, runs_dir=runs_dir, overrides={"observations": [40, 80], "few_observations": 40})
    b = run_experiment(EXP, preset="tiny", seed=4, runs_dir=runs_dir, overrides={"observations": [80], "few_observations": 80})
    za = np.load(a.run_dir / "artifacts" / "data_oracle_params.npz")
    zb = np.load(b.run_dir / "artifacts" / "data_oracle_params.npz")
    for N in (2, 3):
        np.testing.assert_allclose(za[f"W_depth{N}_k80"], zb[f"W_depth{N}_k80"], rtol=1e-8, atol=1e-10)


def test_config_validation(runs_dir):
    with pytest.raises(ConfigError, match="few_observations"):
        run_experiment(EXP, preset="tiny", runs_dir=runs_dir, overrides={"few_observations": 41})
    with pytest.raises(ConfigError, match="depths"):
        run_experiment(EXP, preset="tiny", runs_dir=runs_dir, overrides={"depths": [1, 2]})
    with pytest.raises(ConfigError, match="observations"):
        run_experiment(EXP, preset="tiny", runs_dir=runs_dir, overrides={"observations": [40, 200]})
    with pytest.raises(ConfigError, match="rank"):
        run_experiment(EXP, preset="tiny", runs_dir=runs_dir, overrides={"rank": 13})


# A 12 x 12 rank-1 problem at the paper's ratio of observations to degrees of freedom (48 / 23 ~ 2.05).
SMALL = {"n": 12, "rank": 1, "observations": [48], "few_observations": 48, "depths": [2, 3], "steps": 3000}


@pytest.mark.slow
def test_negative_control_large_init_loses_the_depth_advantage(runs_dir):
    """Depth's low-rank bias needs a small init (Arora et al. 2019, Sec. 3: the singular values' rate
    sigma^(2-2/N) only separates small from large ones near the origin). From init_scale 1e-3 depth 3 beats
    depth 2 and the nuclear norm by 10x (measured 0.061, 0.060); from init_scale 1 (||W(0)||_F = sqrt(n)) it does
    not (measured err(3) / err(2) = 1.97, err(3) / err(nuclear) = 9.6). The comparison is a metric (see the
    module docstring), so this control checks the metric."""
    pos = run_experiment(EXP, preset="tiny", seed=0, runs_dir=runs_dir, overrides=SMALL).result["metrics"]
    assert pos["deep_beats_depth2"] < 0.1 and pos["deep_beats_nuclear"] < 0.1, pos
    neg = run_experiment(EXP, preset="tiny", seed=0, runs_dir=runs_dir, overrides={**SMALL, "init_scale": 1.0}).result["metrics"]
    assert neg["deep_beats_depth2"] > 0.5 and neg["deep_beats_nuclear"] > 0.1, neg


@pytest.mark.slow
def test_negative_control_too_few_observations(runs_dir):
    """Below the degrees of freedom, k = 15 < r(2n - r) = 23 on a 12 x 12 rank-1 matrix, no method can recover
    W* (the data do not determine it): all_recover_with_many fails (measured max error 0.6-1.6 on seeds 0-2
    vs < 1e-2). At k = 120 (5.2 degrees of freedom, the quick preset's ratio) it holds on the same draw."""
    few = {"observations": [15], "few_observations": 15}
    neg = run_experiment(EXP, preset="tiny", seed=0, runs_dir=runs_dir, overrides=few)
    c = {x["id"]: x for x in neg.result["claims"]}["all_recover_with_many"]
    assert not c["holds"] and c["measured"] > 0.1, c
    pos = run_experiment(EXP, preset="tiny", seed=0, runs_dir=runs_dir, overrides={"observations": [120], "few_observations": 120, "steps": 3000})
    c = {x["id"]: x for x in pos.result["claims"]}["all_recover_with_many"]
    assert c["holds"], c
