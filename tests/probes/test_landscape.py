"""Landscape probes against independent references: a direct loop that loads the parameters
into a copy of the module (``vector_to_parameters``), ``torch.optim.swa_utils.update_bn``
for recomputed BatchNorm statistics, numpy SVD of the (centered) trajectory matrix for PCA
directions (the convention of sklearn's PCA, which Li et al.'s code uses)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import vector_to_parameters

from dltheory.core import flatten, functionalize, isolated_global_rng
from dltheory.probes.landscape import (
    Landscape,
    loss_line,
    loss_plane,
    pca_directions,
    random_direction,
    top1_accuracy,
    top1_error,
)

D = torch.float64


def _data(n=24, shape=(5,), classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g, dtype=D), torch.randint(0, classes, (n,), generator=g)


def _mlp():
    with isolated_global_rng(0, "mlp"):
        return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).to(D)


def _cnn():
    with isolated_global_rng(0, "cnn"):
        m = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 3)).to(D)
    X, _ = _data(16, (1, 6, 6), seed=5)
    with torch.no_grad():
        m.train()(X)  # non-trivial running statistics
    return m.eval()


def _add(p, *terms):
    return {k: v + sum(c * d[k] for c, d in terms) for k, v in p.items()}


def _reference(model, params, batches, fns, recompute=False):
    """Direct loop: load the flat parameters into a copy, evaluate each batch, weight by size."""
    net = copy.deepcopy(model)
    vector_to_parameters(flatten(params), net.parameters())
    if recompute:
        torch.optim.swa_utils.update_bn([b for b in batches], net)
    net.eval()
    n = sum(b[0].shape[0] for b in batches)
    with torch.no_grad():
        return [sum(float(f(net(b[0]), b[1])) * b[0].shape[0] / n for b in batches) for f in fns]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("split", [False, True])
def test_plane_matches_direct_loop(kind, split):
    model = _mlp() if kind == "mlp" else _cnn()
    X, y = _data(24, (5,) if kind == "mlp" else (1, 6, 6))
    data = [(X[:8], y[:8]), (X[8:], y[8:])] if split else (X, y)
    batches = data if split else [data]
    p = functionalize(model).params
    d1 = random_direction(p, generator=torch.Generator().manual_seed(1))
    d2 = random_direction(p, kind="layer", generator=torch.Generator().manual_seed(2))
    xs, ys = np.linspace(-1, 1, 4), np.linspace(-0.5, 1.5, 3)
    L = loss_plane(model, F.cross_entropy, data, p, d1, d2, xs, ys, metrics={"acc": top1_accuracy}, chunk_size=5)
    assert L.loss.shape == (4, 3) and L.vectorized
    for i, a in enumerate(xs):
        for j, b in enumerate(ys):
            ref = _reference(model, _add(p, (a, d1), (b, d2)), batches, [F.cross_entropy, top1_accuracy])
            assert L.loss[i, j] == pytest.approx(ref[0], rel=1e-10, abs=1e-12)
            assert L.metrics["acc"][i, j] == pytest.approx(ref[1], abs=1e-12)


def test_line_direction_and_endpoint_match_direct_loop():
    model, (X, y) = _mlp(), _data()
    p = functionalize(model).params
    d = random_direction(p, kind="gaussian", bias_bn="keep", generator=torch.Generator().manual_seed(3))
    q = _add(p, (1.0, d))
    ts = np.linspace(-0.5, 1.5, 9)
    by_dir = loss_line(model, F.cross_entropy, (X, y), p, d, ts=ts, metrics={"err": top1_error})
    by_end = loss_line(model, F.cross_entropy, (X, y), p, endpoint=q, ts=ts)
    for i, t in enumerate(ts):
        ref = _reference(model, {k: (1 - t) * p[k] + t * q[k] for k in p}, [(X, y)], [F.cross_entropy, top1_error])
        assert by_dir.loss[i] == pytest.approx(ref[0], rel=1e-10)
        assert by_end.loss[i] == pytest.approx(ref[0], rel=1e-10)
        assert by_dir.metrics["err"][i] == pytest.approx(ref[1], abs=1e-12)


def test_recompute_matches_swa_update_bn():
    model = _cnn()
    X, y = _data(24, (1, 6, 6), seed=7)
    batches = [(X[:12], y[:12]), (X[12:], y[12:])]  # equal sizes: update_bn's equal weights agree
    p = functionalize(model).params
    d = random_direction(p, generator=torch.Generator().manual_seed(4))
    ts = np.array([0.0, 0.4, 1.0])
    line = loss_line(model, F.cross_entropy, batches, p, d, ts=ts, bn="recompute")
    ev = loss_line(model, F.cross_entropy, batches, p, d, ts=ts, bn="eval")
    assert not line.vectorized
    for i, t in enumerate(ts):
        ref = _reference(model, _add(p, (t, d)), batches, [F.cross_entropy], recompute=True)[0]
        assert line.loss[i] == pytest.approx(ref, rel=1e-9)
    assert abs(line.loss[2] - ev.loss[2]) > 1e-6  # the policy matters at a moved point


@pytest.mark.parametrize("bn", ["eval", "recompute"])
def test_module_not_mutated(bn):
    model = _cnn().train()  # also check the mode is kept
    X, y = _data(12, (1, 6, 6))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    p = functionalize(model).params
    d = random_direction(p)
    loss_plane(model, F.cross_entropy, (X, y), p, d, d, [0.0, 1.0], [0.5], bn=bn)
    loss_line(model, F.cross_entropy, (X, y), p, d, ts=[0.3], bn=bn)
    after = model.state_dict()
    assert model.training and all(m.training for m in model.modules())
    assert list(after) == list(before)
    for k in before:
        assert torch.equal(before[k], after[k]), k


class _Branchy(nn.Module):
    """Data-dependent control flow: vmap refuses it, so the loop must take over."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(5, 3)

    def forward(self, x):
        out = self.lin(x)
        return out * 2 if float(out.sum()) > 0 else out


