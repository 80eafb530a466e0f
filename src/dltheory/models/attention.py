r"""A small attention-only sequence model: token embedding + positional encoding, single-head self-attention layers with residuals, a linear read-out.

.. math:: h^{(0)}_i = E x_i + p_i,\qquad h^{(l)} = h^{(l-1)} + \operatorname{softmax}\!\Big(\tfrac{QK^\top}{\sqrt d}\Big) V W_O,\quad Q, K, V = h^{(l-1)} W_{Q,K,V},\qquad \text{logits}_i = W h^{(L)}_i + c

(Vaswani et al., "Attention is all you need", NeurIPS 2017, one head, no feed-forward block or layer
norm). Positional encodings ``p``: ``"learned"`` (a trained L x d table), ``"sinusoidal"`` (the paper's
:math:`p_{t,2i} = \sin(t/10000^{2i/d}),\ p_{t,2i+1} = \cos(t/10000^{2i/d})`) or ``"none"``: then every
layer commutes with permutations of the positions, so the model is permutation-equivariant.

Cost per sequence: :math:`O(L d^2 + L^2 d)` per layer.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dltheory.core.errors import check_choice, check_int
from dltheory.models.mlp import init_weight

POSITIONAL = ("learned", "sinusoidal", "none")


def sinusoidal_positions(length: int, d_model: int, *, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    r"""The sinusoidal encodings of Vaswani et al. 2017, (length, d_model): :math:`p_{t,2i} = \sin(t\,10000^{-2i/d})`, :math:`p_{t,2i+1} = \cos(t\,10000^{-2i/d})`."""
    length = check_int("length", length, minimum=1)
    d_model = check_int("d_model", d_model, minimum=2)
    if d_model % 2:
        raise ValueError(f"`d_model` must be even for sinusoidal encodings; got {d_model}.")
    t = torch.arange(length, dtype=dtype, device=device)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=dtype, device=device) / d_model)
    pe = torch.zeros(length, d_model, dtype=dtype, device=device)
    pe[:, 0::2] = torch.sin(t * freq)
    pe[:, 1::2] = torch.cos(t * freq)
    return pe


def attention(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    r"""Scaled dot-product attention :math:`A = \operatorname{softmax}(QK^\top/\sqrt d)`, output :math:`AV`: q, k (B, L, d), v (B, L, d_v) -> ((B, L, d_v), A (B, L, L)); rows of A sum to 1."""
    if q.shape != k.shape or q.shape[:2] != v.shape[:2]:
        raise ValueError(f"`q`, `k` must share their shape (B, L, d) and `v` its (B, L); got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}.")
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return a @ v, a


class SequenceAttention(nn.Module):
    """Attention-only encoder mapping a token sequence (B, L) to per-position logits (B, L, vocab).

    Args:
        vocab: number of token values.
        length: sequence length L.
        d_model: width d.
        layers: attention layers (>= 1).
        positional: ``"learned"``, ``"sinusoidal"`` or ``"none"``.
        generator: draws the weights (Xavier normal; embeddings N(0, 1); its device is the parameters').
        dtype: parameter dtype.

    ``forward(tokens, return_attention=True)`` also returns the attention maps (layers, B, L, L):
    row i of a map is the distribution over the positions that output position i reads.
    """

    def __init__(self, vocab: int, length: int, d_model: int, *, layers: int = 1, positional: str = "learned", generator: torch.Generator,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.vocab = check_int("vocab", vocab, minimum=2)
        self.length = check_int("length", length, minimum=1)
        self.d_model = check_int("d_model", d_model, minimum=2)
        self.layers = check_int("layers", layers, minimum=1)
        self.positional = check_choice("positional", positional, POSITIONAL)
        dev, d = generator.device, self.d_model

        def w(fi: int, fo: int) -> nn.Parameter:
            return nn.Parameter(init_weight((fi, fo), fan_in=fi, fan_out=fo, init="xavier_normal", gain=1.0, generator=generator, dtype=dtype))

        self.embed = nn.Parameter(torch.randn(self.vocab, d, generator=generator, dtype=dtype, device=dev))
        if positional == "learned":
            self.pos = nn.Parameter(torch.randn(self.length, d, generator=generator, dtype=dtype, device=dev))
        elif positional == "sinusoidal":
            self.register_buffer("pos", sinusoidal_positions(self.length, d, dtype=dtype, device=dev))
        else:
            self.pos = None
        self.wq = nn.ParameterList([w(d, d) for _ in range(self.layers)])
        self.wk = nn.ParameterList([w(d, d) for _ in range(self.layers)])
        self.wv = nn.ParameterList([w(d, d) for _ in range(self.layers)])
        self.wo = nn.ParameterList([w(d, d) for _ in range(self.layers)])
        self.readout = w(d, self.vocab)
        self.readout_bias = nn.Parameter(torch.zeros(self.vocab, dtype=dtype, device=dev))

    def forward(self, tokens: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        if tokens.ndim != 2 or tokens.shape[1] != self.length:
            raise ValueError(f"`tokens` must have shape (B, {self.length}); got {tuple(tokens.shape)}.")
        h = self.embed[tokens]  # (B, L, d)
        if self.pos is not None:
            h = h + self.pos
        maps = []
        for wq, wk, wv, wo in zip(self.wq, self.wk, self.wv, self.wo, strict=True):
            z, a = attention(h @ wq, h @ wk, h @ wv)
            h = h + z @ wo
            maps.append(a)
        logits = h @ self.readout + self.readout_bias  # (B, L, vocab)
        return (logits, torch.stack(maps)) if return_attention else logits
