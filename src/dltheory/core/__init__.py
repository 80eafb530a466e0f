"""Core: parameters as dicts of tensors, the functional adapter, seeding, devices, errors."""

from dltheory.core.device import resolve_device, resolve_dtype
from dltheory.core.errors import (
    ConfigError,
    DivergenceError,
    DltheoryError,
    RunInterrupted,
    UnknownExperimentError,
    check_choice,
    check_float,
    check_int,
)
from dltheory.core.params import (
    FunctionalModel,
    Params,
    clone_params,
    flatten,
    functionalize,
    num_params,
    to_numpy,
    tree_dot,
    tree_map,
    tree_norm,
    unflatten,
)
from dltheory.core.rng import derive_seed, isolated_global_rng, numpy_generator, torch_generator

__all__ = [
    "ConfigError", "DivergenceError", "DltheoryError", "FunctionalModel", "Params", "RunInterrupted",
    "UnknownExperimentError", "check_choice", "check_float", "check_int", "clone_params",
    "derive_seed", "flatten", "functionalize", "isolated_global_rng", "num_params",
    "numpy_generator", "resolve_device", "resolve_dtype", "to_numpy", "torch_generator",
    "tree_dot", "tree_map", "tree_norm", "unflatten",
]
