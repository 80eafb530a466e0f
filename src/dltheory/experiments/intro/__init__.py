"""Experiments with ids intro/*: Lecture 1, introduction to deep learning."""
