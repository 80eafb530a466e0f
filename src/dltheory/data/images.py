"""Real image data that ships with packages (no download): scikit-learn's handwritten digits."""

from __future__ import annotations

import torch
from torch import Tensor


def digits_data(num_points: int, *, input_scale: float, dtype: torch.dtype, device) -> tuple[Tensor, Tensor]:
    """The first ``num_points`` scikit-learn digits as (n, 1, 8, 8) images in [0, input_scale] and one-hot (n, 10) targets."""
    from sklearn.datasets import load_digits

    d = load_digits()
    if num_points > len(d.target):
        raise ValueError(f"`num_points` must be <= {len(d.target)} for the digits dataset; got {num_points}.")
    x = torch.tensor(d.images[:num_points] / 16.0 * input_scale, dtype=dtype, device=device)[:, None]
    y = torch.nn.functional.one_hot(torch.tensor(d.target[:num_points], device=device), 10).to(dtype)
    return x, y
