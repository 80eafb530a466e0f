"""Sweeps: the product of a grid of config values and seeds, run locally or on Ray.

Every run is recorded in the store like a single run. Rerunning the same sweep skips the
combinations that already finished (same experiment, preset, seed and config), so an
interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from dltheory.core.errors import SEED_MAX, ConfigError, RunInterrupted
from dltheory.experiments import registry
from dltheory.store import Store, config_hash

MAX_SEEDS = 100_000  # of one sweep


@dataclass(frozen=True)
class SweepPoint:
    overrides: dict[str, Any]
    seed: int


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["lr=0.1,0.2", "depth=2,3"]`` -> ``{"lr": [0.1, 0.2], "depth": [2, 3]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"`--grid` takes key=v1,v2,...; got {item!r}.")
        key, raw = item.split("=", 1)
        values = []
        for tok in raw.split(","):
            tok = tok.strip()
            if not tok:
                raise ConfigError(f"`--grid` value list for '{key}' has an empty entry; got {raw!r}.")
            try:
                values.append(json.loads(tok))
            except json.JSONDecodeError:
                values.append(tok)
        grid[key.strip()] = values
    return grid


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0..4]; ``"1,3,5"`` -> [1, 3, 5]. Seeds are ints in 0..2**63-1, at most 100000 of them."""
    bad = f"`--seeds` must look like 0-4 or 1,3,5 (ints in 0..2**63-1, at most {MAX_SEEDS} seeds); got {text!r}."
    seeds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                a, b = (int(x) for x in part.split("-", 1))
                if a < 0 or b < a or b > SEED_MAX or len(seeds) + b - a + 1 > MAX_SEEDS:
                    raise ConfigError(bad)
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise ConfigError(bad) from None
    if not seeds or min(seeds) < 0 or max(seeds) > SEED_MAX or len(seeds) > MAX_SEEDS:
        raise ConfigError(bad)
    return seeds


def plan(experiment: str, grid: Mapping[str, list[Any]], seeds: Sequence[int], preset: str) -> list[SweepPoint]:
    """All points of the sweep; every config is validated before anything runs."""
    exp = registry.get(experiment)
    keys = list(grid)
    points = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        overrides = dict(zip(keys, combo, strict=True))
        registry.build_config(exp, preset, overrides)  # raises ConfigError on bad input
        for s in seeds:
            points.append(SweepPoint(overrides, s))
    return points


def _run_point(experiment: str, preset: str, point: SweepPoint, device: str, runs_dir: str, sweep_id: str) -> tuple[str, str]:
    os.environ.setdefault("DLTHEORY_PROGRESS", "0")
    from dltheory.runner import run_experiment

    try:
        r = run_experiment(experiment, preset=preset, seed=point.seed, overrides=point.overrides, device=device, runs_dir=runs_dir, sweep=sweep_id)
    except RunInterrupted:
        if _IN_WORKER:  # the run is recorded as interrupted; the sweep is being stopped: so is this worker
            os._exit(130)
        raise
    return r.run_id, r.status


_IN_WORKER = False


