"""The video app tracking boxes, scored on a MOTChallenge sequence.

    python -m benchmarks.mot.video SEQ_DIR [--crf 18] [--json OUT] [-- APP OPTIONS ...]

The sequence's frames are encoded into a video (H.264 at ``--crf``, the sequence's frame rate)
in a temporary folder; ``apps/track_video.py VIDEO --pose-model none --no-video`` runs on it
with the options after ``--`` (e.g. ``--detector yolox --detector-weights W --device cpu``);
its JSON is turned into MOTChallenge results (frame = image id + 1, id = track id + 1) and scored
against ``gt/gt.txt`` as ``python -m benchmarks.mot`` scores its own results. Encoding changes
the pixels a little, so the detector's boxes - and the scores - can differ slightly from the
runner's on the original frames.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np

from apps import track_video
from apps.video_io import VideoWriter
from pose.safe_output import write_json_atomic

from .files import read_ground_truth, read_sequence, xywh_to_xyxy
from .metrics import accumulate, format_table, summarize


def encode(sequence, path: Path, crf: int) -> None:
    """The sequence's frames as an H.264 video at its frame rate."""
    first = cv2.imread(str(sequence.images[0]))
    height, width = first.shape[:2]
    writer = VideoWriter(path, sequence.fps, width, height, crf=crf)
    try:
        for image in sequence.images:
            writer.write(cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB))
    finally:
        writer.close()
    if writer.error:
        raise RuntimeError(writer.error)


def hypotheses_from_json(data: dict) -> dict:
    """The app's JSON -> per frame (from 1) ``(ids [N] from 1, boxes [N, 4] x1, y1, x2, y2)``."""
    out: dict = {}
    for ann in data["annotations"]:
        frame = int(ann["image_id"]) + 1
        out.setdefault(frame, ([], []))
        out[frame][0].append(int(ann["track_id"]) + 1)
        out[frame][1].append(ann["bbox"])
    return {f: (np.asarray(i, np.int64), xywh_to_xyxy(np.asarray(b, np.float64).reshape(-1, 4)))
            for f, (i, b) in out.items()}


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    app_options = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sequence", type=Path, metavar="SEQ_DIR")
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality (default 18)")
    parser.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    args = parser.parse_args(own)
    sequence = read_sequence(args.sequence)
    gt = read_ground_truth(sequence.gt_path)
    with tempfile.TemporaryDirectory() as tmp:
        video, out = Path(tmp) / f"{sequence.name}.mp4", Path(tmp) / "tracks.json"
        encode(sequence, video, args.crf)
        code = track_video.main([str(video), "--pose-model", "none", "--no-video",
                                 "--output-json", str(out), "--quiet", *app_options])
        if code != 0:
            print(f"error: the app exited with {code}", file=sys.stderr)
            return code
        data = json.loads(out.read_text())
    frames = range(1, len(sequence.images) + 1)
    metrics = summarize([accumulate(gt, hypotheses_from_json(data), frames)], [sequence.name])
    print(f"apps/track_video.py --pose-model none on {sequence.name} encoded at crf {args.crf}")
    print(format_table(metrics))
    if args.json:
        write_json_atomic({"metrics": metrics, "crf": args.crf, "app_options": app_options},
                          args.json, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
