"""edge-of-stability/sharpness-reduction: the closed forms of the toy loss against autograd and scipy, a tiny run."""

import math

import numpy as np
import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.experiments.edge_of_stability import sharpness_reduction as sr
from dltheory.probes.curvature import dense_hessian
from dltheory.runner import run_experiment


@pytest.mark.parametrize("w", [[0.3, 2.7], [1.3, -0.4], [0.5, 1.5, 2.0], [0.9, 1.1, 0.8, 1.4, 0.7]])
def test_closed_form_hessian_matches_autograd(w):
    H = dense_hessian(sr.product_loss, {"w": torch.tensor(w, dtype=torch.float64)}).numpy()
    np.testing.assert_allclose(sr.hessian_closed_form(np.array(w)), H, atol=1e-12)


def test_two_dim_hessian_is_the_textbook_one():
    u, v = 0.7, 2.1
    expected = np.array([[v * v, 2 * u * v - 1], [2 * u * v - 1, u * u]])
    np.testing.assert_allclose(sr.hessian_closed_form(np.array([u, v])), expected, atol=1e-14)
    on = np.array([u, 1 / u])  # on the manifold: [[v^2, uv], [uv, u^2]], top eigenvalue u^2 + v^2
    assert np.linalg.eigvalsh(sr.hessian_closed_form(on))[-1] == pytest.approx(u * u + 1 / u**2, rel=1e-12)


@pytest.mark.parametrize("w", [[0.3, 2.7], [2.0, 0.9], [0.5, 1.5, 2.0], [1.2, 0.4, 0.9, 1.6]])
def test_flow_projection_matches_scipy_gradient_flow(w):
    w = np.array(w)
    phi = sr.flow_projection(w)
    assert np.prod(phi) == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(phi, sr.flow_limit_numerical(w), rtol=1e-7)
    np.testing.assert_allclose(phi**2 - phi[0] ** 2, w**2 - w[0] ** 2, atol=1e-12)  # conserved differences


def test_manifold_sharpness_two_dim_closed_form_and_minimum():
    u, v = 0.3, 2.7
    assert sr.manifold_sharpness(np.array([u, v])) == pytest.approx(math.sqrt((u * u - v * v) ** 2 + 4), rel=1e-12)
    assert sr.manifold_sharpness(np.ones(3)) == pytest.approx(3.0)
    assert sr.manifold_sharpness(np.array([0.8, 1.0, 1.25])) > 3.0
    with pytest.raises(ValueError, match="`w` must be positive"):
        sr.flow_projection(np.array([1.0, -1.0]))


def test_sqrt_loss_is_the_square_root():
    p = {"w": torch.tensor([0.5, 3.0], dtype=torch.float64)}
    assert float(sr.sqrt_product_loss(p)) == pytest.approx(math.sqrt(float(sr.product_loss(p))))


def test_stationarity_stop_waits_for_the_drift_to_end():
    assert sr.block_steps(0.1) == 100 and sr.block_steps(0.3) == 12  # ceil(1/0.09) = 12, already even
    stop = sr.stationarity_stop(10, 1e-4)
    info = type("Info", (), {})()
    info.params = {"w": torch.tensor([0.5, 2.0], dtype=torch.float64)}
    stop.fn(info)  # first call only records
    info.params = {"w": torch.tensor([0.6, 1.5], dtype=torch.float64)}
    stop.fn(info)  # moved: continue
    with pytest.raises(sr.StopTraining):
        stop.fn(info)  # no change over a block: stop


def test_negative_control_stable_gd_without_normalization_stays_sharp(runs_dir):
    """Without normalization both EoS methods are plain GD with a stable step: no drift, the flattest claims fail."""
    pos = run_experiment("edge-of-stability/sharpness-reduction", preset="quick", runs_dir=runs_dir)
    neg = run_experiment("edge-of-stability/sharpness-reduction", preset="quick", runs_dir=runs_dir, overrides={"normalize": False})
    p = {c["id"]: c for c in pos.result["claims"]}
    n = {c["id"]: c for c in neg.result["claims"]}
    for key in ("ngd_flattest_d2", "sqrt_gd_flattest_d2"):
        assert p[key]["holds"] and p[key]["measured"] < 0.1
        assert not n[key]["holds"] and n[key]["measured"] > 5.0  # lambda_1(Phi(w_0)) - 2 = 5.5: it stays there
    assert n["gd_no_drift_d2"]["holds"]
    assert pos.status == "ok", [(c["id"], c["measured"]) for c in pos.result["claims"] if not c["holds"]]
    m = pos.result["metrics"]
    assert m["d2_method2_final_manifold_sharpness"] > 7 > 2.1 > max(m["d2_method0_final_manifold_sharpness"], m["d2_method1_final_manifold_sharpness"])
    assert m["d2_method2_steps"] < m["d2_method0_steps"] < 20_000  # stable GD is stationary at once; NGD stops once its drift ends
    assert p["oracle_flow_d2"]["kind"] == p["oracle_hessian_d2"]["kind"] == "check" and p["ngd_flattest_d2"]["kind"] == "claim"


def test_tiny_run_records_every_claim(runs_dir):
    res = run_experiment("edge-of-stability/sharpness-reduction", preset="tiny", runs_dir=runs_dir)
    assert {c["id"] for c in res.result["claims"]} == {"ngd_flattest_d2", "sqrt_gd_flattest_d2", "gd_no_drift_d2", "oracle_flow_d2", "oracle_hessian_d2"}


def test_unstable_lr_for_plain_gd_is_refused(runs_dir):
    with pytest.raises(ConfigError, match="plain GD is stable"):
        run_experiment("edge-of-stability/sharpness-reduction", preset="tiny", runs_dir=runs_dir, overrides={"lr": 0.3})
    with pytest.raises(ConfigError, match="lr"):
        run_experiment("edge-of-stability/sharpness-reduction", preset="tiny", runs_dir=runs_dir, overrides={"lr": 0.0})
