"""Published ONNX person detectors, downloaded on first use into the torch hub cache.

OpenMMLab publishes its rtmlib/mmdeploy exports as zip archives holding ``end2end.onnx``; the
archive is downloaded, the ONNX file extracted and checked against its known SHA-256, and kept as
``<torch hub dir>/checkpoints/<name>.onnx`` (the archive is not kept; :func:`pose.downloads.fetch`).
A file already at that path is used without any download, which is how machines without internet
are served.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict

from pose.downloads import cache_dir, fetch


@dataclass(frozen=True)
class PublishedOnnx:
    """One published ONNX detector: ``kind`` is the ``build_detector`` name it runs under."""

    name: str
    kind: str
    url: str
    sha256: str  # of the extracted .onnx file
    note: str


PUBLISHED: Dict[str, PublishedOnnx] = {
    p.name: p for p in (
        PublishedOnnx(
            "yolox_nano_8xb8-300e_humanart-40f6f0d0", "yolox",
            "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
            "yolox_nano_8xb8-300e_humanart-40f6f0d0.zip",
            "1450966de24902b18aada1a78913d7efd8fc8dcd51bd4d0d5591476bd4a38821",
            "YOLOX-nano person detector (HumanArt + COCO), 416x416, end-to-end with NMS"),
    )
}
DEFAULT_CPU = "yolox_nano_8xb8-300e_humanart-40f6f0d0"


def cached_path(name: str) -> Path:
    """Where the published ONNX detector ``name`` is kept."""
    return cache_dir() / f"{name}.onnx"


def fetch_published_onnx(name: str, progress: bool = True) -> Path:
    """Local path of the published ONNX detector ``name`` (downloading it once)."""
    entry = PUBLISHED[name]
    return fetch(entry.url, cached_path(name), entry.sha256, progress=progress,
                 archive_member="end2end.onnx",
                 by_hand=f"or pass it with --detector-weights PATH (--detector {entry.kind})")
