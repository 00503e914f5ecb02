"""Per-frame person detectors behind one interface (boxes ``[N, 5]``: x1, y1, x2, y2, score)."""
