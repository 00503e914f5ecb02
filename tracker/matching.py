"""Assignment of detections to tracks from a similarity matrix ``[tracks, detections]``.

:data:`MATCHERS` names the methods (``"greedy"``, ``"hungarian"``), each
``(similarity, threshold) -> (rows, cols)`` int arrays (the tracker's path, chosen once with
:func:`get_matcher`); :func:`greedy_match` and :func:`hungarian_match` give the same pairs as a
list of ``(row, col)`` tuples.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import numpy as np

from pose.errors import BadInputError

Matches = List[Tuple[int, int]]
Indices = Tuple[np.ndarray, np.ndarray]


def _pairs(indices: Indices) -> Matches:
    return list(zip(indices[0].tolist(), indices[1].tolist()))


def greedy_indices(similarity: np.ndarray, threshold: float) -> Indices:
    """:func:`greedy_match` as ``(rows, cols)`` int arrays, in the order taken."""
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flat = sim.ravel()
    candidates = (flat > threshold).nonzero()[0]
    # stable: equal similarities stay in row-major order
    order = candidates.take(np.argsort(-flat.take(candidates), kind="stable"))
    if len(candidates) < flat.size and not np.fmin.reduce(flat) <= threshold:
        # the rest is NaN, which sorts last and is not below the threshold
        order = np.concatenate([order, np.isnan(flat).nonzero()[0]])
    rows, cols = np.divmod(order, sim.shape[1])
    used_r, used_c = [False] * sim.shape[0], [False] * sim.shape[1]
    out_r, out_c = [], []
    most = min(sim.shape)
    for r, c in zip(rows.tolist(), cols.tolist()):
        if used_r[r] or used_c[c]:
            continue
        used_r[r] = used_c[c] = True
        out_r.append(r)
        out_c.append(c)
        if len(out_r) == most:
            break
    return np.array(out_r, np.int64), np.array(out_c, np.int64)


def greedy_match(similarity: np.ndarray, threshold: float) -> Matches:
    """Pairs taken in descending similarity, each track and detection at most once, while the
    similarity exceeds ``threshold`` (the Simple Baselines tracker's matching). Equal
    similarities are taken in row-major order."""
    return _pairs(greedy_indices(similarity, threshold))


def hungarian_indices(similarity: np.ndarray, threshold: float) -> Indices:
    """:func:`hungarian_match` as ``(rows, cols)`` int arrays, rows ascending."""
    import lap

    sim = np.asarray(similarity, dtype=np.float64)
    if sim.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    _, row_to_col, _ = lap.lapjv(1.0 - sim, extend_cost=True, cost_limit=1.0 - threshold)
    rows = np.flatnonzero(row_to_col >= 0)
    cols = row_to_col[rows].astype(np.int64)
    keep = sim[rows, cols] > threshold
    return rows[keep], cols[keep]


def hungarian_match(similarity: np.ndarray, threshold: float) -> Matches:
    """Maximum-total-similarity assignment (``lap.lapjv``) among pairs above ``threshold``."""
    return _pairs(hungarian_indices(similarity, threshold))


Matcher = Callable[[np.ndarray, float], Indices]
MATCHERS: Dict[str, Matcher] = {"greedy": greedy_indices, "hungarian": hungarian_indices}


def get_matcher(method: str) -> Matcher:
    """The matching function named ``method`` (a key of :data:`MATCHERS`)."""
    try:
        return MATCHERS[method]
    except KeyError:
        raise BadInputError(f"matching must be one of {', '.join(map(repr, MATCHERS))}, "
                            f"got {method!r}") from None


def match_indices(similarity: np.ndarray, threshold: float, method: str = "greedy") -> Indices:
    """Matched ``(rows, cols)`` int arrays by ``method`` (``"greedy"`` or ``"hungarian"``)."""
    return get_matcher(method)(similarity, threshold)
