"""landscape/permutation-invariance: the monotonicity statistic, config validation, a tiny run, the negative control."""

import pytest

from dltheory.core.errors import ConfigError
from dltheory.experiments.landscape import permutation_invariance as pi
from dltheory.experiments.registry import build_config, get
from dltheory.runner import run_experiment

ID = "landscape/permutation-invariance"


def _claims(res):
    return {c["id"]: c for c in res.result["claims"]}


def test_max_consecutive_ratio():
    assert pi.max_consecutive_ratio([4.0, 2.0, 1.0]) == pytest.approx(0.5)
    assert pi.max_consecutive_ratio([4.0, 1.0, 3.0]) == pytest.approx(3.0)  # a rise anywhere breaks monotonicity
    assert pi.max_consecutive_ratio([0.0, 1.0]) == float("inf")
    with pytest.raises(ValueError, match="at least 2"):
        pi.max_consecutive_ratio([1.0])


def test_widths_must_increase():
    with pytest.raises(ConfigError, match="increasing"):
        build_config(get(ID), "quick", {"widths": [32, 8, 128]})


def test_tiny_run_has_every_claim(runs_dir):
    res = run_experiment(ID, preset="tiny", seed=0, runs_dir=runs_dir)
    assert res.status in ("ok", "failed"), res.result.get("error")
    kinds = {k: c["kind"] for k, c in _claims(res).items()}
    assert kinds == {"naive_decreases": "claim", "matched_decreases": "claim", "matched_near_zero": "claim",
                     "matched_fraction": "claim", "permuted_same_outputs": "check"}
    assert _claims(res)["permuted_same_outputs"]["holds"]


def test_negative_control_no_alignment_leaves_a_barrier_at_the_largest_width(tmp_path):
    small = {"widths": [8, 32, 128], "num_train": 800, "epochs": 15}
    pos = _claims(run_experiment(ID, preset="quick", seed=1001, overrides=small, runs_dir=tmp_path))
    neg = _claims(run_experiment(ID, preset="quick", seed=1001, overrides={**small, "align": False}, runs_dir=tmp_path))
    assert pos["matched_near_zero"]["holds"] and pos["matched_fraction"]["holds"]
    assert not neg["matched_near_zero"]["holds"] and neg["matched_near_zero"]["measured"] > pi.NEAR_ZERO
    assert neg["matched_fraction"]["measured"] == pytest.approx(1.0)
