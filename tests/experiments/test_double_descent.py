"""generalization/double-descent: the solvers against numpy/scikit-learn, a tiny run, the claims on a small instance, the ridge negative control."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from dltheory.core.errors import ConfigError
from dltheory.experiments.generalization import double_descent as dd
from dltheory.experiments.registry import build_config, get
from dltheory.runner import run_experiment

EXP = "generalization/double-descent"


@pytest.mark.parametrize("N", [5, 12, 30])
def test_min_norm_fit_is_the_pseudo_inverse(N):
    g = torch.Generator().manual_seed(N)
    F, Y = torch.randn(12, N, generator=g, dtype=torch.float64), torch.randn(12, 3, generator=g, dtype=torch.float64)
    beta, s = dd.min_norm_fit(F, Y)
    np.testing.assert_allclose(beta.numpy(), np.linalg.pinv(F.numpy()) @ Y.numpy(), atol=1e-10)
    np.testing.assert_allclose(s.numpy(), np.linalg.svd(F.numpy(), compute_uv=False), atol=1e-12)


def test_loo_ridge_picks_the_brute_force_leave_one_out_penalty():
    g = torch.Generator().manual_seed(0)
    F, Y = torch.randn(15, 8, generator=g, dtype=torch.float64), torch.randn(15, 2, generator=g, dtype=torch.float64)
    lambdas = [1e-3, 1e-1, 1.0, 10.0]

    def loo(lam):  # refit without each sample (scikit-learn), the definition
        err = 0.0
        for i in range(15):
            keep = np.arange(15) != i
            m = Ridge(alpha=lam, fit_intercept=False).fit(F.numpy()[keep], Y.numpy()[keep])
            err += ((m.predict(F.numpy()[i:i + 1]) - Y.numpy()[i]) ** 2).sum()
        return err / 15

    beta, lam = dd.loo_ridge_fit(F, Y, lambdas)
    assert lam == min(lambdas, key=loo)
    np.testing.assert_allclose(beta.numpy(), Ridge(alpha=lam, fit_intercept=False).fit(F.numpy(), Y.numpy()).coef_.T, atol=1e-10)


def test_random_fourier_features_approximate_the_gaussian_kernel():
    # E[phi(x) phi(y)] = exp(-gamma^2 ||x - y||^2 / (2 d)) for W ~ N(0, gamma^2/d) (Rahimi & Recht 2007)
    g = torch.Generator().manual_seed(1)
    d, N, gamma = 4, 200_000, 1.5
    x = torch.rand(3, d, generator=g, dtype=torch.float64)
    W = torch.randn(d, N, generator=g, dtype=torch.float64) * gamma / d**0.5
    b = torch.rand(N, generator=g, dtype=torch.float64) * 2 * torch.pi
    K = dd.random_fourier_features(x, W, b) @ dd.random_fourier_features(x, W, b).T
    exact = torch.exp(-gamma**2 * torch.cdist(x, x) ** 2 / (2 * d))
    assert float((K - exact).abs().max()) < 0.01  # Monte Carlo error ~ 1/sqrt(N) = 0.002


def test_the_grid_must_straddle_the_threshold():
    with pytest.raises(ConfigError, match="feature_ratios"):
        build_config(get(EXP), "quick", {"feature_ratios": [0.5, 2.0]})
    with pytest.raises(ConfigError, match="feature_ratios"):
        build_config(get(EXP), "quick", {"feature_ratios": [1.0, 2.0]})


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"peak_at_interpolation_threshold", "smallest_singular_value_vanishes", "second_descent_below_classical",
                                                     "ridge_removes_peak", "min_norm_matches_lstsq"}
    z = np.load(r.run_dir / "artifacts" / "features_and_fits.npz")
    assert z["x_train"].shape == (40, 64) and list(z["num_features"]) == [20, 40, 80, 160] and z["W"].shape == (2, 64, 160)


SMALL = {"num_train": 120, "max_test": 600, "feature_ratios": [0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 8.0]}


def test_small_instance_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides=SMALL, seed=3, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_tuned_ridge_has_no_peak(runs_dir):
    # the main curve solved by LOO-tuned ridge: monotone in N, its largest test error at the fewest features
    r = run_experiment(EXP, preset="quick", overrides=SMALL | {"estimator": "ridge"}, seed=3, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["peak_at_interpolation_threshold"]["holds"] and c["peak_at_interpolation_threshold"]["measured"] == 0.25
    assert c["smallest_singular_value_vanishes"]["holds"]
