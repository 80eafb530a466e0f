"""dropout/early-stopping: the target, the batched tanh nets, the log-log curvature, a tiny run, the negative control (plenty of data)."""

import math

import numpy as np
import pytest
import torch

from dltheory.experiments.dropout import early_stopping as es
from dltheory.runner import run_experiment


def test_target_is_sin_x_over_3_on_0_20():
    x = torch.linspace(0, 20, 11, dtype=torch.float64)
    torch.testing.assert_close(es.target(x / 10 - 1), torch.sin(x / 3))


def test_tanh_nets_equal_a_loop():
    g = torch.Generator().manual_seed(0)
    R, w = 3, 5
    ps = {f"W1_{w}": torch.randn(R, 1, w, generator=g, dtype=torch.float64), f"b1_{w}": torch.randn(R, 1, w, generator=g, dtype=torch.float64),
          f"W2_{w}": torch.randn(R, w, 1, generator=g, dtype=torch.float64), f"b2_{w}": torch.randn(R, 1, 1, generator=g, dtype=torch.float64)}
    t = torch.rand(R, 7, 1, generator=g, dtype=torch.float64)
    out = es.tanh_nets(ps, w, t)
    for r in range(R):
        for i in range(7):
            ref = sum(ps[f"W2_{w}"][r, k, 0] * math.tanh(ps[f"W1_{w}"][r, 0, k] * t[r, i, 0] + ps[f"b1_{w}"][r, 0, k]) for k in range(w)) + ps[f"b2_{w}"][r, 0, 0]
            assert float(out[r, i, 0]) == pytest.approx(float(ref), abs=1e-12)


def test_log_log_curvature_of_an_exact_parabola():
    steps = np.geomspace(1, 1000, 40)
    u = np.log(steps)
    values = np.exp(0.3 * (u - np.log(30)) ** 2 - 2.0)  # minimum at step 30, curvature 0.3
    c, k = es.log_log_curvature(steps, values)
    assert c == pytest.approx(0.3, rel=1e-9) and abs(steps[k] - 30) < 5
    c, _ = es.log_log_curvature(steps, np.exp(-u))  # decreasing to the end: one-sided window, no valley
    assert c == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(es.log_log_curvature(np.array([0.0, 1.0, 100.0]), np.array([1.0, 0.5, 2.0]))[0])


def test_config_needs_the_compared_widths():
    from dltheory.experiments.registry import build_config, get

    with pytest.raises(ValueError, match="over_width"):
        build_config(get("dropout/early-stopping"), "quick", {"over_width": 32})


def _claims(r):
    return {c["id"]: c for c in r.result["claims"]}


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("dropout/early-stopping", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert set(_claims(r)) == {"u_shaped_validation", "u_curvature", "early_stopped_matches_right_size", "training_on_hurts", "batched_forward_matches_mlp"}
    assert _claims(r)["batched_forward_matches_mlp"]["holds"]
    z = np.load(r.run_dir / "artifacts" / "data_and_params.npz")
    assert z["t_train"].shape == (2, 20, 1) and z["val_mse_w16"].shape[0] == 2 and z["W1_16"].shape == (2, 1, 16)
    np.testing.assert_allclose(z["f_test"], np.sin(10 * (z["t_test"] + 1) / 3))


def test_negative_control_plenty_of_data_no_u_shape(runs_dir):
    # 2000 training points: the noise averages out, the oversized net's validation curve falls to the end: no U
    r = run_experiment("dropout/early-stopping", preset="quick", overrides={"num_train": 2000, "pairs": 4}, runs_dir=runs_dir)
    c = _claims(r)
    assert not c["u_shaped_validation"]["holds"] and c["u_shaped_validation"]["measured"] < 1.05
