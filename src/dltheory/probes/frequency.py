r"""Frequency-resolved fitting error: the statistics of the frequency principle (spectral bias).

Two measurements of how well a fit :math:`h` matches a target :math:`f` at low and at high frequency:

* 1-D inputs on a uniform grid :math:`x_0, \dots, x_{n-1}` (Xu, Zhang, Xiao 2019, Sec. 3; Rahaman et al.
  2019, Sec. 2): with the DFT :math:`\hat g(k) = \sum_j g(x_j) e^{-2\pi i jk/n}`, the relative error at
  frequency index :math:`k` is

  .. math:: \Delta_F(k) = |\hat h(k) - \hat f(k)| \,/\, |\hat f(k)|.

  :func:`dft_relative_error`.
* high-dimensional inputs (no grid, no DFT): Xu et al.'s Gaussian-filter split (Xu, Zhang, Luo, Xiao, Ma,
  CiCP 2020, Sec. 4.2; Xu, Zhang, Luo 2024, Sec. 3.2). With
  :math:`G^\delta(x) = \exp(-|x|^2 / (2\delta))` (:math:`\delta` a variance),

  .. math:: f^{low,\delta}(x_i) = \frac{\sum_j f(x_j) G^\delta(x_i - x_j)}{\sum_j G^\delta(x_i - x_j)}, \qquad
            f^{high,\delta} = f - f^{low,\delta},

  and :math:`e_{low} = \|h^{low} - f^{low}\| / \|f^{low}\|`, :math:`e_{high}` likewise (norms over the
  points and the output coordinates). :func:`gaussian_filter`, :func:`low_high_errors`.

References: Xu, Zhang, Xiao, "Training behavior of deep neural network in frequency domain", ICONIP 2019;
Rahaman et al., "On the spectral bias of neural networks", ICML 2019; Xu, Zhang, Luo, "Overview frequency
principle/spectral bias in deep learning", CAMC 2024.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from dltheory.core.errors import check_float, check_int

__all__ = ["LowHighErrors", "dft_relative_error", "gaussian_filter", "low_high_errors"]


def _check_float_tensor(name: str, t) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor; got {type(t).__name__}.")
    if not t.is_floating_point():
        raise TypeError(f"`{name}` must be a floating-point tensor; got dtype {t.dtype}.")
    return t


def dft_relative_error(outputs: Tensor, targets: Tensor, *, frequencies: Sequence[int], rtol: float | None = None) -> Tensor:
    r"""Relative error :math:`\Delta_F(k) = |\hat h(k) - \hat f(k)| / |\hat f(k)|` of a fit at DFT indices ``frequencies``.

    Args:
        outputs: the fit on the grid, shape ``targets.shape`` or ``(s, *targets.shape)`` (``s`` snapshots,
            e.g. training steps); the grid runs along the first axis of ``targets``.
        targets: the target on a uniform grid, shape ``(n,)`` or ``(n, c)`` (``c`` outputs, each its own DFT).
        frequencies: DFT indices ``k`` with ``0 <= k <= n // 2`` (on a grid of period ``P``, index k is the
            frequency ``k / P``; on :math:`[-\pi, \pi)`, :math:`\sin(kx)` sits at index k).
        rtol: a listed frequency must carry :math:`|\hat f(k)| > rtol \cdot \max_k |\hat f(k)|` (per output),
            else the ratio is undefined and a ValueError is raised (None: 1000 machine epsilons of the dtype).

    Returns:
        ``(K,)`` or ``(K, c)``, with a leading ``s`` for snapshots; same dtype and device as the inputs.

    Cost: one real FFT per signal, :math:`O(s\,c\,n \log n)`.
    """
    outputs, targets = _check_float_tensor("outputs", outputs), _check_float_tensor("targets", targets)
    if targets.ndim not in (1, 2):
        raise ValueError(f"`targets` must be (n,) or (n, c); got shape {tuple(targets.shape)}.")
    if outputs.shape != targets.shape and outputs.shape[1:] != targets.shape:
        raise ValueError(f"`outputs` must have shape {tuple(targets.shape)} or (s, *{tuple(targets.shape)}); got {tuple(outputs.shape)}.")
    rtol = 1e3 * torch.finfo(targets.dtype).eps if rtol is None else check_float("rtol", rtol, minimum=0.0)
    n = targets.shape[0]
    ks = list(frequencies)
    if not ks:
        raise ValueError("`frequencies` must list at least one index; got [].")
    for k in ks:
        check_int("frequencies[i]", k, minimum=0, maximum=n // 2)
    idx = torch.tensor(ks, device=targets.device)
    ft = torch.fft.rfft(targets, dim=0)  # (n // 2 + 1, [c])
    mag = ft.abs()
    small = mag.index_select(0, idx) <= rtol * mag.amax(0)
    if bool(small.any()):
        bad = sorted({ks[i] for i in torch.nonzero(small.reshape(len(ks), -1).any(1)).flatten().tolist()})
        raise ValueError(f"`frequencies` must be indices where the target's DFT is nonzero (|f_hat(k)| > rtol * max); got {bad}, where it is (numerically) zero.")
    axis = outputs.ndim - targets.ndim  # the grid axis of outputs
    fo = torch.fft.rfft(outputs.to(targets.dtype), dim=axis)
    return (fo.index_select(axis, idx) - ft.index_select(0, idx)).abs() / mag.index_select(0, idx)


def gaussian_filter(inputs: Tensor, values: Tensor, *, delta: float, chunk_size: int = 1024) -> Tensor:
    r"""Low-frequency part :math:`f^{low,\delta}(x_i) = \sum_j f(x_j) G^\delta(x_i - x_j) / \sum_j G^\delta(x_i - x_j)`.

    :math:`G^\delta(x) = \exp(-|x|^2/(2\delta))`: a Nadaraya-Watson smoother of the values over the sample
    itself (Xu et al. 2020, Sec. 4.2), i.e. a Gaussian low-pass filter of variance :math:`\delta`.

    Args:
        inputs: ``(n, d)`` sample points.
        values: ``(n,)`` or ``(n, c)`` function values at the points (stack many functions along ``c`` to
            filter them in one pass: the filter is linear).
        delta: the Gaussian's variance :math:`\delta > 0` (a larger one keeps only lower frequencies).
        chunk_size: rows of the kernel built at a time; memory is :math:`O(\text{chunk\_size} \cdot n)`.

    Returns:
        the filtered values, shape and dtype of ``values``.

    Cost: :math:`O(n^2 (d + c))` flops.
    """
    inputs, values = _check_float_tensor("inputs", inputs), _check_float_tensor("values", values)
    if inputs.ndim != 2:
        raise ValueError(f"`inputs` must be 2-D (n, d); got shape {tuple(inputs.shape)}.")
    if values.ndim not in (1, 2) or values.shape[0] != inputs.shape[0]:
        raise ValueError(f"`values` must be (n,) or (n, c) with n = {inputs.shape[0]} rows of inputs; got shape {tuple(values.shape)}.")
    check_float("delta", delta, minimum=0.0, strict_min=True)
    check_int("chunk_size", chunk_size, minimum=1)
    x = inputs.to(values.dtype)
    v = values.reshape(len(values), -1)
    sq = (x * x).sum(1)  # (n,)
    out = torch.empty_like(v)
    for a in range(0, len(x), chunk_size):
        xa = x[a:a + chunk_size]
        d2 = (sq[a:a + chunk_size, None] + sq[None, :] - 2 * xa @ x.T).clamp_min(0)  # (B, n) squared distances
        w = torch.exp(-d2 / (2 * delta))  # the diagonal is 1, so each row sums to >= 1
        out[a:a + chunk_size] = (w @ v) / w.sum(1, keepdim=True)
    return out.reshape(values.shape)


@dataclass(frozen=True)
class LowHighErrors:
    """Relative errors of the low- and high-frequency parts (each of shape ``(s,)`` or scalar) and the target's split."""

    low: Tensor
    high: Tensor
    target_low: Tensor
    target_high: Tensor


