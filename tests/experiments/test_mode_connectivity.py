"""landscape/mode-connectivity: helpers against references, a tiny run, and the negative control (untrained bend)."""

import numpy as np
import pytest
import torch

from dltheory.core import torch_generator
from dltheory.experiments.landscape import mode_connectivity as mc
from dltheory.models.mlp import mlp
from dltheory.runner import run_experiment


def test_gap_is_zero_for_a_linear_profile_and_finds_a_bump():
    ts = np.linspace(0, 1, 11)
    np.testing.assert_allclose(mc.gap(2.0 + 3.0 * ts, ts), 0.0, atol=1e-12)
    g = mc.gap(1.0 + np.sin(np.pi * ts), ts)
    assert g.max() == pytest.approx(1.0) and ts[g.argmax()] == pytest.approx(0.5)


def test_direct_values_match_a_hand_forward():
    net = mlp([4, 5, 3], generator=torch_generator(0, "n"))
    x = torch.randn(7, 4, generator=torch_generator(0, "x"))
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    p = {k: v.detach() for k, v in net.named_parameters()}
    h = torch.relu(x @ p["linear1.weight"].T + p["linear1.bias"]) @ p["linear2.weight"].T + p["linear2.bias"]
    ref = torch.nn.functional.cross_entropy(h, y).item()
    assert mc.direct_values(net, [p], x, y)[0] == pytest.approx(ref, rel=1e-6)


def test_tiny_run_has_every_claim(tmp_path):
    res = run_experiment("landscape/mode-connectivity", preset="tiny", seed=0, runs_dir=tmp_path)
    assert res.status in ("ok", "failed"), res.result.get("error")
    kinds = {c["id"]: c["kind"] for c in res.result["claims"]}
    assert kinds == {"line_barrier": "claim", "bezier_gap": "claim", "polychain_gap": "claim",
                     "line_barrier_oracle": "check", "curve_oracle": "check"}
    data = np.load(res.run_dir / "artifacts" / "data_params_profiles.npz")
    assert data["bezier_train_loss"].shape == (11,) and "a_linear1.weight" in data
    assert {"figures/paths.png", "figures/plane.png"} <= set(res.result["figures"])


@pytest.mark.slow
def test_negative_control_untrained_bend(tmp_path):
    """curve_steps=0: the bend stays at the midpoint, the curve is the line and keeps the barrier."""
    over = {"steps": 300, "plane": 0, "grid": 31}
    neg = run_experiment("landscape/mode-connectivity", preset="quick", seed=1000, overrides={**over, "curve_steps": 0}, runs_dir=tmp_path)
    c = {x["id"]: x for x in neg.result["claims"]}
    assert c["line_barrier"]["holds"]  # the barrier is there ...
    assert not c["bezier_gap"]["holds"] and not c["polychain_gap"]["holds"]  # ... and the untrained curves keep it
    assert c["bezier_gap"]["measured"] > 0.5 * neg.result["metrics"]["line_barrier_value"]
    # the positive setting (trained bends, quick preset) is the 20-seed validation block; not rerun here (CI time)
