"""Lecture 1: introduction to deep learning."""
