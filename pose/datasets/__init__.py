"""Datasets: annotation readers and person-box sources for evaluation (and, later, training)."""
