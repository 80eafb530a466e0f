"""Lecture experiments: Lecture 2: algorithmic regularization (implicit bias, edge of stability)."""
