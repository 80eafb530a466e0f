"""Experiments with ids dropout/*: Lecture 3, inductive biases due to dropout."""
