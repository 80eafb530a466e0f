"""Experiments with ids weights/*: spectra of trained weight matrices (reading lists, Lecture 3 generalization)."""
