"""Validation of the tensors the sparse-coding routines take (one place, one message template).

Conventions checked here: a dictionary ``D`` is a 2-D floating tensor (n, m) whose columns are
the atoms; signals ``Y`` are (B, n) (one per row) or (n,) (a single signal); every tensor of a
call shares ``D``'s dtype and device (nothing is moved or cast behind the caller's back).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dltheory.core.errors import check_float

FLOATS = (torch.float32, torch.float64)


def check_tensor(name: str, x: object, *, ndim: Sequence[int], like: Tensor | None = None) -> Tensor:
    """``x`` if it is a finite float32/float64 tensor with ``x.ndim`` in ``ndim`` (and ``like``'s dtype and device)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor; got {type(x).__name__}.")
    if x.ndim not in ndim:
        dims = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"`{name}` must be {dims}; got shape {tuple(x.shape)}.")
    if x.dtype not in FLOATS:
        raise ValueError(f"`{name}` must be float32 or float64; got {x.dtype}.")
    if like is not None and (x.dtype != like.dtype or x.device != like.device):
        raise ValueError(f"`{name}` must have the dictionary's dtype and device ({like.dtype}, {like.device}); got ({x.dtype}, {x.device}).")
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ValueError(f"`{name}` must be finite; got {bad} non-finite entr{'y' if bad == 1 else 'ies'} of {x.numel()}.")
    return x


def check_matrix(D: object, name: str = "D") -> Tensor:
    """``D`` as a finite 2-D float tensor (n, m) with n, m >= 1."""
    D = check_tensor(name, D, ndim=(2,))
    if D.shape[0] < 1 or D.shape[1] < 1:
        raise ValueError(f"`{name}` must have at least one row and one column; got shape {tuple(D.shape)}.")
    return D


def check_signals(D: Tensor, Y: object, name: str = "Y") -> tuple[Tensor, bool]:
    """Signals as a (B, n) tensor for the (n, m) dictionary ``D``, and whether ``Y`` was one (n,) signal."""
    Y = check_tensor(name, Y, ndim=(1, 2), like=D)
    if Y.shape[-1] != D.shape[0]:
        raise ValueError(f"`{name}` must have shape ({D.shape[0]},) or (B, {D.shape[0]}) for a dictionary of shape {tuple(D.shape)} (n, m); got {tuple(Y.shape)}.")
    return (Y[None], True) if Y.ndim == 1 else (Y, False)


def check_codes(D: Tensor, X: object, batch: int, name: str = "x0") -> Tensor:
    """Codes as a (B, m) tensor matching ``batch`` signals and the (n, m) dictionary ``D``; (m,) is one code."""
    X = check_tensor(name, X, ndim=(1, 2), like=D)
    X = X[None] if X.ndim == 1 else X
    if X.shape != (batch, D.shape[1]):
        raise ValueError(f"`{name}` must have shape ({batch}, {D.shape[1]}) (B, m) to match the signals and the dictionary {tuple(D.shape)}; got {tuple(X.shape)}.")
    return X


def check_lam(lam: object, D: Tensor, batch: int, name: str = "lam") -> Tensor | float:
    """A penalty: a float >= 0, or a tensor of D's dtype/device with shape () or (B,) and entries >= 0.

    Returned as a float, or as a (B, 1) tensor that broadcasts against (B, m) codes.
    """
    if not isinstance(lam, Tensor):
        return check_float(name, lam, minimum=0.0)
    lam = check_tensor(name, lam, ndim=(0, 1), like=D)
    if lam.ndim == 1 and lam.shape[0] != batch:
        raise ValueError(f"`{name}` must be a float or a tensor of shape () or ({batch},) (one per signal); got shape {tuple(lam.shape)}.")
    if bool((lam < 0).any()):
        raise ValueError(f"`{name}` must be >= 0; got min {float(lam.min()):.6g}.")
    return lam.reshape(-1, 1) if lam.ndim == 1 else lam
