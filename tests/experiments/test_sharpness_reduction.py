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


def test_small_run_reduces_sharpness_for_ngd_and_sqrt_gd_only(runs_dir):
    res = run_experiment("edge-of-stability/sharpness-reduction", preset="tiny", runs_dir=runs_dir, overrides={"steps": 1200})
    assert res.status == "ok", [(c["id"], c["measured"]) for c in res.result["claims"] if not c["holds"]]
    m = res.result["metrics"]
    assert m["d2_method2_final_manifold_sharpness"] > 7 > 2.1 > max(m["d2_method0_final_manifold_sharpness"], m["d2_method1_final_manifold_sharpness"])


def test_unstable_lr_for_plain_gd_is_refused(runs_dir):
    with pytest.raises(ConfigError, match="plain GD is stable"):
        run_experiment("edge-of-stability/sharpness-reduction", preset="tiny", runs_dir=runs_dir, overrides={"lr": 0.3})
    with pytest.raises(ConfigError, match="lr"):
        run_experiment("edge-of-stability/sharpness-reduction", preset="tiny", runs_dir=runs_dir, overrides={"lr": 0.0})
