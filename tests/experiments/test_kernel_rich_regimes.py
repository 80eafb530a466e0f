"""implicit-bias/kernel-rich-regimes: the adaptive-step GD, the data, and a small run against the Q_alpha oracle."""

import numpy as np
import pytest
import torch

from dltheory.core.rng import torch_generator
from dltheory.data.synthetic import sparse_regression
from dltheory.experiments.implicit_bias import kernel_rich_regimes as krr
from dltheory.oracles.interpolation import q_alpha_interpolant
from dltheory.runner import run_experiment


def test_relative_step_gd_caps_the_relative_change():
    opt = krr.relative_step_gd(10.0, 0.01)
    params = {"w": torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64)}
    grads = {"w": torch.tensor([100.0, 1.0, -3.0], dtype=torch.float64)}
    new, _ = opt.update(params, grads, None, 0)
    rel = ((new["w"] - params["w"]) / params["w"]).abs()
    assert float(rel.max()) == pytest.approx(0.01, rel=1e-12)  # the fastest coordinate moves by exactly eps
    small = {"w": torch.tensor([1e-6, 1e-6, 1e-6], dtype=torch.float64)}
    new, _ = opt.update(params, small, None, 0)  # tiny gradients: the plain step lr_max
    torch.testing.assert_close(new["w"], params["w"] - 10.0 * small["w"])


def test_sparse_regression_shapes_and_sparsity():
    X, y, beta = sparse_regression(5, 12, 3, generator=torch_generator(0, "t"))
    assert X.shape == (5, 12) and y.shape == (5,) and int((beta != 0).sum()) == 3
    assert float(torch.linalg.norm(beta)) == pytest.approx(1.0)
    torch.testing.assert_close(y, X @ beta)


@pytest.mark.parametrize("alpha", [0.1, 2.0])
def test_gd_limit_matches_q_alpha_oracle(alpha):
    # GD on the diagonal net, run to convergence, lands on argmin Q_alpha (Woodworth et al., Thm 1)
    X, y, _ = sparse_regression(4, 8, 2, generator=torch_generator(1, "t"))
    p0 = {"w_plus": torch.full((8,), alpha, dtype=torch.float64), "w_minus": torch.full((8,), alpha, dtype=torch.float64)}

    def loss(p, batch):
        r = X @ (p["w_plus"] ** 2 - p["w_minus"] ** 2) - y
        return 0.5 * (r @ r) / 4

    ref = q_alpha_interpolant(X.numpy(), y.numpy(), alpha).beta
    lam = float(torch.linalg.eigvalsh(X @ X.T / 4)[-1])
    lr = 1.0 / (4 * lam * (np.abs(ref).max() + 2 * alpha**2))  # 1 / (a bound on the Hessian at the limit)
    res = krr.train(loss, p0, steps=5000, optimizer=krr.relative_step_gd(lr, 1e-3), progress=False)
    beta = (res.params["w_plus"] ** 2 - res.params["w_minus"] ** 2).numpy()
    assert np.linalg.norm(beta - ref) / np.linalg.norm(ref) < 1e-3


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("implicit-bias/kernel-rich-regimes", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    ids = {c["id"] for c in r.result["claims"]}
    assert ids == {"limit_is_q_alpha", "small_alpha_is_l1", "large_alpha_is_l2", "rich_recovers_sparse_truth", "kernel_test_error"}
    z = np.load(r.run_dir / "artifacts" / "data_params_oracles.npz")
    assert z["beta_gd"].shape == z["beta_q_alpha"].shape == (3, 20)
    np.testing.assert_allclose(z["beta_gd"], z["w_plus"] ** 2 - z["w_minus"] ** 2)


def test_rejects_non_underdetermined_config(runs_dir):
    r = run_experiment("implicit-bias/kernel-rich-regimes", preset="tiny", overrides={"n": 30, "d": 20}, runs_dir=runs_dir)
    assert r.status == "error" and "need k < n < d" in r.result["error"]


def test_negative_control_large_alpha_is_not_l1(runs_dir):
    """Kernel regime: when the smallest init scale is large, GD's limit is near min-l2, not min-l1 (Woodworth et al. 2020, Thm 1)."""
    r = run_experiment("implicit-bias/kernel-rich-regimes", preset="tiny", seed=4, overrides={"alphas": [1.0, 10.0]}, runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["small_alpha_is_l1"]["holds"] and c["small_alpha_is_l1"]["measured"] > 0.2
    assert c["limit_is_q_alpha"]["holds"]  # GD still reaches argmin Q_alpha: only the regime changed


def test_stacked_relative_step_gd_equals_separate_runs():
    """Rows of (K, d) parameters with per-row lr_max follow exactly the scalar rule run on each row; inactive rows stay put."""
    g = torch.Generator().manual_seed(0)
    P = {"w": torch.rand(3, 5, generator=g, dtype=torch.float64) + 0.5}
    G = {"w": torch.randn(3, 5, generator=g, dtype=torch.float64)}
    lr_max = torch.tensor([10.0, 1e-3, 0.5], dtype=torch.float64)
    active = torch.tensor([True, True, False])
    new, _ = krr.relative_step_gd(lr_max, 0.01, active).update(P, G, None, 0)
    for i in range(2):
        ref, _ = krr.relative_step_gd(float(lr_max[i]), 0.01).update({"w": P["w"][i]}, {"w": G["w"][i]}, None, 0)
        torch.testing.assert_close(new["w"][i], ref["w"], rtol=1e-15, atol=0)
    torch.testing.assert_close(new["w"][2], P["w"][2], rtol=0, atol=0)
