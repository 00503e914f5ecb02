"""Box tracking on synthetic pedestrian sequences with a simulated detector (seeded).

    python -m benchmarks.mot.synthetic [--seeds 4] [--set FIELD=VALUE ...] [--json OUT]

Scenes (ground-truth boxes per frame, 25 frames/s, 640x480):

- ``stadtmitte``: the real MOT15 TUD-Stadtmitte ground truth (``../shared/data/mot15_sample``,
  no images needed), forward;
- ``stadtmitte-reversed``: the same played backwards (people walk the other way);
- ``column``: walkers in a column, one behind the other, partly hiding each other, and a few
  walking the other way through them;
- ``crossing``: people crossing in both directions at different depths.

Each scene is also subsampled to 12.5 and 8.3 frames/s (every 2nd and 3rd frame), the tracker
being told the frame rate. The simulated detector works from each box's visibility (the part not
covered by boxes nearer the camera, i.e. with a lower bottom edge): visible people are found
with high scores and jittered boxes, partly hidden ones often with low scores (what ByteTrack's
second association is for) or not at all, heavily overlapping pairs sometimes come out as one
box, and every person has random 1-5-frame detection gaps; false boxes appear at random (mostly
low-scoring) and around real people (parts of a person). Metrics (motmetrics, IoU 0.5) are
summed over scenes and seeds. Default: the tracker's defaults; ``--set`` changes a
:class:`tracker.TrackerConfig` field (``--set matching=hungarian``).
"""
from __future__ import annotations

import argparse
import ast
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from benchmarks.shared_data import SHARED_DATA
from pose.safe_output import write_json_atomic
from tracker import PoseTracker, TrackerConfig
from tracker.similarity import box_area

from .files import GroundTruth, read_ground_truth
from .metrics import accumulate, format_table, summarize

FPS = 25.0
SIZE = (640, 480)
SCENES = ("stadtmitte", "stadtmitte-reversed", "column", "crossing")
STEPS = (1, 2, 3)  # frame subsampling: 25, 12.5 and 8.3 frames/s
STADTMITTE = SHARED_DATA / "mot15_sample" / "TUD-Stadtmitte" / "gt" / "gt.txt"


@dataclass
class Scene:
    """Ground truth of a synthetic sequence: per frame (from 1) ids ``[N]`` and boxes
    ``[N, 4]`` (x1, y1, x2, y2), and the frame rate."""

    name: str
    ids: Dict[int, np.ndarray]
    boxes: Dict[int, np.ndarray]
    fps: float

    @property
    def frames(self) -> int:
        return max(self.ids)

    def ground_truth(self) -> GroundTruth:
        empty = {f: np.zeros((0, 4)) for f in self.ids}
        return GroundTruth(self.ids, self.boxes, empty)

    def subsampled(self, step: int) -> "Scene":
        """Every ``step``-th frame, renumbered from 1, at ``fps / step``."""
        keep = range(1, self.frames + 1, step)
        return Scene(f"{self.name}@{self.fps / step:.1f}",
                     {k + 1: self.ids[f] for k, f in enumerate(keep)},
                     {k + 1: self.boxes[f] for k, f in enumerate(keep)}, self.fps / step)


def stadtmitte(reversed_: bool = False) -> Scene:
    gt = read_ground_truth(STADTMITTE)
    last = max(gt.ids)
    order = range(last, 0, -1) if reversed_ else range(1, last + 1)
    empty_ids, empty_boxes = np.zeros(0, np.int64), np.zeros((0, 4))
    return Scene("stadtmitte-reversed" if reversed_ else "stadtmitte",
                 {k + 1: gt.ids.get(f, empty_ids) for k, f in enumerate(order)},
                 {k + 1: gt.boxes.get(f, empty_boxes) for k, f in enumerate(order)}, FPS)


