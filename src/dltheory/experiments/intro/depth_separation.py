r"""Depth separation: the k-fold tent map needs depth O(k) or width about 2^k (Telgarsky 2016).

Setup (Telgarsky 2016, Sec. 3; Eldan & Shamir 2016 prove the companion 2- versus 3-layer
separation in high dimension, this experiment checks the one-dimensional mechanism). The tent
map :math:`t(x) = 2\min(x, 1 - x)` on [0, 1] equals :math:`2\,\sigma(x) - 4\,\sigma(x - 1/2)`,
:math:`\sigma = \mathrm{relu}`, so its k-fold composition :math:`t^k` (a sawtooth with
:math:`2^{k-1}` teeth) is computed *exactly* by a ReLU net with k hidden layers of width 2:
each layer maps z to :math:`(\sigma(z), \sigma(z - 1/2))` and the next layer reads
:math:`2 h_1 - 4 h_2`. :math:`t^k` has exactly :math:`2^k` affine pieces (kinks at
:math:`j / 2^k`).

Upper bound on pieces (Telgarsky 2016, Lemma 2.1-2.3, ReLU case): a ReLU net of univariate
input with L hidden layers of widths :math:`m_1, \dots, m_L` is piecewise affine with at most
:math:`\prod_l 2 m_l = (2m)^L` pieces (width m). A sharper count, used here as a second check:
if the layer input is affine on each of N intervals, each of the :math:`m_l` ReLUs adds at most
one kink per interval, so the pieces grow to at most :math:`N (m_l + 1)`, i.e.
:math:`(m + 1)^L`; with one hidden layer, at most m + 1 pieces, so fitting :math:`t^k` exactly
needs width :math:`m \ge 2^k - 1` (and :math:`2^k` suffices: :math:`\sigma(x)` plus one ReLU per
interior kink).

Lower bound on the shallow error (derived here; the counting argument of Telgarsky 2016,
Sec. 3, "few pieces cannot follow many oscillations", with our constants): :math:`t^k` crosses 1/2 at the
:math:`2^k` points :math:`(j + 1/2)/2^k`; between consecutive crossings it forms
:math:`2^k - 1` triangles of area :math:`2^{-k-2}` on alternating sides of 1/2. A continuous f
with p affine pieces switches between :math:`\{f \ge 1/2\}` and :math:`\{f < 1/2\}` at most p
times (each switch is the unique zero of :math:`f - 1/2` on an adjacent non-constant piece), so
at most p triangles contain a switch and the rest lie in at most p + 1 runs where f stays on
one side; in a run of r alternating triangles at least :math:`\lfloor r/2 \rfloor` are on the
wrong side, where :math:`|f - t^k| \ge |t^k - 1/2|`. Summing,

.. math:: \|f - t^k\|_{L^1[0,1]} \ge \frac{2^{k-1} - 1 - p}{2^{k+2}}
          = \tfrac18\Big(1 - \frac{2(p + 1)}{2^k}\Big),

and if :math:`p \le 2^{k-1} - 2` some triangle is wrong-sided at its apex, so
:math:`\|f - t^k\|_\infty \ge 1/2`. With p = m + 1 this holds for every width-m
one-hidden-layer net, however it is trained.

Oracles: :func:`tent_power_exact` (``fractions.Fraction``) on a dyadic grid fine enough to hold
every kink, counting slope changes exactly; :func:`exact_pieces`, an exact breakpoint
propagation through the weights (independent of the construction), checked against the torch
forward. The shallow fits (least squares on the output weights with kinks at evenly spaced
kinks of :math:`t^k`, each moved by a seeded random offset of at most half a piece, then all
parameters refined by Adam through the training loop) are scored by the exact :math:`L^1` and
sup error over the union of both functions' kinks.

Checks (seed-independent constructions and identities, ``kind="check"``): ``deep_exact_k*`` and
``deep_pieces_k*`` (the width-2 deep net is t^k, with 2^k pieces), ``random_pl_form_matches_forward``,
``shallow_pieces_m*`` (<= m + 1), ``shallow_exact_m{2^k}`` (the 2^k-kink construction).
Claims (seeded random nets and fits): ``random_below_telgarsky`` and ``random_below_refined``
(pieces of random nets under (2m)^L and (m+1)^L), ``shallow_l1_m*`` and ``shallow_sup_m*`` (fitted
shallow nets stay above the piece-count bounds), and the main one, ``separation_at_budget``:
the one-hidden-layer net with the deep net's parameter count, 6k + 1 (width 2k, <= 2k + 1
pieces), fitted as well as the procedure can, keeps an L1 error of at least
:math:`(2^{k-1} - 2 - 2k)/2^{k+2}` (0.070 at k = 6), which must be positive, while the depth-k
width-2 net has error 0.

Negative control (tests/experiments/test_depth_separation.py): a low-frequency target, k = 1
(the tent itself): the bound is negative, a width-2 shallow net fits t exactly (L1 error ~1e-16),
so ``separation_at_budget`` fails: no depth separation where theory predicts none.

Checked on: quick preset, seeds 100-119 (all claims hold) and shallow_k = 7 with random widths
(3, 6), seeds 1000-1004.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated

import numpy as np
import torch
from pydantic import Field, model_validator

from dltheory.core.params import functionalize
from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.models.mlp import mlp
from dltheory.train import adam, train

SOURCE_NET = "Telgarsky 2016 (COLT), Sec. 3: t(x) = 2 relu(x) - 4 relu(x - 1/2) on [0,1]; t^k has 2^k affine pieces"
SOURCE_BOUND = "Telgarsky 2016 (COLT), Lemmas 2.1-2.3: L hidden ReLU layers of width m on R give at most (2m)^L pieces"
SOURCE_SHALLOW = "counting argument of Telgarsky 2016 Sec. 3 (derived in the module docstring): p pieces => L1 error >= (2^(k-1) - 1 - p) / 2^(k+2)"


def tent_power(x: np.ndarray, k: int) -> np.ndarray:
    r""":math:`t^k(x)`, :math:`t(x) = 2\min(x, 1-x)`, in float64 (exact at dyadic x). Cost: k passes."""
    x = np.asarray(x, dtype=np.float64)
    for _ in range(k):
        x = 2.0 * np.minimum(x, 1.0 - x)
    return x


def tent_power_exact(x: Fraction, k: int) -> Fraction:
    r""":math:`t^k(x)` in exact rational arithmetic (the oracle). Cost: k Fraction operations."""
    for _ in range(k):
        x = 2 * min(x, 1 - x)
    return x


def count_pieces_on_grid(x: list, y: list) -> int:
    """Maximal runs of equal slope of the samples (x_i, y_i): the number of affine pieces when every kink is a grid point (exact for Fractions)."""
    slopes = [(y[i + 1] - y[i]) / (x[i + 1] - x[i]) for i in range(len(x) - 1)]
    return 1 + sum(slopes[i] != slopes[i + 1] for i in range(len(slopes) - 1))


def tent_network(k: int, *, dtype: torch.dtype = torch.float64) -> tuple[torch.nn.Sequential, dict[str, torch.Tensor]]:
    r"""The width-2 ReLU net with k hidden layers computing :math:`t^k` on [0, 1] exactly.

    Layer 1: :math:`h = \sigma((x, x) - (0, 1/2))`; layers 2..k: :math:`h = \sigma((z, z) - (0, 1/2))`
    with :math:`z = 2 h_1 - 4 h_2`; output :math:`2 h_1 - 4 h_2`. Returns the module and its weights.
    """
    net = mlp([1] + [2] * k + [1], activation="relu", generator=torch.Generator(), dtype=dtype)
    read = torch.tensor([[2.0, -4.0]], dtype=dtype)
    split, shift = torch.ones(2, 1, dtype=dtype), torch.tensor([0.0, -0.5], dtype=dtype)
    weights = {"linear1.weight": split, "linear1.bias": shift}
    for layer in range(2, k + 1):
        weights[f"linear{layer}.weight"], weights[f"linear{layer}.bias"] = split @ read, shift
    weights[f"linear{k + 1}.weight"], weights[f"linear{k + 1}.bias"] = read, torch.zeros(1, dtype=dtype)
    net.load_state_dict(weights)
    return net, weights


def layer_weights(net: torch.nn.Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (W, b) of each linear layer of an :func:`mlp`, as float64 numpy arrays."""
    return [(m.weight.detach().cpu().double().numpy(), m.bias.detach().cpu().double().numpy()) for m in net if isinstance(m, torch.nn.Linear)]


