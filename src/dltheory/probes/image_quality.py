r"""Image-quality measurements for super-resolution: PSNR and the radial power spectrum.

- :func:`psnr`: peak signal-to-noise ratio, :math:`10\log_{10}(\text{peak}^2/\text{MSE})` per image;
  the distortion measure that pixel-MSE training maximizes (Ledig et al. 2017, Sec. 3-4).
- :func:`radial_power_spectrum`: the periodogram :math:`|\mathcal F(w \odot x)|^2 / \sum w^2` of each
  square image averaged over rings of integer radius :math:`r = \operatorname{round}(\sqrt{k_y^2 + k_x^2})`,
  :math:`r = 0, \ldots, N/2` (Nyquist); the high rings show how much fine detail an image has
  (natural images: power falling roughly as :math:`r^{-2}`; over-smooth reconstructions fall short).

Both take tensors of shape ``(..., H, W)``, work in their dtype and on their device, and cost one
pass (PSNR) or one 2-D FFT per image, :math:`O(N^2 \log N)` (spectrum).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dltheory.core.errors import check_choice

WINDOWS = ("none", "hann")


def psnr(estimate: Tensor, target: Tensor, *, peak: float = 1.0) -> Tensor:
    r"""Peak signal-to-noise ratio of each image, in dB: :math:`10\log_{10}(\text{peak}^2 / \operatorname{mean}_{ij}(\hat x_{ij} - x_{ij})^2)`.

    Args:
        estimate, target: ``(..., H, W)`` tensors of the same shape.
        peak: the largest possible pixel value (1 for images in [0, 1]).

    Returns:
        ``(...)``: one value per image (``inf`` where the two are equal).
    """
    if not isinstance(estimate, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"`estimate` and `target` must be torch.Tensors; got {type(estimate).__name__} and {type(target).__name__}.")
    if estimate.shape != target.shape or estimate.ndim < 2:
        raise ValueError(f"`estimate` and `target` must share one shape (..., H, W); got {tuple(estimate.shape)} and {tuple(target.shape)}.")
    if isinstance(peak, bool) or not isinstance(peak, (int, float)) or not peak > 0:
        raise ValueError(f"`peak` must be a float > 0; got {peak!r}.")
    mse = ((estimate - target) ** 2).mean(dim=(-2, -1))
    return 10 * torch.log10(peak**2 / mse)


def hann_window2d(n: int, *, dtype: torch.dtype, device=None) -> Tensor:
    """The separable (symmetric) Hann window :math:`w_{ij} = h_i h_j`, :math:`h_i = \\tfrac12 - \\tfrac12\\cos(2\\pi i/(n-1))`, (n, n)."""
    h = torch.hann_window(n, periodic=False, dtype=dtype, device=device)
    return h[:, None] * h[None, :]


def radial_power_spectrum(images: Tensor, *, window: str = "none") -> Tensor:
    r"""Ring-averaged power spectrum of square images ``(..., N, N)``, shape ``(..., N // 2 + 1)``.

    .. math:: P(r) = \operatorname{mean}_{(k_y, k_x):\ \operatorname{round}\sqrt{k_y^2 + k_x^2} = r}\ \frac{|\hat x_{k_y k_x}|^2}{\sum_{ij} w_{ij}^2},\qquad
              \hat x = \operatorname{FFT2}(w \odot x),

    with integer frequencies :math:`k \in \{-\lceil N/2\rceil + 1, \ldots, \lfloor N/2\rfloor\}` (``fftfreq * N``) and
    :math:`r = 0, \ldots, \lfloor N/2\rfloor` (corner frequencies beyond Nyquist are left out). ``window``:
    ``"none"`` (:math:`w = 1`: the plain periodogram, whose mean over r-rings of white noise of
    variance :math:`\sigma^2` is :math:`\sigma^2`) or ``"hann"`` (:func:`hann_window2d`, which removes the
    leakage of the patch borders' jump into high frequencies). The mean is not subtracted (it is in ring 0).

    Cost: one 2-D FFT per image.
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"`images` must be a torch.Tensor; got {type(images).__name__}.")
    if images.ndim < 2 or images.shape[-1] != images.shape[-2] or images.shape[-1] < 2:
        raise ValueError(f"`images` must be (..., N, N) square with N >= 2; got shape {tuple(images.shape)}.")
    check_choice("window", window, WINDOWS)
    n = images.shape[-1]
    real = images.dtype if images.is_floating_point() else torch.get_default_dtype()
    x = images.to(real)
    if window == "hann":
        w = hann_window2d(n, dtype=real, device=images.device)
        x, norm = x * w, float((w**2).sum())
    else:
        norm = float(n * n)
    power = torch.fft.fft2(x).abs() ** 2 / norm  # (..., N, N)
    k = torch.fft.fftfreq(n, d=1.0 / n, dtype=real, device=images.device)
    radius = torch.sqrt(k[:, None] ** 2 + k[None, :] ** 2).round().long().flatten()
    rings = n // 2 + 1
    keep = radius < rings
    idx, flat = radius[keep], power.flatten(-2)[..., keep]
    counts = torch.zeros(rings, dtype=real, device=images.device).index_add_(0, idx, torch.ones_like(idx, dtype=real))
    sums = torch.zeros(*flat.shape[:-1], rings, dtype=real, device=images.device).index_add_(-1, idx, flat)
    return sums / counts


def top_band(n: int, *, fraction: float = 1 / 3) -> Tensor:
    """Ring indices r of the top ``fraction`` of radial frequencies up to Nyquist: r > (1 - fraction) N/2, r <= N/2 (N = 32, 1/3: r = 11..16)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"`fraction` must be a float in (0, 1]; got {fraction!r}.")
    lo = (1 - fraction) * (n // 2)
    return torch.arange(math.floor(lo) + 1, n // 2 + 1)
