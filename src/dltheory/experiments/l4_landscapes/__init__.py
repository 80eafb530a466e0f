"""Lecture experiments: Lecture 4: tractable landscapes for nonconvex optimization."""
