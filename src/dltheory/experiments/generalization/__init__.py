"""Experiments with ids generalization/*: generalization phenomena of Lecture 3 and the reading lists (double descent, random labels)."""
