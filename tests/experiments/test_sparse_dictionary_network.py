"""sparse-coding/sparse-dictionary-network: a tiny run through the runner, config errors, the quick claims, and the clean-input negative control."""

import numpy as np
import pytest

from dltheory.core.errors import ConfigError
from dltheory.experiments.registry import build_config, get
from dltheory.runner import run_experiment

EXP = "sparse-coding/sparse-dictionary-network"
IDS = {"comparable_clean_accuracy", "larger_lambda_is_robust_to_noise", "csc_layer_is_the_lasso"}


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == IDS
    z = np.load(r.run_dir / "artifacts" / "data_and_params.npz")
    assert z["correct_csc_test_noise_0.3"].shape == (1, 2, 1, 1497) and z["correct_csc_val_noise_0.3"].shape == (1, 2, 1, 50)
    assert z["correct_conv_test_noise_0"].shape == (1, 1, 1497)
    assert z["csc_0_conv1_weight"].shape == (4, 1, 3, 3) and z["check_codes_layer"].shape == (1, 4, 8, 8)
    c = {c["id"]: c for c in r.result["claims"]}
    assert c["csc_layer_is_the_lasso"]["holds"] and c["csc_layer_is_the_lasso"]["kind"] == "check"
    assert (r.run_dir / "figures" / "robustness.png").exists()


def test_config_errors():
    with pytest.raises(ConfigError, match="lam_factors"):
        build_config(get(EXP), "quick", {"lam_factors": [2, 4]})
    with pytest.raises(ConfigError, match="num_val"):
        build_config(get(EXP), "quick", {"num_train": 100, "num_val": 95})
    with pytest.raises(ConfigError, match="kernel_size"):
        build_config(get(EXP), "quick", {"kernel_size": 9})


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=0, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_clean_inputs_larger_lambda_does_not_help(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides={"noise": 0.0}, seed=0, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["larger_lambda_is_robust_to_noise"]["holds"]
    assert c["comparable_clean_accuracy"]["holds"] and c["csc_layer_is_the_lasso"]["holds"]