@dataclass(frozen=True)
class PiecewiseAffine:
    """A univariate continuous piecewise-affine function: kinks ``points`` (with both ends), ``values`` there, ``slopes`` per segment, ``pieces``."""

    points: np.ndarray
    values: np.ndarray
    slopes: np.ndarray
    pieces: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.points, self.values)


def exact_pieces(layers: list[tuple[np.ndarray, np.ndarray]], *, lo: float, hi: float, slope_rtol: float = 1e-9) -> PiecewiseAffine:
    r"""The exact piecewise-affine form of a scalar ReLU net on [lo, hi] by breakpoint propagation.

    Layer by layer, the hidden values are affine between the current points; each pre-activation
    that changes sign strictly inside a segment adds its zero as a new point. Segment slopes are
    products :math:`W_L D_{L-1} \cdots D_1 W_1` with the activation patterns :math:`D_l` at the
    segment midpoints (no difference quotients); adjacent segments with equal slopes (relative
    tolerance ``slope_rtol``) are one piece. Cost: O(N m^2) per layer for N points.
    """
    x = np.array([lo, hi], dtype=np.float64)
    h = x[:, None]
    for W, b in layers[:-1]:
        z = h @ W.T + b
        a, c = z[:-1], z[1:]
        cross = a * c < 0
        i, _ = np.nonzero(cross)
        new = x[i] + a[cross] / (a[cross] - c[cross]) * (x[i + 1] - x[i])
        grid = np.unique(np.concatenate([x, new]))
        grid = grid[np.concatenate([[True], np.diff(grid) > 1e-13 * (hi - lo)])]
        h = np.stack([np.interp(grid, x, col) for col in h.T], axis=1)
        x = grid
        h = np.maximum(h @ W.T + b, 0.0)
    W, b = layers[-1]
    values = (h @ W.T + b)[:, 0]
    hm, s = ((x[:-1] + x[1:]) / 2)[:, None], np.ones((len(x) - 1, 1))
    for W, b in layers[:-1]:
        pre = hm @ W.T + b
        s, hm = (s @ W.T) * (pre > 0), np.maximum(pre, 0.0)
    slopes = (s @ layers[-1][0].T)[:, 0]
    scale = max(1.0, float(np.abs(slopes).max()))
    pieces = 1 + int(np.sum(np.abs(np.diff(slopes)) > slope_rtol * scale))
    return PiecewiseAffine(x, values, slopes, pieces)


