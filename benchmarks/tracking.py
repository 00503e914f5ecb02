"""MOTA of the pose tracker on sequences derived from real PoseTrack18 GT, and its cost.

    python -m benchmarks.tracking [--frames 40] [--json OUT]

Sequences are derived from the GT sample (../shared/data/posetrack18_sample): every person moves
at their own velocity. Predictions are made from the GT with controlled noise (joint jitter,
missed and spurious people, occlusion gaps of several frames), their identities erased, then
re-tracked (``tracker.retrack``, poses only) and scored with the built-in PoseTrack18 evaluator.
Prints MOTA per setting (greedy vs Hungarian, OKS vs IoU vs both) next to the MOTA of the true
identities, and the tracker's cost per frame with 20 people, in microseconds: per setting
without optical flow (poses given, boxes around them), for boxes alone, and with DIS optical
flow on real 640x480 frames (the flow computed in the update, as the apps do); and as
``tracker_us_per_frame_20_people`` (:func:`tracker_us_per_frame_20_people`, the default
configuration without flow, imported by ``benchmarks.speed``).
"""
from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import numpy as np

from benchmarks.posetrack18 import synthetic
from benchmarks.posetrack18.poseval import evaluate_folders
from benchmarks.shared_data import POSETRACK18_GT_SAMPLE as SAMPLE
from benchmarks.shared_data import SHARED_DATA
from pose.safe_output import write_json_atomic
from tracker import PoseTracker, TrackerConfig
from tracker.retrack import retrack_file

NOISE = {
    "clean": dict(scores="random"),
    "jitter": dict(jitter=0.15, drop_joint=0.1),
    "missed + spurious": dict(jitter=0.05, drop_person=0.15, false_person=0.3),
    "occlusion gaps": dict(jitter=0.05, gap=(3, 8)),
}
SETTINGS = [(s, m) for s in ("oks", "iou", "both") for m in ("greedy", "hungarian")]


def occlude(pred: dict, rng: np.random.Generator, gap) -> dict:
    """Removes each person for one run of ``gap[0]..gap[1]`` consecutive frames."""
    frames = [im["id"] for im in pred["images"]]
    tracks = sorted({a["track_id"] for a in pred["annotations"]})
    hidden = set()
    for t in tracks:
        length = int(rng.integers(gap[0], gap[1] + 1))
        start = int(rng.integers(1, max(2, len(frames) - length)))
        hidden |= {(t, f) for f in frames[start:start + length]}
    pred["annotations"] = [a for a in pred["annotations"]
                           if (a["track_id"], a["image_id"]) not in hidden]
    return pred


