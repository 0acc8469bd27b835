"""Simulated cameras with exact ground truth, for tests and the demo."""
