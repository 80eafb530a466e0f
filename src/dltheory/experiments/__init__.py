"""The experiment catalog, organized by the lectures of the course (see COURSE.md).

Lecture subpackages (``l2_algorithmic_regularization``, ...) hold one module per phenomenon;
each registers its experiment class on import.
"""

from dltheory.experiments.base import Claim, Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import all_experiments, build_config, get, register

__all__ = ["Claim", "Experiment", "ExperimentConfig", "RunLog", "all_experiments", "build_config", "get", "register"]
