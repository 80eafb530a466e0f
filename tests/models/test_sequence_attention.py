"""models/attention: sinusoidal encodings by the formula, attention against torch's scaled_dot_product_attention, the model against a hand-written einsum, equivariance without positions, errors."""

import math

import pytest
import torch

from dltheory.models.attention import SequenceAttention, attention, sinusoidal_positions


def test_sinusoidal_positions_by_the_formula():
    pe = sinusoidal_positions(5, 6, dtype=torch.float64)
    for t in range(5):
        for i in range(3):
            assert pe[t, 2 * i].item() == pytest.approx(math.sin(t / 10000 ** (2 * i / 6)), abs=1e-12)
            assert pe[t, 2 * i + 1].item() == pytest.approx(math.cos(t / 10000 ** (2 * i / 6)), abs=1e-12)
    with pytest.raises(ValueError, match="d_model"):
        sinusoidal_positions(5, 7)


def test_attention_matches_torch_sdpa():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 6, 4, generator=g, dtype=torch.float64) for _ in range(3))
    out, a = attention(q, k, v)
    torch.testing.assert_close(out, torch.nn.functional.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(a.sum(-1), torch.ones(3, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="share"):
        attention(q, k[:, :5], v)


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "none"])
def test_model_matches_einsum_reference(positional):
    net = SequenceAttention(7, 5, 6, layers=2, positional=positional, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = torch.randint(0, 7, (4, 5), generator=torch.Generator().manual_seed(2))
    h = net.embed[x] + (0 if net.pos is None else net.pos)
    maps = []
    for j in range(2):
        q, k, v = (torch.einsum("bld,de->ble", h, w[j]) for w in (net.wq, net.wk, net.wv))
        a = torch.softmax(torch.einsum("bid,bjd->bij", q, k) / math.sqrt(6), -1)
        h = h + torch.einsum("bij,bjd,de->bie", a, v, net.wo[j])
        maps.append(a)
    logits, got = net(x, return_attention=True)
    torch.testing.assert_close(logits, torch.einsum("bld,dv->blv", h, net.readout) + net.readout_bias)
    torch.testing.assert_close(got, torch.stack(maps))


def test_without_positions_equivariant_with_positions_not():
    x = torch.randint(0, 7, (8, 6), generator=torch.Generator().manual_seed(3))
    perm = torch.tensor([5, 0, 3, 1, 4, 2])
    for positional, equal in (("none", True), ("learned", False)):
        net = SequenceAttention(7, 6, 8, positional=positional, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        with torch.no_grad():
            gap = (net(x[:, perm]) - net(x)[:, perm]).abs().max()
        assert (gap < 1e-12) == equal


def test_errors():
    g = torch.Generator()
    with pytest.raises(ValueError, match="positional"):
        SequenceAttention(5, 4, 8, positional="rotary", generator=g)
    with pytest.raises(ValueError, match="tokens"):
        SequenceAttention(5, 4, 8, generator=g)(torch.zeros(2, 3, dtype=torch.long))
