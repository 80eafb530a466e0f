"""intro/residual-trainability: the residual MLP against a hand-written forward pass, a tiny run, the claims on a small instance, the no-shortcut negative control."""

import numpy as np
import pytest
import torch

from dltheory.models.mlp import ResidualMLP
from dltheory.runner import run_experiment

EXP = "intro/residual-trainability"


@pytest.mark.parametrize("shortcuts", [True, False])
def test_residual_mlp_forward_by_hand(shortcuts):
    net = ResidualMLP(5, 7, 3, blocks=3, shortcuts=shortcuts, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.randn(4, 5, dtype=torch.float64)
    h = torch.relu(x @ net.input.weight.T)
    for u, v in zip(net.branch_in, net.branch_out, strict=True):
        z = torch.relu(h @ u.weight.T) @ v.weight.T
        h = h + z / 3**0.5 if shortcuts else torch.relu(z)
    out = torch.relu(h) @ net.output.weight.T if shortcuts else h @ net.output.weight.T
    torch.testing.assert_close(net(x), out)
    assert sum(p.numel() for p in net.parameters()) == 5 * 7 + 7 + 3 * 2 * (49 + 7) + 7 * 3 + 3
    w = net.branch_in[0].weight.detach()
    assert abs(float(w.var()) - 2 / 7) < 0.25 and float(net.branch_in[0].bias.detach().abs().max()) == 0  # He-normal, zero bias


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"plain_degrades_with_depth", "residual_does_not_degrade", "same_parameter_count"}
    z = np.load(r.run_dir / "artifacts" / "data_and_params.npz")
    assert z["x_train"].shape == (50, 64) and z["residual_4layers_branch_in_1_weight"].shape == (8, 8)
    measured = {c["id"]: c["measured"] for c in r.result["claims"]}
    for kind, claim in (("plain", "plain_degrades_with_depth"), ("residual", "residual_does_not_degrade")):  # recomputed from the exported curves
        (s0, v0), (s1, v1) = z[f"curve_{kind}_2layers"], z[f"curve_{kind}_4layers"]
        assert (s0 == s1).all()
        assert measured[claim] == pytest.approx(float(np.mean(v1 > v0)), abs=1e-12)


SMALL = {"num_train": 200, "blocks": [1, 12], "steps": 200}


def test_small_instance_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides=SMALL, seed=3, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_without_shortcuts_depth_degrades(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides=SMALL | {"shortcuts": False}, seed=3, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["residual_does_not_degrade"]["holds"] and c["residual_does_not_degrade"]["measured"] > 0.8  # behind at nearly every step


def test_a_diverging_training_is_recorded_not_an_error(runs_dir):
    """A step size that blows every training up: the run records each divergence (step, log line) and stays a
    run with claims (compared over the steps reached), not an error."""
    r = run_experiment(EXP, preset="tiny", overrides={"lr": 10.0}, runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    diverged = {k: v for k, v in r.result["metrics"].items() if "diverged_at_step" in k}
    assert diverged and all(isinstance(v, (int, float)) and v >= 0 for v in diverged.values())
    assert "DIVERGED" in (r.run_dir / "log.txt").read_text()

