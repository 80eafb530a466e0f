import pytest
import torch

from dltheory.core import (
    check_choice,
    check_float,
    check_int,
    derive_seed,
    isolated_global_rng,
    resolve_device,
    resolve_dtype,
    torch_generator,
)
from dltheory.core.errors import UnknownExperimentError


def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(0, "data") == derive_seed(0, "data")
    assert derive_seed(0, "data") != derive_seed(0, "init")
    assert derive_seed(0, "data") != derive_seed(1, "data")
    a = torch.randn(3, generator=torch_generator(5, "x"))
    b = torch.randn(3, generator=torch_generator(5, "x"))
    assert torch.equal(a, b)


def test_isolated_global_rng_restores_state():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    with isolated_global_rng(0, "init"):
        inside1 = torch.rand(1)
    after = torch.rand(1)
    assert torch.equal(after, expected)
    with isolated_global_rng(0, "init"):
        inside2 = torch.rand(1)
    assert torch.equal(inside1, inside2)


def test_validation_messages():
    with pytest.raises(ValueError, match=r"`k` must be an int >= 1; got 0\."):
        check_int("k", 0, minimum=1)
    with pytest.raises(TypeError, match="`k` must be an int"):
        check_int("k", 1.5)
    with pytest.raises(ValueError, match=r"`lr` must be a float > 0"):
        check_float("lr", -1.0, minimum=0.0, strict_min=True)
    with pytest.raises(ValueError, match="finite"):
        check_float("lr", float("nan"))
    with pytest.raises(ValueError, match=r"`which` must be one of 'a', 'b'; got 'c'"):
        check_choice("which", "c", ["a", "b"])


def test_devices_and_dtypes():
    assert resolve_device(None).type == "cpu"
    assert resolve_dtype("float64") is torch.float64
    with pytest.raises(ValueError, match="`dtype` must be one of"):
        resolve_dtype("float16")
    with pytest.raises(ValueError, match="`device`"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_unknown_experiment_suggests():
    e = UnknownExperimentError("implicit-bias/separable-logistc", ["implicit-bias/separable-logistic", "x/y"])
    assert "did you mean 'implicit-bias/separable-logistic'" in str(e)
