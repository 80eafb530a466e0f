"""intro/convolution-prior: the stacked forwards against the library modules, the equivariance gap, the interpolation, a tiny run, the claims, the scrambled-pixel negative control."""

import numpy as np
import pytest
import torch

from dltheory.experiments.intro import convolution_prior as cp
from dltheory.models.mlp import mlp
from dltheory.runner import run_experiment

EXP = "intro/convolution-prior"


def test_stacked_forwards_match_modules():
    x = torch.rand(3, 5, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cnns = [cp.cnn_module(8, 4, torch.Generator().manual_seed(r), torch.float64) for r in range(3)]
    mlps = [mlp([64, 7, 10], generator=torch.Generator().manual_seed(r), dtype=torch.float64) for r in range(3)]
    with torch.no_grad():
        got_c = cp.stacked_cnn(cp.stack_params(cnns), cp.pool_patches(x))
        got_m = cp.stacked_mlp(cp.stack_params(mlps), x.flatten(2))
        for r in range(3):
            torch.testing.assert_close(got_c[r], cnns[r](x[r][:, None]))
            torch.testing.assert_close(got_m[r], mlps[r](x[r]))


def test_matched_width_and_equivariance():
    assert cp.matched_width(64, 2730) == 36  # 75 * 36 + 10 = 2710
    conv = cp.cnn_module(8, 3, torch.Generator().manual_seed(1), torch.float64).conv1
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    assert cp.equivariance_gap(conv, x, 1, 2) < 1e-13
    assert float((cp.shift(x, 1, 2)[..., 1:, 2:] - x[..., :-1, :-2]).abs().max()) == 0


def test_steps_to_reach_interpolates_in_log_n():
    sizes = np.array([10.0, 100.0])
    assert cp.steps_to_reach(sizes, np.array([0.4, 0.2]), 0.3) == pytest.approx(np.sqrt(1000))
    assert cp.steps_to_reach(sizes, np.array([0.4, 0.2]), 0.5) == 10 and cp.steps_to_reach(sizes, np.array([0.4, 0.2]), 0.1) == np.inf


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"cnn_below_mlp", "sample_ratio", "conv_translation_equivariance", "comparable_parameter_counts", "stacked_matches_modules"}
    z = np.load(r.run_dir / "artifacts" / "errors_and_params.npz")
    assert z["cnn_test_error"].shape == (2, 2) and z["cnn_n10_conv1_weight"].shape == (2, 4, 1, 3, 3)


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=1, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_scrambled_pixels(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides={"permute_pixels": True}, seed=1, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["cnn_below_mlp"]["holds"]
    assert c["conv_translation_equivariance"]["holds"] and c["comparable_parameter_counts"]["holds"]


def test_mnist_from_data_root(runs_dir, tmp_path):
    from fake_data import fake_mnist

    fake_mnist(tmp_path)
    r = run_experiment(EXP, preset="tiny", overrides={"dataset": "mnist", "data_root": str(tmp_path), "num_train": 40, "sizes": [10, 20]}, runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert r.result["metrics"]["cnn_params"] == 4 * 10 + 10 * 4 * 14 * 14 + 10
    assert {c["id"]: c for c in r.result["claims"]}["stacked_matches_modules"]["holds"]
