"""What an experiment is: a typed config, presets, a run function, claims.

An experiment subclasses :class:`Experiment` and registers itself with
:func:`dltheory.experiments.registry.register`::

    @register
    class SeparableLogistic(Experiment):
        id = "implicit-bias/separable-logistic"
        lecture = 2
        title = "GD on separable data converges to the max-margin direction"
        papers = ("soudry2018",)

        class Config(ExperimentConfig):
            lr: float = Field(0.1, gt=0, description="GD step size")

        presets = {"quick": {"steps": 10_000}, "full": {"steps": 1_000_000}}

        def run(self, config, log):
            ...
            log.claim_less("angle", "angle to the SVM direction", angle, 0.05, source=..., oracle=...)

Presets: ``quick`` (seconds on a 2-core CPU; every claim must hold), ``full`` (the paper's
scale, about ten minutes at most on a laptop CPU) and, by convention, ``tiny`` (a smoke test
of a second or two that the test suite runs through the real runner; its claims need not
hold at that size).

The runner owns seeding, device, versions, the config JSON and the run directory; the
experiment receives them through ``log`` (:class:`RunLog`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from dltheory.core.device import resolve_device
from dltheory.core.plotting import save as save_figure
from dltheory.core.rng import numpy_generator, torch_generator


class ExperimentConfig(BaseModel):
    """Base of every experiment config: unknown keys are rejected, values validated.

    Generic rules for every field: NaN and infinities are refused ("must be finite"), and so
    is a bool where an int or a float is expected (``steps=true`` is not 1), also inside
    lists and tuples. Bounds of list entries are declared element by element::

        lrs: tuple[Annotated[float, Field(gt=0, le=1)], ...] = Field((0.1,), min_length=1, max_length=20,
                                                                     description="GD step sizes")

    and every size gets an upper bound (``steps: int = Field(1000, ge=1, le=10**6)``).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bools_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key, value in data.items():
                f = cls.model_fields.get(key) if isinstance(key, str) else None
                if f is not None and _bool_where_number(f.annotation, value):
                    raise PydanticCustomError("bool_not_number", "must be a number, not a bool (true/false)", {"key": key})
        return data


class ImageClassificationConfig(ExperimentConfig):
    """Config of an experiment on an image classification set: the bundled digits, or MNIST or
    CIFAR-10 from the user's folder (:func:`dltheory.data.images.classification_split`), with
    ``num_train`` training images. Subclass it instead of :class:`ExperimentConfig`."""

    dataset: Literal["digits", "mnist", "cifar10"] = Field("digits", description="digits (bundled; the images after num_train are the test set), "
                                                          "or mnist / cifar10 read from data_root (the official test set; never downloaded)")
    data_root: str | None = Field(None, min_length=1, max_length=4096, description="folder holding the MNIST IDX files or the CIFAR-10 python batches")
    num_train: int = Field(1200, ge=10, le=60000, description="training images (the first ones)")

    @model_validator(mode="after")
    def _fits_the_dataset(self):
        from dltheory.data.images import check_classification_split

        check_classification_split(self.dataset, self.num_train, self.data_root)
        return self


def _numeric_kinds(annotation: Any) -> tuple[bool, set[type]]:
    """(is a container, the number types it holds) of a field annotation, unwrapping Optional/Annotated."""
    import typing

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _numeric_kinds(args[0])
    if annotation in (bool, int, float):
        return False, {annotation}
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        kinds: set[type] = set()
        container = False
        for a in args:
            c, k = _numeric_kinds(a)
            container |= c
            kinds |= k
        return container, kinds
    if origin in (list, tuple, set, frozenset) or origin is not None and getattr(origin, "__name__", "") in ("Sequence",):
        kinds = set()
        for a in args:
            if a is not Ellipsis:
                kinds |= _numeric_kinds(a)[1]
        return True, kinds
    return False, set()


def _bool_where_number(annotation: Any, value: Any) -> bool:
    container, kinds = _numeric_kinds(annotation)
    if not kinds or bool in kinds:
        return False
    if isinstance(value, bool):
        return True
    return container and isinstance(value, (list, tuple)) and any(isinstance(v, bool) for v in value)


CLAIM_KINDS = ("claim", "check")


@dataclass(frozen=True)
class Claim:
    """A quantitative statement checked in a run.

    Attributes:
        id: short identifier, unique within the experiment.
        statement: what the theory says, in words.
        measured: the measured value.
        expected: the bound or target, as text ("< 0.05", "= 2/eta +- 10%").
        holds: whether ``measured`` satisfies ``expected``.
        source: where the expectation comes from (paper, theorem, figure, equation).
        oracle: the independent reference it is checked against.
        tolerance: the tolerance used, if any.
        kind: ``"claim"`` (a measurement compared with what theory predicts; it can fail
            when the phenomenon does not occur) or ``"check"`` (an identity or a
            construction verified exactly: a failure means a bug, not a refuted theory).
            Both must hold for a run to pass; terminal and report show them apart.
    """

    id: str
    statement: str
    measured: float
    expected: str
    holds: bool
    source: str
    oracle: str
    tolerance: float | None = None
    kind: str = "claim"

    def __post_init__(self) -> None:
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"`kind` of claim {self.id!r} must be one of {CLAIM_KINDS}; got {self.kind!r}.")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["measured"] = _jsonable(self.measured)
        return d


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        x = x.item()
    if isinstance(x, torch.Tensor):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, bool):
        return x
    return x


