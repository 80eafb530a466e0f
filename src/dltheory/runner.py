"""Run one experiment: config, seeding, device, run directory, store record, result.json."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import dltheory
from dltheory.core.device import exact_float32, resolve_device
from dltheory.core.errors import SEED_MAX, ConfigError, RunInterrupted, check_int
from dltheory.experiments import registry
from dltheory.experiments.base import RunLog
from dltheory.store import Store, config_hash

__all__ = ["SCHEMA_VERSION", "RunResult", "check_seed", "config_hash", "new_run_id", "run_experiment", "versions"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str  # ok | failed | error | interrupted
    result: dict[str, Any]
    run_dir: Path

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "ok" else 1


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed is an int in 0..2**63-1 (it is stored as a signed 64-bit integer); ConfigError otherwise."""
    try:
        return check_int(name, seed, minimum=0, maximum=SEED_MAX)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e).replace(f"<= {SEED_MAX}", "<= 2**63-1")) from None


def new_run_id(experiment: str, seed: int) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = experiment.replace("/", "-")
    return f"{stamp}-{slug}-s{seed}-{uuid.uuid4().hex[:6]}"


def versions() -> dict[str, Any]:
    """What a run's numbers depend on besides its config and seed: the package versions and torch's CPU
    thread count (reductions split over threads round differently, so the same seed reproduces its numbers
    on the same machine at the same thread count)."""
    return {"dltheory": dltheory.__version__, "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "torch_threads": torch.get_num_threads()}


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`RunInterrupted` while a run is in progress (main thread only)."""
    def handler(signum, frame):
        raise RunInterrupted(f"received signal {signum}")

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False), encoding="utf-8")
    os.replace(tmp, path)


def run_experiment(
    experiment: str,
    *,
    preset: str = "quick",
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    device: str = "cpu",
    runs_dir: str | Path | None = None,
    sweep: str | None = None,
    store: Store | None = None,
) -> RunResult:
    """Run ``experiment`` and record it.

    Bad input (unknown experiment, preset, key or value; bad device) raises before anything
    is recorded. An exception inside the experiment is recorded as status ``error`` (its
    message in the store and result.json); Ctrl-C or SIGTERM as ``interrupted`` and then
    re-raised.
    """
    exp_cls = registry.get(experiment)
    check_seed(seed)
    try:
        dev = resolve_device(device)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    config = registry.build_config(exp_cls, preset, overrides)
    config_json = config.model_dump(mode="json")
    given = {k: config_json[k] for k in (overrides or {})}
    store = store or Store(runs_dir)
    store.require_writable()
    # every input is valid: from here on, a failure before the run starts leaves nothing behind
    run_id = new_run_id(experiment, seed)
    run_dir = store.run_dir(run_id)
    run_dir.mkdir(parents=False, exist_ok=False)
    chash = config_hash(experiment, preset, config_json)
    try:
        _write_json_atomic(run_dir / "config.json", {"experiment": experiment, "preset": preset, "seed": seed, "device": str(dev), "config": config_json, "overrides": given})
        store.start(run_id, experiment, preset, seed, config_json, chash, sweep, given)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise

    log = RunLog(run_dir, seed=seed, device=dev)
    log.info(f"run {run_id}: {experiment} preset={preset} seed={seed} device={dev}")
    if dev.type == "cuda":
        log.info("float32 on CUDA is IEEE float32 in this run (TensorFloat-32 off) and cuDNN deterministic")
    t0 = time.perf_counter()
    status, error = "error", None
    try:
        with _sigterm_as_interrupt(), exact_float32():
            exp_cls().run(config, log)
        if not any(c.kind == "claim" for c in log.claims):
            status, error = "error", "the experiment recorded no claims (checks alone do not test a theory)"
        else:
            status = "ok" if all(c.holds for c in log.claims) else "failed"
    except (KeyboardInterrupt, RunInterrupted) as e:
        status, error = "interrupted", f"interrupted ({type(e).__name__}: {e})"
        log.info(error)
        _finish(store, log, run_id, experiment, preset, seed, config_json, given, status, error, t0)
        raise RunInterrupted(f"run {run_id} was interrupted and recorded as such") from None
    except Exception as e:  # recorded, not swallowed: status error, message kept
        error = f"{type(e).__name__}: {e}"
        log.info(traceback.format_exc())
    result = _finish(store, log, run_id, experiment, preset, seed, config_json, given, status, error, t0)
    return RunResult(run_id, status, result, run_dir)


def _finish(store: Store, log: RunLog, run_id: str, experiment: str, preset: str, seed: int, config_json: dict, overrides: dict, status: str, error: str | None, t0: float) -> dict[str, Any]:
    wall = time.perf_counter() - t0
    log.close()
    claims = [c.to_json() for c in log.claims]
    result = {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "experiment": experiment,
        "preset": preset,
        "seed": seed,
        "config": config_json,
        "overrides": overrides,
        "status": status,
        "claims": claims,
        "metrics": log.metrics,
        "figures": log.figures,
        "artifacts": log.artifacts,
        "versions": versions(),
        "wall_time_s": round(wall, 3),
    }
    if error:
        result["error"] = error
    _write_json_atomic(log.run_dir / "result.json", result)
    store.finish(run_id, status, wall_time_s=wall, claims=claims, error=error)
    return result
