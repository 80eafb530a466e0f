r"""A convolutional sparse coding layer: the convolutional Lasso solved by unrolled FISTA, as a drop-in for a convolution.

SDNet (Li, Zhai, Tong, Gao, Huang, Zhu, You, Ma, "Revisiting sparse convolutional model for visual
recognition", NeurIPS 2022) replaces convolution layers of a CNN by a *CSC layer*: its output is the
sparse code of its input under a learnable convolutional dictionary,

.. math:: z^\star(x) = \operatorname*{arg\,min}_{z}\ \tfrac12\Big\|x - \sum_{j=1}^m d_j \circledast z_j\Big\|_2^2 + \lambda \sum_j \|z_j\|_1
          \quad(\text{optionally } z \ge 0),

computed by a fixed number K of FISTA steps from :math:`z_0 = 0` (Beck & Teboulle, SIAM J. Imaging
Sci. 2(1), 2009) and trained end to end by back-propagating through the steps. The penalty
:math:`\lambda` is a hyper-parameter, not a weight, and may be changed at test time: a larger
:math:`\lambda` gives sparser codes that keep less of the input noise (the paper's robustness
experiments select :math:`\lambda` by the noise level).

Boundary: **circular** convolution (the FFT operators of :mod:`dltheory.sparse.convolutional`, filter
origin at its first entry, :func:`dltheory.sparse.conv_fista` unrolled and differentiable), so the
layer's codes are exactly the convolutional Lasso of :func:`dltheory.sparse.conv_admm` and of the
explicit matrix :func:`dltheory.oracles.convolution.circulant_dictionary`, the references it is
tested against. SDNet's own layer uses zero-padded conv / conv-transpose; on inputs with blank
borders (scikit-learn's digits) the two agree up to the wrap-around of a (k-1)-pixel margin.

Atoms are used at unit norm by default (``normalize=True``: :math:`d_j / \|d_j\|_2`): otherwise the
training could scale the filters up and make any :math:`\lambda` ineffective, and a :math:`\lambda`
chosen for a noise level (noise of std :math:`\sigma` has correlation of std :math:`\sigma` with a
unit atom) would mean nothing.

Cost of a forward pass: K FISTA steps, each two real FFTs of the (B, m, H, W) codes and one of the
input, O(K B m HW log HW), plus the exact step :math:`1/\|\mathbf D\|_2^2` (one FFT of the filters).
The backward pass costs about as much again.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dltheory.core.errors import check_float, check_int
from dltheory.sparse.convolutional import check_conv_signals, conv_fista


class CSCLayer(nn.Module):
    r"""Convolutional sparse coding layer: input images (B, C, H, W) -> codes (B, m, H, W) by K unrolled FISTA steps.

    Args:
        in_channels: C, channels of the input.
        num_filters: m, the number of atoms (output channels).
        kernel_size: k, the atoms are (C, k, k); the input must be at least k x k.
        lam: :math:`\lambda \ge 0` of the Lasso; settable later (``layer.lam = 0.3``), e.g. at test time.
        steps: K >= 1 unrolled FISTA steps (step :math:`1/\|\mathbf D\|_2^2`); settable later.
        restart: adaptive momentum restart (O'Donoghue & Candès 2015; :func:`dltheory.sparse.conv_fista`'s rule);
            off by default, as in SDNet. With many steps it reaches the Lasso solution far faster (for a
            16-atom 5x5 dictionary on 8x8 digits: 2e-6 relative after 2000 steps, against 5e-4 after
            3000 plain steps). Settable later.
        nonnegative: solve the nonnegative Lasso (:math:`z \ge 0`; the threshold is :math:`\max(u - \lambda/L, 0)`).
        normalize: use the atoms at unit norm, :math:`d_j / \|d_j\|_2` (the parameter ``weight`` holds them unnormalized).
        generator: draws the initial atoms (Gaussian, then unit norm); its device is the parameter's device.
        dtype: parameter dtype (float32 or float64).

    The parameter is ``weight`` (m, C, k, k). :meth:`filters` returns the atoms the layer uses.
    ``forward(x)`` checks that x has the parameter's dtype and device and shape (B, C, H, W) with
    H, W >= k (ValueError otherwise, naming the shapes).

    Reference: Li et al., NeurIPS 2022 (SDNet), Sec. 3; Beck & Teboulle 2009 (FISTA).
    """

    def __init__(self, in_channels: int, num_filters: int, kernel_size: int, *, lam: float = 0.1, steps: int = 10, restart: bool = False, nonnegative: bool = False,
                 normalize: bool = True, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        C = check_int("in_channels", in_channels, minimum=1)
        m = check_int("num_filters", num_filters, minimum=1)
        k = check_int("kernel_size", kernel_size, minimum=1)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"`dtype` must be torch.float32 or torch.float64; got {dtype}.")
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"`generator` must be a torch.Generator; got {type(generator).__name__}.")
        for name, flag in (("restart", restart), ("nonnegative", nonnegative), ("normalize", normalize)):
            if not isinstance(flag, bool):
                raise TypeError(f"`{name}` must be a bool; got {flag!r}.")
        w = torch.randn(m, C, k, k, generator=generator, dtype=dtype, device=generator.device)
        self.weight = nn.Parameter(w / torch.linalg.vector_norm(w.flatten(1), dim=1).reshape(m, 1, 1, 1))
        self.nonnegative, self.normalize = nonnegative, normalize
        self.lam = lam
        self.steps = steps
        self.restart = restart

    @property
    def lam(self) -> float:
        r"""The Lasso penalty :math:`\lambda` (a float >= 0)."""
        return self._lam

    @lam.setter
    def lam(self, value: float) -> None:
        self._lam = check_float("lam", value, minimum=0.0)

    @property
    def steps(self) -> int:
        """The number K of unrolled FISTA steps (an int >= 1)."""
        return self._steps

    @steps.setter
    def steps(self, value: int) -> None:
        self._steps = check_int("steps", value, minimum=1)

    def filters(self, weight: Tensor | None = None) -> Tensor:
        """The atoms used, (m, C, k, k): ``weight`` (default the parameter) at unit norm per atom if ``normalize``."""
        w = self.weight if weight is None else weight
        if not self.normalize:
            return w
        norms = torch.linalg.vector_norm(w.flatten(1), dim=1)
        if bool((norms == 0).any()):
            raise ValueError(f"`weight` must have no zero atom when normalize=True; atom {int((norms == 0).nonzero()[0])} is zero.")
        return w / norms.reshape(-1, 1, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        D = self.filters()
        x = check_conv_signals(D, x, "x")
        return conv_fista(D, x, self.lam, self.steps, restart=bool(self.restart), nonnegative=self.nonnegative).codes

    def extra_repr(self) -> str:
        m, C, k, _ = self.weight.shape
        return f"{C}, {m}, kernel_size={k}, lam={self.lam:g}, steps={self.steps}, restart={self.restart}, nonnegative={self.nonnegative}, normalize={self.normalize}"
