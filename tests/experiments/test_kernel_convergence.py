"""ntk/kernel-convergence: a tiny run, the claims on the quick preset, the standard-parameterization negative control."""

import numpy as np

from dltheory.runner import run_experiment

EXP = "ntk/kernel-convergence"


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"init_error_slope", "kernel_change_slope", "trained"}
    z = np.load(r.run_dir / "artifacts" / "kernels.npz")
    assert z["analytic_ntk"].shape == (4, 4) and z["ntk_init_m16"].shape == (4, 4)


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=1, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_standard_parameterization_does_not_converge(runs_dir):
    # PyTorch's default layers: the empirical kernel grows with the width instead of approaching the NTK limit
    r = run_experiment(EXP, preset="quick", overrides={"parameterization": "standard", "steps": 0}, seed=1, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["init_error_slope"]["holds"] and c["init_error_slope"]["measured"] > 0