def test_fallback_loop_for_models_vmap_cannot_run():
    with isolated_global_rng(0, "branchy"):
        model = _Branchy().to(D)
    X, y = _data()
    p = functionalize(model).params
    d = random_direction(p, kind="gaussian", bias_bn="keep")
    ts = np.linspace(-2, 2, 5)
    L = loss_line(model, F.cross_entropy, (X, y), p, d, ts=ts)
    assert not L.vectorized
    for i, t in enumerate(ts):
        assert L.loss[i] == pytest.approx(_reference(model, _add(p, (t, d)), [(X, y)], [F.cross_entropy])[0], rel=1e-10)


def test_chunk_size_does_not_change_values():
    model, (X, y) = _mlp(), _data()
    p = functionalize(model).params
    d1, d2 = random_direction(p), random_direction(p, generator=torch.Generator().manual_seed(9))
    a = loss_plane(model, F.cross_entropy, (X, y), p, d1, d2, np.linspace(-1, 1, 3), np.linspace(-1, 1, 4), chunk_size=1)
    b = loss_plane(model, F.cross_entropy, (X, y), p, d1, d2, np.linspace(-1, 1, 3), np.linspace(-1, 1, 4), chunk_size=7)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-12)


def test_filter_normalized_direction_norms():
    model = _cnn()
    p = functionalize(model).params
    d = random_direction(p, kind="filter", generator=torch.Generator().manual_seed(0))
    for k, w in p.items():
        assert d[k].shape == w.shape and d[k].dtype == w.dtype
        if w.ndim <= 1:
            assert torch.count_nonzero(d[k]) == 0, k  # biases and BN parameters zeroed
        else:
            wn = torch.linalg.vector_norm(w.reshape(w.shape[0], -1), dim=1)
            dn = torch.linalg.vector_norm(d[k].reshape(w.shape[0], -1), dim=1)
            torch.testing.assert_close(dn, wn, rtol=1e-12, atol=0)
            assert not torch.allclose(d[k], w)
    keep = random_direction(p, kind="filter", bias_bn="keep")
    for k, w in p.items():
        if w.ndim <= 1:
            assert torch.equal(keep[k], w)  # the paper's code: copy of the point
    layer = random_direction(p, kind="layer")
    for k, w in p.items():
        if w.ndim > 1:
            assert float(layer[k].norm()) == pytest.approx(float(w.norm()), rel=1e-12)
    g = random_direction(p, kind="gaussian", bias_bn="keep")
    assert all(torch.count_nonzero(v) == v.numel() for v in g.values())


