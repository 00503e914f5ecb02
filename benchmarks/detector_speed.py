"""Per-frame latency of the person detectors.

    python -m benchmarks.detector_speed [--backends yolox cascade_rcnn fasterrcnn_resnet50_fpn ...]
        [--frame ../shared/data/coco_sample/000000197388.jpg] [--repeat 3] [--device cpu]
        [--json OUT]

ONNX detectors run the real weights in ../shared/data/detectors; the torchvision and Cascade
R-CNN backends run untrained weights (latency does not depend on the weights) at their published
test sizes (torchvision: shorter side 800, at most 1333; SSDlite: 320; Cascade R-CNN: fit in
1333x800). Prints milliseconds per frame (median of ``--repeat`` after one warm-up).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import List, Optional

import torch

import detectors
from pose.datasets.coco import read_rgb
from pose.safe_output import write_json_atomic

from .shared_data import SHARED_DATA as SHARED

ONNX_FILES = {"yolox (humanart, end-to-end)": "yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx",
              "yolox (coco80, raw head)": "yolox_nano_coco80.onnx"}
DEFAULT_BACKENDS = ["yolox", "ssdlite320_mobilenet_v3_large",
                    "fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_resnet50_fpn",
                    "retinanet_resnet50_fpn", "fcos_resnet50_fpn", "cascade_rcnn"]


def _time(det, frame, repeat: int) -> float:
    det.detect([frame])
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        det.detect([frame])
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=DEFAULT_BACKENDS)
    parser.add_argument("--frame", type=Path, default=SHARED / "coco_sample" / "000000197388.jpg")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    frame = read_rgb(args.frame)
    print(f"frame {frame.shape[1]}x{frame.shape[0]}, device {args.device}, "
          f"{torch.get_num_threads()} threads")
    rows = []
    for backend in args.backends:
        variants = ONNX_FILES.items() if backend == "yolox" else [(backend, None)]
        for label, onnx in variants:
            if onnx:
                det = detectors.build_detector("yolox", weights=str(SHARED / "detectors" / onnx),
                                               device=args.device, tiles=1)
                size = "416x416"
            else:
                det = detectors.build_detector(backend, weights="random", device=args.device)
                size = "320x320" if backend.startswith("ssdlite") else "fit 1333x800"
            ms = _time(det, frame, args.repeat)
            rows.append({"backend": label, "input": size, "ms_per_frame": round(ms, 1)})
            print(f"{label:40s} {size:>14s} {ms:9.1f} ms/frame", flush=True)
            del det
    if args.json:
        write_json_atomic(rows, args.json, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