class RunLog:
    """The experiment's handle on its run: seeds, device, metrics, figures, artifacts, claims."""

    def __init__(self, run_dir: Path, *, seed: int, device: str | torch.device = "cpu", progress: bool = True):
        self.run_dir = Path(run_dir)
        self.seed = int(seed)
        self.device = resolve_device(device)
        self.progress = progress
        self.claims: list[Claim] = []
        self.metrics: dict[str, Any] = {}
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.figures: list[str] = []
        self.artifacts: list[str] = []
        (self.run_dir / "figures").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "artifacts").mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.run_dir / "log.txt", "a", encoding="utf-8")  # noqa: SIM115

    # randomness -----------------------------------------------------------------------
    def generator(self, *names: str | int, device: str | torch.device | None = None) -> torch.Generator:
        """A torch generator for the named stream, seeded from the run seed."""
        return torch_generator(self.seed, *names, device=self.device if device is None else device)

    def rng(self, *names: str | int) -> np.random.Generator:
        """A numpy generator for the named stream, seeded from the run seed."""
        return numpy_generator(self.seed, *names)

    # logging --------------------------------------------------------------------------
    def info(self, message: str) -> None:
        """A line in ``log.txt``."""
        self._log_file.write(message.rstrip() + "\n")
        self._log_file.flush()

    def metric(self, name: str, value: float) -> None:
        """A final scalar metric (``result.json`` ``metrics``)."""
        self.metrics[name] = _jsonable(float(value) if not isinstance(value, (str, bool)) else value)

    def scalar(self, name: str, step: float, value: float) -> None:
        """One point of a metric over steps (saved as ``artifacts/series.json``)."""
        s, v = self.series.setdefault(name, ([], []))
        s.append(float(step))
        v.append(float(value))

    def figure(self, name: str, fig) -> Path:
        """Save a matplotlib figure as ``figures/<name>.png``."""
        path = self.run_dir / "figures" / f"{name}.png"
        save_figure(fig, path)
        self.figures.append(f"figures/{name}.png")
        return path

    def artifact(self, name: str, **arrays: Any) -> Path:
        """Save arrays (numpy or torch) as ``artifacts/<name>.npz``."""
        clean = {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)) for k, v in arrays.items()}
        path = self.run_dir / "artifacts" / f"{name}.npz"
        np.savez(path, **clean)
        self.artifacts.append(f"artifacts/{name}.npz")
        return path

    def torch_artifact(self, name: str, obj: Any) -> Path:
        """Save any torch-serializable object as ``artifacts/<name>.pt``."""
        path = self.run_dir / "artifacts" / f"{name}.pt"
        torch.save(obj, path)
        self.artifacts.append(f"artifacts/{name}.pt")
        return path

    # claims ---------------------------------------------------------------------------
    def claim(self, id: str, statement: str, *, measured: float, expected: str, holds: bool, source: str, oracle: str, tolerance: float | None = None, kind: str = "claim") -> Claim:
        """Record a claim (or, with ``kind="check"``, a check) with an explicit verdict.

        A NaN or infinite ``measured`` never holds: it is a failure to measure.
        """
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} is recorded twice in this run.")
        m = float(measured) if not isinstance(measured, bool) else float(measured)
        c = Claim(id, statement, m, expected, bool(holds) and (math.isfinite(m)), source, oracle, tolerance, kind)
        self.claims.append(c)
        self.info(f"{kind} {id}: measured {m:.6g}, expected {expected} -> {'holds' if c.holds else 'FAILS'}")
        return c

    def claim_less(self, id: str, statement: str, measured: float, bound: float, *, source: str, oracle: str, kind: str = "claim") -> Claim:
        """Claim ``measured < bound``."""
        return self.claim(id, statement, measured=measured, expected=f"< {bound:.4g}", holds=measured < bound, source=source, oracle=oracle, kind=kind)

    def claim_greater(self, id: str, statement: str, measured: float, bound: float, *, source: str, oracle: str, kind: str = "claim") -> Claim:
        """Claim ``measured > bound``."""
        return self.claim(id, statement, measured=measured, expected=f"> {bound:.4g}", holds=measured > bound, source=source, oracle=oracle, kind=kind)

    def claim_between(self, id: str, statement: str, measured: float, low: float, high: float, *, source: str, oracle: str, kind: str = "claim") -> Claim:
        """Claim ``low <= measured <= high``."""
        return self.claim(id, statement, measured=measured, expected=f"in [{low:.4g}, {high:.4g}]", holds=low <= measured <= high, source=source, oracle=oracle, kind=kind)

    def claim_close(self, id: str, statement: str, measured: float, target: float, *, rtol: float = 0.0, atol: float = 0.0, source: str, oracle: str, kind: str = "claim") -> Claim:
        """Claim ``|measured - target| <= atol + rtol |target|``."""
        tol = atol + rtol * abs(target)
        return self.claim(id, statement, measured=measured, expected=f"= {target:.6g} +- {tol:.3g}", holds=abs(measured - target) <= tol, source=source, oracle=oracle, tolerance=tol, kind=kind)

    def close(self) -> None:
        if self.series:
            with open(self.run_dir / "artifacts" / "series.json", "w", encoding="utf-8") as f:
                json.dump({k: {"step": s, "value": v} for k, (s, v) in self.series.items()}, f)
            if "artifacts/series.json" not in self.artifacts:
                self.artifacts.append("artifacts/series.json")
        self._log_file.close()


class Experiment:
    """Base class of a registered experiment (see the module docstring)."""

    id: ClassVar[str]
    lecture: ClassVar[int]
    title: ClassVar[str]
    papers: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[ExperimentConfig]] = ExperimentConfig
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {"quick": {}, "full": {}}

    def run(self, config: ExperimentConfig, log: RunLog) -> None:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring (or the title)."""
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else cls.title
