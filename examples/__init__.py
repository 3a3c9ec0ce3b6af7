"""Runnable example applications (run them from the repository root)."""
