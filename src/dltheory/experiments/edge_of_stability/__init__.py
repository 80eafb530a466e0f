"""Experiments with ids edge-of-stability/*: sharpness at and below 2/eta (Lecture 2)."""
