"""Device and dtype resolution. Code takes a device option and never assumes the CPU."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


# (module, attribute, value inside exact_float32): TensorFloat-32 off for CUDA matrix products and cuDNN
# convolutions and recurrent layers (PyTorch's default lets cuDNN use it: ~1e-3 relative error in float32),
# cuDNN restricted to deterministic algorithms and not autotuned (autotuning may pick other ones run to run).
_PRECISION_NEW = ((torch.backends.cuda.matmul, "fp32_precision", "ieee"), (getattr(torch.backends.cudnn, "conv", None), "fp32_precision", "ieee"),
                  (getattr(torch.backends.cudnn, "rnn", None), "fp32_precision", "ieee"))
_PRECISION_LEGACY = ((torch.backends.cuda.matmul, "allow_tf32", False), (torch.backends.cudnn, "allow_tf32", False))
_DETERMINISM = ((torch.backends.cudnn, "deterministic", True), (torch.backends.cudnn, "benchmark", False))


@contextmanager
def exact_float32() -> Iterator[None]:
    """Inside the block float32 on CUDA is IEEE float32 and cuDNN is deterministic; the caller's settings come back after.

    The runner wraps every experiment in it: a claim checked in float32 must not depend on whether the
    GPU rounded its products to TensorFloat-32's 10-bit mantissa, and the same config and seed must give
    the same numbers on the same machine. No effect on the CPU. Uses PyTorch's ``fp32_precision`` settings
    where they exist (2.9 and later; mixing them with the legacy ``allow_tf32`` flags is an error there).
    """
    new = all(m is not None and hasattr(m, a) for m, a, _ in _PRECISION_NEW)
    settings = (_PRECISION_NEW if new else _PRECISION_LEGACY) + _DETERMINISM
    saved = [(m, a, getattr(m, a)) for m, a, _ in settings]
    try:
        for m, a, v in settings:
            setattr(m, a, v)
        yield
    finally:
        for m, a, v in saved:
            setattr(m, a, v)
