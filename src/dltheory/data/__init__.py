"""Data: synthetic generators for theory settings, bundled real data, readers for user files."""
