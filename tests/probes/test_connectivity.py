"""Connectivity probes against independent references: a dense loop over t that loads the
parameters into a copy of the module, closed forms of the barrier for a linear model with a
quadratic loss, and the straight line that a Bezier curve with the midpoint as control is."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar
from torch import nn
from torch.nn.utils import vector_to_parameters

from dltheory.core import flatten, functionalize, isolated_global_rng
from dltheory.probes.connectivity import Curve, barrier, curve_profile, fit_curve
from dltheory.probes.landscape import loss_line, top1_error

D = torch.float64


def _data(n=24, d=5, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=D), torch.randint(0, classes, (n,), generator=g)


def _mlp(seed=0):
    with isolated_global_rng(seed, "mlp"):
        return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).to(D)


_NETS: dict[int, nn.Module] = {}


def _loop(model, params, X, y, f):
    """Reference: load the flat parameters into a (cached) copy of the module and evaluate."""
    net = _NETS.setdefault(id(model), copy.deepcopy(model))
    vector_to_parameters(flatten(params), net.parameters())
    with torch.no_grad():
        return float(f(net.eval()(X), y))


def _lerp(a, b, t):
    return {k: (1 - t) * a[k] + t * b[k] for k in a}


@pytest.mark.parametrize("metric", ["loss", "error"])
def test_barrier_matches_dense_loop(metric):
    model, (X, y) = _mlp(), _data()
    a, b = functionalize(model).params, functionalize(_mlp(1)).params
    f = F.cross_entropy if metric == "loss" else top1_error
    res = barrier(model, F.cross_entropy, (X, y), a, b, n=11, metric=metric)
    fa, fb = _loop(model, a, X, y, f), _loop(model, b, X, y, f)
    assert res.f_a == pytest.approx(fa, rel=1e-12) and res.f_b == pytest.approx(fb, rel=1e-12)
    for t, v in zip(res.ts[::7], res.values[::7], strict=True):  # every evaluated point is the loop's value
        assert v == pytest.approx(_loop(model, _lerp(a, b, t), X, y, f), rel=1e-10, abs=1e-12)
    dense_t = np.linspace(0, 1, 401)
    dense = np.array([_loop(model, _lerp(a, b, t), X, y, f) for t in dense_t]) - ((1 - dense_t) * fa + dense_t * fb)
    if metric == "loss":  # smooth: the refined max matches the dense one up to the grid's O(h^2)
        assert res.value == pytest.approx(max(dense.max(), 0.0), rel=1e-5, abs=1e-9)
        assert res.t_max == pytest.approx(dense_t[np.argmax(dense)], abs=2e-3)
    else:  # piecewise constant: the refinement may find a plateau the dense grid misses, never less
        assert res.value >= barrier(model, F.cross_entropy, (X, y), a, b, n=11, metric=metric, refine=False).value
        assert res.value >= dense.max() - 1.0 / len(y) - 1e-12
    assert res.value >= 0


def _linear(seed=0):
    with isolated_global_rng(seed, "lin"):
        return nn.Linear(4, 2, bias=False).to(D)


def test_barrier_closed_form_quadratic():
    # linear model, MSE mean over the n*k entries: along the line the loss is a quadratic in t and
    # f(t) - ((1-t) f(a) + t f(b)) = -t(1-t) ||X(a-b)^T||_F^2 / (n k).
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randn(30, 4, generator=g, dtype=D), torch.randn(30, 2, generator=g, dtype=D)
    model = _linear()
    a = {"weight": torch.randn(2, 4, generator=g, dtype=D)}
    b = {"weight": torch.randn(2, 4, generator=g, dtype=D)}
    c = float(((X @ (a["weight"] - b["weight"]).T) ** 2).sum()) / Y.numel()
    convex = barrier(model, F.mse_loss, (X, Y), a, b, n=8)
    assert convex.value == 0.0 and convex.t_max in (0.0, 1.0)  # convex along the line: max gap at an endpoint
    neg = barrier(model, lambda o, t: -F.mse_loss(o, t), (X, Y), a, b, n=8)  # concave: gap t(1-t) c, max c/4 at 1/2
    coarse = barrier(model, lambda o, t: -F.mse_loss(o, t), (X, Y), a, b, n=8, refine=False)
    assert neg.value == pytest.approx(c / 4, rel=1e-5)
    assert neg.t_max == pytest.approx(0.5, abs=1e-3)
    assert coarse.value < neg.value - 1e-3 * c  # the 8-point grid misses t = 1/2; refining finds it
    np.testing.assert_allclose(neg.gaps, neg.ts * (1 - neg.ts) * c, rtol=1e-9, atol=1e-12)


def test_barrier_refines_an_asymmetric_maximum():
    # f = -(MSE)^2 along the line: a quartic in t with its maximum off the grid; oracle: scipy
    g = torch.Generator().manual_seed(2)
    X, Y = torch.randn(30, 4, generator=g, dtype=D), torch.randn(30, 2, generator=g, dtype=D)
    model = _linear()
    a = {"weight": torch.randn(2, 4, generator=g, dtype=D)}
    b = {"weight": 0.3 * torch.randn(2, 4, generator=g, dtype=D)}

    def f(o, t):
        return -F.mse_loss(o, t) ** 2

    def gap(t):
        w = (1 - t) * a["weight"] + t * b["weight"]
        fa, fb = -float(F.mse_loss(X @ a["weight"].T, Y)) ** 2, -float(F.mse_loss(X @ b["weight"].T, Y)) ** 2
        return -float(F.mse_loss(X @ w.T, Y)) ** 2 - ((1 - t) * fa + t * fb)

    opt = minimize_scalar(lambda t: -gap(t), bounds=(0, 1), method="bounded", options={"xatol": 1e-10})
    res = barrier(model, f, (X, Y), a, b, n=10)
    assert res.value == pytest.approx(-opt.fun, rel=1e-5)
    assert res.t_max == pytest.approx(opt.x, abs=2e-3)


def test_bezier_with_midpoint_control_is_the_straight_line():
    model, (X, y) = _mlp(), _data()
    a, b = functionalize(model).params, functionalize(_mlp(1)).params
    mid = {k: 0.5 * (a[k] + b[k]) for k in a}
    curve = Curve("bezier", a, mid, b)
    ts = np.linspace(0, 1, 13)
    prof = curve_profile(curve, model, F.cross_entropy, (X, y), ts=ts, metrics={"err": top1_error})
    line = loss_line(model, F.cross_entropy, (X, y), a, endpoint=b, ts=ts, metrics={"err": top1_error})
    np.testing.assert_allclose(prof.loss, line.loss, rtol=1e-12)
    np.testing.assert_allclose(prof.metrics["err"], line.metrics["err"], atol=1e-12)
    for t in (0.0, 0.3, 1.0):
        for k in a:
            torch.testing.assert_close(curve.params_at(t)[k], (1 - t) * a[k] + t * b[k], rtol=1e-12, atol=1e-14)
    assert prof.endpoints["loss"][0] == pytest.approx(_loop(model, a, X, y, F.cross_entropy), rel=1e-12)
    straight = barrier(model, F.cross_entropy, (X, y), a, b, n=13, refine=False)
    assert prof.max_gap["loss"] == pytest.approx(straight.value, rel=1e-10, abs=1e-14)


def test_polychain_and_bezier_formulas():
    g = torch.Generator().manual_seed(0)
    a, th, b = ({"w": torch.randn(3, 2, generator=g, dtype=D)} for _ in range(3))
    poly = Curve("polychain", a, th, b)
    torch.testing.assert_close(poly.params_at(0.25)["w"], 0.5 * (a["w"] + th["w"]))
    torch.testing.assert_close(poly.params_at(0.5)["w"], th["w"])
    torch.testing.assert_close(poly.params_at(0.75)["w"], 0.5 * (th["w"] + b["w"]))
    bez = Curve("bezier", a, th, b)
    torch.testing.assert_close(bez.params_at(0.5)["w"], 0.25 * a["w"] + 0.5 * th["w"] + 0.25 * b["w"])
    torch.testing.assert_close(bez.params_at(1.0)["w"], b["w"])


def _factorization():
    """y = w2 * w1 * x: the minima form the hyperbola w1 w2 = 1; the chord between two of its
    points leaves it (loss > 0), a curve can follow it."""
    with isolated_global_rng(0, "fact"):
        model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)).to(D)
    x = torch.randn(32, 1, generator=torch.Generator().manual_seed(0), dtype=D)
    a = {"0.weight": torch.tensor([[3.0]], dtype=D), "1.weight": torch.tensor([[1 / 3]], dtype=D)}
    b = {"0.weight": torch.tensor([[1 / 3]], dtype=D), "1.weight": torch.tensor([[3.0]], dtype=D)}
    return model, (x, x), a, b


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_fit_curve_lowers_the_barrier(kind):
    model, data, a, b = _factorization()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    straight = barrier(model, F.mse_loss, data, a, b)
    curve = fit_curve(model, F.mse_loss, data, a, b, kind=kind, steps=300, lr=0.05, optimizer="gd", generator=torch.Generator().manual_seed(0))
    prof = curve_profile(curve, model, F.mse_loss, data)
    assert straight.value > 0.5  # the chord's midpoint (5/3, 5/3) has w1 w2 = 25/9
    assert prof.max_gap["loss"] < 0.25 * straight.value
    assert "loss" in curve.history.names()
    for k in a:  # endpoints fixed, control point moved, module untouched
        assert torch.equal(curve.start[k], a[k]) and torch.equal(curve.end[k], b[k])
        assert not torch.allclose(curve.control[k], 0.5 * (a[k] + b[k]))
        assert torch.equal(model.state_dict()[k], before[k])


def test_fit_curve_with_batchnorm_and_recomputed_profile():
    with isolated_global_rng(0, "bn"):
        model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3)).to(D).eval()
    X, y = _data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = functionalize(model).params
    b = {k: v + 0.5 * torch.randn(v.shape, generator=torch.Generator().manual_seed(1), dtype=D) for k, v in a.items()}
    curve = fit_curve(model, F.cross_entropy, [(X[:12], y[:12]), (X[12:], y[12:])], a, b, steps=5, lr=0.01)
    prof = curve_profile(curve, model, F.cross_entropy, (X, y), ts=[0.0, 0.5, 1.0], bn="recompute")
    assert np.all(np.isfinite(prof.loss))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    bar = barrier(model, F.cross_entropy, (X, y), a, b, n=3, refine=False, bn="recompute")

    def recomputed(params):  # reference: load, torch's update_bn on the data, evaluate
        net = copy.deepcopy(model)
        vector_to_parameters(flatten(params), net.parameters())
        torch.optim.swa_utils.update_bn([(X, y)], net)
        with torch.no_grad():
            return float(F.cross_entropy(net.eval()(X), y))

    assert bar.values[1] == pytest.approx(recomputed(_lerp(a, b, 0.5)), rel=1e-9)
    assert prof.loss[1] == pytest.approx(recomputed(curve.params_at(0.5)), rel=1e-9)

    # statistics from other data (training data), loss on held-out data: torch's update_bn on the first
    # batch only (inputs without targets too), then evaluation on all of (X, y)
    def recomputed_on(params, stats_x):
        net = copy.deepcopy(model)
        vector_to_parameters(flatten(params), net.parameters())
        torch.optim.swa_utils.update_bn([(stats_x,)], net)
        with torch.no_grad():
            return float(F.cross_entropy(net.eval()(X), y))

    held = barrier(model, F.cross_entropy, (X, y), a, b, n=3, refine=False, bn="recompute", bn_data=(X[:12],))
    assert held.values[1] == pytest.approx(recomputed_on(_lerp(a, b, 0.5), X[:12]), rel=1e-9)
    assert held.values[1] != pytest.approx(bar.values[1], rel=1e-6)
    with pytest.raises(ValueError, match="`bn_data` is only used with bn='recompute'"):
        barrier(model, F.cross_entropy, (X, y), a, b, bn_data=(X,))


def test_errors_name_the_parameter():
    model, (X, y) = _mlp(), _data()
    a = functionalize(model).params
    with pytest.raises(ValueError, match="`kind` must be one of"):
        fit_curve(model, F.cross_entropy, (X, y), a, a, kind="spline")
    with pytest.raises(ValueError, match="`metric` must be one of"):
        barrier(model, F.cross_entropy, (X, y), a, a, metric="acc")
    with pytest.raises(ValueError, match="`n` must be an int >= 3"):
        barrier(model, F.cross_entropy, (X, y), a, a, n=2)
    with pytest.raises(ValueError, match="`params_b` must have the keys"):
        barrier(model, F.cross_entropy, (X, y), a, {"w": a["0.weight"]})
    with pytest.raises(ValueError, match=r"`t` must lie in \[0, 1\]"):
        Curve("bezier", a, a, a).params_at(1.5)
    with pytest.raises(ValueError, match=r"`ts` must lie in \[0, 1\]"):
        curve_profile(Curve("bezier", a, a, a), model, F.cross_entropy, (X, y), ts=[-0.1, 0.5])
    with pytest.raises(TypeError, match="`curve` must be a Curve"):
        curve_profile(a, model, F.cross_entropy, (X, y))
