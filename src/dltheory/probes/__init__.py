"""Probes: measurements that work on any model with a loss and data."""
