"""intro/nonlinear-pca: the arc oracle, PCA against eigh, batched restarts = separate ones, a tiny run, the linear negative control."""

import numpy as np
import pytest
import torch

from dltheory.experiments.intro import nonlinear_pca as nl
from dltheory.runner import run_experiment
from dltheory.train import adam, train


def test_distance_to_arc_matches_dense_sampling():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.6, 1.6, (400, 2))
    t = np.linspace(0, 2 * np.pi * 0.75, 200001)
    arc = np.stack([np.cos(t), np.sin(t)], axis=1)
    brute = np.array([np.linalg.norm(arc - x, axis=1).min() for x in X])
    np.testing.assert_allclose(nl.distance_to_arc(X, 0.75), brute, atol=1e-4)


def test_noise_floor_of_the_data_model():
    # the mean squared distance of the noisy points to the arc is sigma^2 (1 + 3 sigma^2 / 4) up to sampling error
    X, theta = nl.noisy_arc(200_000, 0.1, 0.75, np.random.default_rng(1))
    assert theta.min() >= 0 and theta.max() <= 1.5 * np.pi
    assert np.mean(nl.distance_to_arc(X, 0.75) ** 2) / 0.01 == pytest.approx(1.0075, abs=0.015)


def test_pca_residual_is_the_smaller_covariance_eigenvalue():
    X, _ = nl.noisy_arc(500, 0.1, 0.75, np.random.default_rng(2))
    res, mu, v = nl.pca_residual(X)
    lam = np.linalg.eigh(np.cov(X.T, bias=True))[0]
    assert res == pytest.approx(lam[0], rel=1e-12)
    proj = mu + np.outer((X - mu) @ v, v)
    assert np.mean(((X - proj) ** 2).sum(1)) == pytest.approx(res, rel=1e-12)
    assert 0.28 < res < 0.33  # 0.304 + sigma^2 for the 3/4 arc (module docstring), up to sampling


def test_batched_restarts_follow_their_own_adam_paths():
    X = torch.tensor(nl.noisy_arc(50, 0.1, 0.75, np.random.default_rng(3))[0])
    p = nl.init_autoencoders(3, 5, torch.Generator().manual_seed(0))

    def loss(q, batch=None):
        return nl.per_restart_mse(q, X, "tanh").sum()

    both = train(loss, p, steps=40, optimizer=adam(0.03), progress=False).params
    for r in range(3):
        alone = train(loss, {k: v[r : r + 1] for k, v in p.items()}, steps=40, optimizer=adam(0.03), progress=False).params
        for k in nl.NAMES:
            torch.testing.assert_close(alone[k][0], both[k][r], rtol=1e-12, atol=1e-13)


def test_module_and_batched_forward_agree_and_linear_is_rank_one_affine():
    X = torch.tensor(nl.noisy_arc(40, 0.1, 0.75, np.random.default_rng(4))[0])
    p = nl.init_autoencoders(2, 7, torch.Generator().manual_seed(1))
    p = {k: v + 0.1 * torch.randn(v.shape, generator=torch.Generator().manual_seed(2), dtype=v.dtype) for k, v in p.items()}  # nonzero biases
    for act in ("tanh", "identity"):
        Y, Z = nl.autoencode(p, X, act)
        assert Y.shape == (2, 40, 2) and Z.shape == (2, 40, 1)
        for r in range(2):
            net = nl.as_module(p, r, act)
            with torch.no_grad():
                torch.testing.assert_close(net(X), Y[r], rtol=0, atol=1e-14)
                torch.testing.assert_close(net[0](X), Z[r], rtol=0, atol=1e-14)
    Y = nl.autoencode(p, X, "identity")[0][0]
    assert torch.linalg.matrix_rank(Y - Y.mean(0)) == 1  # a line


def _claims(r):
    return {c["id"]: c for c in r.result["claims"]}


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("intro/nonlinear-pca", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert set(_claims(r)) == {"near_noise_floor", "far_below_pca", "linear_equals_pca", "module_matches_batched"}
    z = np.load(r.run_dir / "artifacts" / "data_fits.npz")
    assert z["X"].shape == (60, 2) and z["restart_final_mse"].shape == (2,)
    # recompute the kept reconstructions from the stored weights
    p = {k: torch.tensor(z[f"best_{k}"])[None] for k in nl.NAMES}
    Y = nl.autoencode(p, torch.tensor(z["X"]), "tanh")[0][0].numpy()
    np.testing.assert_allclose(Y, z["reconstructions"], atol=1e-12)
    assert np.mean(((Y - z["X"]) ** 2).sum(1)) == pytest.approx(z["restart_final_mse"].min(), rel=1e-10)


def test_negative_control_linear_activations_are_pca(runs_dir):
    # identity activations: the network is the linear autoencoder, it reaches PCA's residual and no lower, so claims 1-2 fail
    r = run_experiment("intro/nonlinear-pca", preset="quick", overrides={"activation": "identity", "restarts": 1, "steps": 600, "linear_steps": 600}, runs_dir=runs_dir)
    c = _claims(r)
    assert r.status == "failed"
    assert not c["near_noise_floor"]["holds"] and c["near_noise_floor"]["measured"] > 20
    assert not c["far_below_pca"]["holds"] and c["far_below_pca"]["measured"] == pytest.approx(1.0, rel=1e-3)
    assert c["linear_equals_pca"]["holds"]
