r"""Rates of GD, heavy ball and Nesterov on ill-conditioned quadratics; Adam's diagonal invariance.

The survey (Ruder 2016, Secs. 4.1-4.6) describes momentum, Nesterov's accelerated gradient and
Adam qualitatively. On a quadratic :math:`f(w) = \tfrac12 w^\top H w - b^\top w` with
:math:`\mu I \preceq H \preceq L I`, :math:`\kappa = L/\mu`, the rates are exact. Each method is a
linear recursion on the error :math:`e_t = w_t - w^*`; per eigenvalue :math:`\lambda` of H the
iteration has the characteristic polynomial :math:`z^2 - a(\lambda) z + c(\lambda)`, and the
asymptotic rate is :math:`\rho = \max_\lambda` (spectral radius of that 2x2 companion matrix)
(Lessard, Recht, Packard 2016, Sec. 2, rates on quadratics):

* GD, :math:`w \leftarrow w - \eta \nabla f`: :math:`a = 1 - \eta\lambda,\ c = 0`; with
  :math:`\eta = 2/(L+\mu)`, :math:`\rho = (\kappa-1)/(\kappa+1)` (Polyak 1987; Nesterov 2004, Thm 2.1.15).
* Heavy ball, the loop's ``momentum`` (:math:`v \leftarrow \beta v + g,\ w \leftarrow w - \eta v`,
  which equals :math:`w_{t+1} = w_t - \eta\nabla f(w_t) + \beta (w_t - w_{t-1})`):
  :math:`a = 1 + \beta - \eta\lambda,\ c = \beta`; with :math:`\eta = 4/(\sqrt L + \sqrt\mu)^2`,
  :math:`\beta = ((\sqrt\kappa-1)/(\sqrt\kappa+1))^2` all roots have modulus
  :math:`\sqrt\beta`, so :math:`\rho = (\sqrt\kappa-1)/(\sqrt\kappa+1)` (Polyak 1964).
* Nesterov, the loop's PyTorch-style ``momentum(nesterov=True)``
  (:math:`v \leftarrow \beta v + g,\ w \leftarrow w - \eta (g + \beta v)`): per eigenvalue it has the
  characteristic polynomial of the textbook method :math:`y_t = w_t + \beta(w_t - w_{t-1})`,
  :math:`w_{t+1} = y_t - \eta \nabla f(y_t)`, namely :math:`a = (1+\beta)(1-\eta\lambda),\ c = \beta(1-\eta\lambda)`;
  with :math:`\eta = 1/L`, :math:`\beta = (\sqrt\kappa-1)/(\sqrt\kappa+1)` the root at :math:`\lambda = \mu` is
  double and :math:`\rho = 1 - 1/\sqrt\kappa` exactly (Nesterov 1983; 2004, Sec. 2.2; Lessard et al. 2016).

So the exponent :math:`-\log\rho` scales like :math:`2/\kappa` for GD and like :math:`2/\sqrt\kappa`,
:math:`1/\sqrt\kappa` for the accelerated methods.

Measurement: :math:`\|e_t\|` from the one training loop (float64), a least-squares fit of
:math:`\log\|e_t\|` over the second half of the run, which lasts until the theory predicts a
decay by ``decay`` (far above the float64 floor :math:`\approx 10^{-16}\kappa`). The heavy-ball and
Nesterov matrices have double roots (Jordan blocks) at the extreme eigenvalues, so
:math:`\|e_t\| \sim (1 + ct)\rho^t` with c > 0 for the start :math:`w_{-1} = w_0` (c = :math:`1/\sqrt\kappa` for
Nesterov at :math:`\mu`; :math:`2/(\sqrt\kappa+1)` and :math:`2\sqrt\kappa/(\sqrt\kappa+1)` for heavy ball at
:math:`\mu` and L): the fitted exponent is biased low by at most the least-squares slope of
:math:`\log t` over the window (the log-slope converges like :math:`\log t / t`), which the tolerance
includes on top of 2%.

The fit measures the asymptotic rate only once the other modes have died, so the problem is built
for that (the finite-time form of the asymptotic statement). With interior eigenvalues log-uniform
on all of :math:`[\mu, L]` and Gaussian :math:`w^*`, an eigenvalue at, say, 1.05 (GD rate 0.809 against
0.818 at :math:`\kappa = 10`) with a larger initial weight than the :math:`\mu`-mode keeps the fitted
exponent between the two for hundreds of steps (seeds 1002, 1011, 1014 of an earlier version: GD
:math:`\kappa = 10` measured 0.2069 against 0.2007 +- 0.004), and near-critical Nesterov modes
(:math:`\lambda \gtrsim \mu`, modulus :math:`\approx\rho`) oscillate with periods longer than the window. Hence:
interior eigenvalues in :math:`[g\mu, L/g]` (``spectral_gap`` g = 2), so each faster GD mode's weight
in the window is below :math:`e^{-2\cdot\text{start}\cdot\delta} \approx` ``decay`` (its exponent gap :math:`\delta`
is about :math:`-\log\rho` itself), and :math:`w^* = Qs` with random signs s, a unit weight on
every eigendirection, so no draw leaves the slowest mode with a tiny weight. The tuned rates depend
on :math:`\mu, L` only, so the theory is unchanged.

Adam (Kingma & Ba 2015) on a *diagonal* quadratic: its update :math:`\hat m/(\sqrt{\hat v}+\epsilon)` is
invariant to a per-coordinate scaling of the gradient as :math:`\epsilon \to 0`, so coordinate i
follows the same path whatever its curvature :math:`\lambda_i`: the iterates on
:math:`\operatorname{diag}(\lambda)` with condition number K equal those on the identity (up to
:math:`\epsilon`), while GD slows down by the factor K. On a rotated H this invariance is lost.
The comparison stops once the error falls below :math:`10^{-6}\|w^*\|_\infty`: there the float64 rounding of
:math:`Hw - b` is no longer negligible next to the gradient, and Adam with a tiny :math:`\epsilon` amplifies
that noise (a 2000-step run jumped back to an error of 1e-3 after reaching the float64 floor).
A Rosenbrock valley :math:`(1-x)^2 + 100 (y - x^2)^2` compares the four methods qualitatively.

Setup: H = Q diag(lambda) Q^T with Q Haar-random, lambda_1 = 1, lambda_d = kappa, the others
log-uniform in [g, kappa/g] (so mu, L are exactly the extremes the parameters are tuned to);
w* = Q s, s random signs, b = H w*, w_0 = 0.

Claims: ``rate_<method>_kappa<k>`` (fitted exponent = oracle exponent within 2% plus the Jordan
term), ``scaling_<method>`` (slope of log exponent vs log kappa: -1 for GD, -1/2 for the
accelerated methods, +-0.1), ``adam_diagonal_invariance``. Checks (formulas, ``kind="check"``):
``textbook_*``, the spectral radius over eigvalsh(H) against the closed-form rate.
Oracle: numpy ``eigvalsh(H)`` and the closed-form roots of the 2x2 characteristic polynomials.

Negative control (``beta_scale = 0``: no momentum; heavy ball becomes GD with step 2/(L+mu),
Nesterov GD with step 1/L): the rates still match the oracle, but the exponent of the
"accelerated" methods scales like 1/kappa, so ``scaling_1`` and ``scaling_2`` fail
(tests/experiments/test_optimizers_rates.py).

Checked on: quick preset, seeds 100-119 (all claims hold), seeds 1000-1009 (all hold), and the rate
claims at dim = 50, seeds 1000-1019, by a numpy replica of the same recursion (all hold).
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import Tensor

from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.train import Callback, adam, gd, momentum, train

METHODS = ("GD", "heavy ball", "Nesterov")
SOURCE_RATE = {
    "GD": "GD with eta = 2/(L+mu): rho = (kappa-1)/(kappa+1) (Nesterov 2004, Thm 2.1.15; Lessard, Recht, Packard 2016, Sec. 2)",
    "heavy ball": "Polyak 1964 heavy ball with eta = 4/(sqrt L + sqrt mu)^2, beta = ((sqrt kappa-1)/(sqrt kappa+1))^2: rho = (sqrt kappa-1)/(sqrt kappa+1) (Lessard, Recht, Packard 2016, Sec. 2)",
    "Nesterov": "Nesterov 1983/2004 with eta = 1/L, beta = (sqrt kappa-1)/(sqrt kappa+1): rho = 1 - 1/sqrt kappa on quadratics (Lessard, Recht, Packard 2016, Sec. 2)",
}


def method_parameters(method: str, mu: float, L: float, *, beta_scale: float = 1.0) -> tuple[float, float]:
    r"""The tuned ``(lr, beta)`` of each method for the spectrum [mu, L] (GD: beta = 0).

    ``beta_scale`` multiplies the tuned momentum (1: the accelerated methods; 0: no momentum).
    Heavy ball takes :math:`\eta = 2(1+\beta)/(L+\mu)`, which equals :math:`4/(\sqrt L+\sqrt\mu)^2` at the
    tuned :math:`\beta` and GD's :math:`2/(L+\mu)` at :math:`\beta = 0`; Nesterov keeps :math:`\eta = 1/L`.
    """
    if not 0.0 <= beta_scale <= 1.0:
        raise ValueError(f"`beta_scale` must be a float in [0, 1]; got {beta_scale!r}.")
    kappa = L / mu
    s = math.sqrt(kappa)
    if method == "GD":
        return 2.0 / (L + mu), 0.0
    if method == "heavy ball":
        beta = beta_scale * ((s - 1) / (s + 1)) ** 2
        return 2.0 * (1.0 + beta) / (L + mu), beta
    if method == "Nesterov":
        return 1.0 / L, beta_scale * (s - 1) / (s + 1)
    raise ValueError(f"`method` must be one of {METHODS}; got {method!r}.")


def characteristic_coefficients(method: str, lr: float, beta: float, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``(a, c)`` of :math:`z^2 - a z + c`, the per-eigenvalue characteristic polynomial of the error recursion."""
    lam = np.asarray(lam, dtype=float)
    if method == "GD":
        return 1.0 - lr * lam, np.zeros_like(lam)
    if method == "heavy ball":
        return 1.0 + beta - lr * lam, np.full_like(lam, beta)
    if method == "Nesterov":
        return (1.0 + beta) * (1.0 - lr * lam), beta * (1.0 - lr * lam)
    raise ValueError(f"`method` must be one of {METHODS}; got {method!r}.")


