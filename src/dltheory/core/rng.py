"""Explicit random generators. Nothing in dltheory reads or reseeds the global RNG.

Every random draw takes a ``torch.Generator`` (or a ``numpy.random.Generator``) made here
from a seed and a name, so independent streams (data, init, minibatch order, dropout masks)
do not shift when one of them draws more numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import numpy as np
import torch


def derive_seed(seed: int, *names: str | int) -> int:
    """A 63-bit seed derived from ``seed`` and a path of names (stable across runs)."""
    h = hashlib.sha256(repr((int(seed),) + tuple(names)).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def torch_generator(seed: int, *names: str | int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``seed`` and ``names``."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(derive_seed(seed, *names))
    return g


def numpy_generator(seed: int, *names: str | int) -> np.random.Generator:
    """A ``numpy.random.Generator`` seeded from ``seed`` and ``names``."""
    return np.random.default_rng(derive_seed(seed, *names))


@contextlib.contextmanager
def isolated_global_rng(seed: int, *names: str | int) -> Iterator[None]:
    """Seed torch's global RNG inside the block only, restoring it afterwards.

    For code that draws from the global RNG and cannot take a generator, such as the
    default initializers of ``torch.nn`` layers::

        with isolated_global_rng(seed, "init"):
            model = torch.nn.Linear(3, 2)
    """
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(derive_seed(seed, *names))
        yield


def randn(shape: tuple[int, ...], generator: torch.Generator, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """Standard normal tensor drawn from ``generator`` (on the generator's device by default)."""
    device = generator.device if device is None else device
    return torch.randn(shape, generator=generator, dtype=dtype, device=device)
