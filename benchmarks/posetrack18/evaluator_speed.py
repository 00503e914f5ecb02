"""Time the PoseTrack18 evaluator on a synthetic set the size of PoseTrack18 val.

    python -m benchmarks.posetrack18.evaluator_speed [--videos 170] [--frames 150]
        [--labelled 30] [--gt-sample DIR] [--json OUT]

Sequences are derived from the real GT sample (../shared/data/posetrack18_sample): each video has
``--frames`` images of which ``--labelled`` carry annotations (the rest are unlabelled frames),
with noisy predictions (jitter, dropped joints and people, swaps, duplicates, false people).
Prints the time to load and evaluate (AP and MOTA).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import numpy as np

from pose.safe_output import write_json_atomic

from ..shared_data import POSETRACK18_GT_SAMPLE as DEFAULT_SAMPLE
from . import synthetic
from .poseval import evaluate_folders



def make_set(root: Path, sample: Path, videos: int, frames: int, labelled: int,
             seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    sources = sorted(sample.glob("*.json"))
    if not sources:
        raise SystemExit(f"no GT sample files in {sample}")
    poses = 0
    for v in range(videos):
        base = json.loads(sources[v % len(sources)].read_text())
        gt = synthetic.derive_sequence(base, labelled, seed=v)
        # unlabelled images between the labelled ones, as in the real files
        images = []
        for k in range(frames):
            labelled_image = gt["images"][k * labelled // frames] if k % (frames // labelled) == 0 \
                else None
            if labelled_image is not None and labelled_image not in images:
                images.append(labelled_image)
            else:
                images.append({"id": 9_000_000_000 + v * 1000 + k, "is_labeled": False})
        for k, image in enumerate(images):  # one folder per video, named as PoseTrack's
            image["file_name"] = f"images/val/{v:06d}_mpii_test/{k:06d}.jpg"
        gt["images"] = images
        name = f"{v:06d}_synthetic.json"
        synthetic.write(gt, root / "gt" / name)
        pred = synthetic.predictions_from_gt(gt, rng, jitter=0.1, drop_joint=0.1,
                                             drop_person=0.05, swap_frame=0.05, duplicate=0.02,
                                             false_person=0.1)
        synthetic.write(pred, root / "pred" / name)
        poses += len(gt["annotations"])
    return {"videos": videos, "images": videos * frames, "gt_poses": poses}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=170)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--labelled", type=int, default=30)
    parser.add_argument("--gt-sample", type=Path, default=DEFAULT_SAMPLE)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        size = make_set(root, args.gt_sample, args.videos, args.frames, args.labelled)
        start = time.perf_counter()
        result = evaluate_folders(root / "gt", root / "pred")
        seconds = time.perf_counter() - start
    tables = result.tables()
    print(f"{size['videos']} videos, {size['images']} images, {size['gt_poses']} GT poses: "
          f"evaluated (AP + MOTA) in {seconds:.2f} s; AP {tables['AP']['Total']:.1f}, "
          f"MOTA {tables['MOTA']['Total']:.1f}")
    if args.json:
        write_json_atomic(dict(size, seconds=seconds), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
