"""intro/optimizers: closed-form rates against numpy eigenvalues, the loop's optimizers against
their documented recursions, and a small run through the runner."""

import math

import numpy as np
import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.experiments.intro import optimizers as opt
from dltheory.runner import run_experiment
from dltheory.train import adam, train


@pytest.mark.parametrize("method", opt.METHODS)
@pytest.mark.parametrize("kappa", [4.0, 50.0, 2000.0])
def test_closed_form_radius_matches_numpy_eigenvalues(method, kappa):
    lr, beta = opt.method_parameters(method, 1.0, kappa)
    lam = np.linspace(1.0, kappa, 41)
    radius = opt.spectral_radius(*opt.characteristic_coefficients(method, lr, beta, lam))
    brute = np.abs(np.linalg.eigvals(opt.iteration_matrices(method, lr, beta, lam))).max(axis=1)
    np.testing.assert_allclose(radius, brute, rtol=1e-6)  # double roots: eigvals is accurate to ~sqrt(eps)


@pytest.mark.parametrize("method", opt.METHODS)
@pytest.mark.parametrize("kappa", [10.0, 100.0, 1000.0])
def test_tuned_rate_is_the_textbook_rate_and_sits_at_the_extremes(method, kappa):
    lr, beta = opt.method_parameters(method, 1.0, kappa)
    lam = np.geomspace(1.0, kappa, 201)
    rho = opt.oracle_rate(method, lr, beta, lam)
    assert rho == pytest.approx(opt.textbook_rate(method, kappa), rel=1e-7)
    radius = opt.spectral_radius(*opt.characteristic_coefficients(method, lr, beta, lam))
    assert radius[0] == pytest.approx(rho, rel=1e-7)  # attained at lambda = mu
    assert np.all(radius <= rho * (1 + 1e-7))


def test_random_spectral_radius_against_roots():
    rng = np.random.default_rng(0)
    a, c = rng.normal(size=50), rng.normal(size=50)
    expected = [np.abs(np.roots([1.0, -ai, ci])).max() for ai, ci in zip(a, c, strict=True)]
    np.testing.assert_allclose(opt.spectral_radius(a, c), expected, rtol=1e-10)


def _state_space_errors(method, lr, beta, lam, e0, steps):
    """The documented updates v <- beta v + g, w <- w - lr v (or lr (g + beta v)) on one eigen-coordinate."""
    e, v, out = e0, 0.0, [e0]
    for _ in range(steps):
        g = lam * e
        v = beta * v + g
        e = e - lr * (g + beta * v if method == "Nesterov" else v) if method != "GD" else e - lr * g
        out.append(e)
    return np.array(out)


@pytest.mark.parametrize("method", opt.METHODS)
def test_training_loop_follows_the_linear_recursion(method):
    lam = np.array([1.0, 3.0, 7.0, 20.0])
    w_star = np.array([1.0, -2.0, 0.5, 3.0])
    lr, beta = opt.method_parameters(method, 1.0, 20.0)
    errs = opt.run_errors(np.diag(lam), lam * w_star, w_star, opt.make_method(method, lr, beta), 30, device="cpu")
    coords = np.stack([_state_space_errors(method, lr, beta, li, -w, 30) for li, w in zip(lam, w_star, strict=True)], axis=1)
    np.testing.assert_allclose(errs, np.linalg.norm(coords, axis=1), rtol=1e-10, atol=1e-13)
    # the state-space matrix [[beta, lam], [-lr beta^k, ...]] has the companion polynomial's roots
    for li in lam:
        if method == "GD":
            continue
        k = 2 if method == "Nesterov" else 1
        S = np.array([[beta, li], [-lr * beta**k, 1 - lr * li * (1 + (beta if method == "Nesterov" else 0.0))]])
        roots = np.sort_complex(np.linalg.eigvals(S))
        a, c = opt.characteristic_coefficients(method, lr, beta, np.array([li]))
        np.testing.assert_allclose(roots, np.sort_complex(np.roots([1.0, -a[0], c[0]])), atol=1e-7)


def test_fitted_rate_and_log_slope():
    errs = 3.0 * 0.9 ** np.arange(200)
    assert opt.fitted_rate(errs, 100) == pytest.approx(0.9, rel=1e-12)
    jordan = np.arange(1, 400) * 0.9 ** np.arange(1, 400)
    bias = math.log(opt.fitted_rate(jordan, 200)) - math.log(0.9)
    assert bias == pytest.approx(opt.log_t_slope(201, 400), rel=1e-6)


