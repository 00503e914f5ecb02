"""Assignment of detections to tracks from a similarity matrix ``[tracks, detections]``."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

Matches = List[Tuple[int, int]]


def greedy_match(similarity: np.ndarray, threshold: float) -> Matches:
    """Pairs taken in descending similarity, each track and detection at most once, while the
    similarity exceeds ``threshold`` (the Simple Baselines tracker's matching). Equal
    similarities are taken in row-major order."""
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.size == 0:
        return []
    order = np.argsort(-sim, axis=None, kind="stable")
    rows, cols = np.unravel_index(order, sim.shape)
    used_r = np.zeros(sim.shape[0], bool)
    used_c = np.zeros(sim.shape[1], bool)
    matches = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        if sim[r, c] <= threshold:
            break
        if used_r[r] or used_c[c]:
            continue
        used_r[r] = used_c[c] = True
        matches.append((r, c))
        if used_r.all() or used_c.all():
            break
    return matches


def hungarian_match(similarity: np.ndarray, threshold: float) -> Matches:
    """Maximum-total-similarity assignment (``lap.lapjv``) among pairs above ``threshold``."""
    import lap

    sim = np.asarray(similarity, dtype=np.float64)
    if sim.size == 0:
        return []
    cost = 1.0 - sim
    _, row_to_col, _ = lap.lapjv(cost, extend_cost=True, cost_limit=1.0 - threshold)
    return [(r, int(c)) for r, c in enumerate(row_to_col) if c >= 0 and sim[r, c] > threshold]


def match(similarity: np.ndarray, threshold: float, method: str = "greedy") -> Matches:
    if method == "greedy":
        return greedy_match(similarity, threshold)
    if method == "hungarian":
        return hungarian_match(similarity, threshold)
    raise ValueError(f"matching must be 'greedy' or 'hungarian', got {method!r}")
