"""Small experiments registered only by the test suite (ids under `testing/`)."""

from __future__ import annotations

import time
from typing import Annotated

import torch
from pydantic import Field

from dltheory.core.plotting import figure
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.train import train


@register
class Quadratic(Experiment):
    """GD on a random quadratic reaches its minimizer (closed form)."""

    id = "testing/quadratic"
    lecture = 1
    title = "GD on a quadratic (test fixture)"
    papers = ("ruder2016",)

    class Config(ExperimentConfig):
        dim: int = Field(5, ge=1, le=100, description="dimension")
        lr: float = Field(1.0, gt=0, description="GD step size in units of 1/L")
        steps: int = Field(200, ge=1, le=100_000, description="GD steps")
        bound: float = Field(1e-6, gt=0, le=1e3, description="claim bound on the distance")

    presets = {"tiny": {"steps": 50}, "quick": {}, "full": {"steps": 1000}}

    def run(self, config: Config, log: RunLog) -> None:
        g = log.generator("data")
        A = torch.randn(config.dim, config.dim, generator=g, dtype=torch.float64, device=log.device)
        H = A @ A.T / config.dim + torch.eye(config.dim, dtype=torch.float64, device=log.device)
        b = torch.randn(config.dim, generator=g, dtype=torch.float64, device=log.device)
        w_star = torch.linalg.solve(H, b)
        lr = config.lr / float(torch.linalg.eigvalsh(H)[-1])
        res = train(lambda p, _: 0.5 * p["w"] @ H @ p["w"] - b @ p["w"], {"w": torch.zeros_like(b)}, steps=config.steps, optimizer="gd", lr=lr)
        dist = float(torch.linalg.norm(res.params["w"] - w_star))
        steps, losses = res.history["loss"]
        for s, v in zip(steps[::10], losses[::10], strict=True):
            log.scalar("loss", s, v)
        log.metric("distance", dist)
        fig, ax = figure()
        ax.plot(steps, losses)
        log.figure("loss", fig)
        log.artifact("problem", H=H, b=b, w_final=res.params["w"], w_star=w_star)
        log.claim_less("distance", "GD reaches the minimizer", dist, config.bound, source="convex optimization", oracle="torch.linalg.solve")


@register
class Slow(Experiment):
    """Sleeps in small steps (to be interrupted by the tests)."""

    id = "testing/slow"
    lecture = 1
    title = "slow (test fixture)"
    papers = ()

    class Config(ExperimentConfig):
        seconds: float = Field(30.0, gt=0, description="how long to sleep")

    presets = {"tiny": {"seconds": 0.05}, "quick": {}, "full": {}}

    def run(self, config: Config, log: RunLog) -> None:
        t0 = time.time()
        while time.time() - t0 < config.seconds:
            time.sleep(0.01)
        log.claim_greater("slept", "it slept", time.time() - t0, 0.0, source="-", oracle="clock")


@register
class SeedDependent(Experiment):
    """A claim that fails on every third seed, and a check that always holds (fixture of `verify`)."""

    id = "testing/seed-dependent"
    lecture = 1
    title = "seed-dependent (test fixture)"
    papers = ()

    class Config(ExperimentConfig):
        period: int = Field(3, ge=1, le=100, description="the claim fails on seeds divisible by this")
        only_checks: bool = Field(False, description="record the check alone")

    presets = {"tiny": {}, "quick": {}, "full": {}}

    def run(self, config: Config, log: RunLog) -> None:
        log.claim_close("identity", "1 + 1 = 2", 1.0 + 1.0, 2.0, atol=0.0, source="-", oracle="arithmetic", kind="check")
        if config.only_checks:
            return
        log.claim_greater("seed_residue", "the seed is not a multiple of the period", log.seed % config.period, 0, source="-", oracle="none")


@register
class Lists(Experiment):
    """List-valued config entries, validated element by element (fixture of the config checks)."""

    id = "testing/lists"
    lecture = 1
    title = "lists (test fixture)"
    papers = ()

    class Config(ExperimentConfig):
        lrs: tuple[Annotated[float, Field(gt=0, le=1)], ...] = Field((0.1, 0.2), min_length=1, max_length=8, description="step sizes")
        hidden: list[Annotated[int, Field(ge=1, le=4096)]] = Field([8], min_length=1, max_length=8, description="hidden widths")
        steps: int = Field(10, ge=1, le=10_000, description="steps")

    presets = {"tiny": {}, "quick": {}, "full": {"steps": 100}}

    def run(self, config: Config, log: RunLog) -> None:
        log.claim_greater("positive", "every step size is positive", min(config.lrs), 0.0, source="-", oracle="none")
