"""Lecture experiments: Lecture 3: inductive biases due to dropout."""