def make_sequences(root: Path, sample: Path, frames: int, noise: dict, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i, path in enumerate(sorted(sample.glob("*.json"))):
        gt = synthetic.derive_sequence(json.loads(path.read_text()), frames, seed=i, speed=6)
        params = dict(noise)
        gap = params.pop("gap", None)
        pred = synthetic.predictions_from_gt(gt, rng, **params)
        if gap:
            pred = occlude(pred, rng, gap)
        synthetic.write(gt, root / "gt" / path.name)
        synthetic.write(pred, root / "true" / path.name)
        erased = copy.deepcopy(pred)
        for k, ann in enumerate(erased["annotations"]):
            ann["track_id"] = 100000 + k
        synthetic.write(erased, root / "erased" / path.name)


def tracking_table(sample: Path, frames: int) -> List[dict]:
    rows = []
    for name, noise in NOISE.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_sequences(root, sample, frames, noise)
            row = {"noise": name,
                   "true ids": evaluate_folders(root / "gt", root / "true").tables()["MOTA"]["Total"]}
            for similarity, matching in SETTINGS:
                config = TrackerConfig(similarity=similarity, matching=matching, flow=None,
                                       keypoints="posetrack18")
                out = root / f"{similarity}_{matching}"
                for path in sorted((root / "erased").glob("*.json")):
                    data = retrack_file(json.loads(path.read_text()), config)
                    synthetic.write(data, out / path.name)
                row[f"{similarity}/{matching}"] = \
                    evaluate_folders(root / "gt", out).tables()["MOTA"]["Total"]
            rows.append(row)
    return rows


def cost_per_frame(people: int = 20, frames: int = 300, warmup: int = 20,
                   boxes_only: bool = False, images: Optional[List[np.ndarray]] = None,
                   **config) -> float:
    """Median microseconds per :meth:`PoseTracker.update` with ``people`` moving poses (COCO
    joints; with ``boxes_only``, their boxes and scores alone) over ``frames`` frames after
    ``warmup`` frames, the frame's size given as the apps give it; ``images`` (cycled) are
    given as the frames, for optical flow;
    ``config``: :class:`TrackerConfig` fields (default: no flow)."""
    rng = np.random.default_rng(0)
    size = (1500, 1500) if images is None else images[0].shape[1::-1]
    start_xy = rng.uniform(100, np.array(size) - 100, (people, 1, 2))
    shape = rng.uniform(-60, 60, (people, 17, 2))
    velocity = rng.uniform(-4, 4, (people, 1, 2))
    tracker = PoseTracker(TrackerConfig(**dict(dict(flow=None), **config)))
    poses = np.zeros((people, 17, 3))
    poses[..., 2] = 0.9
    elapsed = []
    for f in range(warmup + frames):
        poses[..., :2] = start_xy + shape + velocity * (f % 200) + rng.normal(0, 1.5,
                                                                         (people, 17, 2))
        frame = None if images is None else images[f % len(images)]
        boxes = np.concatenate([poses[..., :2].min(1), poses[..., :2].max(1),
                                np.full((people, 1), 0.9)], axis=1)
        t0 = time.perf_counter()
        if boxes_only:
            tracker.update(boxes=boxes, frame=frame, frame_shape=size[::-1])
        else:
            tracker.update(poses, frame=frame, frame_shape=size[::-1])
        elapsed.append(time.perf_counter() - t0)
    return float(np.median(elapsed[warmup:])) * 1e6


def flow_frames(count: int = 20) -> List[np.ndarray]:
    """Consecutive real 640x480 frames (MOT15 TUD-Campus in ``../shared/data``)."""
    import cv2

    paths = sorted((SHARED_DATA / "mot_sequences" / "TUD-Campus" / "img1").glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no frames in {SHARED_DATA}/mot_sequences/TUD-Campus/img1")
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths[:count]]


def tracker_us_per_frame_20_people(frames: int = 1000, repeats: int = 3) -> float:
    """The tracker's cost per frame with 20 people in the default configuration (OKS and IoU,
    greedy matching) without optical flow: median microseconds per update over ``frames``
    frames after warm-up, the least of ``repeats`` runs (other processes only add time)."""
    return min(cost_per_frame(20, frames) for _ in range(repeats))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="frames per derived sequence")
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = tracking_table(args.sample, args.frames)
    columns = ["true ids"] + [f"{s}/{m}" for s, m in SETTINGS]
    print("MOTA (Total) of re-tracked identities, PoseTrack18 evaluator")
    print(f"{'noise':18s} " + " ".join(f"{c:>14s}" for c in columns))
    for row in rows:
        print(f"{row['noise']:18s} " + " ".join(f"{row[c]:14.2f}" for c in columns))
    costs = {f"{s}/{m}": cost_per_frame(similarity=s, matching=m) for s, m in SETTINGS}
    costs["boxes only"] = cost_per_frame(boxes_only=True)
    images = flow_frames()
    costs["boxes only, DIS flow"] = cost_per_frame(frames=100, boxes_only=True, images=images,
                                                   flow="dis")
    costs["both/greedy, DIS flow"] = cost_per_frame(frames=100, images=images, flow="dis")
    print("\ntracker cost per frame, 20 people (median microseconds; flow on 640x480 frames):")
    for key, us in costs.items():
        print(f"  {key:22s} {us:8.0f}")
    default = tracker_us_per_frame_20_people()
    print(f"tracker_us_per_frame_20_people (default: both/greedy, no flow): {default:.0f}")
    if args.json:
        write_json_atomic({"mota": rows, "cost_us_20_people": costs,
                           "tracker_us_per_frame_20_people": default}, args.json, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
