"""generalization/random-labels: label corruption, a tiny run, the claims on a small instance, the narrow-network negative control."""

import numpy as np
import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.experiments.generalization.random_labels import corrupt_labels
from dltheory.experiments.registry import build_config, get
from dltheory.runner import run_experiment

EXP = "generalization/random-labels"


def test_corrupt_labels_replaces_a_fraction_by_uniform_classes():
    y = torch.zeros(20000, dtype=torch.long)
    z = corrupt_labels(y, 0.5, 10, torch.Generator().manual_seed(0))
    # a label survives with probability 1 - p + p/10 = 0.55; the others are uniform over the 9 other classes
    assert abs(float((z == 0).float().mean()) - 0.55) < 0.015
    counts = torch.bincount(z[z != 0], minlength=10)[1:].double()
    assert float(counts.std() / counts.mean()) < 0.06
    assert torch.equal(corrupt_labels(y, 0.0, 10, torch.Generator()), y)


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"fits_random_labels", "random_labels_fit_slower", "test_at_chance",
                                                     "test_accuracy_falls_with_corruption", "partial_corruption_interpolated"}
    z = np.load(r.run_dir / "artifacts" / "labels_and_params.npz")
    assert z["labels_p1"].shape == (40,) and z["params_p0_linear1_weight"].shape == (64, 64)


SMALL = {"num_train": 150, "hidden": [256]}


def test_small_instance_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides=SMALL, seed=2, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_a_narrow_network_cannot_memorize(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides=SMALL | {"hidden": [4], "max_steps": 800, "corruptions": [0.0, 1.0]}, seed=2, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["fits_random_labels"]["holds"] and c["fits_random_labels"]["measured"] < 0.7


def test_negative_control_half_true_labels_are_not_at_chance(runs_dir):
    """At p = 0.5 half the labels are true: test accuracy stays far above chance, and the t-test over label draws rejects."""
    r = run_experiment(EXP, preset="quick", overrides=SMALL | {"corruptions": [0.0, 0.5]}, seed=2, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["test_at_chance"]["holds"]
    assert r.result["metrics"]["chance_deviation_mean"] > 0.2


def test_corruptions_must_include_zero():
    with pytest.raises(ConfigError, match="corruptions"):
        build_config(get(EXP), "quick", {"corruptions": [0.5, 1.0]})
