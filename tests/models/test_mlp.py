"""models.mlp: the builder against a hand-written forward pass, init statistics, errors."""

import math

import pytest
import torch

from dltheory.core import functionalize, torch_generator
from dltheory.models.mlp import init_weight, mlp


def test_forward_matches_a_hand_written_network():
    net = mlp([3, 5, 4, 2], activation="tanh", bias=[True, True, False], generator=torch_generator(0, "i"), dtype=torch.float64)
    p = dict(net.named_parameters())
    assert list(p) == ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "linear3.weight"]
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    h = torch.tanh(x @ p["linear1.weight"].T + p["linear1.bias"])
    h = torch.tanh(h @ p["linear2.weight"].T + p["linear2.bias"])
    expected = h @ p["linear3.weight"].T
    torch.testing.assert_close(net(x), expected, rtol=0, atol=1e-14)
    fm = functionalize(net)
    torch.testing.assert_close(fm(fm.params, x), expected, rtol=0, atol=1e-14)


def test_images_are_flattened():
    net = mlp([16, 3], activation="relu", generator=torch_generator(0, "i"))
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(net(x), net(x.reshape(2, 16)))


def test_same_generator_seed_same_weights_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a = mlp([4, 8, 1], generator=torch_generator(3, "init"))
    b = mlp([4, 8, 1], generator=torch_generator(3, "init"))
    assert torch.equal(torch.random.get_rng_state(), state)
    for (ka, va), (kb, vb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert ka == kb and torch.equal(va, vb)


@pytest.mark.parametrize(("init", "var"), [("xavier_normal", 2 / (400 + 300)), ("lecun_normal", 1 / 400), ("he_normal", 2 / 400),
                                           ("pytorch", 1 / (3 * 400))])
def test_init_variances(init, var):
    w = init_weight((300, 400), fan_in=400, fan_out=300, init=init, gain=1.5, generator=torch_generator(0, init), dtype=torch.float64)
    assert float(w.var()) == pytest.approx(1.5**2 * var, rel=0.02)
    if init == "pytorch":
        assert float(w.abs().max()) <= 1.5 / math.sqrt(400)


def test_normal_inits_have_zero_bias_and_per_layer_gains():
    net = mlp([1, 100, 1], activation="tanh", bias=[True, False], init="xavier_normal", gains=[1.9, 1.0], generator=torch_generator(0, "i"))
    p = dict(net.named_parameters())
    assert torch.all(p["linear1.bias"] == 0) and "linear2.bias" not in p
    assert float(p["linear1.weight"].detach().std()) == pytest.approx(1.9 * math.sqrt(2 / 101), rel=0.2)


def test_errors():
    g = torch_generator(0, "i")
    with pytest.raises(ValueError, match="`sizes` must hold at least 2"):
        mlp([3], generator=g)
    with pytest.raises(ValueError, match="`sizes\\[1\\]` must be an int >= 1; got 0"):
        mlp([3, 0, 1], generator=g)
    with pytest.raises(ValueError, match="`activation` must be one of"):
        mlp([3, 1], activation="swish", generator=g)
    with pytest.raises(ValueError, match="`init` must be one of"):
        mlp([3, 1], init="orthogonal", generator=g)
    with pytest.raises(ValueError, match="`bias` must be a single value or one per layer \\(2\\); got 3"):
        mlp([3, 2, 1], bias=[True, True, True], generator=g)
    with pytest.raises(TypeError, match="`bias` must hold bools"):
        mlp([3, 1], bias=1, generator=g)


def test_batch_and_layer_norm_match_a_hand_written_network_and_batchnorm_is_scale_invariant():
    x = torch.randn(16, 3, generator=torch_generator(0, "x"), dtype=torch.float64)
    for norm in ("batch", "layer"):
        net = mlp([3, 5, 2], norm=norm, generator=torch_generator(0, "i"), dtype=torch.float64).train()
        assert [n for n, _ in net.named_children()] == ["flatten", "linear1", "norm1", "act1", "linear2"]
        p = dict(net.named_parameters())
        z = x @ p["linear1.weight"].T + p["linear1.bias"]
        dims = 0 if norm == "batch" else 1  # batch statistics over examples (biased variance), layer over units
        z = (z - z.mean(dims, keepdim=True)) / torch.sqrt(z.var(dims, unbiased=False, keepdim=True) + 1e-5)
        h = torch.relu(z * p["norm1.weight"] + p["norm1.bias"])
        torch.testing.assert_close(net(x), h @ p["linear2.weight"].T + p["linear2.bias"])
    # BatchNorm: scaling the first (bias-free) layer leaves the output unchanged up to BatchNorm's eps, so
    # <W1, grad W1> = 0 to within eps / var(z) (~1e-4 here)
    net = mlp([3, 5, 2], norm="batch", bias=[False, True], generator=torch_generator(0, "i"), dtype=torch.float64).train()
    fm = functionalize(net)
    y = torch.randint(0, 2, (16,), generator=torch_generator(0, "y"))
    q = {k: v.clone().requires_grad_(True) for k, v in fm.params.items()}
    (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(fm(q, x), y), [q["linear1.weight"]])
    w = q["linear1.weight"].detach()
    assert abs(float((w * g).sum())) < 1e-3 * float(w.norm() * g.norm())
    net.eval()  # with running statistics the scale matters: the control
    (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(fm.module(x), y), [fm.module.linear1.weight])
    assert abs(float((fm.module.linear1.weight.detach() * g).sum())) > 1e-2 * float(w.norm() * g.norm())
    with pytest.raises(ValueError, match="`norm` must be one of"):
        mlp([3, 5, 2], norm="group", generator=torch_generator(0, "i"))
