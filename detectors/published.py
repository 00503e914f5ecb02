"""Published ONNX person detectors, downloaded on first use into the torch hub cache.

OpenMMLab publishes its rtmlib/mmdeploy exports as zip archives holding ``end2end.onnx``; the
archive is downloaded, the ONNX file extracted and checked against its known SHA-256, and kept as
``<torch hub dir>/checkpoints/<name>.onnx`` (the archive is not kept). A file already at that path
is used without any download, which is how machines without internet are served.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import torch

from pose.checkpoints import cache_dir


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


class DetectorDownloadError(RuntimeError):
    """A published detector that could not be fetched; the message says how to get it."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_path(name: str) -> Path:
    return cache_dir() / f"{name}.onnx"


def fetch_published_onnx(name: str, progress: bool = True) -> Path:
    """Local path of the published ONNX detector ``name`` (downloading it once)."""
    entry = PUBLISHED[name]
    target = cached_path(name)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    how = (f"Download {entry.url} on a machine with internet access, unzip it and either put "
           f"its end2end.onnx at {target} or pass it with --detector-weights PATH "
           f"(--detector {entry.kind}).")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "archive.zip"
        try:
            torch.hub.download_url_to_file(entry.url, str(archive), progress=progress)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DetectorDownloadError(f"could not download the person detector {name} "
                                        f"({reason}).\n{how}") from None
        try:
            with zipfile.ZipFile(archive) as zf:
                members = [m for m in zf.namelist() if m.endswith(".onnx")]
                if len(members) != 1:
                    raise DetectorDownloadError(f"{entry.url} holds {len(members)} .onnx files, "
                                                f"expected one.\n{how}")
                extracted = Path(tmp) / "model.onnx"
                with zf.open(members[0]) as src, open(extracted, "wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
        except zipfile.BadZipFile:
            raise DetectorDownloadError(f"{entry.url} did not give a zip archive.\n{how}") from None
        digest = _sha256(extracted)
        if digest != entry.sha256:
            raise DetectorDownloadError(
                f"the ONNX file in {entry.url} has SHA-256 {digest[:16]}..., expected "
                f"{entry.sha256[:16]}...: the download is corrupt or the file changed. Nothing "
                "was kept.")
        os.replace(extracted, target)
    return target
