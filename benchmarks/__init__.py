"""Runnable evaluations, training recipes and speed/complexity benchmarks."""
