"""PoseTrack18 sequences derived from real GT, and perturbed predictions for them.

Used to test the evaluator beyond single labelled frames, to compare it with poseval on many
prediction sets, and to time it on a set the size of PoseTrack18 val. A derived sequence repeats a
real labelled frame ``num_frames`` times with every person moving at their own constant velocity
(keypoints, boxes and head boxes alike), keeping track ids, images and ignore regions.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Dict, Optional

import numpy as np


def _shift(ann: dict, dx: float, dy: float) -> dict:
    ann = copy.deepcopy(ann)
    kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
    absent = (kp[:, 0] == 0) & (kp[:, 1] == 0) & (kp[:, 2] == 0)
    kp[~absent, 0] += dx
    kp[~absent, 1] += dy
    ann["keypoints"] = [round(float(v), 3) for v in kp.ravel()]
    for key in ("bbox", "bbox_head"):
        if key in ann:
            ann[key] = [ann[key][0] + dx, ann[key][1] + dy] + list(ann[key][2:])
    return ann


def derive_sequence(gt: dict, num_frames: int, seed: int = 0, speed: float = 3.0) -> dict:
    """A ``num_frames`` GT sequence from the first labelled frame of a PoseTrack18 GT dict."""
    rng = np.random.default_rng(seed)
    labelled = [img for img in gt["images"]
                if any(a["image_id"] == img["id"] for a in gt["annotations"])]
    if not labelled:
        raise ValueError("the GT has no annotated frame")
    base = labelled[0]
    people = [a for a in gt["annotations"] if a["image_id"] == base["id"]]
    velocity = {a["track_id"]: rng.uniform(-speed, speed, 2) for a in people}
    folder = base["file_name"].rsplit("/", 1)[0]
    images, annotations = [], []
    for t in range(num_frames):
        image = dict(base, id=base["id"] * 1000 + t, frame_id=base["id"] * 1000 + t,
                     file_name=f"{folder}/{t:06d}.jpg", is_labeled=True)
        images.append(image)
        for a in people:
            dx, dy = velocity[a["track_id"]] * t
            moved = _shift(a, dx, dy)
            moved["image_id"] = image["id"]
            moved["id"] = image["id"] * 100 + len(annotations) % 100
            annotations.append(moved)
    return {"images": images, "annotations": annotations, "categories": gt["categories"]}


def predictions_from_gt(gt: dict, rng: Optional[np.random.Generator] = None,
                        jitter: float = 0.0, drop_joint: float = 0.0, drop_person: float = 0.0,
                        swap_frame: float = 0.0, duplicate: float = 0.0, false_person: float = 0.0,
                        scores: str = "random", id_offset: int = 0) -> dict:
    """Predictions made from a GT dict, with controlled errors.

    Args:
        jitter: std of Gaussian noise added to joints, in head sizes.
        drop_joint / drop_person: probability of leaving out a joint / a person.
        swap_frame: probability per frame of exchanging the track ids of two people.
        duplicate: probability of adding a slightly shifted copy of a person (new track id).
        false_person: probability per frame of adding a person far from everyone.
        scores: ``"random"`` (uniform per joint), ``"one"``, ``"empty"`` (``[]``) or ``"none"``
            (no ``scores`` key).
        id_offset: added to every predicted track id.
    """
    rng = rng or np.random.default_rng(0)
    by_image: Dict[int, list] = {}
    for a in gt["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    next_id = 1 + max([a["track_id"] for a in gt["annotations"]] or [0]) + id_offset
    annotations = []
    for image in gt["images"]:
        frame = []
        for a in by_image.get(image["id"], []):
            if rng.uniform() < drop_person:
                continue
            kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3).copy()
            absent = (kp[:, 0] == 0) & (kp[:, 1] == 0) & (kp[:, 2] == 0)
            head = 0.6 * np.hypot(a["bbox_head"][2], a["bbox_head"][3])
            kp[:, :2] += rng.normal(0, jitter * head, (len(kp), 2))
            kp[:, 2] = 1
            kp[absent | (rng.uniform(size=len(kp)) < drop_joint)] = 0
            frame.append({"track_id": a["track_id"] + id_offset, "keypoints": kp})
        if len(frame) >= 2 and rng.uniform() < swap_frame:
            i, j = rng.choice(len(frame), 2, replace=False)
            frame[i]["track_id"], frame[j]["track_id"] = frame[j]["track_id"], frame[i]["track_id"]
        for p in list(frame):
            if rng.uniform() < duplicate:
                kp = p["keypoints"].copy()
                kp[kp[:, 2] > 0, :2] += rng.normal(0, 2.0, (int((kp[:, 2] > 0).sum()), 2))
                frame.append({"track_id": next_id, "keypoints": kp})
                next_id += 1
        if rng.uniform() < false_person:
            kp = np.ones((17, 3))
            kp[:, :2] = rng.uniform(5000, 6000, (17, 2))
            frame.append({"track_id": next_id, "keypoints": kp})
            next_id += 1
        for p in frame:
            ann = {"image_id": image["id"], "track_id": int(p["track_id"]),
                   "keypoints": [round(float(v), 3) for v in p["keypoints"].ravel()]}
            if scores == "random":
                ann["scores"] = [round(float(v), 4) for v in rng.uniform(0.05, 1.0, 17)]
            elif scores == "one":
                ann["scores"] = [1.0] * 17
            elif scores == "empty":
                ann["scores"] = []
            annotations.append(ann)
    return {"images": gt["images"], "annotations": annotations, "categories": gt["categories"]}


def write(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
