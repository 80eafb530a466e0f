"""landscape/linear-mode-connectivity: the fine-grid oracle, a tiny run, and the negative controls (small step; no BatchNorm)."""

import numpy as np
import pytest
import torch

from dltheory.core import functionalize, torch_generator
from dltheory.experiments.landscape import linear_mode_connectivity as lmc
from dltheory.experiments.landscape.git_rebasin import ce_loss, fine_grid_barrier
from dltheory.models.mlp import mlp
from dltheory.probes.connectivity import barrier
from dltheory.runner import run_experiment


def test_fine_grid_oracle_agrees_with_the_probe_on_a_batchnorm_mlp():
    g = torch_generator(0, "x")
    x, y = torch.randn(200, 6, generator=g), torch.randint(0, 3, (200,), generator=g)
    net = mlp([6, 8, 3], bias=[False, True], norm="batch", norm_affine=False, generator=torch_generator(0, "a")).train()
    pa = functionalize(net).params
    pb = functionalize(mlp([6, 8, 3], bias=[False, True], norm="batch", norm_affine=False, generator=torch_generator(0, "b"))).params
    test = (x[100:], y[100:])
    fine, ts, errs = fine_grid_barrier(net, pa, pb, test, n=21, metric="error", bn_x=x[:100])
    probe = barrier(net, ce_loss, test, pa, pb, n=21, refine=False, metric="error", bn="recompute", bn_data=(x[:100],))
    np.testing.assert_allclose(probe.values, errs, atol=1e-12)
    assert probe.value == pytest.approx(fine, abs=1e-6)  # the probe forms the chord in float32


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("landscape/linear-mode-connectivity", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    ids = {c["id"] for c in r.result["claims"]}
    assert ids == {"unstable_at_init", "stable_after_early", "scale_invariance", "fine_grid_k0", "fine_grid_last"}
    z = np.load(r.run_dir / "artifacts" / "data_and_params.npz")
    assert z["error_barriers"].shape == (2, 1) and "k0_copy1_linear1.weight" in z
    assert r.result["metrics"]["effective_step_fall"] > 1  # the norm of a BatchNorm-preceded layer grows under SGD


SMALL = {"spawn_fractions": [0.0, 0.25], "stable_from": 0.25, "pairs": 1, "epochs": 10}


@pytest.mark.parametrize("overrides", [{"lr": 0.1}, {"lr": 0.1, "batchnorm": False}], ids=["small-step", "no-batchnorm"])
def test_negative_control_stable_at_initialization(runs_dir, overrides):
    # Frankle et al.: ResNet-20 at a low step size, and LeNet (no BatchNorm), are stable from k = 0: with an 80x smaller
    # step (the effective step lr / ||W||^2 is small from the start), or a plain MLP, the copies spawned at initialization
    # are linearly connected and the main claim fails
    r = run_experiment("landscape/linear-mode-connectivity", preset="quick", overrides=SMALL | overrides, runs_dir=runs_dir)
    claims = {c["id"]: c for c in r.result["claims"]}
    assert not claims["unstable_at_init"]["holds"] and claims["unstable_at_init"]["measured"] < 0.02
    assert claims["fine_grid_k0"]["holds"]


def test_config_errors():
    cfg = lmc.LinearModeConnectivity.Config
    with pytest.raises(ValueError, match="`spawn_fractions` must include 0"):
        cfg(spawn_fractions=[0.1, 0.5])
    with pytest.raises(ValueError, match="must include a point >= stable_from"):
        cfg(spawn_fractions=[0.0, 0.05], stable_from=0.1)


def test_runs_on_mnist_from_a_data_root(runs_dir, tmp_path):
    # the full-scale route: MNIST read from the user's folder (here a small fake one in the IDX layout), 784 inputs
    from fake_data import fake_mnist

    fake_mnist(tmp_path, n_train=64, n_test=32)
    r = run_experiment("landscape/linear-mode-connectivity", preset="tiny", overrides={"dataset": "mnist", "data_root": str(tmp_path), "num_train": 64,
                                                                                     "batch_size": 16}, runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    z = np.load(r.run_dir / "artifacts" / "data_and_params.npz")
    assert z["x_train"].shape == (64, 784) and z["x_test"].shape == (32, 784) and z["k0_copy0_linear1.weight"].shape == (16, 784)