def test_filter_direction_zero_filter_gives_zero():
    p = {"w": torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=D)}
    d = random_direction(p)
    assert torch.count_nonzero(d["w"][0]) == 0 and float(d["w"][1].norm()) == pytest.approx(5.0)


@pytest.mark.parametrize("center", [True, False])
def test_pca_directions_against_numpy_svd(center):
    g = torch.Generator().manual_seed(0)
    drift = {"a": torch.randn(4, 3, generator=g, dtype=D), "b": torch.randn(3, generator=g, dtype=D)}
    traj = [{k: (1 - 0.1 * i) * v + 0.05 * torch.randn(v.shape, generator=g, dtype=D) * i**0.5 for k, v in drift.items()} for i in range(8)]
    res = pca_directions(traj, k=2, center=center)
    M = np.stack([np.concatenate([t["a"].numpy().ravel(), t["b"].numpy().ravel()]) for t in traj])
    M = M - M[-1]
    R = M[:-1] - M[:-1].mean(0) if center else M[:-1]
    _, s, Vt = np.linalg.svd(R, full_matrices=False)
    np.testing.assert_allclose(res.explained_variance_ratio, s[:2] ** 2 / np.sum(s**2), rtol=1e-10)
    for j in range(2):
        v = flatten(res.directions[j]).numpy()
        assert abs(abs(v @ Vt[j]) - 1) < 1e-10
    np.testing.assert_allclose(res.coordinates, M @ np.stack([flatten(d).numpy() for d in res.directions]).T, atol=1e-12)


def test_plots_return_figures():
    model, (X, y) = _mlp(), _data()
    p = functionalize(model).params
    d = random_direction(p)
    line = loss_line(model, F.cross_entropy, (X, y), p, d, ts=np.linspace(-1, 1, 3))
    plane = loss_plane(model, F.cross_entropy, (X, y), p, d, random_direction(p, kind="layer"), [-1, 0, 1], [-1, 0, 1], metrics={"err": top1_error})
    for fig in (line.plot(), plane.plot(), plane.plot(kind="surface", log=True), plane.plot(metric="err")):
        assert fig.axes
    with pytest.raises(ValueError, match="`kind` must be 'line'"):
        line.plot(kind="contour")
    with pytest.raises(ValueError, match="`metric` must be one of"):
        plane.plot(metric="nope")
    assert isinstance(plane, Landscape)


def test_errors_name_the_parameter():
    model, (X, y) = _mlp(), _data()
    p = functionalize(model).params
    d = random_direction(p)
    with pytest.raises(ValueError, match="`kind` must be one of"):
        random_direction(p, kind="pca")
    with pytest.raises(ValueError, match="`bias_bn` must be one of"):
        random_direction(p, bias_bn="drop")
    with pytest.raises(ValueError, match="exactly one of `direction` and `endpoint`"):
        loss_line(model, F.cross_entropy, (X, y), p, d, endpoint=p)
    with pytest.raises(ValueError, match=r"`direction\['0.weight'\]` must have shape"):
        loss_line(model, F.cross_entropy, (X, y), p, {**d, "0.weight": torch.zeros(2, 2, dtype=D)})
    with pytest.raises(ValueError, match="`bn` must be one of"):
        loss_line(model, F.cross_entropy, (X, y), p, d, bn="train")
    with pytest.raises(ValueError, match="unknown names"):
        q = {"x." + k: v for k, v in p.items()}
        loss_line(model, F.cross_entropy, (X, y), q, {"x." + k: v for k, v in d.items()})
    with pytest.raises(TypeError, match=r"`metrics\['acc'\]` must be a callable"):
        loss_line(model, F.cross_entropy, (X, y), p, d, metrics={"acc": 3})
    with pytest.raises(ValueError, match="`ts` must be a non-empty"):
        loss_line(model, F.cross_entropy, (X, y), p, d, ts=[])
    with pytest.raises(ValueError, match="`k` must be an int <="):
        pca_directions([p, d, p], k=3)
    with pytest.raises(ValueError, match="`trajectory` must be a list of at least 3"):
        pca_directions([p, d])
