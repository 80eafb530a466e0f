import pytest
import torch
from torch import nn

from dltheory.core import (
    clone_params,
    flatten,
    functionalize,
    num_params,
    tree_dot,
    tree_norm,
    unflatten,
)


def _net(bn: bool):
    torch.manual_seed(0)
    layers = [nn.Linear(4, 6)]
    if bn:
        layers.append(nn.BatchNorm1d(6))
    layers += [nn.Tanh(), nn.Linear(6, 2)]
    return nn.Sequential(*layers).double()


@pytest.mark.parametrize("bn", [False, True])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_functional_call_matches_module(bn, mode):
    net = _net(bn)
    net.train(mode == "train")
    x = torch.randn(8, 4, dtype=torch.float64)
    fm = functionalize(net)
    # the functional call does not touch the module's own running statistics
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out_f = fm(fm.params, x)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    out_m = net(x)
    torch.testing.assert_close(out_f, out_m)
    if bn:
        assert "1.running_mean" in fm.buffers
    assert list(fm.params) == [k for k, _ in net.named_parameters()]


def test_params_are_copies_and_grads_flow():
    net = _net(False)
    fm = functionalize(net)
    p = clone_params(fm.params, requires_grad=True)
    loss = fm(p, torch.ones(3, 4, dtype=torch.float64)).sum()
    grads = torch.autograd.grad(loss, list(p.values()))
    assert all(g.shape == v.shape for g, v in zip(grads, p.values(), strict=True))
    fm.params["0.weight"].add_(1.0)
    assert not torch.equal(fm.params["0.weight"], net[0].weight)


def test_frozen_parameters_go_to_buffers():
    net = _net(False)
    net[0].weight.requires_grad_(False)
    fm = functionalize(net)
    assert "0.weight" not in fm.params and "0.weight" in fm.buffers
    x = torch.randn(2, 4, dtype=torch.float64)
    torch.testing.assert_close(fm(fm.params, x), net(x))


def test_load_into_copies_params():
    net = _net(False)
    fm = functionalize(net)
    new = {k: v + 1 for k, v in fm.params.items()}
    net2 = fm.load_into(new)
    torch.testing.assert_close(net2[0].weight, net[0].weight + 1)


def test_flatten_roundtrip_and_errors():
    p = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([7.0])}
    v = flatten(p)
    assert v.shape == (7,) and num_params(p) == 7
    q = unflatten(v, p)
    assert all(torch.equal(p[k], q[k]) for k in p)
    with pytest.raises(ValueError, match=r"must have shape \(7,\)"):
        unflatten(torch.zeros(5), p)
    with pytest.raises(ValueError, match="empty"):
        flatten({})
    with pytest.raises(TypeError, match="nn.Module"):
        functionalize("not a module")


def test_tree_ops():
    a = {"x": torch.tensor([3.0]), "y": torch.tensor([4.0])}
    assert float(tree_norm(a)) == 5.0
    assert float(tree_dot(a, a)) == 25.0
