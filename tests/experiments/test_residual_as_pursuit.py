"""sparse-coding/residual-as-pursuit: a tiny run, the claims on a small instance, the untied negative control."""

import numpy as np

from dltheory.runner import run_experiment

EXP = "sparse-coding/residual-as-pursuit"
IDS = {"tied_block_is_ista_step", "unrolled_obeys_ista_bound", "unrolled_reconstruction_converges", "lasso_solution_is_fixed_point", "dilated_conv_is_stuffed_filter", "lasso_reference_kkt"}


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == IDS
    z = np.load(r.run_dir / "artifacts" / "pursuit.npz")
    assert z["stuffed_filters"].shape == (4, 1, 7) and z["network_codes"].shape == (2, 4, 32) and z["objective"].shape == (50, 2)
    assert z["reconstruction_error_sq"].shape == (50, 2)


SMALL = {"num_filters": 2, "filter_length": 6, "dilations": [1, 2], "length": 64, "signals": 3, "blocks": 400}


def test_small_instance_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides=SMALL, seed=4, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_untied_weights_are_no_pursuit(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides=SMALL | {"tied": False}, seed=4, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["lasso_solution_is_fixed_point"]["holds"] and not c["tied_block_is_ista_step"]["holds"]
    assert not c["unrolled_obeys_ista_bound"]["holds"] and not c["unrolled_reconstruction_converges"]["holds"]
    assert c["dilated_conv_is_stuffed_filter"]["holds"]
