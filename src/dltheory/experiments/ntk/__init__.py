"""Experiments with ids ntk/*: the neural tangent kernel (the planned Lecture 8 of the syllabus)."""
