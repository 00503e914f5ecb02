"""Identities across frames: flow propagation, OKS/IoU similarity, matching, track life cycle."""
