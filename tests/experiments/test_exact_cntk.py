"""ntk/exact-cntk: a tiny run, the claims on the quick preset, the standard-parameterization negative control."""

import numpy as np

from dltheory.runner import run_experiment

EXP = "ntk/exact-cntk"


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"error_slope", "exact_beats_finite", "exact_accuracy"}
    z = np.load(r.run_dir / "artifacts" / "kernels.npz")
    assert z["exact_ntk"].shape == (60, 60) and z["empirical_ntk_C4"].shape == (4, 4)
    np.testing.assert_allclose(z["exact_ntk"], z["exact_ntk"].T)


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=1, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_standard_parameterization_does_not_converge(runs_dir):
    # PyTorch's default layers: the empirical kernel grows with the channels instead of approaching the exact CNTK
    r = run_experiment(EXP, preset="quick", overrides={"parameterization": "standard"}, seed=1, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["error_slope"]["holds"] and c["error_slope"]["measured"] > 0
