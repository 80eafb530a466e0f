"""representations/cka-correspondence: the identification statistic, the numpy CKA oracle, a tiny run, the untrained negative control."""

import numpy as np
import pytest
import torch

from dltheory.experiments.representations.cka_correspondence import (
    identification_accuracy,
    numpy_linear_cka,
)
from dltheory.probes.similarity import cka
from dltheory.runner import run_experiment

EXP = "representations/cka-correspondence"


def test_identification_accuracy_counts_ties_fractionally():
    assert identification_accuracy(np.eye(4)) == 1.0
    assert identification_accuracy(np.ones((4, 4))) == pytest.approx(0.25)  # a constant measure: chance
    S = np.array([[1.0, 0.5], [0.9, 0.8]])  # row 1 picks layer 0
    assert identification_accuracy(S) == 0.5
    with pytest.raises(ValueError, match="square"):
        identification_accuracy(np.ones((2, 3)))


def test_numpy_oracle_agrees_with_the_library():
    g = np.random.default_rng(0)
    X, Y = g.standard_normal((30, 7)), g.standard_normal((30, 12))
    assert abs(numpy_linear_cka(X, Y) - cka(torch.tensor(X), torch.tensor(Y))) < 1e-12


def test_tiny_run_records_claims_checks_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    c = {c["id"]: c for c in r.result["claims"]}
    assert {"linear_cka_identifies_layers", "cka_beats_cca_family"} <= set(c)
    assert all(v["holds"] for v in c.values() if v.get("kind") == "check")
    z = np.load(r.run_dir / "artifacts" / "activations_and_params.npz")
    assert z["acts_net1_act3"].shape == (80, 32) and z["sim_linear_cka_net0_net1"].shape == (3, 3)


def test_negative_control_untrained_networks_are_not_identified(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides={"steps": 0, "width": 128, "num_eval": 300}, seed=1, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["linear_cka_identifies_layers"]["holds"] and c["linear_cka_identifies_layers"]["measured"] < 0.6
