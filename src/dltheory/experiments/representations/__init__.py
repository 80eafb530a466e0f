"""Experiments with ids representations/*: comparing learned representations (SVCCA, CKA) from the reading lists."""