def error_to_tent(f: PiecewiseAffine, k: int) -> tuple[float, float]:
    r"""Exact :math:`(\|f - t^k\|_{L^1[0,1]}, \|f - t^k\|_\infty)`: f - t^k is affine between the union of kinks."""
    x = np.union1d(f.points[(f.points > 0) & (f.points < 1)], np.arange(2**k + 1) / 2**k)
    d = f(x) - tent_power(x, k)
    h, d0, d1 = np.diff(x), d[:-1], d[1:]
    same = d0 * d1 >= 0
    denom = np.where(same, 1.0, np.abs(d0) + np.abs(d1))
    seg = np.where(same, h * (np.abs(d0) + np.abs(d1)) / 2, h * (d0**2 + d1**2) / (2 * denom))
    return float(seg.sum()), float(np.abs(d).max())


def shallow_error_bound(k: int, pieces: int) -> float:
    r"""Derived lower bound :math:`(2^{k-1} - 1 - p)/2^{k+2}` on the L1 error of any p-piece f to :math:`t^k` (module docstring)."""
    return max(0.0, (2 ** (k - 1) - 1 - pieces) / 2 ** (k + 2))


def shallow_fit(k: int, width: int, *, steps: int, lr: float, grid_exp: int, rng: np.random.Generator | None = None,
                description: str = "shallow fit", progress: bool = False) -> tuple[torch.nn.Sequential, dict[str, torch.Tensor]]:
    r"""A width-``width`` one-hidden-layer ReLU net fit to :math:`t^k` on a dyadic grid of spacing :math:`2^{-grid\_exp}`.

    Init: neuron 1 is :math:`\sigma(x)` (the linear part), neurons 2..m sit at ``width - 1`` evenly
    spaced kinks of :math:`t^k`; with ``rng`` and ``width < 2^k`` each of these kinks is moved by a
    uniform random offset of at most half a piece, :math:`2^{-k-1}` (a random fit; at ``width = 2^k`` all
    kinks are used, unmoved). Output weights by least squares (numpy lstsq). Then all weights are
    refined by Adam on the mean squared error (the training loop); the better of the two is kept.
    """
    x = np.arange(2**grid_exp + 1) / 2**grid_exp
    y = tent_power(x, k)
    kinks = np.arange(1, 2**k) / 2**k
    chosen = kinks[np.round(np.linspace(0, len(kinks) - 1, width - 1)).astype(int)] if width > 1 else np.zeros(0)
    if rng is not None and width < 2**k:
        chosen = np.clip(chosen + rng.uniform(-0.5, 0.5, len(chosen)) / 2**k, 0.0, 1.0)
    beta = np.concatenate([[0.0], chosen])
    A = np.concatenate([np.maximum(x[:, None] - beta, 0.0), np.ones((len(x), 1))], axis=1)
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    net = mlp([1, width, 1], activation="relu", generator=torch.Generator(), dtype=torch.float64)
    params = {"linear1.weight": torch.ones(width, 1, dtype=torch.float64), "linear1.bias": torch.tensor(-beta),
              "linear2.weight": torch.tensor(coef[None, :-1]), "linear2.bias": torch.tensor(coef[-1:])}
    fm = functionalize(net)
    X, Y = torch.tensor(x)[:, None], torch.tensor(y)[:, None]

    def mse(p, batch=None):
        return torch.mean((fm(p, X) - Y) ** 2)

    if steps > 0:
        res = train(mse, params, steps=steps, optimizer=adam(lr), description=description, progress=progress)
        if float(mse(res.params)) < float(mse(params)):
            params = {n: v.detach() for n, v in res.params.items()}
    net.load_state_dict(params)
    return net, params


