"""landscape/rebasin-renormalization: helpers against closed forms, a tiny run, the negative control."""

import numpy as np
import pytest
import torch
from torch import nn

from dltheory.experiments.landscape import git_rebasin as gr
from dltheory.experiments.landscape import rebasin_renormalization as rr
from dltheory.runner import run_experiment

ID = "landscape/rebasin-renormalization"


def _claims(res):
    return {c["id"]: c for c in res.result["claims"]}


def test_gap_max_is_the_largest_gap_above_the_chord():
    ts = np.linspace(0, 1, 5)
    assert gr.gap_max(ts, np.array([1.0, 2.0, 3.5, 2.0, 0.0])) == pytest.approx(3.5 - 0.5)
    assert gr.gap_max(ts, np.array([1.0, 0.5, 0.25, 0.1, 0.0])) == 0.0  # below the chord: no barrier


def test_std_ratios_of_a_linear_midpoint_follow_the_correlation():
    # one hidden layer, no bias: z_A = x w_a, z_B = x w_b; the midpoint computes (z_A + z_B)/2 exactly
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 2, generator=g, dtype=torch.float64)

    def net(w):
        m = nn.Sequential(nn.Linear(2, 1, bias=False), nn.ReLU(), nn.Linear(1, 1, bias=False)).double()
        with torch.no_grad():
            m[0].weight.copy_(torch.tensor([w], dtype=torch.float64))
            m[2].weight.fill_(1.0)
        return m

    a, b, mid = net([1.0, 0.0]), net([0.0, 1.0]), net([0.5, 0.5])  # orthogonal units: rho ~ 0, ratio ~ 1/sqrt(2)
    assert rr.std_ratios(mid, a, b, x, 0.5) == [pytest.approx(2 ** -0.5, rel=0.02)]
    assert rr.std_ratios(a, a, a, x, 0.5) == [pytest.approx(1.0, rel=1e-12)]  # rho = 1: no collapse


def test_tiny_run_has_every_claim(runs_dir):
    res = run_experiment(ID, preset="tiny", seed=0, runs_dir=runs_dir)
    assert res.status in ("ok", "failed"), res.result.get("error")
    kinds = {k: c["kind"] for k, c in _claims(res).items()}
    assert kinds == {"collapse_every_layer": "claim", "collapse_compounds": "claim", "repair_lowers_barrier": "claim",
                     "aligned_repaired_near_zero": "claim",
                     "first_layer_closed_form": "check", "repair_restores_std": "check"}
    assert _claims(res)["first_layer_closed_form"]["holds"] and _claims(res)["repair_restores_std"]["holds"]


def test_negative_control_repair_without_alignment_keeps_a_barrier(tmp_path):
    """Without alignment the units of A and B do not correspond; REPAIR restores their statistics but the
    barrier stays above the near-zero scale. With alignment (same seed and size) it is near zero."""
    small = {"hidden": [128, 128, 128], "num_train": 800, "epochs": 30, "grid": 11}
    pos = _claims(run_experiment(ID, preset="quick", seed=1001, overrides=small, runs_dir=tmp_path))
    neg = _claims(run_experiment(ID, preset="quick", seed=1001, overrides={**small, "align": False}, runs_dir=tmp_path))
    assert pos["aligned_repaired_near_zero"]["holds"]
    assert not neg["aligned_repaired_near_zero"]["holds"] and neg["aligned_repaired_near_zero"]["measured"] > rr.NEAR_ZERO
