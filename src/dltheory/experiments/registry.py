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


def _import_by_id(exp_id: str) -> None:
    """Import the one module whose path follows ``exp_id`` (``a-b/c-d`` -> ``dltheory.experiments.a_b.c_d``), if it exists."""
    parts = exp_id.split("/")
    if len(parts) != 2 or not all(p.replace("-", "").replace("_", "").isalnum() for p in parts):
        return
    name = "dltheory.experiments." + ".".join(p.replace("-", "_") for p in parts)
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is None or not name.startswith(e.name):  # a dependency of the module is missing: say so
            raise


def get(exp_id: str) -> type[Experiment]:
    """The experiment registered as ``exp_id`` (UnknownExperimentError with a suggestion).

    The module whose path follows the id is imported first; the whole catalog only when that
    does not register it (so one run does not import every experiment).
    """
    if exp_id in _REGISTRY:
        return _REGISTRY[exp_id]
    _import_by_id(exp_id)
    if exp_id in _REGISTRY:
        return _REGISTRY[exp_id]
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


def _bounds(metadata) -> list[str]:
    out = []
    flat = []
    for m in metadata:
        flat.extend(m.metadata if hasattr(m, "metadata") and isinstance(m.metadata, list) else [m])  # a FieldInfo inside Annotated
    for m in flat:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "length >="), ("max_length", "length <=")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
    return out


def _type_text(annotation) -> str:
    """'float', 'tuple[float > 0 and <= 1, ...]', 'Literal['gd', 'sgd']'."""
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        inner = _type_text(args[0])
        b = _bounds(args[1:])
        return inner + (" " + " and ".join(b) if b else "")
    if origin in (list, tuple) and args:
        return f"{origin.__name__}[{', '.join('...' if a is Ellipsis else _type_text(a) for a in args)}]"
    return getattr(annotation, "__name__", None) if origin is None and hasattr(annotation, "__name__") else str(annotation).replace("typing.", "")


def describe_field(cfg_cls: type[ExperimentConfig], key: str, *, description: bool = True) -> str:
    """'float > 0 (GD step size)': a field's type, range (also of list entries) and description."""
    f = cfg_cls.model_fields[key]
    bounds = _bounds(f.metadata)
    text = _type_text(f.annotation) + (" " + " and ".join(bounds) if bounds else "")
    return text + (f" ({f.description})" if f.description and description else "")


def unbounded_fields(cfg_cls: type[ExperimentConfig]) -> list[str]:
    """Numeric fields (or list entries) without an upper bound: every size should have one."""
    import typing

    def unbounded(annotation, metadata) -> bool:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Annotated:
            extra = [x for m in args[1:] for x in (m.metadata if isinstance(getattr(m, "metadata", None), list) else [m])]
            return unbounded(args[0], list(metadata) + extra)
        if annotation in (int, float):
            return not any(getattr(m, "le", None) is not None or getattr(m, "lt", None) is not None for m in metadata)
        if origin in (list, tuple):
            return any(unbounded(a, []) for a in args if a is not Ellipsis)
        if origin is typing.Union or type(annotation).__name__ == "UnionType":
            return any(unbounded(a, metadata) for a in args if a is not type(None))
        return False

    return [k for k, f in cfg_cls.model_fields.items() if unbounded(f.annotation, f.metadata)]


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
        raise ConfigError(_config_error_message(exp, values, e.errors()[0])) from None


def _config_error_message(exp: type[Experiment], values: Mapping[str, Any], err: Mapping[str, Any]) -> str:
    """One line: the key (with the list index), the value given, what is wrong, what is allowed."""
    fields = exp.Config.model_fields
    loc = list(err["loc"])
    if err["type"] == "bool_not_number":
        loc = [err["ctx"]["key"]]
    top = str(loc[0]) if loc else None
    key = (top or "config") + "".join(f"[{p}]" for p in loc[1:])
    got = values.get(top, err.get("input")) if top else err.get("input")
    if err["type"] == "finite_number":
        msg = "must be finite"
    elif err["type"] == "bool_not_number":
        msg = err["msg"]
    else:
        msg = err["msg"][0].lower() + err["msg"][1:]
        if len(loc) > 1:
            msg = f"entry {key} = {err.get('input')!r}: {msg}"
    allowed = describe_field(exp.Config, top) if top in fields else ""
    msg = msg.rstrip(".")  # a validator's own sentence ends with a period; the line adds its own
    return f"invalid value for '{key}' of {exp.id}: {got!r}; {msg}" + (f". Allowed: {allowed}." if allowed else ".")