@register
class DepthSeparation(Experiment):
    """A width-2 ReLU net of depth k computes the 2^k-piece sawtooth exactly; nets of depth L and width m have at most (2m)^L pieces, so one hidden layer needs width ~2^k."""

    id = "intro/depth-separation"
    lecture = 1
    title = "Depth separation: the k-fold tent map (Telgarsky's sawtooth)"
    papers = ("telgarsky2016", "eldan2016")

    class Config(ExperimentConfig):
        max_depth: int = Field(8, ge=1, le=20, description="largest k of the k-fold tent map built by the width-2 deep net (k = 1..max_depth)")
        random_depths: list[Annotated[int, Field(ge=1, le=8)]] = Field([1, 2, 3, 4], min_length=1, max_length=8, description="hidden-layer counts L of the random ReLU nets")
        random_widths: list[Annotated[int, Field(ge=1, le=64)]] = Field([2, 4, 8], min_length=1, max_length=16, description="hidden widths m of the random ReLU nets")
        random_nets: int = Field(20, ge=1, le=1000, description="random nets (PyTorch default init) per (L, m)")
        random_domain: float = Field(4.0, gt=0, le=1000, description="pieces of the random nets are counted on [-R, R] (the bound holds on any interval; a 4097-point grid, so a huge R only blurs the count)")
        shallow_k: int = Field(6, ge=1, le=10, description="k of the tent map fit by one-hidden-layer nets (k = 1: the negative control, no separation)")
        shallow_widths: list[Annotated[int, Field(ge=1, le=1024)]] = Field([1, 2, 4, 8, 16, 32, 64], min_length=1, max_length=16,
                                                                      description="widths m of the one-hidden-layer fits (each <= 2^shallow_k <= 2^10)")
        fit_steps: int = Field(300, ge=0, le=10_000_000, description="Adam steps refining each shallow fit after least squares")
        fit_lr: float = Field(1e-3, gt=0, le=1, description="Adam step size of the refinement (Adam moves each weight by about lr per step)")

        @model_validator(mode="after")
        def _widths_fit(self):
            bad = [m for m in self.shallow_widths if m > 2**self.shallow_k]
            if bad:
                raise ValueError(f"`shallow_widths` must be <= 2^shallow_k = {2**self.shallow_k} (width 2^k already fits exactly); got {bad}")
            return self

    presets = {
        "tiny": {"max_depth": 4, "random_depths": [1, 2], "random_widths": [2, 4], "random_nets": 3, "shallow_k": 5, "shallow_widths": [2, 4, 32], "fit_steps": 20},
        "quick": {},
        "full": {"max_depth": 12, "random_depths": [1, 2, 3, 4, 5, 6], "random_widths": [2, 4, 8, 16], "random_nets": 100,
                 "shallow_k": 8, "shallow_widths": [1, 2, 4, 8, 16, 32, 64, 128, 256], "fit_steps": 2000},
    }

    def run(self, config: Config, log: RunLog) -> None:
        arrays: dict[str, np.ndarray] = {}
        # (1)-(2) the deep construction against the exact rational tent map
        ks = list(range(1, config.max_depth + 1))
        deep_pieces = []
        grid_exp = config.max_depth + 2
        xs = [Fraction(i, 2**grid_exp) for i in range(2**grid_exp + 1)]
        X = torch.tensor([float(v) for v in xs], dtype=torch.float64)[:, None]
        for k in ks:
            net, weights = tent_network(k)
            with torch.no_grad():
                out = net(X)[:, 0].numpy()
            exact = [tent_power_exact(v, k) for v in xs]
            err = max(abs(Fraction(float(o)) - e) for o, e in zip(out, exact, strict=True))
            net_grid = count_pieces_on_grid([Fraction(float(v)) for v in X[:, 0]], [Fraction(float(o)) for o in out])
            oracle = count_pieces_on_grid(xs, exact)
            prop = exact_pieces(layer_weights(net), lo=0.0, hi=1.0).pieces
            deep_pieces.append(net_grid)
            log.claim(f"deep_exact_k{k}", f"k={k}: the width-2 net with {k} hidden layers equals t^k at all {len(xs)} dyadic grid points (max |error|, exact rationals)",
                      measured=float(err), expected="= 0 (exact)", holds=err == 0, source=SOURCE_NET, oracle="fractions.Fraction evaluation of t^k", kind="check")
            log.claim(f"deep_pieces_k{k}", f"k={k}: pieces of the net's output on [0,1] (grid slope changes; Fraction oracle {oracle}, breakpoint propagation {prop}) = 2^k",
                      measured=net_grid, expected=f"= {2**k} (and both oracles agree)", holds=net_grid == oracle == prop == 2**k, source=SOURCE_NET,
                      oracle="exact slope changes of t^k on a dyadic grid holding every kink (Fraction); exact breakpoint propagation", kind="check")
            arrays[f"deep_k{k}_output"] = out
            arrays.update({f"deep_k{k}_{n}": v.numpy() for n, v in weights.items()})
        arrays["grid"] = X[:, 0].numpy()
        log.metric("deep_pieces_max_depth", deep_pieces[-1])
        # (3) random nets never exceed the bounds
        rand = self._random_nets(config, log, arrays)
        # (4) shallow nets cannot fit
        shallow = self._shallow(config, log, arrays)
        log.artifact("grid_outputs_weights", **arrays)
        self._figures(log, config, ks, deep_pieces, rand, shallow, X[:, 0].numpy())

    @staticmethod
    def _random_nets(config, log: RunLog, arrays: dict) -> dict[tuple[int, int], list[int]]:
        R = config.random_domain
        pieces: dict[tuple[int, int], list[int]] = {}
        worst_tel, worst_ref, worst_match = 0.0, 0.0, 0.0
        xt = torch.linspace(-R, R, 4097, dtype=torch.float64)[:, None]
        for L in config.random_depths:
            for m in config.random_widths:
                g = log.generator("random", L, m, device="cpu")  # exact rational arithmetic on the host: the device option does not apply
                counts = []
                for _ in range(config.random_nets):
                    net = mlp([1] + [m] * L + [1], activation="relu", init="pytorch", generator=g, dtype=torch.float64)
                    f = exact_pieces(layer_weights(net), lo=-R, hi=R)
                    with torch.no_grad():
                        y = net(xt)[:, 0].numpy()
                    worst_match = max(worst_match, float(np.abs(f(xt[:, 0].numpy()) - y).max() / max(1.0, np.abs(y).max())))
                    counts.append(f.pieces)
                pieces[(L, m)] = counts
                worst_tel = max(worst_tel, max(counts) / (2 * m) ** L)
                worst_ref = max(worst_ref, max(counts) / (m + 1) ** L)
                arrays[f"random_L{L}_m{m}_pieces"] = np.array(counts)
                log.metric(f"random_L{L}_m{m}_max_pieces", max(counts))
        log.claim("random_below_telgarsky", "random ReLU nets: max over nets and (L, m) of pieces / (2m)^L",
                  measured=worst_tel, expected="<= 1", holds=worst_tel <= 1, source=SOURCE_BOUND, oracle="exact breakpoint propagation (checked against the torch forward)")
        log.claim("random_below_refined", "random ReLU nets: max of pieces / (m+1)^L (one hidden layer: pieces <= m+1)",
                  measured=worst_ref, expected="<= 1", holds=worst_ref <= 1, source="each of m ReLUs adds at most one kink per affine interval of its input (module docstring)",
                  oracle="exact breakpoint propagation")
        log.claim_less("random_pl_form_matches_forward", "the propagated piecewise-affine form reproduces the torch forward on 4097 points (max relative error)",
                       worst_match, 1e-9, source="float64 rounding", oracle="torch forward pass of the same nets", kind="check")
        return pieces

    @staticmethod
    def _shallow(config, log: RunLog, arrays: dict) -> dict[str, list[float]]:
        k = config.shallow_k
        out: dict[str, list[float]] = {"width": [], "l1": [], "sup": [], "bound": [], "pieces": []}
        budget = 2 * k  # width of the one-hidden-layer net with the deep net's 6k + 1 parameters (3m + 1 = 6k + 1)
        for m in sorted({*config.shallow_widths, budget}):
            net, params = shallow_fit(k, m, steps=config.fit_steps, lr=config.fit_lr, grid_exp=k + 4, rng=log.rng("shallow", m),
                                      description=f"width {m}", progress=log.progress)
            f = exact_pieces(layer_weights(net), lo=0.0, hi=1.0)
            l1, sup = error_to_tent(f, k)
            bound = shallow_error_bound(k, m + 1)
            arrays.update({f"shallow_m{m}_{n}": v.numpy() for n, v in params.items()})
            log.metric(f"shallow_m{m}_l1_error", l1)
            log.metric(f"shallow_m{m}_sup_error", sup)
            if m == budget:
                b = (2 ** (k - 1) - 2 - 2 * k) / 2 ** (k + 2)  # shallow_error_bound(k, 2k + 1) before clipping at 0
                log.metric("budget_width", m)
                log.metric("budget_l1_bound", b)
                log.claim("separation_at_budget", f"k={k}: the one-hidden-layer net with the deep net's {6 * k + 1} parameters (width {m}, <= {m + 1} pieces), "
                          f"fitted (least squares + Adam), keeps an L1 error to t^k of at least the positive piece-count bound (the deep width-2 net: error 0)",
                          measured=l1, expected=f">= {b:.4g} (> 0 needed: a separation)", holds=b > 0 and l1 >= b, source=SOURCE_SHALLOW + "; Telgarsky 2016, Thm 1.1 (depth k vs width 2^k)",
                          oracle="exact integral of |f - t^k| between the union of kinks")
                if m not in config.shallow_widths:
                    continue
            for key, v in (("width", m), ("l1", l1), ("sup", sup), ("bound", bound), ("pieces", f.pieces)):
                out[key].append(v)
            log.claim(f"shallow_pieces_m{m}", f"width {m}: pieces of the fitted one-hidden-layer net on [0,1] <= m + 1", measured=f.pieces, expected=f"<= {m + 1}",
                      holds=f.pieces <= m + 1, source=SOURCE_BOUND, oracle="exact breakpoint propagation", kind="check")
            if bound > 0:
                log.claim(f"shallow_l1_m{m}", f"k={k}, width {m} (<= {m + 1} pieces): L1 error of the fitted shallow net stays above the piece-count bound",
                          measured=l1, expected=f">= {bound:.4g}", holds=l1 >= bound, source=SOURCE_SHALLOW, oracle="exact integral of |f - t^k| between the union of kinks")
            if m + 1 <= 2 ** (k - 1) - 2:
                log.claim(f"shallow_sup_m{m}", f"k={k}, width {m}: sup error >= 1/2 (a wrong-sided tooth apex)", measured=sup, expected=">= 0.5", holds=sup >= 0.5,
                          source=SOURCE_SHALLOW, oracle="exact max of |f - t^k| over the union of kinks")
            if m == 2**k:
                log.claim_less(f"shallow_exact_m{m}", f"width 2^k = {m}: relu(x) plus one ReLU per interior kink fits t^k (sup error; a construction)", sup, 1e-9,
                               source="t^k has 2^k - 1 interior kinks; float64 least squares", oracle="exact max of |f - t^k| over the union of kinks", kind="check")
        return out

    @staticmethod
    def _figures(log: RunLog, config, ks, deep_pieces, rand, shallow, x) -> None:
        show = [k for k in ks if k <= 4]
        fig, axes = figure(len(show), 1, squeeze=False, width=3.2, height=2.8)
        xf = np.linspace(0, 1, 2049)
        for ax, k in zip(axes[0], show, strict=True):
            net, _ = tent_network(k)
            with torch.no_grad():
                y = net(torch.tensor(xf)[:, None])[:, 0].numpy()
            ax.plot(xf, y, color=PALETTE[0], linewidth=3.0, alpha=0.45, label=f"deep net ({k} hidden layers, width 2)")
            ax.plot(xf, tent_power(xf, k), **THEORY, label="t^k (exact)")
            ax.set(xlabel="x", ylabel="output", title=f"k = {k}: {2**k} pieces")
        axes[0][0].legend(fontsize=7, loc="lower center")
        log.figure("sawtooth", fig)

        fig, ax = figure(1, 1, width=5.4, height=4.0)
        ax.plot(ks, deep_pieces, "o", color=PALETTE[0], label="tent net, width 2 (measured)", zorder=4)
        kk = np.arange(1, max(ks + config.random_depths) + 1)
        ax.plot(kk, 2.0**kk, **THEORY, label="2^k")
        ax.plot(kk, 4.0**kk, color=PALETTE[0], linestyle=":", label="bound (2m)^L, m = 2")
        ax.plot(kk, 3.0**kk, color=PALETTE[0], linestyle="-.", linewidth=0.8, label="refined (m+1)^L, m = 2")
        for i, m in enumerate(config.random_widths):
            Ls = config.random_depths
            ax.plot(Ls, [max(rand[(L, m)]) for L in Ls], "s-", color=PALETTE[(i + 1) % len(PALETTE)], markersize=4, label=f"random nets, m = {m} (max)")
        ax.set(yscale="log", xlabel="hidden layers L (= k for the tent net)", ylabel="affine pieces", title="Pieces grow exponentially only with depth")
        ax.legend(fontsize=7)
        log.figure("pieces_vs_depth", fig)

        k = config.shallow_k
        fig, ax = figure(1, 1, width=5.0, height=3.8)
        w = np.array(shallow["width"], dtype=float)
        ax.plot(w, shallow["l1"], "o-", color=PALETTE[1], label="fitted 1-hidden-layer net: L1 error")
        ax.plot(w, shallow["sup"], "^-", color=PALETTE[2], label="fitted 1-hidden-layer net: sup error")
        pos = np.array(shallow["bound"]) > 0
        ax.plot(w[pos], np.array(shallow["bound"])[pos], **THEORY, marker=".", label="L1 lower bound (pieces <= m+1)")
        ax.axvline(2**k - 1, color=PALETTE[5], linestyle=":", label=f"m = 2^k - 1 = {2**k - 1} (pieces allow exact)")
        ax.set(xscale="log", xlabel="width m (one hidden layer)", ylabel="error to t^k on [0,1]",
               title=f"k = {k}: shallow nets need width ~2^k (depth {k}, width 2: error 0)")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0.0)
        ax.legend(fontsize=7)
        log.figure("shallow_error_vs_width", fig)
