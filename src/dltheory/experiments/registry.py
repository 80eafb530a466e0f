"""The experiment registry and config building (presets + overrides -> validated config).

Experiments live in the lecture subpackages and register themselves on import;
:func:`discover` imports them all.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from dltheory.core.errors import ConfigError, UnknownExperimentError, did_you_mean
from dltheory.experiments.base import Experiment, ExperimentConfig

_REGISTRY: dict[str, type[Experiment]] = {}
_DISCOVERED = False


def register(cls: type[Experiment]) -> type[Experiment]:
    """Class decorator: add an experiment to the registry (ids are unique)."""
    for attr in ("id", "lecture", "title"):
        if not hasattr(cls, attr):
            raise TypeError(f"experiment class {cls.__name__} must define `{attr}`.")
    if "quick" not in cls.presets or "full" not in cls.presets:
        raise TypeError(f"experiment {cls.id} must define presets 'quick' and 'full'; got {sorted(cls.presets)}.")
    if cls.id in _REGISTRY and _REGISTRY[cls.id] is not cls:
        raise ValueError(f"experiment id '{cls.id}' is registered twice ({_REGISTRY[cls.id].__name__}, {cls.__name__}).")
    _REGISTRY[cls.id] = cls
    return cls


def discover() -> None:
    """Import every module under ``dltheory.experiments`` so that all experiments register."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    import dltheory.experiments as pkg

    for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(mod.name)
    _DISCOVERED = True


def all_experiments() -> list[type[Experiment]]:
    """Every registered experiment, by lecture then id."""
    discover()
    return sorted(_REGISTRY.values(), key=lambda c: (c.lecture, c.id))


def get(exp_id: str) -> type[Experiment]:
    """The experiment registered as ``exp_id`` (UnknownExperimentError with a suggestion)."""
    discover()
    if exp_id not in _REGISTRY:
        raise UnknownExperimentError(exp_id, _REGISTRY)
    return _REGISTRY[exp_id]


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["lr=0.1", "losses=[\"exp\"]"]`` -> ``{"lr": 0.1, "losses": ["exp"]}``.

    Values are read as JSON when they parse (numbers, lists, true/false), else as strings.
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"`--set` takes key=value; got {item!r}.")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"`--set` takes key=value with a non-empty key; got {item!r}.")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key] = value
    return out


def describe_field(cfg_cls: type[ExperimentConfig], key: str) -> str:
    """'float > 0 (GD step size)': a field's type, range and description."""
    f = cfg_cls.model_fields[key]
    ann = getattr(f.annotation, "__name__", None) or str(f.annotation).replace("typing.", "")
    bounds = []
    for m in f.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(m, attr, None)
            if v is not None:
                bounds.append(f"{sym} {v}")
    text = ann + (" " + " and ".join(bounds) if bounds else "")
    return text + (f" ({f.description})" if f.description else "")


def build_config(exp: type[Experiment], preset: str = "quick", overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """The validated config of ``exp`` for ``preset`` with ``overrides`` applied.

    Raises:
        ConfigError: unknown preset or key (with a suggestion), or an invalid value (naming
            the key, the value and what is allowed).
    """
    if preset not in exp.presets:
        raise ConfigError(f"`preset` must be one of {', '.join(repr(p) for p in exp.presets)}; got {preset!r}.")
    overrides = dict(overrides or {})
    fields = exp.Config.model_fields
    for key in overrides:
        if key not in fields:
            hint = did_you_mean(key, fields)
            allowed = ", ".join(fields)
            raise ConfigError(f"unknown config key '{key}' for {exp.id}" + (f"; did you mean '{hint}'?" if hint else ".") + f" Allowed keys: {allowed}.")
    values = {**exp.presets[preset], **overrides}
    try:
        return exp.Config(**values)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "config"
        top = str(err["loc"][0]) if err["loc"] else None
        allowed = describe_field(exp.Config, top) if top in fields else ""
        got = values.get(top, err.get("input")) if top else err.get("input")
        msg = err["msg"][0].lower() + err["msg"][1:]
        raise ConfigError(f"invalid value for '{key}' of {exp.id}: {got!r}; {msg}" + (f". Allowed: {allowed}." if allowed else ".")) from None
