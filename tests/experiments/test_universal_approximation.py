"""intro/universal-approximation: the constructions against their formulas and bounds, the random-feature fit, a tiny run, the jump negative control."""

import numpy as np
import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.experiments.intro import universal_approximation as ua
from dltheory.experiments.registry import build_config, get
from dltheory.runner import run_experiment

X = torch.linspace(0, 1, 4001, dtype=torch.float64)


@pytest.mark.parametrize("m", [1, 3, 8])
def test_step_sum_is_the_staircase_and_exact_on_steps(m):
    f = ua.TARGETS["bump"].fn
    y = ua.forward(ua.step_sum_network(f, m), X)[:, 0].numpy()
    nodes = np.arange(m + 1) / m
    left = np.array([f(nodes[nodes <= x].max()) for x in X.numpy()])  # brute force: value at the largest node <= x
    np.testing.assert_allclose(y, left, atol=1e-14)
    np.testing.assert_allclose(ua.step_sum_oracle(f, m, X.numpy()), left, atol=0)
    # a staircase target with steps on the nodes is reproduced exactly
    stair = lambda x: np.floor(np.asarray(x) * 4 + 1e-12) / 4  # noqa: E731
    np.testing.assert_allclose(ua.forward(ua.step_sum_network(stair, 4), X)[:, 0].numpy(), stair(X.numpy()), atol=1e-14)


@pytest.mark.parametrize("m", [1, 5, 16])
def test_ramp_network_is_the_interpolant_and_exact_on_piecewise_linear(m):
    f = ua.TARGETS["lipschitz"].fn
    y = ua.forward(ua.ramp_network(f, m), X)[:, 0].numpy()
    nodes = np.arange(m + 1) / m
    np.testing.assert_allclose(y, np.interp(X.numpy(), nodes, f(nodes)), atol=1e-13)
    pl = lambda x: np.abs(np.asarray(x) - 0.25) - 0.5 * np.maximum(np.asarray(x) - 0.75, 0)  # noqa: E731  kinks on the nodes of m = 4
    np.testing.assert_allclose(ua.forward(ua.ramp_network(pl, 4), X)[:, 0].numpy(), pl(X.numpy()), atol=1e-14)
    assert ua.ramp_network(f, m)[0].out_features == m  # width m


def test_constructions_meet_their_bounds_and_the_c2_bound_is_attained():
    for name in ("bump", "lipschitz"):
        t = ua.TARGETS[name]
        fx = t.fn(X.numpy())
        for m in (4, 16, 64):
            assert np.abs(ua.forward(ua.step_sum_network(t.fn, m), X)[:, 0].numpy() - fx).max() <= t.lipschitz / m
            assert np.abs(ua.forward(ua.ramp_network(t.fn, m), X)[:, 0].numpy() - fx).max() <= ua.ramp_bound(t, m)
    # the closed-form constants: sup|f'| and sup|f''| of the bump against finite differences on a fine grid
    x = np.linspace(0, 1, 200001)
    d = np.gradient(ua.TARGETS["bump"].fn(x), x)
    assert np.abs(d).max() == pytest.approx(ua.TARGETS["bump"].lipschitz, rel=1e-4)
    assert np.abs(np.gradient(d, x)).max() == pytest.approx(ua.TARGETS["bump"].curvature, rel=1e-3)
    dl = np.gradient(ua.TARGETS["lipschitz"].fn(x), x)
    assert np.abs(dl).max() <= 1 + 1e-9
    # ramps on the bump at m = 128: the error is h^2 |f''(1/2)| / 8 up to O(h^2)
    m = 128
    e = np.abs(ua.forward(ua.ramp_network(ua.TARGETS["bump"].fn, m), X)[:, 0].numpy() - ua.TARGETS["bump"].fn(X.numpy())).max()
    assert 0.97 < e / ua.ramp_bound(ua.TARGETS["bump"], m) <= 1


def test_random_fit_is_least_squares_and_its_net_matches():
    rng = np.random.default_rng(0)
    x = (np.arange(200) + 0.5) / 200
    Y = np.stack([ua.TARGETS[n].fn(x) for n in ("bump", "step")], axis=1)
    fit = ua.random_relu_fit(x, Y, 12, rng)
    assert np.all(np.diff(fit.knots) > 0) and np.all((fit.knots * 12 >= np.arange(12)) & (fit.knots * 12 < np.arange(1, 13)))  # one knot per cell
    net = fit.network()
    pred = ua.forward(net, torch.tensor(x)).numpy()
    A = np.concatenate([np.maximum(fit.signs * (x[:, None] - fit.knots), 0), np.ones((200, 1))], axis=1)
    np.testing.assert_allclose(pred, A @ np.concatenate([fit.weights, fit.biases[None]]), atol=1e-12)
    # normal equations: the residual is orthogonal to every feature
    assert np.abs(A.T @ (Y - pred)).max() < 1e-8
    assert ua.loglog_slope(np.array([2, 4, 8]), np.array([1.0, 0.25, 0.0625])) == pytest.approx(-2)


def test_config_refuses_too_few_training_points_and_repeated_widths():
    with pytest.raises(ConfigError, match="train_points"):
        build_config(get("intro/universal-approximation"), "quick", {"widths": [16, 32, 1024], "train_points": 2048})
    with pytest.raises(ConfigError, match="distinct"):
        build_config(get("intro/universal-approximation"), "quick", {"widths": [16, 16, 32]})


def _claims(r):
    return {c["id"]: c for c in r.result["claims"]}


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("intro/universal-approximation", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    c = _claims(r)
    assert set(c) == {"rate_bump", "rate_lipschitz", "rate_c2_bump", "jump_gap_step", "ramp_bound_tight_bump", "steps_within_modulus_bump", "ramps_within_bound_bump",
                      "steps_within_modulus_lipschitz", "ramps_within_bound_lipschitz", "constructions_match_oracle"}
    for k in ("steps_within_modulus_bump", "ramps_within_bound_bump", "steps_within_modulus_lipschitz", "ramps_within_bound_lipschitz", "constructions_match_oracle", "jump_gap_step"):
        assert c[k]["holds"], c[k]
    z = np.load(r.run_dir / "artifacts" / "constructions_fits.npz")
    assert z["trained_sup_errors"].shape == (3, 1, 3) and list(z["fitted_targets"]) == ["bump", "lipschitz", "step"]
    # recheck one stored fit from its parameters on the training points
    x = z["train_x"]
    A = np.concatenate([np.maximum(z["fit_m8_r0_signs"] * (x[:, None] - z["fit_m8_r0_knots"]), 0), np.ones((len(x), 1))], axis=1)
    coef = np.linalg.lstsq(A, z["train_y"], rcond=None)[0]
    np.testing.assert_allclose(A @ coef, A @ np.concatenate([z["fit_m8_r0_weights"], z["fit_m8_r0_biases"][None]]), atol=1e-9)


def test_negative_control_a_jump_does_not_get_closer(runs_dir):
    # a discontinuous target: continuous nets stay >= J/2 away at every width, the slope is about 0, the rate claim fails
    r = run_experiment("intro/universal-approximation", preset="quick", overrides={"targets": ["step"], "widths": [16, 32, 64, 128], "draws": 2, "grid_points": 20001},
                       runs_dir=runs_dir)
    c = _claims(r)
    assert r.status == "failed"
    assert not c["rate_step"]["holds"] and abs(c["rate_step"]["measured"]) < 0.2
    assert c["jump_gap_step"]["holds"]
    assert "rate_bump" not in c and "steps_within_modulus_bump" not in c