def worker_threads(jobs: int) -> int:
    """Torch threads of each of ``jobs`` local worker processes: the CPUs this process may use, shared out
    (at least 1), so that parallel runs do not oversubscribe the cores."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // jobs)


def _worker_init(threads: int) -> None:
    global _IN_WORKER
    _IN_WORKER = True
    import torch

    torch.set_num_threads(threads)


def _stop_pool(pool: ProcessPoolExecutor, grace_s: float = 30.0) -> None:
    """Cancel what has not started; SIGTERM the workers (each records its run as interrupted); SIGKILL what is left after ``grace_s``."""
    import time

    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace_s
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(5)


def _sigterm_raises() -> object:
    def handler(signum, frame):
        raise RunInterrupted(f"received signal {signum}")

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return None


def _check_backend(backend: str, jobs: int) -> None:
    if backend not in ("local", "ray"):
        raise ConfigError(f"`backend` must be one of 'local', 'ray'; got {backend!r}.")
    if jobs < 1:
        raise ConfigError(f"`jobs` must be an int >= 1; got {jobs}.")


@dataclass(frozen=True)
class Task:
    """One run of a batch: an experiment at a preset, a sweep point (overrides and seed), the sweep it belongs to."""

    experiment: str
    preset: str
    point: SweepPoint
    sweep_id: str | None = None


def run_tasks(
    tasks: Sequence[Task],
    *,
    device: str = "cpu",
    runs_dir: str | Path | None = None,
    backend: str = "local",
    jobs: int = 1,
    on_done: Callable[[Task, str, str], None] | None = None,
    label: str = "batch of runs",
) -> list[tuple[Task, str, str]]:
    """Run every task and record it in the store; returns ``(task, run_id, status)`` in the order they finish.

    ``jobs`` > 1 runs them in that many local worker processes, each with :func:`worker_threads` torch
    threads (so a run's numbers are those of a single run with that many threads; the count is
    recorded in its result's ``versions``), or on Ray. Ctrl-C or SIGTERM stops the workers, each
    recording its run as interrupted, and raises :class:`RunInterrupted`.
    """
    _check_backend(backend, jobs)
    rd = str(Store(runs_dir).runs_dir)
    results: list[tuple[Task, str, str]] = []

    def done(t: Task, run_id: str, status: str) -> None:
        results.append((t, run_id, status))
        if on_done:
            on_done(t, run_id, status)

    if backend == "ray":
        try:
            import ray
        except ImportError:
            raise ConfigError("`backend` 'ray' needs the ray extra: pip install 'dltheory[ray]'.") from None
        started_here = not ray.is_initialized()
        if started_here:
            if os.environ.get("RAY_ADDRESS"):  # join a running cluster; it has its own CPUs
                ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
            else:
                ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
        try:
            remote = ray.remote(_run_point)
            refs = {remote.remote(t.experiment, t.preset, t.point, device, rd, t.sweep_id): t for t in tasks}
            pending = list(refs)
            while pending:
                done_refs, pending = ray.wait(pending, num_returns=1)
                done(refs[done_refs[0]], *ray.get(done_refs[0]))
        finally:
            if started_here:
                ray.shutdown()
        return results
    if jobs == 1:
        for t in tasks:
            done(t, *_run_point(t.experiment, t.preset, t.point, device, rd, t.sweep_id))
        return results
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(worker_threads(jobs),))
    old_handler = _sigterm_raises()
    try:
        futs = {pool.submit(_run_point, t.experiment, t.preset, t.point, device, rd, t.sweep_id): t for t in tasks}
        for f in as_completed(futs):
            done(futs[f], *f.result())
    except (KeyboardInterrupt, RunInterrupted, BrokenProcessPool) as e:
        if old_handler is not None:  # a second SIGTERM while the workers stop is not a traceback
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop_pool(pool)
        raise RunInterrupted(f"the {label} was interrupted ({type(e).__name__}); its running runs are recorded as interrupted; rerun it to resume") from None
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def run_sweep(
    experiment: str,
    grid: Mapping[str, list[Any]],
    seeds: Sequence[int],
    *,
    preset: str = "quick",
    device: str = "cpu",
    runs_dir: str | Path | None = None,
    backend: str = "local",
    jobs: int = 1,
    on_done: Callable[[SweepPoint, str, str], None] | None = None,
) -> list[tuple[SweepPoint, str, str]]:
    """Run every point not yet finished; returns ``(point, run_id, status)`` for each."""
    _check_backend(backend, jobs)  # before the store is opened: bad input writes nothing
    store = Store(runs_dir)
    exp = registry.get(experiment)
    points = plan(experiment, grid, seeds, preset)
    sweep_id = f"{experiment}:{preset}:{json.dumps(grid, sort_keys=True)}"
    results: list[tuple[SweepPoint, str, str]] = []
    todo = []
    for p in points:
        cfg = registry.build_config(exp, preset, p.overrides).model_dump(mode="json")
        done = store.find_finished(experiment, preset, p.seed, config_hash(experiment, preset, cfg))
        if done:
            results.append((p, done.run_id, "skipped (" + done.status + ")"))
            if on_done:
                on_done(p, done.run_id, "skipped")
        else:
            todo.append(Task(experiment, preset, p, sweep_id))

    def point_done(t: Task, run_id: str, status: str) -> None:
        results.append((t.point, run_id, status))
        if on_done:
            on_done(t.point, run_id, status)

    run_tasks(todo, device=device, runs_dir=store.runs_dir, backend=backend, jobs=jobs, on_done=point_done, label="sweep")
    return results


def verify(
    experiment: str,
    seeds: Sequence[int],
    *,
    preset: str = "quick",
    overrides: Mapping[str, Any] | None = None,
    device: str = "cpu",
    runs_dir: str | Path | None = None,
    backend: str = "local",
    jobs: int = 1,
    on_done: Callable[[SweepPoint, str, str], None] | None = None,
) -> tuple[list[tuple[SweepPoint, str, str]], dict[str, Any]]:
    """Run one config on many seeds (a sweep of one point) and count how often each claim held.

    Seeds already run with the same experiment, preset and config are not run again. Returns
    the sweep's ``(point, run_id, status)`` list and :meth:`Store.claim_pass_rates` over the
    newest run of each requested seed.
    """
    grid = {k: [v] for k, v in (overrides or {}).items()}
    results = run_sweep(experiment, grid, seeds, preset=preset, device=device, runs_dir=runs_dir, backend=backend, jobs=jobs, on_done=on_done)
    store = Store(runs_dir)
    exp = registry.get(experiment)
    cfg = registry.build_config(exp, preset, overrides).model_dump(mode="json")
    chash = config_hash(experiment, preset, cfg)
    wanted = set(seeds)
    rates = store.claim_pass_rates(experiment, preset, chash, seeds=wanted)
    return results, rates