def low_high_errors(inputs: Tensor, outputs: Tensor, targets: Tensor, *, delta: float, chunk_size: int = 1024) -> LowHighErrors:
    r""":math:`e_{low} = \|h^{low,\delta} - f^{low,\delta}\| / \|f^{low,\delta}\|` and :math:`e_{high}` likewise (Xu et al. 2020, eq. 4.3).

    Args:
        inputs: ``(n, d)`` points (the training inputs).
        outputs: the fit at the points, ``targets.shape`` or ``(s, *targets.shape)`` for ``s`` snapshots
            (all are filtered in one pass).
        targets: ``(n,)`` or ``(n, c)`` target values (e.g. one-hot labels).
        delta: variance of the Gaussian filter (:func:`gaussian_filter`).
        chunk_size: kernel rows built at a time.

    Returns:
        :class:`LowHighErrors` with ``low`` and ``high`` of shape ``()`` or ``(s,)``, norms over points and outputs.

    Cost: one :func:`gaussian_filter` pass over ``s * c + c`` functions.
    """
    outputs, targets = _check_float_tensor("outputs", outputs), _check_float_tensor("targets", targets)
    if targets.ndim not in (1, 2):
        raise ValueError(f"`targets` must be (n,) or (n, c); got shape {tuple(targets.shape)}.")
    single = outputs.shape == targets.shape
    if not single and outputs.shape[1:] != targets.shape:
        raise ValueError(f"`outputs` must have shape {tuple(targets.shape)} or (s, *{tuple(targets.shape)}); got {tuple(outputs.shape)}.")
    f = targets.reshape(len(targets), -1)  # (n, c)
    h = outputs.reshape(-1, *f.shape).to(f.dtype)  # (s, n, c)
    s, n, c = h.shape
    stacked = torch.cat([f, h.permute(1, 0, 2).reshape(n, s * c)], 1)  # (n, c + s c)
    low = gaussian_filter(inputs, stacked, delta=delta, chunk_size=chunk_size)
    f_low, h_low = low[:, :c], low[:, c:].reshape(n, s, c).permute(1, 0, 2)
    f_high, h_high = f - f_low, h - h_low
    nl, nh = f_low.norm(), f_high.norm()
    tiny = 1e-12 * float(f.norm())
    if float(nl) <= tiny or float(nh) <= tiny:
        raise ValueError(f"the target's low and high parts must both be nonzero (norm > 1e-12 ||f||) at delta = {delta}; got norms {float(nl):.3g} and {float(nh):.3g}.")
    e_low = (h_low - f_low).flatten(1).norm(dim=1) / nl
    e_high = (h_high - f_high).flatten(1).norm(dim=1) / nh
    if single:
        e_low, e_high = e_low[0], e_high[0]
    return LowHighErrors(e_low, e_high, f_low.reshape(targets.shape), f_high.reshape(targets.shape))
