"""Curvature probes against dense references (float64, tiny MLPs and CNNs)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltheory.core import flatten, functionalize, isolated_global_rng, num_params, unflatten
from dltheory.probes.curvature import (
    dense_hessian,
    hessian_eigenvalues,
    hessian_eigenvalues_by_block,
    hessian_spectral_density,
    hessian_trace,
    hvp,
    loss_closure,
    make_hvp,
    sharpness_callback,
)
from dltheory.train import train

D = torch.float64


def _data(n=24, shape=(5,), classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g, dtype=D), torch.randint(0, classes, (n,), generator=g)


def _mlp():
    with isolated_global_rng(0, "mlp"):
        return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).to(D)


def _cnn(batchnorm: bool):
    with isolated_global_rng(0, "cnn", batchnorm):
        layers = [nn.Conv2d(1, 2, 3)]
        layers += [nn.BatchNorm2d(2)] if batchnorm else []
        layers += [nn.Tanh(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)]
        net = nn.Sequential(*layers).to(D)
    if batchnorm:  # non-trivial running statistics so eval and train mode differ
        with torch.no_grad():
            net[1].running_mean.fill_(0.3)
            net[1].running_var.fill_(2.0)
    return net


CASES = {
    "mlp": lambda: (_mlp(), _data()),
    "cnn": lambda: (_cnn(False), _data(shape=(1, 6, 6))),
    "cnn_bn": lambda: (_cnn(True), _data(shape=(1, 6, 6))),
}


def _problem(case: str, mode: str = "eval"):
    model, (X, y) = CASES[case]()
    loss = loss_closure(model, F.cross_entropy, (X, y), mode=mode)
    params = functionalize(model).params
    return loss, params, dense_hessian(loss, params), (model, X, y)


@pytest.fixture(scope="module")
def mlp_problem():
    return _problem("mlp")


@pytest.mark.parametrize("case,mode", [("mlp", "eval"), ("cnn", "eval"), ("cnn_bn", "eval"), ("cnn_bn", "train")])
@pytest.mark.parametrize("method", ["reverse", "forward", "auto"])
def test_hvp_matches_dense_hessian(case, mode, method):
    loss, params, H, _ = _problem(case, mode)
    g = torch.Generator().manual_seed(1)
    v = torch.randn(H.shape[0], generator=g, dtype=D)
    out = hvp(loss, params, unflatten(v, params), method=method)
    assert list(out) == list(params)
    torch.testing.assert_close(flatten(out), H @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(flatten(make_hvp(loss, params, method=method)(v)), H @ v, rtol=1e-10, atol=1e-12)


def test_batchnorm_modes_differ_and_model_untouched():
    _, params, H_eval, (model, X, y) = _problem("cnn_bn", "eval")
    _, _, H_train, _ = _problem("cnn_bn", "train")
    before = {k: b.clone() for k, b in model.named_buffers()}
    loss_closure(model, F.cross_entropy, (X, y), mode="train")(params)
    assert model.training  # mode of the user's module is left as it was
    for k, b in model.named_buffers():
        torch.testing.assert_close(b, before[k])  # running statistics never updated
    assert (H_eval - H_train).abs().max() > 1e-3  # batch statistics change the curvature


@pytest.mark.parametrize("case,mode", [("mlp", "eval"), ("cnn_bn", "train")])
@pytest.mark.parametrize("which,k", [("largest", 1), ("largest", 3), ("smallest", 2), ("both", 2)])
def test_eigenvalues_match_eigvalsh(case, mode, which, k):
    loss, params, H, _ = _problem(case, mode)
    ev = torch.linalg.eigvalsh(H)  # ascending
    spec = hessian_eigenvalues(loss, params, k=k, which=which, tol=1e-8, generator=torch.Generator().manual_seed(0))
    expected = {"largest": ev[-k:].flip(0), "smallest": ev[:k].flip(0), "both": torch.cat([ev[-k:].flip(0), ev[:k].flip(0)])}[which]
    assert spec.converged
    torch.testing.assert_close(spec.eigenvalues, expected, rtol=1e-6, atol=1e-9)
    # residuals are the true ||H v - lambda v|| and meet the relative tolerance
    true_res = torch.linalg.vector_norm(spec.eigenvectors @ H - spec.eigenvalues[:, None] * spec.eigenvectors, dim=1)
    torch.testing.assert_close(spec.residuals, true_res, rtol=1e-3, atol=1e-10)
    assert bool((spec.residuals <= 1e-8 * spec.eigenvalues.abs() + 1e-12).all())
    torch.testing.assert_close(torch.linalg.vector_norm(spec.eigenvectors, dim=1), torch.ones(len(expected), dtype=D))
    assert spec.hvps >= spec.iterations >= 1


def test_loose_tolerance_is_met_and_cheaper(mlp_problem):
    loss, params, H, _ = mlp_problem
    lam = torch.linalg.eigvalsh(H)[-1]
    loose = hessian_eigenvalues(loss, params, tol=1e-3)
    tight = hessian_eigenvalues(loss, params, tol=1e-10)
    assert loose.hvps < tight.hvps
    assert abs(float(loose.eigenvalues[0] - lam)) <= 1e-3 * float(lam)  # |theta - lambda| <= residual
    assert float(loose.residuals[0]) <= 1e-3 * float(loose.eigenvalues[0])


def test_warm_start_uses_fewer_hvps(mlp_problem):
    loss, params, _, _ = mlp_problem
    cold = hessian_eigenvalues(loss, params, tol=1e-6)
    g = torch.Generator().manual_seed(3)
    moved = {k: v + 1e-3 * torch.randn(v.shape, generator=g, dtype=D) for k, v in params.items()}
    lam = torch.linalg.eigvalsh(dense_hessian(loss, moved))[-1]
    cold2 = hessian_eigenvalues(loss, moved, tol=1e-6)
    warm = hessian_eigenvalues(loss, moved, tol=1e-6, v0=cold.eigenvectors[0])
    warm_dict = hessian_eigenvalues(loss, moved, tol=1e-6, v0=unflatten(cold.eigenvectors[0], params))
    assert warm.hvps < cold2.hvps
    assert warm_dict.hvps == warm.hvps
    torch.testing.assert_close(warm.eigenvalues[0], lam, rtol=1e-6, atol=0)


def test_restart_and_block_agree(mlp_problem):
    loss, params, H, _ = mlp_problem
    ev = torch.linalg.eigvalsh(H)[-3:].flip(0)
    small = hessian_eigenvalues(loss, params, k=3, tol=1e-8, max_basis=12)
    block = hessian_eigenvalues(loss, params, k=3, tol=1e-8, block_size=3)
    assert small.restarts > 0
    assert small.basis_size <= 12 + 1  # memory stays bounded by max_basis (+ one block)
    torch.testing.assert_close(small.eigenvalues, ev, rtol=1e-6, atol=0)
    torch.testing.assert_close(block.eigenvalues, ev, rtol=1e-6, atol=0)
    for spec in (small, block):  # residuals stay exact through restarts and blocks
        true_res = torch.linalg.vector_norm(spec.eigenvectors @ H - spec.eigenvalues[:, None] * spec.eigenvectors, dim=1)
        torch.testing.assert_close(spec.residuals, true_res, rtol=1e-3, atol=1e-12)


def test_trace_hutchpp_exact_with_full_sketch(mlp_problem):
    loss, params, H, _ = mlp_problem
    P = H.shape[0]
    est = hessian_trace(loss, params, method="hutchpp", matvecs=3 * P)
    assert est.std_error == 0.0
    assert est.hvps <= 3 * P
    assert math.isclose(est.value, float(H.trace()), rel_tol=1e-9, abs_tol=1e-12)


def test_trace_rtol_and_exact_budget_through_the_hessian(mlp_problem):
    """``hessian_trace(rtol=...)`` against the dense trace: exact when the budget covers P
    (P unit vectors), otherwise stopped by its 95% interval; never past the budget."""
    loss, params, H, _ = mlp_problem
    P, true = H.shape[0], float(H.trace())
    exact = hessian_trace(loss, params, rtol=0.01)
    assert exact.hvps == P and exact.std_error == 0.0 and math.isclose(exact.value, true, rel_tol=1e-10)
    ests = [hessian_trace(loss, params, rtol=0.05, matvecs=P - 1, generator=torch.Generator().manual_seed(s)) for s in range(10)]
    assert all(e.hvps <= P - 1 for e in ests)
    for e in ests:
        if e.converged:
            assert e.std_error <= 0.05 * abs(e.value) / 1.96
    z = [(e.value - true) / e.std_error for e in ests if e.std_error > 0]
    assert all(abs(x) < 4.5 for x in z), z


@pytest.mark.parametrize("method", ["hutchpp", "hutchinson"])
def test_trace_statistics(mlp_problem, method):
    """Each estimate lies within 4 reported standard errors; the mean over seeds is unbiased."""
    loss, params, H, _ = mlp_problem
    true = float(H.trace())
    ests = [hessian_trace(loss, params, method=method, matvecs=30, generator=torch.Generator().manual_seed(s)) for s in range(12)]
    z = [(e.value - true) / e.std_error for e in ests]
    assert all(abs(x) < 4 for x in z), z
    mean = sum(e.value for e in ests) / len(ests)
    se = math.sqrt(sum(e.std_error**2 for e in ests)) / len(ests)
    assert abs(mean - true) < 4 * se
    assert all(e.hvps == 30 for e in ests)


def test_density_integrates_to_one_and_matches_dense(mlp_problem):
    loss, params, H, _ = mlp_problem
    ev = torch.linalg.eigvalsh(H)
    P = ev.numel()
    n_v = 10
    dens = hessian_spectral_density(loss, params, num_probes=n_v, lanczos_steps=40, generator=torch.Generator().manual_seed(0))
    assert dens.hvps == n_v * 40
    integral = float(torch.trapezoid(dens.density, dens.grid))
    assert abs(integral - 1) < 1e-6
    torch.testing.assert_close(dens.weights.sum(1), torch.ones(n_v, dtype=D))
    # first moment: per-probe Rayleigh quotients average to tr(H)/P with std of the mean s/sqrt(n_v)
    per_probe = (dens.weights * dens.nodes).sum(1)
    assert abs(dens.moment(1) - float(H.trace()) / P) < 4 * float(per_probe.std()) / math.sqrt(n_v)
    # mass in 4 intervals vs the dense histogram: weight of an eigenvalue ~ chi2_1 / P per probe,
    # so the mass of c eigenvalues has std sqrt(2c)/P/sqrt(n_v); allow 4 std + 0.02 quadrature slack
    edges = torch.linspace(float(ev[0]) - 1e-9, float(ev[-1]) + 1e-9, 5)
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        c = int(((ev >= lo) & (ev < hi)).sum())
        assert abs(dens.mass(lo, hi) - c / P) <= 4 * math.sqrt(2 * max(c, 1)) / P / math.sqrt(n_v) + 0.02


def test_batched_accumulation_equals_full_batch():
    model, (X, y) = CASES["mlp"]()
    params = functionalize(model).params
    full = loss_closure(model, F.cross_entropy, (X, y))
    per_batch = loss_closure(model, F.cross_entropy)
    batches = [(X[:7], y[:7]), (X[7:20], y[7:20]), (X[20:], y[20:])]  # uneven sizes
    H = dense_hessian(full, params)
    v = torch.randn(H.shape[0], generator=torch.Generator().manual_seed(2), dtype=D)
    for method in ("reverse", "forward"):
        torch.testing.assert_close(flatten(hvp(per_batch, params, v, data=batches, method=method)), H @ v)
    torch.testing.assert_close(flatten(hvp(per_batch, params, v, data=(X, y))), H @ v)
    spec = hessian_eigenvalues(per_batch, params, k=2, tol=1e-9, data=batches)
    torch.testing.assert_close(spec.eigenvalues, torch.linalg.eigvalsh(H)[-2:].flip(0), rtol=1e-7, atol=0)
    est = hessian_trace(per_batch, params, matvecs=3 * H.shape[0], data=iter(batches))
    assert math.isclose(est.value, float(H.trace()), rel_tol=1e-9)


@pytest.mark.parametrize("blocks", ["module", "parameter", {"first": ["0.weight", "0.bias"], "last": ["2.weight"]}])
def test_block_eigenvalues_match_dense_blocks(mlp_problem, blocks):
    loss, params, H, _ = mlp_problem
    offsets, i = {}, 0
    for name, p in params.items():
        offsets[name] = torch.arange(i, i + p.numel())
        i += p.numel()
    named = {"module": {"0": ["0.weight", "0.bias"], "2": ["2.weight", "2.bias"]}, "parameter": {n: [n] for n in params}}
    groups = named[blocks] if isinstance(blocks, str) else blocks
    out = hessian_eigenvalues_by_block(loss, params, blocks=blocks, k=2, tol=1e-9)
    assert list(out) == list(groups)
    for name, names in groups.items():
        idx = torch.cat([offsets[n] for n in names])
        ev = torch.linalg.eigvalsh(H[idx][:, idx])
        kb = min(2, idx.numel())
        torch.testing.assert_close(out[name].eigenvalues, ev[-kb:].flip(0), rtol=1e-7, atol=1e-12)
        assert out[name].eigenvectors.shape == (kb, idx.numel())


@pytest.mark.parametrize("warm_start", [False, True])
def test_sharpness_callback_tracks_top_eigenvalue(warm_start):
    model, (X, y) = CASES["mlp"]()
    params = functionalize(model).params
    per_batch = loss_closure(model, F.cross_entropy)
    cb = sharpness_callback(per_batch, every=5, tol=1e-6, data=(X, y), warm_start=warm_start, generator=torch.Generator().manual_seed(0))
    res = train(per_batch, params, steps=12, lr=0.5, data=(X, y), callbacks=[cb], progress=False)
    steps, sharp = res.history["sharpness"]
    assert steps.tolist() == [0, 5, 10, 12]
    H = dense_hessian(loss_closure(model, F.cross_entropy, (X, y)), res.params)
    assert math.isclose(sharp[-1], float(torch.linalg.eigvalsh(H)[-1]), rel_tol=1e-5)
    assert res.history["two_over_eta"][1].tolist() == [4.0] * 4
    hvps = res.history["sharpness_hvps"][1]
    if warm_start:
        assert hvps[1:].max() < hvps[0]  # warm starts after the first evaluation


def test_sharpness_callback_after_a_crossing_of_the_top_pair():
    """The Hessian of L(w) = (w0^2 (1 + w2) + w1^2 (2 - w2)) / 2 at (0, 0, c) is diag(1 + c, 2 - c, 0): the
    top eigenvector turns from e1 to e0 as c passes 0.5. Started from the previous top eigenvector e1
    (an exact eigenvector again) Lanczos stops at once on 2 - c: the second eigenvalue. A fresh random
    start finds 1 + c."""
    from types import SimpleNamespace

    from dltheory.train.loop import StepInfo

    def loss(p):
        w = p["w"]
        return 0.5 * (w[0] ** 2 * (1 + w[2]) + w[1] ** 2 * (2 - w[2]))

    def evaluate(warm_start, starts=1):
        cb = sharpness_callback(loss, tol=1e-8, warm_start=warm_start, starts=starts, generator=torch.Generator().manual_seed(0))
        opt = SimpleNamespace(lr=0.1)
        out = []
        for c in (0.0, 0.55):
            params = {"w": torch.tensor([0.0, 0.0, c], dtype=torch.float64)}
            out.append(cb.fn(StepInfo(step=0, params=params, loss=float(loss(params)), optimizer=opt))["sharpness"])
        return out

    cold, warm = evaluate(False), evaluate(True)
    assert cold == pytest.approx([2.0, 1.55], rel=1e-8)
    assert warm == pytest.approx([2.0, 1.45], rel=1e-8)  # the failure of a warm start alone
    assert evaluate(True, starts=2) == pytest.approx([2.0, 1.55], rel=1e-8)  # a second, random start catches it


def test_sharpness_callback_second_start_catches_a_missed_top_eigenvalue():
    """Hessian diag(bulk in [0, 1.27], 9.49, 10.85): the top two stand apart from the rest (as on an MLP at the
    edge of stability, seed 729), so a random start nearly orthogonal to the top eigenvector lets 9.49 converge
    first and pass the residual test. Seed 334's first draw is such a start (found by a search over 3000 seeds,
    7 of which miss); one start reports 9.49, two report 10.85."""
    from types import SimpleNamespace

    from dltheory.train.loop import StepInfo

    P = 300
    e = torch.cat([torch.linspace(0.0, 1.27, P - 2, dtype=torch.float64), torch.tensor([9.49, 10.85], dtype=torch.float64)])

    def loss(p):
        return 0.5 * (e * p["w"] ** 2).sum()

    params = {"w": torch.zeros(P, dtype=torch.float64)}
    info = StepInfo(step=0, params=params, loss=0.0, optimizer=SimpleNamespace(lr=0.1))
    one, two = (sharpness_callback(loss, tol=1e-3, starts=k, generator=torch.Generator().manual_seed(334)).fn(info) for k in (1, 2))
    assert one["sharpness"] == pytest.approx(9.49, rel=1e-3)  # the miss
    assert two["sharpness"] == pytest.approx(10.85, rel=1e-3)
    assert two["sharpness_hvps"] > one["sharpness_hvps"]


def test_float32_follows_params_dtype(mlp_problem):
    loss, params, H, (model, X, y) = mlp_problem
    m32 = model.float()
    loss32 = loss_closure(m32, F.cross_entropy, (X.float(), y))
    p32 = functionalize(m32).params
    spec = hessian_eigenvalues(loss32, p32, k=2, tol=1e-4)
    assert spec.eigenvalues.dtype == spec.eigenvectors.dtype == torch.float32
    assert spec.eigenvectors.device == next(iter(p32.values())).device
    torch.testing.assert_close(spec.eigenvalues.double(), torch.linalg.eigvalsh(H)[-2:].flip(0), rtol=2e-4, atol=1e-6)
    tr = hessian_trace(loss32, p32, matvecs=3 * num_params(p32))
    assert math.isclose(tr.value, float(H.trace()), rel_tol=1e-4)


def test_error_paths(mlp_problem):
    loss, params, H, (model, X, y) = mlp_problem
    P = H.shape[0]
    with pytest.raises(ValueError, match=r"`k` must be an int >= 1; got 0\."):
        hessian_eigenvalues(loss, params, k=0)
    with pytest.raises(ValueError, match=rf"`k` must be an int <= {P}"):
        hessian_eigenvalues(loss, params, k=P + 1)
    with pytest.raises(ValueError, match=rf"`k` must be an int <= {P // 2}.*2k <= P"):
        hessian_eigenvalues(loss, params, k=P // 2 + 1, which="both")
    with pytest.raises(ValueError, match=r"`which` must be one of 'largest', 'smallest', 'both'; got 'top'\."):
        hessian_eigenvalues(loss, params, which="top")
    with pytest.raises(ValueError, match=r"`tol` must be a float > 0"):
        hessian_eigenvalues(loss, params, tol=0)
    with pytest.raises(ValueError, match=rf"`v0` must have shape \({P},\) or \(b, {P}\); got \(3,\)\."):
        hessian_eigenvalues(loss, params, v0=torch.ones(3, dtype=D))
    with pytest.raises(ValueError, match=rf"`vector` must have shape \({P},\)"):
        hvp(loss, params, torch.ones(P + 1, dtype=D))
    bad = {k: torch.ones(3, dtype=D) for k in params}
    with pytest.raises(ValueError, match=r"`vector\['0.weight'\]` must have shape \(6, 5\) like the parameter; got \(3,\)\."):
        hvp(loss, params, bad)
    with pytest.raises(ValueError, match=r"`vector` must be a dict with the keys of `params`"):
        hvp(loss, params, {"w": torch.ones(3)})
    with pytest.raises(ValueError, match=r"`method` must be one of 'auto', 'reverse', 'forward'; got 'fd'\."):
        hvp(loss, params, torch.ones(P, dtype=D), method="fd")
    with pytest.raises(ValueError, match=r"`method` must be one of 'adaptive', 'hutchpp', 'hutchinson'"):
        hessian_trace(loss, params, method="exact")
    with pytest.raises(ValueError, match=r"`matvecs` must be an int >= 3; got 2\."):
        hessian_trace(loss, params, method="hutchpp", matvecs=2)
    with pytest.raises(ValueError, match=r"`rtol` needs method='adaptive'; got method='hutchinson'\."):
        hessian_trace(loss, params, method="hutchinson", rtol=0.01)
    with pytest.raises(ValueError, match=r"`rtol` must be a float > 0"):
        hessian_trace(loss, params, rtol=0.0)
    with pytest.raises(ValueError, match=r"`blocks\['a'\]` must list parameter names"):
        hessian_eigenvalues_by_block(loss, params, blocks={"a": ["nope"]})
    with pytest.raises(ValueError, match=r"`blocks` must be one of 'module', 'parameter'"):
        hessian_eigenvalues_by_block(loss, params, blocks="layer")
    with pytest.raises(ValueError, match=r"`data` must hold at least one batch"):
        hvp(loss_closure(model, F.cross_entropy), params, torch.ones(P, dtype=D), data=[])
    with pytest.raises(ValueError, match=r"`mode` must be one of 'eval', 'train'"):
        loss_closure(model, F.cross_entropy, (X, y), mode="test")
    with pytest.raises(TypeError, match=r"`generator` must be a torch.Generator"):
        hessian_eigenvalues(loss, params, generator=0)


def test_dropout_policy():
    with isolated_global_rng(0, "drop"):
        model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 1)).to(D)
    X, Y = torch.zeros(4, 3, dtype=D), torch.zeros(4, 1, dtype=D)
    with pytest.raises(ValueError, match=r"`mode` must be 'eval' for a model with dropout \(modules \['1'\]\)"):
        loss_closure(model, F.mse_loss, (X, Y), mode="train")
    loss = loss_closure(model, F.mse_loss, (X + 1, Y), mode="eval")  # dropout off: deterministic
    params = functionalize(model).params
    assert float(loss(params)) == float(loss(params))
