"""Experiments with ids sparse-coding/*: Lecture 5, sparse coding and the multi-layer sparse model of CNNs."""
