"""Experiments with ids implicit-bias/*: Lecture 2, algorithmic regularization."""
