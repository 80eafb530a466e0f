r"""A residual network of (dilated) 1-D convolutions that is ISTA for the nonnegative convolutional Lasso.

Zhang & Zhang (National Science Review 8(3), 2021) read a residual block followed by a ReLU as one
step of a pursuit. For the nonnegative convolutional Lasso
:math:`\min_{\Gamma\ge0}\frac12\|y - \mathbf D\Gamma\|^2 + \lambda\|\Gamma\|_1`, one ISTA step with step
size t is

.. math:: \Gamma_{k+1} = \mathrm{ReLU}\big(\Gamma_k + W_2(y - W_1\Gamma_k) - b\big),\qquad
          W_1 = \mathbf D,\ W_2 = t\,\mathbf D^\top,\ b = t\lambda :

the identity shortcut :math:`\Gamma_k`, a residual branch of two convolutions (the transposed pair
:math:`W_1, W_2` reading the input y), a bias and a ReLU, as in He et al. (CVPR 2016). A filter
dilated by s (``nn.Conv1d(dilation=s)``) is the zero-stuffed filter of length s(n - 1) + 1, so a
block whose branches are dilated convolutions at several rates is the same step for the
multi-scale dictionary :math:`[\mathbf D^{(1)}, \mathbf D^{(2)}, \mathbf D^{(4)}, \dots]`: dilated networks
as multi-scale pursuit.

:class:`ResidualPursuit` builds the blocks from ``torch.nn.Conv1d`` layers with circular padding (a
code path independent of the FFT operators of :mod:`dltheory.sparse.convolutional`, against which
it is tested). ``tied=True`` derives :math:`W_2` from :math:`W_1` (the pursuit); ``tied=False`` gives the
two convolutions their own weights, as in an ordinary residual network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dltheory.core.errors import DivergenceError, check_float, check_int


def stuffed_filters(filters: Tensor, dilations: Sequence[int]) -> Tensor:
    """The multi-scale dictionary's filters (m * len(dilations), 1, span): each (m, n) filter dilated by each rate, zeros inserted, padded to the longest span."""
    if filters.ndim != 2:
        raise ValueError(f"`filters` must be (m, n); got shape {tuple(filters.shape)}.")
    m, n = filters.shape
    span = max(dilations) * (n - 1) + 1
    out = filters.new_zeros(m * len(dilations), 1, span)
    for i, s in enumerate(dilations):
        out[i * m:(i + 1) * m, 0, : s * (n - 1) + 1 : s] = filters
    return out


