"""Device and dtype resolution. Code takes a device option and never assumes the CPU."""

from __future__ import annotations

import torch

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` -> cpu; ``"cuda"`` only when available (a clear error otherwise)."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        dev = device
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(f"`device` must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`device` is {str(dev)!r} but CUDA is not available here; use 'cpu'.")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"`device` is {str(dev)!r} but MPS is not available here; use 'cpu'.")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"`device` must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}.")
    return dev


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32"``/``"float64"`` (or the torch dtype) -> torch dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise ValueError(f"`dtype` must be float32 or float64; got {dtype}.")
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"`dtype` must be one of 'float32', 'float64'; got {dtype!r}.")
    return _DTYPES[dtype]
