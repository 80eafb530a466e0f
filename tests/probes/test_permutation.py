"""Permutation probes against independent references.

- permuted networks compute the same function (forward passes of the original modules);
- the derived spec of an MLP equals one written by hand; resnet20's group sizes (option-A
  zero-padded shortcuts split each later stream into carried and padded blocks); a concatenation
  with the input; parameters read per unit or as they are;
- weight matching: planted permutations recovered exactly; a single-group net's matching
  equals a brute-force search over all 4! permutations, with the objective evaluated from
  explicit permutation matrices (no dltheory code); a two-group result is a coordinate-wise
  maximum checked by brute force and beats the identity;
- activation matching: planted permutations recovered exactly; on unrelated nets the result
  equals a brute-force search over numpy correlations of forward-hook activations;
- REPAIR: statistics measured with forward hooks on the returned module match the targets
  measured with hooks on A and B;
- unsupported modules / ops raise a named error.
"""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltheory.models.mlp import mlp
from dltheory.models.resnet import resnet20
from dltheory.probes.permutation import (
    PermutationSpec,
    UnsupportedModuleError,
    activation_matching,
    apply_permutation,
    identity_permutation,
    permutation_spec,
    random_permutation,
    repair,
    weight_matching,
)

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randomize_bn(net: nn.Module, seed: int) -> nn.Module:
    g = _gen(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g, dtype=m.running_mean.dtype))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g, dtype=m.running_var.dtype) + 0.5)
                m.weight.copy_(torch.randn(m.weight.shape, generator=g, dtype=m.weight.dtype))
                m.bias.copy_(torch.rand(m.bias.shape, generator=g, dtype=m.bias.dtype) + 0.5)  # > 0: no dead ReLU units
    return net


class ResBlockMLP(nn.Module):
    """x -> fc_in -> relu -> h; h + fc2(relu(fc1(h))) -> relu -> LayerNorm -> out."""

    def __init__(self, d: int = 5, h: int = 6, k: int = 7, out: int = 3):
        super().__init__()
        self.fc_in, self.fc1, self.fc2 = nn.Linear(d, h), nn.Linear(h, k), nn.Linear(k, h)
        self.ln, self.head = nn.LayerNorm(h), nn.Linear(h, out)

    def forward(self, x):
        h = F.relu(self.fc_in(x))
        h = F.relu(h + self.fc2(F.relu(self.fc1(h))))
        return self.head(self.ln(h))


class ResBlockCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.c1, self.c2 = nn.Conv2d(4, 5, 3, padding=1), nn.Conv2d(5, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h = F.relu(self.bn(self.stem(x)))
        h = F.relu(h + self.c2(F.relu(self.c1(h))))
        return self.head(F.adaptive_avg_pool2d(h, 1).flatten(1))


class Branches1d(nn.Module):
    """Two Conv1d branches concatenated along channels, a shared (reused) conv, a scale parameter."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv1d(2, 3, 3, padding=1), nn.Conv1d(2, 4, 3, padding=1)
        self.mix = nn.Conv1d(7, 5, 1)
        self.shared = nn.Conv1d(5, 5, 3, padding=1)
        self.gn = nn.GroupNorm(1, 5)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 5))
        self.head = nn.Linear(5 * 4, 2)

    def forward(self, x):
        h = torch.cat([F.relu(self.a(x)), torch.tanh(self.b(x))], dim=1)
        h = F.silu(self.gn(self.mix(h)))
        h = h + self.shared(F.relu(self.shared(h)))  # the same conv twice: one permutation in and out
        h = F.max_pool1d(h * self.scale[None, :, None], 2)
        return self.head(h.view(h.shape[0], -1))


class DenseCat(nn.Module):
    """Hidden units concatenated with the input (a DenseNet-style skip): only the hidden block permutes."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 5), nn.Linear(9, 2)

    def forward(self, x):
        return self.fc2(torch.cat([F.relu(self.fc1(x)), x], dim=-1))


class InputNormAndFrozenScale(nn.Module):
    """Buffers applied to the input (never permuted); a scale read both per hidden unit and by torch.roll."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mu", torch.linspace(-1, 1, 4))
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 5), nn.Linear(5, 6), nn.Linear(6, 2)
        self.s = nn.Parameter(torch.linspace(0.5, 2.0, 5))

    def forward(self, x):
        h = F.relu(self.fc1((x - self.mu) / 2.0)) * self.s
        return self.fc3(F.relu(self.fc2(h))) + torch.roll(self.s, 1)[:2]


def test_parameter_read_by_another_op_is_never_permuted():
    spec = permutation_spec(InputNormAndFrozenScale(), torch.zeros(2, 4))
    assert [g.name for g in spec.groups] == ["fc2"]  # fc1's units meet `s`, which torch.roll reads as it is

    class Clamped(nn.Module):  # a per-unit bound that is a plain tensor argument of clamp
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(3, 4), nn.Linear(4, 5), nn.Linear(5, 2)
            self.register_buffer("cap", torch.linspace(0.1, 1.0, 4))

        def forward(self, x):
            return self.fc3(torch.clamp(self.fc2(torch.clamp(self.fc1(x), max=self.cap)), max=1.0))

    spec = permutation_spec(Clamped(), torch.zeros(2, 3))
    assert {g.name: sorted(a.name for a in g.axes) for g in spec.groups} == {
        "fc1": ["cap", "fc1.bias", "fc1.weight", "fc2.weight"], "fc2": ["fc2.bias", "fc2.weight", "fc3.weight"]}


def _bn1d_mlp():
    return nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.2), nn.Linear(6, 4), nn.ELU(), nn.Linear(4, 2))


def _cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5), nn.GELU(), nn.AvgPool2d(2), nn.Dropout(0.1),
                         nn.Flatten(), nn.Linear(5 * 2 * 2, 6), nn.Tanh(), nn.Linear(6, 2))


def _ln_mlp():
    return nn.Sequential(nn.Linear(5, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 6), nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 2))


_BUILDERS = {
    "mlp": (lambda: mlp([5, 7, 6, 3], generator=_gen(0), dtype=DT), (10, 5)),
    "cnn_bn": (lambda: _randomize_bn(_cnn(), 1).to(DT), (4, 3, 8, 8)),
    "res_mlp_ln": (lambda: ResBlockMLP().to(DT), (10, 5)),
    "ln_mlp": (lambda: _ln_mlp().to(DT), (10, 5)),
    "res_cnn": (lambda: _randomize_bn(ResBlockCNN(), 2).to(DT), (3, 2, 6, 6)),
    "bn1d_mlp": (lambda: _randomize_bn(_bn1d_mlp(), 5).to(DT), (10, 5)),
    "conv1d_cat": (lambda: Branches1d().to(DT), (3, 2, 8)),
    "dense_cat": (lambda: DenseCat().to(DT), (6, 4)),
    "frozen": (lambda: InputNormAndFrozenScale().to(DT), (6, 4)),
    "resnet8": (lambda: _randomize_bn(resnet20(generator=_gen(3), blocks_per_stage=1, dtype=DT), 4), (2, 3, 16, 16)),
}


def _case(name):
    """A fresh copy of a test network (the same weights on every call) and its input shape."""
    build, shape = _BUILDERS[name]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build(), shape


@pytest.mark.parametrize("case", list(_BUILDERS))
def test_permuted_network_computes_the_same_function(case):
    net, shape = _case(case)
    net.eval()
    x = torch.randn(*shape, generator=_gen(5), dtype=DT)
    spec = permutation_spec(net, x)
    perms = random_permutation(spec, generator=_gen(6))
    state = net.state_dict()
    new = apply_permutation(spec, state, perms)
    moved = [k for k in state if not torch.equal(state[k], new[k])]
    assert moved, "the permutation changed nothing"
    twin = _case(case)[0].eval()
    twin.load_state_dict(new)
    with torch.no_grad():
        y, y2 = net(x), twin(x)
    torch.testing.assert_close(y2, y, rtol=1e-10, atol=1e-10)
    # every hidden parameter is covered: permuting only one group still moves something
    assert all(g.size >= 1 and g.axes for g in spec.groups)


def test_float32_tolerance_and_state_untouched():
    net, shape = _case("cnn_bn")
    net = net.float().eval()
    x = torch.randn(*shape, generator=_gen(5))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    spec = permutation_spec(net, x)
    new = apply_permutation(spec, net.state_dict(), random_permutation(spec, generator=_gen(1)))
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
    twin = _cnn().float().eval()
    twin.load_state_dict(new)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), net(x), rtol=1e-5, atol=1e-5)


def test_mlp_spec_matches_hand_written():
    net = mlp([5, 7, 6, 3], generator=_gen(0))
    spec = permutation_spec(net, torch.zeros(2, 5))
    got = {g.name: (g.size, sorted((a.name, a.axis) for a in g.axes)) for g in spec.groups}
    assert got == {
        "linear1": (7, [("linear1.bias", 0), ("linear1.weight", 0), ("linear2.weight", 1)]),
        "linear2": (6, [("linear2.bias", 0), ("linear2.weight", 0), ("linear3.weight", 1)]),
    }
    assert ("linear1.weight", 1) in spec.fixed and ("linear3.weight", 0) in spec.fixed
    assert "linear1 (size 7)" in repr(spec)


def test_resnet20_spec_groups_and_zero_padded_shortcut():
    net = resnet20(generator=_gen(0))
    spec = permutation_spec(net, torch.zeros(1, 3, 32, 32))
    # 1 stream per stage, extended by the option-A padding: 16 carried + 16 and 32 padded units;
    # one group inside each of the 9 blocks.
    sizes = sorted(g.size for g in spec.groups)
    assert sizes == sorted([16, 16, 32] + [16] * 3 + [32] * 3 + [64] * 3)
    stream1 = spec["conv"]
    fc = [a for a in stream1.axes if a.name == "fc.weight"]
    assert fc and fc[0].units == tuple(range(24, 40))  # stage-1 channels sit at 8+16 .. in stage 3


def test_concatenation_with_the_input_permutes_only_the_hidden_block():
    spec = permutation_spec(DenseCat(), torch.zeros(2, 4))
    assert [(g.name, g.size) for g in spec.groups] == [("fc1", 5)]
    assert [a for a in spec.groups[0].axes if a.name == "fc2.weight"][0].units == tuple(range(5))
    assert ("fc2.weight", 1) in spec.fixed


def test_flatten_of_conv_maps_channel_blocks():
    spec = permutation_spec(_cnn(), torch.zeros(1, 3, 8, 8))
    lin = [a for g in spec.groups for a in g.axes if a.name == "10.weight" and a.axis == 1]
    assert len(lin) == 1 and lin[0].inner == 4 and lin[0].units == tuple(range(5))


# --------------------------------------------------------------------------- weight matching


def _explicit_objective(Wa, Wb, P1, P2=None):
    """<Wa, Pi(Wb)> with permutation matrices written out: W1 -> P1 W1, b1 -> P1 b1, W2 -> P2 W2 P1^T, ..."""
    M1 = torch.eye(len(P1), dtype=DT)[list(P1)]
    if P2 is None:
        terms = [(Wa["0.weight"], M1 @ Wb["0.weight"]), (Wa["0.bias"], M1 @ Wb["0.bias"]), (Wa["2.weight"], Wb["2.weight"] @ M1.T)]
    else:
        M2 = torch.eye(len(P2), dtype=DT)[list(P2)]
        terms = [(Wa["0.weight"], M1 @ Wb["0.weight"]), (Wa["0.bias"], M1 @ Wb["0.bias"]),
                 (Wa["2.weight"], M2 @ Wb["2.weight"] @ M1.T), (Wa["2.bias"], M2 @ Wb["2.bias"]), (Wa["4.weight"], Wb["4.weight"] @ M2.T)]
    return float(sum((a.detach() * b.detach()).sum() for a, b in terms))


def _small(widths, seed):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layers = []
        for i in range(len(widths) - 1):
            layers += [nn.Linear(widths[i], widths[i + 1]), nn.ReLU()]
        return nn.Sequential(*layers[:-1]).to(DT)


def test_weight_matching_single_group_equals_brute_force():
    a, b = _small([3, 4, 2], 0), _small([3, 4, 2], 1)
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    spec = permutation_spec(a, torch.zeros(1, 3, dtype=DT))
    perms = weight_matching(spec, pa, pb)
    best = max(itertools.permutations(range(4)), key=lambda p: _explicit_objective(pa, pb, p))
    assert tuple(perms["0"].tolist()) == best


def test_weight_matching_two_groups_is_a_coordinatewise_maximum():
    a, b = _small([3, 4, 4, 2], 2), _small([3, 4, 4, 2], 3)
    pa, pb = ({k: v.detach() for k, v in n.named_parameters()} for n in (a, b))
    spec = permutation_spec(a, torch.zeros(1, 3, dtype=DT))
    perms = weight_matching(spec, pa, pb, seed=1)
    p1, p2 = tuple(perms["0"].tolist()), tuple(perms["2"].tolist())
    got = _explicit_objective(pa, pb, p1, p2)
    ident = _explicit_objective(pa, pb, range(4), range(4))
    assert got >= ident - 1e-12
    all_p = list(itertools.permutations(range(4)))
    assert got >= max(_explicit_objective(pa, pb, q, p2) for q in all_p) - 1e-12
    assert got >= max(_explicit_objective(pa, pb, p1, q) for q in all_p) - 1e-12
    # the library's own application agrees with the explicit matrices
    new = apply_permutation(spec, pb, perms)
    assert abs(sum(float((pa[k] * new[k]).sum()) for k in pa) - (got + float((pa["4.bias"] * pb["4.bias"]).sum()))) < 1e-9


@pytest.mark.parametrize("case", ["mlp", "cnn_bn", "res_cnn", "conv1d_cat"])
def test_weight_matching_recovers_planted_permutation(case):
    net, shape = _case(case)
    spec = permutation_spec(net, torch.zeros(*shape, dtype=DT))
    pa = {k: v.detach() for k, v in net.named_parameters()}
    planted = random_permutation(spec, generator=_gen(7))
    pb = apply_permutation(spec, pa, planted)
    perms = weight_matching(spec, pa, pb, seed=3)
    aligned = apply_permutation(spec, pb, perms)
    for k in pa:
        assert torch.equal(aligned[k], pa[k]), k


# --------------------------------------------------------------------------- activation matching


@pytest.mark.parametrize("case", ["mlp", "cnn_bn", "resnet8"])
def test_activation_matching_recovers_planted_permutation(case):
    net, shape = _case(case)
    net.eval()
    x = torch.randn(64, *shape[1:], generator=_gen(8), dtype=DT)
    spec = permutation_spec(net, x[:2])
    planted = random_permutation(spec, generator=_gen(9))
    twin = _case(case)[0].eval()
    twin.load_state_dict(apply_permutation(spec, net.state_dict(), planted))
    perms = activation_matching(net, twin, spec, [(x[:32],), (x[32:],)])
    aligned = apply_permutation(spec, twin.state_dict(), perms)
    for k, v in net.state_dict().items():
        assert torch.equal(aligned[k], v), k


def test_activation_matching_equals_brute_force_correlation():
    """Unrelated nets: the assignment maximizes the summed numpy correlation of post-ReLU hooks."""
    import numpy as np

    a, b = _small([3, 4, 2], 4), _small([3, 4, 2], 5)
    x = torch.randn(200, 3, generator=_gen(13), dtype=DT)
    spec = permutation_spec(a, x[:2])
    perms = activation_matching(a, b, spec, x)
    za, zb = (n[1](n[0](x)).detach().numpy() for n in (a, b))
    rho = np.corrcoef(za.T, zb.T)[:4, 4:]
    best = max(itertools.permutations(range(4)), key=lambda p: sum(rho[i, p[i]] for i in range(4)))
    assert tuple(perms["0"].tolist()) == best


# --------------------------------------------------------------------------- REPAIR


def _hook_stats(net, modules, x):
    """Per-unit mean/std of module outputs via forward hooks (independent of the fx path)."""
    got = {}
    hooks = [dict(net.named_modules())[m].register_forward_hook(
        lambda mod, inp, out, m=m: got.__setitem__(m, out.detach().movedim(1, -1).reshape(-1, out.shape[1]))) for m in modules]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return {m: (z.mean(0), z.std(0, unbiased=False)) for m, z in got.items()}


@pytest.mark.parametrize("case,sites", [("mlp", ["linear1", "linear2"]), ("cnn_bn", ["1", "5", "10"]),
                                        ("res_cnn", ["bn", "c1", "c2"])])
def test_repair_sets_interpolated_statistics(case, sites):
    a, shape = _case(case)
    with torch.random.fork_rng():
        torch.manual_seed(11)
        b = _case(case)[0]
        for p in b.parameters():
            p.data.copy_(torch.randn_like(p) * 0.5)  # a different end point
    a.eval(), b.eval()
    alpha = 0.3
    mid = _case(case)[0].eval()
    sa, sb = a.state_dict(), b.state_dict()
    mid.load_state_dict({k: (1 - alpha) * sa[k] + alpha * sb[k] if sa[k].is_floating_point() else sa[k] for k in sa})
    before = {k: v.clone() for k, v in mid.state_dict().items()}
    x = torch.randn(50, *shape[1:], generator=_gen(12), dtype=DT)
    fixed = repair(mid, a, b, alpha, [(x[:20],), (x[20:],)])
    assert all(torch.equal(v, before[k]) for k, v in mid.state_dict().items())
    ta, tb, tf, tm = (_hook_stats(n, sites, x) for n in (a, b, fixed, mid))
    for m in sites:
        torch.testing.assert_close(tf[m][0], (1 - alpha) * ta[m][0] + alpha * tb[m][0], rtol=1e-8, atol=1e-8)
        torch.testing.assert_close(tf[m][1], (1 - alpha) * ta[m][1] + alpha * tb[m][1], rtol=1e-8, atol=1e-8)
    # the plain interpolation did not already have these statistics
    assert any((tm[m][1] - ((1 - alpha) * ta[m][1] + alpha * tb[m][1])).abs().max() > 1e-3 for m in sites)


def test_repair_adds_missing_bias():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        nets = [nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 2)).to(DT) for _ in range(3)]
    x = torch.randn(40, 3, generator=_gen(0), dtype=DT)
    fixed = repair(nets[2], nets[0], nets[1], 0.5, x)
    assert nets[2][0].bias is None and fixed[0].bias is not None
    s = [_hook_stats(n, ["0"], x)["0"] for n in (nets[0], nets[1], fixed)]
    torch.testing.assert_close(s[2][0], 0.5 * (s[0][0] + s[1][0]))
    torch.testing.assert_close(s[2][1], 0.5 * (s[0][1] + s[1][1]))


# --------------------------------------------------------------------------- errors


class WithLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.rnn = nn.Linear(3, 4), nn.LSTM(4, 5, batch_first=True)

    def forward(self, x):
        return self.rnn(self.fc(x))[0]


class Rolled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(torch.roll(F.relu(self.fc1(x)), 1, dims=1))


def test_unsupported_module_names_the_module():
    with pytest.raises(UnsupportedModuleError, match=r"module 'rnn' \(LSTM\).*Supported: Linear"):
        permutation_spec(WithLSTM(), torch.zeros(2, 6, 3))


def test_unsupported_op_on_channels_names_the_op():
    with pytest.raises(UnsupportedModuleError, match=r"op 'roll'.*Supported"):
        permutation_spec(Rolled(), torch.zeros(2, 3))


def test_grouped_conv_and_channel_indexing_refused():
    with pytest.raises(UnsupportedModuleError, match="grouped convolution"):
        permutation_spec(nn.Sequential(nn.Conv2d(2, 4, 3), nn.Conv2d(4, 4, 3, groups=2)), torch.zeros(1, 2, 8, 8))

    class Pick(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 4)

        def forward(self, x):
            return self.fc(x)[:, :2]

    with pytest.raises(UnsupportedModuleError, match="indexing the unit dim"):
        permutation_spec(Pick(), torch.zeros(2, 3))
    # units that reach the output are fixed: nothing to permute
    spec = permutation_spec(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), torch.zeros(2, 3))
    assert isinstance(spec, PermutationSpec) and spec.groups == ()


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x) if x.sum() > 0 else -self.fc(x)


def test_untraceable_model_is_a_named_error():
    with pytest.raises(UnsupportedModuleError, match="torch.fx cannot trace DataDependent"):
        permutation_spec(DataDependent(), torch.zeros(2, 3))


def test_bad_perms_and_inputs():
    net = mlp([3, 4, 2], generator=_gen(0))
    spec = permutation_spec(net, torch.zeros(1, 3))
    p = dict(net.named_parameters())
    with pytest.raises(ValueError, match="not a group of the spec"):
        apply_permutation(spec, p, {"nope": torch.arange(4)})
    with pytest.raises(ValueError, match=r"permutation of range\(4\)"):
        apply_permutation(spec, p, {"linear1": torch.tensor([0, 0, 1, 2])})
    with pytest.raises(ValueError, match="no tensor 'linear1.weight'"):
        weight_matching(spec, {}, p)
    with pytest.raises(TypeError, match="PermutationSpec"):
        apply_permutation({}, p, {})
    with pytest.raises(ValueError, match="`alpha` must be a float <= 1"):
        repair(net, net, net, 1.5, torch.zeros(2, 3))
    with pytest.raises(TypeError, match="`model_b` must be a torch.nn.Module"):
        activation_matching(net, p, spec, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="at least one batch"):
        activation_matching(net, net, spec, [])
    assert all(torch.equal(v, p[k]) for k, v in apply_permutation(spec, p, identity_permutation(spec)).items())
