"""ntk/linearized-dynamics: a tiny run, the claims on the quick preset, the narrow-net / near-critical-step negative control."""

import numpy as np
import torch

from dltheory.runner import run_experiment

EXP = "ntk/linearized-dynamics"


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"gap_slope", "loss_curve_error", "trained", "closed_form_equals_linearized"}
    z = np.load(r.run_dir / "artifacts" / "data.npz")
    assert z["x_train"].shape == (10, 64) and z["x_test"].shape == (5, 64)
    assert z["out_net_m256"].shape == z["out_closed_m256"].shape == z["out_lin_m64"].shape
    p = torch.load(r.run_dir / "artifacts" / "params_widest.pt")
    assert p["final"]["linear1.weight"].shape == (256, 64)
    # the check is exact in float64 even at this size
    c = {c["id"]: c for c in r.result["claims"]}
    assert c["closed_form_equals_linearized"]["holds"]


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=1, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_narrow_nets_near_critical_step_leave_the_linearization(runs_dir):
    # m = 4 and 8 with a step at 0.95 of 2 / lambda_max: the kernel moves by O(1) and the net leaves its linear model
    r = run_experiment(EXP, preset="quick", overrides={"widths": [4, 8], "lr_scale": 0.95}, seed=1, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["loss_curve_error"]["holds"] and c["loss_curve_error"]["measured"] > 0.5
    assert c["closed_form_equals_linearized"]["holds"]  # the closed form still describes the linear model exactly