def iteration_matrices(method: str, lr: float, beta: float, lam: np.ndarray) -> np.ndarray:
    """The (n, 2, 2) companion matrices ``[[a, -c], [1, 0]]`` acting on ``(e_t, e_{t-1})``."""
    a, c = characteristic_coefficients(method, lr, beta, lam)
    M = np.zeros((len(a), 2, 2))
    M[:, 0, 0], M[:, 0, 1], M[:, 1, 0] = a, -c, 1.0
    return M


def spectral_radius(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    r"""Largest root modulus of :math:`z^2 - a z + c` (closed form): :math:`\sqrt c` if the roots are complex,
    else :math:`(|a| + \sqrt{a^2 - 4c})/2`."""
    a, c = np.asarray(a, dtype=float), np.asarray(c, dtype=float)
    disc = a * a - 4 * c
    return np.where(disc < 0, np.sqrt(np.abs(c)), (np.abs(a) + np.sqrt(np.maximum(disc, 0.0))) / 2)


def oracle_rate(method: str, lr: float, beta: float, eigenvalues: np.ndarray) -> float:
    """Asymptotic rate: the max over the eigenvalues of H of the 2x2 spectral radius."""
    return float(spectral_radius(*characteristic_coefficients(method, lr, beta, eigenvalues)).max())


def textbook_rate(method: str, kappa: float) -> float:
    """The closed-form rates of the module docstring."""
    s = math.sqrt(kappa)
    return {"GD": (kappa - 1) / (kappa + 1), "heavy ball": (s - 1) / (s + 1), "Nesterov": 1 - 1 / s}[method]


def quadratic_problem(dim: int, kappa: float, rng: np.random.Generator, *, gap: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(H, b, w*)``: eigenvalues 1 and kappa plus ``dim - 2`` log-uniform ones in [gap, kappa / gap], a Haar-random
    basis Q, and w* = Q s with random signs s (unit weight on every eigendirection)."""
    if not 1.0 <= gap <= math.sqrt(kappa):
        raise ValueError(f"`gap` must be in [1, sqrt(kappa)] = [1, {math.sqrt(kappa):.4g}]; got {gap!r}.")
    lam = np.sort(np.concatenate([[1.0, kappa], np.exp(rng.uniform(math.log(gap), math.log(kappa / gap), dim - 2))]))
    Q, R = np.linalg.qr(rng.standard_normal((dim, dim)))
    Q = Q * np.sign(np.diag(R))
    H = (Q * lam) @ Q.T
    H = (H + H.T) / 2
    w_star = Q @ rng.choice([-1.0, 1.0], size=dim)
    return H, H @ w_star, w_star


def fitted_rate(errors: np.ndarray, start: int) -> float:
    r"""``exp`` of the least-squares slope of :math:`\log\|e_t\|` over ``t >= start``."""
    t = np.arange(start, len(errors))
    return float(np.exp(np.polyfit(t, np.log(errors[start:]), 1)[0]))


def log_t_slope(start: int, stop: int) -> float:
    r"""Least-squares slope of :math:`\log t` over ``start..stop-1``: the Jordan-block bias of :func:`fitted_rate`."""
    t = np.arange(max(start, 1), stop)
    return float(np.polyfit(t, np.log(t), 1)[0])


def _quadratic_loss(H: Tensor, b: Tensor):
    def loss(params: dict[str, Tensor], batch=None) -> Tensor:
        w = params["w"]
        return 0.5 * w @ (H @ w) - b @ w

    return loss


def run_errors(H: np.ndarray, b: np.ndarray, w_star: np.ndarray, optimizer, steps: int, *, device, progress: bool = False, description: str = "") -> np.ndarray:
    r""":math:`\|w_t - w^*\|` for t = 0..steps from w_0 = 0, through :func:`dltheory.train.train` (float64)."""
    Ht = torch.tensor(H, dtype=torch.float64, device=device)
    bt = torch.tensor(b, dtype=torch.float64, device=device)
    ws = torch.tensor(w_star, dtype=torch.float64, device=device)
    errs: list[float] = []
    cb = Callback(lambda info: errs.append(float(torch.linalg.vector_norm(info.params["w"] - ws))), every=1)
    params = {"w": torch.zeros(len(b), dtype=torch.float64, device=device)}
    train(_quadratic_loss(Ht, bt), params, steps=steps, optimizer=optimizer, callbacks=[cb], description=description, progress=progress)
    return np.array(errs[: steps + 1])


def make_method(method: str, lr: float, beta: float):
    """The built-in optimizer of each method."""
    if method == "GD":
        return gd(lr)
    return momentum(lr, beta=beta, nesterov=method == "Nesterov")


@register
class OptimizerRates(Experiment):
    """GD converges at (k-1)/(k+1) per step on a quadratic of condition number k, heavy ball and Nesterov at about 1 - c/sqrt(k); Adam ignores diagonal conditioning."""

    id = "intro/optimizers"
    lecture = 1
    title = "Convergence rates of GD, heavy ball, Nesterov on quadratics; Adam on diagonal and Rosenbrock problems"
    papers = ("ruder2016",)

    class Config(ExperimentConfig):
        dim: int = Field(20, ge=2, le=500, description="dimension of the quadratic")
        kappas: list[Annotated[float, Field(gt=1, le=1e6)]] = Field([10.0, 100.0, 1000.0], min_length=1, max_length=16, description="condition numbers kappa = L/mu (mu = 1)")
        decay: float = Field(1e-10, gt=1e-13, lt=1, description="each run lasts until the theory predicts ||e_T|| / ||e_0|| = decay")
        max_steps: int = Field(200_000, ge=10, le=10_000_000, description="cap on the steps of one run")
        adam_kappa: float = Field(1000.0, gt=1, le=1e6, description="condition number of the diagonal quadratic for Adam's invariance check")
        adam_lr: float = Field(0.05, gt=0, le=1, description="Adam step size")
        adam_eps: float = Field(1e-12, gt=0, le=1e-6, description="Adam epsilon (the invariance is exact as eps -> 0)")
        adam_steps: int = Field(400, ge=1, le=10_000_000, description="Adam steps on the diagonal quadratics")
        rosenbrock_steps: int = Field(3000, ge=1, le=10_000_000, description="steps of each method on the Rosenbrock valley")
        spectral_gap: float = Field(2.0, ge=1, le=100, description="interior eigenvalues lie in [gap * mu, L / gap] (isolated extremes; needs gap^2 <= min kappa)")
        beta_scale: float = Field(1.0, ge=0, le=1, description="multiplies the tuned momentum of heavy ball and Nesterov (0: no momentum, the negative control)")

        @model_validator(mode="after")
        def _gap_fits(self):
            if self.spectral_gap**2 > min(self.kappas):
                raise ValueError(f"`spectral_gap` must be <= sqrt(min(kappas)) = {math.sqrt(min(self.kappas)):.4g}; got {self.spectral_gap}")
            return self

    presets = {
        "tiny": {"dim": 6, "kappas": [10.0, 30.0], "decay": 1e-4, "adam_steps": 50, "rosenbrock_steps": 100},
        "quick": {"rosenbrock_steps": 1000},
        "full": {"dim": 100, "kappas": [10.0, 100.0, 1000.0, 10000.0], "adam_steps": 600, "rosenbrock_steps": 20000},
    }

    def run(self, config: Config, log: RunLog) -> None:
        rng = log.rng("quadratic")
        arrays: dict[str, np.ndarray] = {}
        curves: dict[float, dict[str, tuple[np.ndarray, float, float, int]]] = {}
        exps: dict[str, list[tuple[float, float, float]]] = {m: [] for m in METHODS}
        for kappa in config.kappas:
            H, b, w_star = quadratic_problem(config.dim, kappa, rng, gap=config.spectral_gap)
            eig = np.linalg.eigvalsh(H)
            mu, L = 1.0, float(kappa)
            tag = f"kappa{kappa:g}"
            arrays |= {f"{tag}_H": H, f"{tag}_b": b, f"{tag}_w_star": w_star, f"{tag}_w_star_solve": np.linalg.solve(H, b)}
            curves[kappa] = {}
            for i, method in enumerate(METHODS):
                lr, beta = method_parameters(method, mu, L, beta_scale=config.beta_scale)
                rho = oracle_rate(method, lr, beta, eig)
                steps = min(config.max_steps, math.ceil(math.log(1 / config.decay) / -math.log(rho)))
                errs = run_errors(H, b, w_star, make_method(method, lr, beta), steps, device=log.device, progress=log.progress, description=f"{method}, kappa={kappa:g}")
                start = steps // 2
                rho_fit = fitted_rate(errs, start)
                curves[kappa][method] = (errs, rho, rho_fit, start)
                exps[method].append((kappa, -math.log(rho_fit), -math.log(rho)))
                arrays[f"{tag}_method{i}_errors"] = errs
                log.metric(f"{tag}_{method.replace(' ', '_')}_rate_measured", rho_fit)
                log.metric(f"{tag}_{method.replace(' ', '_')}_rate_oracle", rho)
                if config.beta_scale == 1.0:  # the textbook formulas are those of the tuned methods
                    log.claim_close(f"textbook_{i}_{tag}", f"kappa={kappa:g}: {method}'s spectral radius over eigvalsh(H) equals the textbook rate (a formula: check)",
                                    rho, textbook_rate(method, kappa), rtol=1e-6, source=SOURCE_RATE[method],
                                    oracle="numpy eigvalsh(H) + closed-form roots of the 2x2 characteristic polynomials", kind="check")
                jordan = 0.0 if beta == 0.0 else log_t_slope(start, steps + 1)  # double roots only with momentum
                tol = 0.02 * -math.log(rho) + jordan
                log.claim_close(f"rate_{i}_{tag}", f"kappa={kappa:g}: {method} through the training loop: fitted exponent -log rho of ||w_t - w*|| over steps {start}..{steps}",
                                -math.log(rho_fit), -math.log(rho), atol=tol,
                                source=SOURCE_RATE[method] + "; tolerance 2% plus the LS slope of log t over the window (Jordan block t rho^t at the extreme eigenvalues)",
                                oracle="max over eigvalsh(H) of the closed-form 2x2 spectral radius")
        if len(config.kappas) >= 2:
            for i, method in enumerate(METHODS):
                k, meas, _ = (np.array(v) for v in zip(*exps[method], strict=True))
                slope = float(np.polyfit(np.log(k), np.log(meas), 1)[0])
                log.metric(f"{method.replace(' ', '_')}_exponent_slope", slope)
                lo, hi = (-1.1, -0.9) if method == "GD" else (-0.6, -0.4)
                log.claim_between(f"scaling_{i}", f"{method}{'' if method == 'GD' else f' (beta x {config.beta_scale:g})'}: slope of log(-log rho_measured) vs log kappa (theory {'-1' if method == 'GD' else '-1/2 with the tuned momentum'})",
                                  slope, lo, hi, source="-log rho ~ 2/kappa (GD), 2/sqrt(kappa) (heavy ball), 1/sqrt(kappa) + 1/(2 kappa) (Nesterov; slope -0.54 over [10, 1000]); tolerance 0.1",
                                  oracle="closed-form rates above")
        log.artifact("quadratics_and_errors", **arrays)
        _figures_rates(log, curves, exps)
        _adam_and_rosenbrock(log, config)


def rosenbrock(params: dict[str, Tensor], batch=None) -> Tensor:
    r""":math:`f(x, y) = (1 - x)^2 + 100 (y - x^2)^2`, minimum 0 at (1, 1)."""
    x, y = params["w"][0], params["w"][1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _trajectory(loss_fn, w0: np.ndarray, optimizer, steps: int, *, device, progress: bool, description: str) -> tuple[np.ndarray, np.ndarray]:
    """Iterates (steps + 1, d) and losses of one run of :func:`dltheory.train.train` from ``w0``."""
    rec: list[np.ndarray] = []
    cb = Callback(lambda info: rec.append(info.params["w"].cpu().numpy().copy()), every=1)
    res = train(loss_fn, {"w": torch.tensor(w0, dtype=torch.float64, device=device)}, steps=steps, optimizer=optimizer, callbacks=[cb], description=description, progress=progress)
    _, loss = res.history["loss"]
    return np.array(rec[: steps + 1]), loss


def _adam_and_rosenbrock(log: RunLog, config) -> None:
    rng = log.rng("adam")
    K, d = config.adam_kappa, config.dim
    lam = np.sort(np.concatenate([[1.0, K], np.exp(rng.uniform(0, math.log(K), d - 2))]))
    w_star = rng.standard_normal(d)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    problems = {"identity": np.eye(d), "diagonal": np.diag(lam), "rotated": (Q * lam) @ Q.T}
    opt = adam(config.adam_lr, eps=config.adam_eps)
    iterates = {}
    for name, H in problems.items():
        loss = _quadratic_loss(torch.tensor(H, device=log.device), torch.tensor(H @ w_star, device=log.device))
        iterates[name], _ = _trajectory(loss, np.zeros(d), opt, config.adam_steps, device=log.device, progress=log.progress, description=f"Adam, {name}")
    gd_errs = run_errors(problems["diagonal"], lam * w_star, w_star, gd(2 / (K + 1)), config.adam_steps, device=log.device)
    scale = np.abs(w_star).max()
    # compare while ||e_t||_inf >= 1e-6 ||w*||_inf: below, the float64 rounding of H w - b (relative 1e-16 ||w*|| / ||e||)
    # and eps / sqrt(v_hat) are no longer negligible, and Adam with a tiny eps amplifies the rounding noise
    resolved = np.abs(iterates["identity"] - w_star).max(axis=1) >= 1e-6 * scale
    window = int(np.argmin(resolved)) if not resolved.all() else len(resolved)
    window = max(window, 1)
    dev = float(np.abs(iterates["diagonal"][:window] - iterates["identity"][:window]).max() / scale)
    dev_rot = float(np.abs(iterates["rotated"][:window] - iterates["identity"][:window]).max() / scale)
    log.metric("adam_comparison_steps", window)
    log.metric("adam_diagonal_vs_identity_max_deviation", dev)
    log.metric("adam_rotated_vs_identity_max_deviation", dev_rot)
    log.claim_less("adam_diagonal_invariance", f"Adam's iterates on diag(lambda) (kappa = {K:g}) equal its iterates on the identity: max_t ||w_t^diag - w_t^I||_inf / ||w*||_inf over t < {window} (error >= 1e-6 ||w*||; rotated H: {dev_rot:.3g})",
                   dev, 1e-6, source="Kingma & Ba 2015, Sec. 2.1 (update invariant to diagonal rescaling of the gradient, exact as eps -> 0); tolerance: per-step relative perturbation <= eps / sqrt(v_hat) ~ 1e-10, x steps, x 10",
                   oracle="Adam run on the identity quadratic (kappa = 1)")
    errs = {name: np.linalg.norm(W - w_star, axis=1) for name, W in iterates.items()}
    fig, ax = figure(1, 1, width=5.2, height=3.6)
    t = np.arange(config.adam_steps + 1)
    ax.semilogy(t, errs["identity"], color=PALETTE[0], linewidth=3, alpha=0.5, label="Adam, H = I")
    ax.semilogy(t, errs["diagonal"], color=PALETTE[1], linewidth=1.2, label=f"Adam, H = diag, kappa = {K:g}")
    ax.semilogy(t, errs["rotated"], color=PALETTE[2], label=f"Adam, H rotated, kappa = {K:g}")
    ax.semilogy(t, gd_errs, color=PALETTE[3], label=f"GD, H = diag, kappa = {K:g}")
    ax.semilogy(t, gd_errs[0] * ((K - 1) / (K + 1)) ** t, **THEORY, label="GD bound ((k-1)/(k+1))^t")
    ax.set(xlabel="step t", ylabel="||w_t - w*||", title=f"Adam ignores diagonal conditioning (lr = {config.adam_lr:g})")
    ax.legend(fontsize=8)
    log.figure("adam_diagonal_invariance", fig)
    # Rosenbrock: qualitative comparison from the classic start (-1.2, 1)
    w0 = np.array([-1.2, 1.0])
    runs = {"GD": gd(1e-3), "heavy ball": momentum(1e-3, beta=0.9), "Nesterov": momentum(1e-3, beta=0.9, nesterov=True), "Adam": adam(0.02)}
    traj = {}
    for name, o in runs.items():
        traj[name] = _trajectory(rosenbrock, w0, o, config.rosenbrock_steps, device=log.device, progress=log.progress, description=f"Rosenbrock, {name}")
        log.metric(f"rosenbrock_{name.replace(' ', '_')}_final_loss", float(traj[name][1][-1]))
    log.artifact("adam_and_rosenbrock", lam=lam, w_star=w_star, Q=Q, **{f"adam_{k}_iterates": v for k, v in iterates.items()},
                 **{f"rosenbrock_{k.replace(' ', '_')}_iterates": v[0] for k, v in traj.items()})
    fig, axes = figure(2, 1, width=4.6, height=3.8)
    xs, ys = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3, 300))
    axes[0].contour(xs, ys, np.log10((1 - xs) ** 2 + 100 * (ys - xs**2) ** 2 + 1e-3), levels=15, colors="#bbbbbb", linewidths=0.6)
    for i, (name, (W, loss)) in enumerate(traj.items()):
        axes[0].plot(W[:, 0], W[:, 1], color=PALETTE[i], linewidth=1.0, label=name)
        axes[1].semilogy(np.arange(len(loss)), np.maximum(loss, 1e-300), color=PALETTE[i], label=name)
    axes[0].plot([1], [1], "*", color="black", markersize=11, label="minimum (1, 1)")
    axes[0].set(xlabel="x", ylabel="y", title="Rosenbrock (1-x)^2 + 100 (y-x^2)^2", xlim=(-2, 2), ylim=(-1, 3))
    axes[1].set(xlabel="step", ylabel="f(w_t)", title="loss (GD, momentum: lr 1e-3, beta 0.9; Adam: lr 0.02)")
    axes[0].legend(fontsize=8)
    log.figure("rosenbrock", fig)


def _figures_rates(log: RunLog, curves, exps) -> None:
    kappas = list(curves)
    fig, axes = figure(len(kappas), 1, squeeze=False, width=4.2, height=3.4)
    for ax, kappa in zip(axes[0], kappas, strict=True):
        for i, method in enumerate(METHODS):
            errs, rho, rho_fit, start = curves[kappa][method]
            t = np.arange(len(errs))
            ax.semilogy(t, errs / errs[0], color=PALETTE[i], label=f"{method}: {rho_fit:.4f}")
            tt = t[start // 2 :]  # the theory slope over the late part of the run (the fit window starts at `start`)
            ax.semilogy(tt, errs[start] / errs[0] * rho ** (tt - start), **THEORY, label="theory rho^t (oracle)" if i == 0 else None)
        ax.set(xscale="log", xlabel="step t", ylabel="||w_t - w*|| / ||w_0 - w*||", title=f"kappa = {kappa:g} (legend: measured rate)")
        ax.set_ylim(bottom=min(curves[kappa][m][0][-1] / curves[kappa][m][0][0] for m in METHODS) / 10, top=10)
        ax.legend(fontsize=7, loc="lower left")
    log.figure("error_vs_step", fig)
    fig, ax = figure(1, 1, width=4.8, height=3.6)
    for i, method in enumerate(METHODS):
        k, meas, theo = (np.array(v) for v in zip(*exps[method], strict=True))
        kk = np.geomspace(k.min(), k.max(), 100)
        ax.loglog(kk, [-math.log(textbook_rate(method, x)) for x in kk], **THEORY, label="theory" if i == 0 else None)
        ax.loglog(k, meas, "o", color=PALETTE[i], label=method)
    ax.set(xlabel="condition number kappa", ylabel="-log(rate) per step", title="-log rho: GD ~ 2/kappa, accelerated ~ c/sqrt(kappa)")
    ax.legend(fontsize=8)
    log.figure("rate_exponent_vs_kappa", fig)