def walkers(rng: np.random.Generator, kind: str, frames: int = 150) -> Scene:
    """A procedural scene of people walking across the frame (see the module doc). Sizes
    follow a ground-plane perspective (height grows with the bottom edge's y); speeds are
    0.5-0.9 body heights per second with a little noise."""
    people = []
    if kind == "column":
        direction, depth = rng.choice([-1, 1]), rng.uniform(330, 420)
        start = 0.0
        for _ in range(int(rng.integers(4, 7))):  # the column, spaced by about a body width
            people.append(dict(direction=direction, bottom=depth + rng.normal(0, 12),
                               speed=0.7 + rng.normal(0, 0.03), start=start))
            start += rng.uniform(6, 14)
        for _ in range(int(rng.integers(1, 3))):  # walking the other way through it
            people.append(dict(direction=-direction, bottom=depth + rng.uniform(-40, 40),
                               speed=rng.uniform(0.5, 0.9), start=rng.uniform(0, 60)))
    else:
        for _ in range(int(rng.integers(5, 9))):
            people.append(dict(direction=rng.choice([-1, 1]), bottom=rng.uniform(300, 460),
                               speed=rng.uniform(0.5, 0.9), start=rng.uniform(-20, 100)))
    ids = {f: [] for f in range(1, frames + 1)}
    boxes = {f: [] for f in range(1, frames + 1)}
    for pid, p in enumerate(people, 1):
        height = 0.55 * p["bottom"] - 40 + rng.normal(0, 8)
        width = height * rng.uniform(0.36, 0.44)
        speed = p["speed"] * height / FPS  # pixels per frame
        x = -width if p["direction"] > 0 else SIZE[0]
        wobble = rng.normal(0, 0.02, frames + 1).cumsum() * speed
        for f in range(1, frames + 1):
            t = f - p["start"]
            if t < 0:
                continue
            cx = x + p["direction"] * (speed * t + wobble[f]) + width / 2
            bob = 0.01 * height * np.sin(t * 2 * np.pi / 12)
            box = [cx - width / 2, p["bottom"] - height + bob, cx + width / 2, p["bottom"] + bob]
            if box[2] < 1 or box[0] > SIZE[0] - 1:
                continue
            ids[f].append(pid)
            boxes[f].append(np.clip(box, 0, SIZE * 2))  # the part inside the frame
    return Scene(kind, {f: np.asarray(v, np.int64) for f, v in ids.items()},
                 {f: np.asarray(v, np.float64).reshape(-1, 4) for f, v in boxes.items()}, FPS)


def visibility(boxes: np.ndarray) -> np.ndarray:
    """``[N]`` the part of each box not covered by boxes nearer the camera (lower bottom)."""
    n = len(boxes)
    if n < 2:
        return np.ones(n)
    x1 = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    y1 = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    x2 = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
    y2 = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    nearer = boxes[None, :, 3] > boxes[:, None, 3]
    covered = (inter * nearer).sum(1) / np.maximum(box_area(boxes), 1e-9)
    return np.clip(1.0 - covered, 0.0, 1.0)


def detect(scene: Scene, rng: np.random.Generator) -> Dict[int, np.ndarray]:
    """Simulated detections per frame: ``[N, 5]`` x1, y1, x2, y2, score (see the module doc)."""
    gap_until: Dict[int, int] = {}
    out = {}
    for f in range(1, scene.frames + 1):
        ids, boxes = scene.ids[f], scene.boxes[f]
        vis = visibility(boxes)
        found = []
        for i, (tid, box, v) in enumerate(zip(ids.tolist(), boxes, vis)):
            if gap_until.get(tid, 0) < f and rng.random() < 0.03:
                gap_until[tid] = f + int(rng.integers(0, 5))  # a 1-5-frame gap starts
            if gap_until.get(tid, 0) >= f:
                if rng.random() < 0.3:  # sometimes still seen, weakly
                    found.append(_jitter(box, rng, 0.08) + [rng.uniform(0.1, 0.45)])
                continue
            if v >= 0.6:
                if rng.random() < 0.97:
                    found.append(_jitter(box, rng, 0.04) + [np.clip(rng.normal(0.8, 0.08),
                                                                    0.5, 0.99)])
            elif v >= 0.25:
                if rng.random() < 0.75:
                    found.append(_jitter(box, rng, 0.08) + [rng.uniform(0.15, 0.7)])
            elif rng.random() < 0.15:
                found.append(_jitter(box, rng, 0.1) + [rng.uniform(0.1, 0.5)])
        found = np.asarray(found, np.float64).reshape(-1, 5)
        found[:, :4] = found[:, :4].clip(0, SIZE * 2)  # a detector sees the frame only
        found = _merge_overlapping(found, rng)
        extra = []
        for _ in range(rng.poisson(0.4)):  # background, mostly weak
            h = rng.uniform(100, 220)
            x, y = rng.uniform(0, SIZE[0] - 0.4 * h), rng.uniform(150, SIZE[1] - h)
            extra.append([x, y, x + 0.4 * h, y + h, rng.uniform(0.1, 0.45)])
        if rng.random() < 0.03:  # a confident false box for one frame
            h = rng.uniform(100, 220)
            x, y = rng.uniform(0, SIZE[0] - 0.4 * h), rng.uniform(150, SIZE[1] - h)
            extra.append([x, y, x + 0.4 * h, y + h, rng.uniform(0.5, 0.8)])
        for _ in range(rng.poisson(0.3)):  # a part of a real person (upper body)
            if len(boxes):
                b = boxes[int(rng.integers(len(boxes)))]
                extra.append([b[0], b[1], b[2], b[1] + 0.5 * (b[3] - b[1]),
                              rng.uniform(0.1, 0.4)])
        out[f] = np.concatenate([found, np.asarray(extra).reshape(-1, 5)]).astype(np.float32)
    return out


def _jitter(box: np.ndarray, rng: np.random.Generator, scale: float) -> list:
    w, h = box[2] - box[0], box[3] - box[1]
    noise = rng.normal(0, scale, 4) * np.array([w, h, w, h])
    return list(box + noise)


