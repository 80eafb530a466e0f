"""The experiment catalog of the course (see COURSE.md).

A subpackage per id prefix (id ``edge-of-stability/progressive-sharpening`` lives in
``edge_of_stability/progressive_sharpening.py``); the lecture is metadata of the class. Each
module registers its experiment class on import.
"""

from dltheory.experiments.base import Claim, Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import all_experiments, build_config, get, register

__all__ = ["Claim", "Experiment", "ExperimentConfig", "RunLog", "all_experiments", "build_config", "get", "register"]
