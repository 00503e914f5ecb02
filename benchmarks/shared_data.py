"""Where the benchmarks find the real test data: ``../shared/data`` beside the project root, or
``$HRTRACK_SHARED/data``."""
from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("HRTRACK_SHARED",
                                  Path(__file__).resolve().parents[1].parent / "shared")) / "data"
POSETRACK18_GT_SAMPLE = SHARED_DATA / "posetrack18_sample" / "annotations" / "val"
