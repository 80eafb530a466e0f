"""dropout/linear-autoencoder: exact data covariance, config validation, claims at a small size."""

import numpy as np
import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.experiments.dropout import linear_autoencoder as lae
from dltheory.runner import run_experiment


def test_data_has_the_exact_second_moment():
    eig = torch.tensor([3.0, 2.0, 0.5, 0.1], dtype=torch.float64)
    X = lae._data(50, eig, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(np.linalg.eigvalsh((X.T @ X / 50).numpy())[::-1], eig.numpy(), rtol=1e-12)


def test_loss_matches_the_data_average():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(30, 5, generator=g, dtype=torch.float64)
    A, B = torch.randn(5, 2, generator=g, dtype=torch.float64), torch.randn(2, 5, generator=g, dtype=torch.float64)
    direct = ((X - X @ B.T @ A.T) ** 2).sum(1).mean()
    assert float(lae._loss(X.T @ X / 30, A, B)) == pytest.approx(float(direct), rel=1e-12)


def test_claims_hold_at_a_small_size(runs_dir):
    res = run_experiment("dropout/linear-autoencoder", preset="tiny", seed=2, runs_dir=runs_dir,
                         overrides={"dim": 6, "hidden": 2, "num_points": 60, "seeds": 5, "steps": 800})
    assert res.status == "ok", [(c["id"], c["measured"]) for c in res.result["claims"] if not c["holds"]]
    assert res.result["metrics"]["runs_at_global_min"] == 5
    kinds = {c["id"]: c["kind"] for c in res.result["claims"]}
    assert kinds["saddle_is_critical"] == kinds["saddle_index"] == kinds["saddle_curvature"] == "check" and kinds["top_subspace"] == "claim"


def test_hidden_must_be_below_dim(runs_dir):
    with pytest.raises(ConfigError, match="hidden"):
        run_experiment("dropout/linear-autoencoder", preset="tiny", runs_dir=runs_dir, overrides={"dim": 4, "hidden": 4})


@pytest.mark.parametrize("tie, holds", [(False, True), (True, False)])
def test_negative_control_tied_eigenvalues_at_the_cut(runs_dir, tie, holds):
    """With lambda_(p+1) = lambda_p the top-p principal subspace is not unique (outside Baldi & Hornik's
    distinct-eigenvalue hypothesis): GD still reaches the minimal loss, but in an init-dependent subspace,
    so the main claim (every run in *the* top-p subspace) fails; with distinct eigenvalues it holds."""
    res = run_experiment("dropout/linear-autoencoder", preset="tiny", seed=4, runs_dir=runs_dir,
                         overrides={"dim": 5, "hidden": 2, "num_points": 40, "seeds": 4, "steps": 5000, "tie_at_cut": tie})
    claims = {c["id"]: c for c in res.result["claims"]}
    assert claims["converged"]["holds"] and claims["loss_is_trailing_sum"]["holds"]
    assert claims["top_subspace"]["holds"] is holds, claims["top_subspace"]["measured"]
    if not holds:
        assert claims["top_subspace"]["measured"] > 1e-2
