"""Fitting and evaluating the configured estimator."""

from easy_mlops.training.trainer import TrainedModel, detect_problem_type, train

__all__ = ["TrainedModel", "detect_problem_type", "train"]
