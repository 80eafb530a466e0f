"""expressivity/linear-regions: a tiny run, the claims on a small instance, the sawtooth negative control."""

import numpy as np

from dltheory.runner import run_experiment

EXP = "expressivity/linear-regions"


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"one_layer_matches_zaslavsky", "counts_below_serra_bound", "regions_polynomial_in_neurons", "grid_agrees_with_forward_pass"}
    z = np.load(r.run_dir / "artifacts" / "networks.npz")
    assert z["depth2_layer1_W"].shape == (4, 4) and list(z["depths"]) == [1, 2]


SMALL = {"width": 6, "depths": [1, 2, 3, 4], "nets": 2, "zaslavsky_widths": [6, 15], "grid": 100}


def test_small_instance_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides=SMALL, seed=2, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_sawtooth_grows_exponentially_in_depth(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides=SMALL | {"construction": "sawtooth"}, seed=2, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["regions_polynomial_in_neurons"]["holds"] and c["regions_polynomial_in_neurons"]["measured"] > 2.5
    assert c["counts_below_serra_bound"]["holds"] and c["grid_agrees_with_forward_pass"]["holds"]
    assert r.result["metrics"]["mean_regions_depth4"] == 256
