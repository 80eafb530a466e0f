"""Experiments with ids expressivity/*: what ReLU networks can represent (linear regions), Lecture 1 and the reading lists."""