class ResidualPursuit(nn.Module):
    r"""``blocks`` residual blocks :math:`\Gamma \mapsto \mathrm{ReLU}(\Gamma + W_2(y - W_1\Gamma) - b)` on 1-D signals.

    Args:
        filters: (m, n) base filters (origin at the first tap); dtype and device are taken from them.
        dilations: rates s; the code has m maps per rate, (B, m * len(dilations), N).
        lam: :math:`\lambda > 0` of the Lasso (the bias is :math:`t\lambda`).
        step: t; ISTA converges for :math:`t \le 1/\|\mathbf D\|_2^2` (e.g. 1 / ``conv_lipschitz`` of
            :func:`stuffed_filters`).
        blocks: number of residual blocks (ISTA steps), shared weights.
        tied: :math:`W_2 = t W_1^\top` (the pursuit) or free weights initialized at random with the same norms.
        generator: draws the untied weights.

    ``forward(y, steps=None, trace=False)``: y (B, 1, N) -> codes (B, m * len(dilations), N) after
    ``steps`` (default ``blocks``) blocks from :math:`\Gamma_0 = 0`; ``trace=True`` also returns every iterate.
    Raises :class:`~dltheory.core.errors.DivergenceError` naming the block once the codes overflow.
    Cost per block: two conv1d of m * len(dilations) channels, O(B m N n) per rate.
    """

    def __init__(self, filters: Tensor, *, dilations: Sequence[int] = (1,), lam: float, step: float, blocks: int, tied: bool = True,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if filters.ndim != 2:
            raise ValueError(f"`filters` must be (m, n); got shape {tuple(filters.shape)}.")
        self.dilations = tuple(check_int("dilations", s, minimum=1) for s in dilations)
        if not self.dilations:
            raise ValueError("`dilations` must name at least one rate; got ().")
        self.lam = check_float("lam", lam, minimum=0.0, strict_min=True)
        self.step = check_float("step", step, minimum=0.0, strict_min=True)
        self.blocks = check_int("blocks", blocks, minimum=1)
        self.tied = bool(tied)
        m, n = filters.shape
        self.m, self.n = m, n
        # W1 (codes -> signal): per rate, conv1d weight (1, m, n) = flipped filters (conv1d correlates)
        self.w1 = nn.ParameterList([nn.Parameter(filters.flip(-1)[None].clone()) for _ in self.dilations])
        if not self.tied:
            self.w2 = nn.ParameterList()
            for _ in self.dilations:
                w = torch.randn(m, 1, n, generator=generator, dtype=filters.dtype, device=filters.device)
                w = w / torch.linalg.vector_norm(w, dim=-1, keepdim=True) * torch.linalg.vector_norm(filters, dim=-1)[:, None, None] * self.step
                self.w2.append(nn.Parameter(w))
        self.bias = nn.Parameter(torch.full((m * len(self.dilations), 1), self.step * self.lam, dtype=filters.dtype, device=filters.device))

    def _w2(self, i: int) -> Tensor:
        return self.step * self.w1[i].flip(-1).transpose(0, 1) if self.tied else self.w2[i]  # (m, 1, n): correlation with the filters

    def reconstruct(self, codes: Tensor) -> Tensor:
        """W1: codes (B, m * rates, N) -> signal (B, 1, N), circular convolution by dilated conv1d."""
        out = 0
        for i, s in enumerate(self.dilations):
            x = codes[:, i * self.m:(i + 1) * self.m]
            out = out + F.conv1d(F.pad(x, (s * (self.n - 1), 0), mode="circular"), self.w1[i], dilation=s)
        return out

    def correlate(self, r: Tensor) -> Tensor:
        """W2: residual (B, 1, N) -> (B, m * rates, N), circular correlation by dilated conv1d (times t when tied)."""
        return torch.cat([F.conv1d(F.pad(r, (0, s * (self.n - 1)), mode="circular"), self._w2(i), dilation=s) for i, s in enumerate(self.dilations)], dim=1)

    def block(self, codes: Tensor, y: Tensor) -> Tensor:
        r"""One residual block :math:`\mathrm{ReLU}(\Gamma + W_2(y - W_1\Gamma) - b)`."""
        return torch.relu(codes + self.correlate(y - self.reconstruct(codes)) - self.bias)

    def forward(self, y: Tensor, steps: int | None = None, *, trace: bool = False):
        if y.ndim != 3 or y.shape[1] != 1:
            raise ValueError(f"`y` must be (B, 1, N); got shape {tuple(y.shape)}.")
        if y.shape[-1] < max(self.dilations) * (self.n - 1) + 1:
            raise ValueError(f"signals must be at least as long as the widest dilated filter ({max(self.dilations) * (self.n - 1) + 1}); got N = {y.shape[-1]}.")
        steps = self.blocks if steps is None else check_int("steps", steps, minimum=0)
        codes = y.new_zeros(y.shape[0], self.m * len(self.dilations), y.shape[-1])
        iterates = [codes]
        for k in range(steps):
            codes = self.block(codes, y)
            if (k + 1) % 100 == 0 or k + 1 == steps:
                peak = float(codes.detach().abs().max())
                if not math.isfinite(peak):
                    raise DivergenceError(k + 1, peak, "the codes are no longer finite (untied weights or a step above 1/||D||^2)")
            if trace:
                iterates.append(codes)
        return (codes, iterates) if trace else codes
