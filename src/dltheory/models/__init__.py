"""Small model zoo."""
