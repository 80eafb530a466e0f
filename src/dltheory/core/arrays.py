"""Conversion of user arrays (numpy or torch) to float64 numpy for the convex oracles."""

from __future__ import annotations

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def as_float64(a: ArrayLike, name: str) -> np.ndarray:
    """A float64 numpy copy of ``a`` (tensor or array-like); raises if any entry is not finite."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"`{name}` must be finite; got non-finite entries.")
    return a
