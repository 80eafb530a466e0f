import math

import pytest
import torch

from dltheory.core import DivergenceError
from dltheory.train import (
    Callback,
    StopTraining,
    adam,
    coordinate_descent,
    gd,
    mirror_descent,
    momentum,
    normalized_gd,
    sign_descent,
    train,
)


def _quadratic(dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    H = A @ A.T + torch.eye(dim, dtype=torch.float64)
    b = torch.randn(dim, generator=g, dtype=torch.float64)
    return H, b, (lambda p, _: 0.5 * p["w"] @ H @ p["w"] - b @ p["w"])


def test_gd_matches_closed_form_iterates():
    H, b, loss = _quadratic()
    lr = 0.5 / float(torch.linalg.eigvalsh(H)[-1])
    w_star = torch.linalg.solve(H, b)
    w0 = torch.zeros(4, dtype=torch.float64)
    res = train(loss, {"w": w0}, steps=25, optimizer="gd", lr=lr, progress=False)
    # w_t - w* = (I - lr H)^t (w0 - w*)
    expected = w_star + torch.linalg.matrix_power(torch.eye(4, dtype=torch.float64) - lr * H, 25) @ (w0 - w_star)
    torch.testing.assert_close(res.params["w"], expected)
    assert res.steps == 25
    steps, values = res.history["loss"]
    assert steps[0] == 0 and steps[-1] == 25 and len(values) == 26


def test_momentum_matches_recursion():
    H, b, loss = _quadratic()
    lr, beta = 0.01, 0.9
    w, v = torch.zeros(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    for _ in range(10):
        g = H @ w - b
        v = beta * v + g
        w = w - lr * v
    res = train(loss, {"w": torch.zeros(4, dtype=torch.float64)}, steps=10, optimizer=momentum(lr, beta=beta))
    torch.testing.assert_close(res.params["w"], w)


def test_adam_matches_torch_optim():
    H, b, loss = _quadratic()
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        loss({"w": w}, None).backward()
        opt.step()
    res = train(loss, {"w": torch.zeros(4, dtype=torch.float64)}, steps=20, optimizer=adam(0.05))
    torch.testing.assert_close(res.params["w"], w.detach())


def test_sgd_reproducible_and_weight_decay_matches_torch():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(32, 3, generator=g, dtype=torch.float64)
    y = torch.randn(32, generator=g, dtype=torch.float64)

    def loss(p, batch):
        xb, yb = batch
        return ((xb @ p["w"] - yb) ** 2).mean()

    def run(seed):
        return train(loss, {"w": torch.zeros(3, dtype=torch.float64)}, steps=30, optimizer="sgd", lr=0.1, data=(X, y), batch_size=8, generator=torch.Generator().manual_seed(seed))

    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a.params["w"], b.params["w"])
    assert not torch.equal(a.params["w"], c.params["w"])
    # full-batch GD with weight decay equals torch.optim.SGD(weight_decay)
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1, weight_decay=0.3)
    for _ in range(15):
        opt.zero_grad()
        loss({"w": w}, (X, y)).backward()
        opt.step()
    res = train(loss, {"w": torch.zeros(3, dtype=torch.float64)}, steps=15, optimizer=gd(0.1, weight_decay=0.3), data=(X, y))
    torch.testing.assert_close(res.params["w"], w.detach())


def test_divergence_names_the_step():
    H, b, loss = _quadratic()
    lr = 3.0 / float(torch.linalg.eigvalsh(H)[-1])  # above 2/L: GD diverges
    with pytest.raises(DivergenceError, match=r"diverged at step \d+.*lr=.*too large") as e:
        train(loss, {"w": torch.ones(4, dtype=torch.float64)}, steps=10_000, optimizer="gd", lr=lr)
    assert e.value.step > 0


def test_nan_loss_stops_at_first_step():
    with pytest.raises(DivergenceError, match="at step 0: loss = nan"):
        train(lambda p, _: (p["w"] * float("nan")).sum(), {"w": torch.ones(2)}, steps=5, optimizer="gd", lr=0.1)


def test_callbacks_every_and_stop():
    H, b, loss = _quadratic()
    seen = []

    def cb(info):
        seen.append(info.step)
        return {"norm": float(info.params["w"].norm())}

    res = train(loss, {"w": torch.zeros(4, dtype=torch.float64)}, steps=10, optimizer="gd", lr=0.01, callbacks=[Callback(cb, every=4)])
    assert seen == [0, 4, 8, 10]
    assert list(res.history["norm"][0]) == [0, 4, 8, 10]

    def stopper(info):
        if info.step == 3:
            raise StopTraining

    res = train(loss, {"w": torch.zeros(4, dtype=torch.float64)}, steps=10, optimizer="gd", lr=0.01, callbacks=[Callback(stopper)])
    assert res.steps == 3