def _merge_overlapping(found: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pairs of detections overlapping by IoU > 0.3 become one box around both (30%)."""
    from tracker.similarity import box_iou

    if len(found) < 2:
        return found
    iou = box_iou(found[:, :4], found[:, :4])
    np.fill_diagonal(iou, 0)
    gone = np.zeros(len(found), bool)
    for i, j in zip(*np.nonzero(np.triu(iou > 0.3))):
        if gone[i] or gone[j] or rng.random() >= 0.3:
            continue
        found[i, :4] = np.r_[np.minimum(found[i, :2], found[j, :2]),
                             np.maximum(found[i, 2:4], found[j, 2:4])]
        found[i, 4] = max(found[i, 4], found[j, 4])
        gone[j] = True
    return found[~gone]


def scenes(seed: int) -> List[Scene]:
    """The scenes of one seed at every frame rate."""
    rng = np.random.default_rng(seed)
    base = [stadtmitte(), stadtmitte(reversed_=True), walkers(rng, "column"),
            walkers(rng, "crossing")]
    return [scene.subsampled(step) for scene in base for step in STEPS]


def track(scene: Scene, detections: Dict[int, np.ndarray], config: dict) -> tuple:
    """Runs the tracker as ``python -m benchmarks.mot`` does (the reported people: matched
    detections and bridged boxes); returns hypotheses per frame and the mean ms per update."""
    tracker = PoseTracker(TrackerConfig(**dict(config, fps=scene.fps)))
    hyp, seconds = {}, 0.0
    for f in range(1, scene.frames + 1):
        boxes = detections[f]
        start = time.perf_counter()
        ids = tracker.update(boxes=boxes, frame_shape=SIZE[::-1])
        bridged, bridged_ids = tracker.bridged_boxes(SIZE[::-1])
        seconds += time.perf_counter() - start
        keep = ids >= 0
        hyp[f] = (np.r_[ids[keep], bridged_ids], np.r_[boxes[keep, :4], bridged[:, :4]])
    return hyp, 1000 * seconds / scene.frames


def evaluate(config: dict, seeds: int = 4, by: str = "scene") -> Dict[str, Dict[str, float]]:
    """Metrics summed per scene kind (``by="scene"``) or per frame rate (``"fps"``)."""
    groups: Dict[str, list] = {}
    for seed in range(seeds):
        for scene in scenes(seed):
            detections = detect(scene, np.random.default_rng(1000 + seed))
            hyp, _ = track(scene, detections, config)
            key = scene.name.split("@")[0] if by == "scene" else scene.name.split("@")[1]
            groups.setdefault(key, []).append(
                accumulate(scene.ground_truth(), hyp, range(1, scene.frames + 1)))
    names, accumulators = [], []
    for key, accs in groups.items():
        for k, acc in enumerate(accs):
            names.append(f"{key}#{k}")
            accumulators.append(acc)
    per = summarize(accumulators, names)
    out = {}
    for key in groups:  # sums of counts per group, rates from them
        rows = [v for n, v in per.items() if n.split("#")[0] == key]
        out[key] = _pooled(rows)
    out["OVERALL"] = per["OVERALL"]
    return out


def _pooled(rows: List[dict]) -> dict:
    total = {k: sum(r[k] for r in rows) for k in ("IDs", "FP", "FN", "GT")}
    idtp = sum(r["IDR"] / 100 * r["GT"] for r in rows)
    idfn = sum(r["GT"] for r in rows) - idtp
    predicted = sum((r["GT"] - r["FN"] + r["FP"]) for r in rows)
    idfp = predicted - idtp
    total["MOTA"] = round(100 * (1 - (total["FN"] + total["FP"] + total["IDs"]) / total["GT"]), 2)
    total["IDF1"] = round(100 * 2 * idtp / (2 * idtp + idfp + idfn), 2)
    total["IDP"] = round(100 * idtp / max(predicted, 1), 2)
    total["IDR"] = round(100 * idtp / max(total["GT"], 1), 2)
    return total


def parse_settings(items: List[str]) -> dict:
    """``["matching=hungarian", "max_lost=2"]`` -> TrackerConfig keyword arguments."""
    fields = TrackerConfig.__dataclass_fields__
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"error: --set {item}: no TrackerConfig field {key!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds per scene (default 4)")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="tracker settings (TrackerConfig fields)")
    parser.add_argument("--by", choices=("scene", "fps"), default="scene")
    parser.add_argument("--json", default=None, help="also write the metrics here")
    args = parser.parse_args(argv)
    config = parse_settings(args.set)
    metrics = evaluate(config, args.seeds, args.by)
    print(f"tracker settings: {config or 'defaults'}; {args.seeds} seeds")
    print(format_table(metrics, ("MOTA", "IDF1", "IDP", "IDR", "IDs", "FP", "FN", "GT")))
    if args.json:
        write_json_atomic({"settings": config, "seeds": args.seeds, "metrics": metrics},
                          args.json, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