def test_adam_is_invariant_to_diagonal_curvature():
    lam = torch.tensor([1.0, 30.0, 1000.0], dtype=torch.float64)
    w_star = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    finals = []
    for scale in (torch.ones(3, dtype=torch.float64), lam):
        def loss(p, batch=None, s=scale):
            return 0.5 * (s * (p["w"] - w_star) ** 2).sum()
        res = train(loss, {"w": torch.zeros(3, dtype=torch.float64)}, steps=50, optimizer=adam(0.05, eps=1e-14), progress=False)
        finals.append(res.params["w"].numpy())
    np.testing.assert_allclose(finals[0], finals[1], rtol=1e-10)


def test_problem_has_the_requested_spectrum():
    H, b, w_star = opt.quadratic_problem(8, 250.0, np.random.default_rng(3), gap=2.0)
    eig, Q = np.linalg.eigh(H)
    assert eig[0] == pytest.approx(1.0, rel=1e-10) and eig[-1] == pytest.approx(250.0, rel=1e-10)
    assert np.all((eig[1:-1] >= 2.0) & (eig[1:-1] <= 125.0))  # isolated extremes
    np.testing.assert_allclose(np.abs(Q.T @ w_star), 1.0, rtol=1e-8)  # unit weight on every eigendirection
    np.testing.assert_allclose(np.linalg.solve(H, b), w_star, rtol=1e-8)
    with pytest.raises(ValueError, match="`gap` must be in"):
        opt.quadratic_problem(4, 3.0, np.random.default_rng(0), gap=2.0)
    with pytest.raises(ValueError, match="`method` must be one of"):
        opt.method_parameters("adagrad", 1.0, 10.0)


def test_negative_control_no_momentum_no_acceleration(runs_dir):
    # beta_scale = 0: heavy ball and Nesterov lose their momentum (GD with steps 2/(L+mu) and 1/L): the rates still
    # match the oracle, but their exponents scale like 1/kappa, so the acceleration claims scaling_1, scaling_2 fail
    common = {"kappas": [10.0, 100.0], "decay": 1e-8}
    pos = run_experiment("intro/optimizers", preset="tiny", seed=7, runs_dir=runs_dir / "pos", overrides=common)
    assert pos.status == "ok", [(c["id"], c["measured"]) for c in pos.result["claims"] if not c["holds"]]  # every claim, tuned methods
    neg = run_experiment("intro/optimizers", preset="tiny", seed=7, runs_dir=runs_dir / "neg", overrides=common | {"beta_scale": 0.0})
    cp = {c["id"]: c for c in pos.result["claims"]}
    cn = {c["id"]: c for c in neg.result["claims"]}
    for i in (1, 2):
        assert cp[f"scaling_{i}"]["holds"] and not cn[f"scaling_{i}"]["holds"]
        assert cn[f"scaling_{i}"]["measured"] < -0.9  # slope of -log rho vs log kappa: -1, GD-like
        assert all(cn[f"rate_{i}_kappa{k}"]["holds"] for k in (10, 100))  # the loop still follows its (slow) rate
    assert cp["textbook_1_kappa10"]["kind"] == "check" and "textbook_1_kappa10" not in cn


def test_beta_scale_interpolates_the_heavy_ball_step():
    lr, beta = opt.method_parameters("heavy ball", 1.0, 100.0, beta_scale=0.0)
    assert beta == 0.0 and lr == pytest.approx(2.0 / 101.0)  # GD's tuned step
    lr1, beta1 = opt.method_parameters("heavy ball", 1.0, 100.0)
    assert lr1 == pytest.approx(4.0 / 11.0**2) and beta1 == pytest.approx((9.0 / 11.0) ** 2)


def test_bad_config_is_refused(runs_dir):
    with pytest.raises(ConfigError, match="kappas"):
        run_experiment("intro/optimizers", preset="tiny", runs_dir=runs_dir, overrides={"kappas": [1.0]})
    with pytest.raises(ConfigError, match="spectral_gap"):
        run_experiment("intro/optimizers", preset="tiny", runs_dir=runs_dir, overrides={"kappas": [3.0], "spectral_gap": 2.0})
