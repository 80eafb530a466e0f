"""The one training loop and its optimizers."""

from dltheory.train.loop import Callback, History, StepInfo, StopTraining, TrainResult, train
from dltheory.train.optimizers import (
    Optimizer,
    adam,
    coordinate_descent,
    gd,
    make_optimizer,
    mirror_descent,
    momentum,
    normalized_gd,
    sign_descent,
)

__all__ = [
    "Callback", "History", "Optimizer", "StepInfo", "StopTraining", "TrainResult", "adam",
    "coordinate_descent", "gd", "make_optimizer", "mirror_descent", "momentum", "normalized_gd",
    "sign_descent", "train",
]
