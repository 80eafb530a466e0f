"""landscape/filter-normalization: the rescaling helper, the statistic, a tiny run and the negative control."""

import numpy as np
import pytest
import torch

from dltheory.experiments.landscape import filter_normalization as fn
from dltheory.models.mlp import mlp
from dltheory.runner import run_experiment


def test_rescale_layers_keeps_the_function_and_scales_the_filters():
    net = mlp([6, 5, 4, 3], activation="relu", generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = {k: v.detach() for k, v in net.named_parameters()}
    q = fn.rescale_layers(p, 7.0)
    x = torch.randn(20, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    f = torch.func.functional_call(net, p, (x,))
    g = torch.func.functional_call(net, q, (x,))
    torch.testing.assert_close(g, f, rtol=1e-12, atol=1e-12)
    # independent reference: the relu homogeneity written out by hand
    h = torch.relu(x @ (7 * p["linear1.weight"]).T + 7 * p["linear1.bias"])
    h = torch.relu(h @ (p["linear2.weight"] / 7).T + p["linear2.bias"])
    torch.testing.assert_close(h @ p["linear3.weight"].T + p["linear3.bias"], f, rtol=1e-12, atol=1e-12)
    assert torch.equal(q["linear3.weight"], p["linear3.weight"])


def test_relative_discrepancy():
    f = np.array([1.0, 2.0, 3.0])
    assert fn.relative_discrepancy(f, f) == 0.0
    assert fn.relative_discrepancy(f, f + np.array([0.0, 0.5, 0.0])) == pytest.approx(0.25)
    assert fn.relative_discrepancy(np.ones(3), np.ones(3)) == float("inf")


def test_tiny_run_has_every_claim(runs_dir):
    res = run_experiment("landscape/filter-normalization", preset="tiny", runs_dir=runs_dir)
    assert res.status in ("ok", "failed"), res.result.get("error")
    kinds = {c["id"]: c["kind"] for c in res.result["claims"]}
    assert kinds == {"same_function": "check", "line_invariance": "claim", "plane_invariance": "claim"}
    data = np.load(res.run_dir / "artifacts" / "data_params_landscapes.npz")
    assert "final_linear1.weight" in data and "plane_filter_resc" in data


@pytest.mark.slow
def test_negative_control_raw_gaussian_directions(runs_dir):
    """Raw (un-normalized) Gaussian directions: the plots of the two parametrizations differ, the claim fails;
    with scale 1 (no rescaling) the same statistic is exactly 0 and the claim holds."""
    small = {"num_points": 100, "hidden": [8, 8], "max_steps": 30, "line_points": 11, "plane_points": 3}
    neg = run_experiment("landscape/filter-normalization", preset="quick", seed=3, runs_dir=runs_dir, overrides={**small, "direction": "gaussian"})
    c = {c["id"]: c for c in neg.result["claims"]}
    assert not c["line_invariance"]["holds"] and c["line_invariance"]["measured"] > 1e-2
    pos = run_experiment("landscape/filter-normalization", preset="quick", seed=3, runs_dir=runs_dir, overrides={**small, "direction": "filter"})
    assert {c["id"]: c["holds"] for c in pos.result["claims"]} == {"same_function": True, "line_invariance": True, "plane_invariance": True}
    same = run_experiment("landscape/filter-normalization", preset="quick", seed=3, runs_dir=runs_dir,
                          overrides={**small, "direction": "gaussian", "scale": 1.0})
    assert {c["id"]: c["holds"] for c in same.result["claims"]}["line_invariance"]