def test_argument_errors():
    H, b, loss = _quadratic()
    p = {"w": torch.zeros(4, dtype=torch.float64)}
    with pytest.raises(ValueError, match="`lr` must be given"):
        train(loss, p, steps=1, optimizer="gd")
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        train(loss, p, steps=1, optimizer="lbfgs", lr=0.1)
    with pytest.raises(ValueError, match="`steps` must be an int >= 0"):
        train(loss, p, steps=-1, optimizer="gd", lr=0.1)
    with pytest.raises(ValueError, match="`lr` must be a float > 0"):
        gd(-1.0)
    with pytest.raises(TypeError, match="scalar tensor"):
        train(lambda q, _: q["w"], p, steps=1, optimizer="gd", lr=0.1)


def test_geometry_optimizers_single_steps():
    p = {"w": torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)}
    g = {"w": torch.tensor([0.3, -1.0, 0.2], dtype=torch.float64)}
    new, _ = coordinate_descent(0.5).update(p, g, None, 0)
    torch.testing.assert_close(new["w"], torch.tensor([1.0, -1.5, 0.5], dtype=torch.float64))
    new, _ = sign_descent(0.1).update(p, g, None, 0)
    torch.testing.assert_close(new["w"], p["w"] - 0.1 * 1.5 * torch.sign(g["w"]))
    new, _ = normalized_gd(0.1).update(p, g, None, 0)
    torch.testing.assert_close(new["w"], p["w"] - 0.1 * g["w"] / g["w"].norm())
    new_md, _ = mirror_descent(0.1, p=2.0).update(p, g, None, 0)
    torch.testing.assert_close(new_md["w"], p["w"] - 0.1 * g["w"])
    # p = 3: grad psi(w) = sign(w) w^2; inverse map sign(z) |z|^(1/2)
    new3, _ = mirror_descent(0.1, p=3.0).update(p, g, None, 0)
    z = torch.sign(p["w"]) * p["w"] ** 2 - 0.1 * g["w"]
    torch.testing.assert_close(new3["w"], torch.sign(z) * z.abs().sqrt())
    assert math.isclose(float(new3["w"][0]), math.sqrt(1 - 0.03))


def test_final_parameters_saved(tmp_path):
    H, b, loss = _quadratic()
    res = train(loss, {"w": torch.zeros(4, dtype=torch.float64)}, steps=5, optimizer="gd", lr=0.01, save_to=tmp_path / "final.pt")
    saved = torch.load(tmp_path / "final.pt")
    assert torch.equal(saved["params"]["w"], res.params["w"]) and saved["steps"] == 5
    assert saved["history"]["loss"][0][-1] == 5


def test_iid_sampling_draws_distinct_indices_afresh():
    X = torch.arange(10.0)[:, None]
    seen = []

    def loss(p, batch):
        seen.append(batch[1])
        return (p["w"] * batch[0][:, 0]).sum() * 0.0

    train(loss, {"w": torch.zeros(1)}, steps=50, optimizer="sgd", lr=0.1, data=(X, X[:, 0]), batch_size=3, sampling="iid", generator=torch.Generator().manual_seed(0))
    seen = seen[:50]
    assert all(len(set(b.tolist())) == 3 for b in seen)
    counts = torch.bincount(torch.cat(seen).long(), minlength=10)
    assert counts.min() > 0  # every sample is drawn, with replacement across steps
    with pytest.raises(ValueError, match="`sampling` must be one of"):
        train(loss, {"w": torch.zeros(1)}, steps=1, optimizer="sgd", lr=0.1, data=(X, X[:, 0]), batch_size=3, sampling="bootstrap", generator=torch.Generator())


def test_zero_steps_with_minibatches_reports_the_loss_at_the_start():
    """steps=0 with minibatches used to report NaN (and raise a divergence error)."""
    X = torch.arange(8.0)[:, None]
    y = 2 * X[:, 0]
    res = train(lambda p, b: ((b[0][:, 0] * p["w"] - b[1]) ** 2).mean(), {"w": torch.tensor(1.0)}, steps=0, optimizer="sgd", lr=0.1,
                data=(X, y), batch_size=8, progress=False)
    assert res.steps == 0 and res.final_loss == pytest.approx(float((X[:, 0] ** 2).mean()))


def test_closed_form_grad_fn_gives_the_autograd_iterates_and_a_wrong_one_is_refused():
    H, b, loss = _quadratic()
    lr = 0.5 / float(torch.linalg.eigvalsh(H)[-1])
    w0 = torch.zeros(4, dtype=torch.float64)

    def grad_fn(p, _):
        return loss(p, None), {"w": H @ p["w"] - b}

    ref = train(loss, {"w": w0}, steps=30, lr=lr, progress=False)
    fast = train(loss, {"w": w0}, steps=30, lr=lr, progress=False, grad_fn=grad_fn)
    torch.testing.assert_close(fast.params["w"], ref.params["w"], rtol=1e-12, atol=1e-14)
    assert fast.history["loss"][1] == pytest.approx(ref.history["loss"][1], rel=1e-12)
    with pytest.raises(ValueError, match="gradient of 'w' differs from autograd"):
        train(loss, {"w": w0}, steps=3, lr=lr, progress=False, grad_fn=lambda p, _: (loss(p, None), {"w": 2 * (H @ p["w"] - b)}))
    with pytest.raises(ValueError, match="dict with the keys"):
        train(loss, {"w": w0}, steps=3, lr=lr, progress=False, grad_fn=lambda p, _: (loss(p, None), H @ p["w"] - b))
