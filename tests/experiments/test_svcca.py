"""representations/svcca: convergence time, the least-squares projection, a tiny run, the negative control."""

import numpy as np
import pytest
import torch

from dltheory.experiments.representations import svcca as sv
from dltheory.runner import run_experiment


def test_convergence_time_is_when_the_similarity_stays_above():
    assert sv.convergence_time(np.array([0.95, 0.97, 1.0]), 0.9) == 0
    assert sv.convergence_time(np.array([0.5, 0.95, 0.8, 0.93, 1.0]), 0.9) == 3  # the first crossing at 1 does not last
    assert sv.convergence_time(np.array([0.5, 0.6, 1.0]), 0.9) == 2


def test_conv_activations_become_points_per_position():
    a = torch.arange(2 * 3 * 2 * 2, dtype=torch.float64).reshape(2, 3, 2, 2)  # (n, C, H, W)
    P = sv.as_points(a)
    assert P.shape == (8, 3)
    torch.testing.assert_close(P[1], a[0, :, 0, 1])  # image 0, position (0, 1): its 3 channels
    assert sv.as_points(torch.ones(5, 4)).shape == (5, 4)


def test_projection_is_orthogonal_in_neuron_space():
    g = torch.Generator().manual_seed(0)
    H = torch.randn(100, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64) + 2.0
    Hn = torch.randn(20, 6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(sv.project(H, torch.randn(6, 6, generator=g, dtype=torch.float64), Hn), Hn)  # a full-rank span: identity
    # numpy reference: mu + (h - mu) V (V^T V)^-1 V^T
    V = torch.randn(6, 2, generator=g, dtype=torch.float64)
    mu, Vn = H.numpy().mean(0), V.numpy()
    ref = mu + (Hn.numpy() - mu) @ Vn @ np.linalg.solve(Vn.T @ Vn, Vn.T)
    np.testing.assert_allclose(sv.project(H, V, Hn).numpy(), ref, atol=1e-10)
    # coordinate directions: the kept neurons unchanged, the others at their mean
    P = sv.project(H, torch.eye(6, dtype=torch.float64)[:, [1, 4]], Hn)
    torch.testing.assert_close(P[:, [1, 4]], Hn[:, [1, 4]])
    torch.testing.assert_close(P[:, [0, 2, 3, 5]], H.mean(0)[[0, 2, 3, 5]].expand(20, 4))


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("representations/svcca", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    ids = {c["id"] for c in r.result["claims"]}
    assert ids == {"bottom_up_spearman", "first_layer_converges_before_last", "top_svcca_directions_keep_accuracy", "random_directions_lose_more",
                   "max_activation_neurons_lose_more", "svcca_matches_scipy_angles", "directions_are_canonical"}
    c = {c["id"]: c for c in r.result["claims"]}
    assert c["svcca_matches_scipy_angles"]["holds"] and c["directions_are_canonical"]["holds"]
    z = np.load(r.run_dir / "artifacts" / "svcca_dynamics.npz")
    assert z["similarity_to_final"].shape == (5, 3) and np.allclose(z["similarity_to_final"][-1], 1.0)
    assert list(z["steps"]) == [0, 10, 20, 30, 40]
    assert r.result["figures"]


@pytest.mark.slow
def test_negative_control_random_directions_do_not_keep_accuracy(runs_dir):
    """Projected on k random directions instead of the top SVCCA ones, the layer loses its use: claim 2 fails."""
    r = run_experiment("representations/svcca", preset="quick", overrides={"directions": "random"}, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["top_svcca_directions_keep_accuracy"]["holds"] and c["top_svcca_directions_keep_accuracy"]["measured"] > 0.03
    assert c["bottom_up_spearman"]["holds"] and c["random_directions_lose_more"]["holds"] and c["max_activation_neurons_lose_more"]["holds"]  # the rest of the run is unchanged


def test_bad_sizes_name_the_parameter(runs_dir):
    r = run_experiment("representations/svcca", preset="tiny", overrides={"widths": [4, 4, 4, 4]}, runs_dir=runs_dir)
    assert r.status == "error" and "`widths`" in r.result["error"]
    r = run_experiment("representations/svcca", preset="tiny", overrides={"k": 40}, runs_dir=runs_dir)
    assert r.status == "error" and "`k`" in r.result["error"]
