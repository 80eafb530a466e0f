"""Experiments with ids landscape/*: Lecture 4, tractable landscapes for nonconvex optimization."""
