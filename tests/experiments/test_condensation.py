"""dropout/condensation: a tiny run, the claims on the quick preset, the standard-init negative control."""

import numpy as np

from dltheory.runner import run_experiment

EXP = "dropout/condensation"
CLAIMS = {"tanh_line_mass", "tanh_directions", "tanh_predicted_line", "xtanh_directions", "standard_no_condensation", "clusters_match_sklearn"}


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == CLAIMS
    z = np.load(r.run_dir / "artifacts" / "condensation.npz")
    assert z["tanh_small_u1"].shape == (20, 2) and z["xtanh_standard_a"].shape == (20,)
    assert z["inputs"].shape == (10, 1)


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=1, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_standard_init_does_not_condense(runs_dir):
    # gamma = 0.5 (the usual 1/sqrt(m) scale) in the main run: the loss falls before the weights move, no single line
    r = run_experiment(EXP, preset="quick", overrides={"init_gamma": 0.5}, seed=1, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["tanh_line_mass"]["holds"] and c["tanh_line_mass"]["measured"] < 0.5
    assert not c["tanh_directions"]["holds"]
