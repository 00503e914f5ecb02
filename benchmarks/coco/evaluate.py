"""COCO keypoint evaluation of a pose network, as the official HRNet test.

    python -m benchmarks.coco.evaluate --images DIR --annotations person_keypoints_val2017.json \
        [--detections COCO_val2017_detections_AP_H_56_person.json] --model hrnet_w32 \
        [--checkpoint PATH_OR_URL] [--no-flip] [--device cuda] --output results.json

Persons come from the ground-truth boxes (default, as the official "GT bbox" numbers) or from a
COCO-results detection file (score threshold 0.0 as the official config). Each image's poses are
rescored (box score x mean joint confidence above 0.2) and OKS-NMS'ed (0.9), written as COCO
keypoint results, and scored with pycocotools.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

import pose
from pose.allocator import retain_freed_memory
from pose.errors import MissingFileError, report_errors
from pose.safe_output import check_outputs, write_json_atomic
from pose.datasets.coco import detection_boxes, ground_truth_boxes, load_coco, read_rgb
from pose.estimator import PreparedCrops, TopDownEstimator, prepare_crops
from pose.keypoints import get_keypoint_set
from pose.nms import select_poses

from .metrics import format_stats, keypoint_stats


class PersonCrops(Dataset):
    """Per image: the image read from ``images_dir`` and its person crops, prepared in the
    data-loader workers."""

    def __init__(self, coco, images_dir: Path, boxes: Dict[int, np.ndarray],
                 input_size, color: str) -> None:
        self.coco, self.images_dir, self.boxes = coco, images_dir, boxes
        self.image_ids = [i for i in coco.getImgIds() if i in boxes]
        self.input_size, self.color = input_size, color

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int):
        image_id = self.image_ids[index]
        info = self.coco.loadImgs(image_id)[0]
        image = read_rgb(self.images_dir / info["file_name"])
        boxes = self.boxes[image_id]
        return image_id, boxes[:, 4], prepare_crops(image, boxes, self.input_size, self.color)


def _collate(items):
    return items


def predict(estimator: TopDownEstimator, dataset: PersonCrops, sigmas: np.ndarray,
            images_per_batch: int = 8, workers: int = 2, soft_nms: bool = False,
            progress: bool = True) -> List[dict]:
    """Runs the estimator over the dataset; returns COCO keypoint results."""
    loader = DataLoader(dataset, batch_size=images_per_batch, num_workers=workers,
                        collate_fn=_collate)
    results = []
    with tqdm(total=len(dataset), desc="images", unit="img", disable=not progress) as bar:
        for items in loader:
            merged = PreparedCrops(torch.cat([p.inputs for _, _, p in items]),
                                   np.concatenate([p.center for _, _, p in items]),
                                   np.concatenate([p.scale for _, _, p in items]))
            keypoints = estimator.keypoints(merged)
            start = 0
            for image_id, box_scores, prepared in items:
                n = len(prepared.center)
                kpts = keypoints[start:start + n]
                keep, scores = select_poses(kpts, box_scores, prepared.scale, sigmas,
                                            soft=soft_nms)
                start += n
                for i in keep:
                    results.append({"image_id": int(image_id), "category_id": 1,
                                    "keypoints": [round(float(v), 4) for v in kpts[i].ravel()],
                                    "score": float(scores[i])})
            bar.update(len(items))
    return results


def evaluate(images: Path, annotations: Path, model_name: str, checkpoint: Optional[str],
             output: Path, detections: Optional[Path] = None, det_score_threshold: float = 0.0,
             flip: bool = True, device: str = "cpu", batch_size: int = 64,
             images_per_batch: int = 8, workers: int = 2, soft_nms: bool = False,
             decode: str = "official", progress: bool = True) -> "OrderedDict[str, float]":
    """The whole evaluation; returns pycocotools' ten stats and writes the results to
    ``output``."""
    if not images.is_dir():
        raise MissingFileError(f"image folder not found: {images}")
    coco = load_coco(annotations)
    if detections is not None:
        boxes = detection_boxes(detections, det_score_threshold, coco.getImgIds())
    else:
        boxes = ground_truth_boxes(coco)
    model = pose.build_model(model_name, weights=checkpoint)
    estimator = TopDownEstimator(model, flip=flip, device=device, batch_size=batch_size,
                                 decode=decode)
    layout = get_keypoint_set(model.preset.keypoints)
    dataset = PersonCrops(coco, images, boxes, model.preset.input_size, estimator.color)
    print(f"{len(coco.getImgIds())} images, {len(dataset)} with persons, "
          f"{sum(len(b) for b in boxes.values())} boxes from "
          f"{'detections ' + str(detections) if detections else 'ground truth'}; "
          f"{model_name} ({checkpoint or 'random weights'}), flip test {'on' if flip else 'off'}")
    results = predict(estimator, dataset, layout.sigma_array(), images_per_batch, workers,
                      soft_nms, progress)
    write_json_atomic(results, output)
    stats = keypoint_stats(coco, results, layout.sigma_array())
    print(format_stats(stats))
    print(f"{len(results)} poses written to {output}")
    return stats


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="image folder")
    parser.add_argument("--annotations", type=Path, required=True,
                        help="COCO person_keypoints JSON")
    parser.add_argument("--detections", type=Path,
                        help="COCO-results person detections (default: ground-truth boxes)")
    parser.add_argument("--det-score-threshold", type=float, default=0.0,
                        help="drop detections scoring below this (official: 0.0)")
    parser.add_argument("--model", default="hrnet_w32", help="pose preset (python -m pose presets)")
    parser.add_argument("--checkpoint", help="checkpoint path, URL or zoo name "
                        "(default: the preset's published weights)")
    parser.add_argument("--random-weights", action="store_true",
                        help="evaluate the untrained network (pipeline checks only)")
    parser.add_argument("--no-flip", action="store_true", help="disable the flip test")
    parser.add_argument("--decode", choices=["official", "dark"], default="official")
    parser.add_argument("--soft-nms", action="store_true", help="soft OKS-NMS instead of OKS-NMS")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=64, help="persons per forward pass")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    parser.add_argument("--output", type=Path, required=True, help="results JSON to write")
    parser.add_argument("--stats-json", type=Path, help="also write the ten stats here")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    retain_freed_memory()  # batches of 64 persons: the activations reuse the last batch's memory

    def body() -> int:
        checkpoint = None if args.random_weights else (
            args.checkpoint or pose.get_preset(args.model).default_weights)
        inputs = [("--annotations", args.annotations), ("--detections", args.detections)]
        if checkpoint and os.path.isfile(checkpoint):
            inputs.append(("--checkpoint", checkpoint))
        check_outputs([("--output", args.output), ("--stats-json", args.stats_json)], inputs,
                      create_folders=True)
        stats = evaluate(args.images, args.annotations, args.model, checkpoint, args.output,
                         args.detections, args.det_score_threshold, not args.no_flip,
                         args.device, args.batch_size, workers=args.workers,
                         soft_nms=args.soft_nms, decode=args.decode,
                         progress=not args.no_progress)
        if args.stats_json:
            write_json_atomic(stats, args.stats_json)
        return 0

    return report_errors(body)


if __name__ == "__main__":
    sys.exit(main())
