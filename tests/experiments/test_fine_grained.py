"""ntk/fine-grained: a tiny run, the claims on the quick preset, the random-label negative control, the closed-form H^inf."""

import math

import numpy as np
import pytest
import torch

from dltheory.experiments.ntk.fine_grained import relu_gram
from dltheory.runner import run_experiment

EXP = "ntk/fine-grained"


def test_relu_gram_matches_monte_carlo_over_w():
    # H^inf(x, x') = E_w[x.x' 1{w.x >= 0, w.x' >= 0}], w ~ N(0, I): a direct Monte Carlo estimate
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    w = torch.randn(400_000, 3, generator=g, dtype=torch.float64)
    s = (x @ w.T >= 0).to(torch.float64)
    mc = (x @ x.T) * (s @ s.T) / len(w)
    H = relu_gram(x, x)
    assert torch.allclose(H.diagonal(), torch.full((5,), 0.5, dtype=torch.float64))
    assert (H - mc).abs().max() < 5 * 0.5 / math.sqrt(len(w))  # 5 standard errors of a Bernoulli mean, |x.x'| <= 1
    assert torch.allclose(relu_gram(x[:2], x), H[:2], atol=1e-15)


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"loss_curve_error", "true_label_top_fraction", "top_fraction_ratio", "training_speed",
                                                    "complexity_monotone", "complexity_tracks_test_error", "hinf_vs_fc_kernels", "hinf_vs_monte_carlo"}
    z = np.load(r.run_dir / "artifacts" / "data.npz")
    n = len(z["y_true"])
    assert z["h_inf"].shape == (n, n) and z["x_train"].shape == (n, 64)
    assert z["loss_net_true"].shape == z["loss_pred_random"].shape == (11,)
    # the artifact rechecks the prediction: 1/2 sum_i (1 - eta lambda_i)^(2k) (v_i^T y)^2 at k = 0 is 1/2 ||y||^2 (u(0) = 0 for the symmetric init)
    assert z["loss_pred_true"][0] == pytest.approx(0.5 * n) and z["loss_net_true"][0] == pytest.approx(0.5 * n)
    p = torch.load(r.run_dir / "artifacts" / "params.pt")
    assert p["W_init"].shape == p["W_final_true"].shape == (256, 64)
    c = {c["id"]: c for c in r.result["claims"]}
    assert c["hinf_vs_fc_kernels"]["holds"]


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=1, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_random_labels_are_not_in_the_top_eigenspace(runs_dir):
    # the "true" labels replaced by random signs: no longer concentrated on the top eigenvectors, and no faster to fit
    r = run_experiment(EXP, preset="quick", overrides={"label_corruption": 1.0}, seed=1, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    for key in ("true_label_top_fraction", "top_fraction_ratio", "training_speed"):
        assert not c[key]["holds"], (key, c[key]["measured"])


def test_config_rejects_bad_values():
    from dltheory.experiments.ntk.fine_grained import FineGrained

    with pytest.raises(ValueError, match="two different classes"):
        FineGrained.Config(classes=(1, 1))
    with pytest.raises(ValueError, match="even"):
        FineGrained.Config(width=101)
    with pytest.raises(ValueError, match="strictly increasing"):
        FineGrained.Config(corruptions=[0.0, 0.5, 0.5])
