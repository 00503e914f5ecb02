"""Optical flow (the camera's motion) measured on a MOTChallenge sequence and a shaken copy.

    python -m benchmarks.mot.shaky SEQ_DIR [--shake 12] [--seed 0] [--detector yolox]
        [--detector-weights W] [--device cpu] [--json OUT]

The shaken copy is made in a temporary folder: every frame is cropped to 85% of its size at a
random offset (normal, ``--shake`` pixels standard deviation around the centre, seeded), as a
hand-held camera would move, and the ground truth is moved with it. ``python -m
benchmarks.mot`` runs on the original and on the copy, with ``--flow none`` and with the
default (DIS), and the scores are printed side by side.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np

from pose.safe_output import write_json_atomic

from . import run as runner
from .files import read_sequence


def shaken_copy(source: Path, target: Path, shake: float, seed: int) -> Path:
    """A MOTChallenge folder at ``target`` with ``source``'s frames cropped at random offsets."""
    sequence = read_sequence(source)
    rng = np.random.default_rng(seed)
    first = cv2.imread(str(sequence.images[0]))
    h, w = first.shape[:2]
    ch, cw = int(0.85 * h), int(0.85 * w)
    (target / "img1").mkdir(parents=True)
    (target / "gt").mkdir()
    offsets = []
    for path in sequence.images:
        ox = int(np.clip((w - cw) / 2 + rng.normal(0, shake), 0, w - cw))
        oy = int(np.clip((h - ch) / 2 + rng.normal(0, 0.75 * shake), 0, h - ch))
        offsets.append((ox, oy))
        image = cv2.imread(str(path))[oy:oy + ch, ox:ox + cw]
        cv2.imwrite(str(target / "img1" / path.name), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    lines = []
    for line in sequence.gt_path.read_text().splitlines():
        values = line.split(",")
        ox, oy = offsets[int(float(values[0])) - 1]
        values[2] = f"{float(values[2]) - ox:.2f}"
        values[3] = f"{float(values[3]) - oy:.2f}"
        lines.append(",".join(values))
    (target / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
    (target / "seqinfo.ini").write_text(
        f"[Sequence]\nname={target.name}\nimDir=img1\nframeRate={sequence.fps:g}\n"
        f"seqLength={len(sequence.images)}\nimWidth={cw}\nimHeight={ch}\n")
    return target


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sequence", type=Path, metavar="SEQ_DIR")
    parser.add_argument("--shake", type=float, default=12.0,
                        help="standard deviation of the crop offsets, pixels (default 12)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detector", default=None)
    parser.add_argument("--detector-weights", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        name = read_sequence(args.sequence).name
        shaken = shaken_copy(args.sequence, Path(tmp) / f"{name}-shaken", args.shake, args.seed)
        for folder in (args.sequence, shaken):
            for flow in ("none", "dis"):
                out = Path(tmp) / f"out-{folder.name}-{flow}"
                options = [str(folder), "--output-dir", str(out), "--flow", flow, "--quiet"]
                for flag in ("detector", "detector_weights", "device"):
                    if getattr(args, flag):
                        options += [f"--{flag.replace('_', '-')}", getattr(args, flag)]
                if runner.main(options) != 0:
                    return 2
                metrics = json.loads((out / "metrics.json").read_text())
                table[f"{folder.name}, flow {flow}"] = metrics["metrics"]["OVERALL"]
    print(f"\ncamera motion: {name} and a copy shaken by {args.shake:g} px (seed {args.seed})")
    from .metrics import format_table

    print(format_table(table, ("MOTA", "IDF1", "IDs", "FP", "FN", "GT")))
    if args.json:
        write_json_atomic(table, args.json, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
