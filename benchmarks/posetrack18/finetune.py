"""PoseTrack18 fine-tuning from COCO weights with mmpose's recipe, validated with the built-in
PoseTrack18 evaluator (poseval's mAP).

    python -m benchmarks.posetrack18.finetune --from PATH_OR_URL --data-root data/posetrack18 \
        [--config hrnet_w32_256x192] [--set train.epochs=5 ...] [--output runs/pt18] [--resume ...]
    torchrun --nproc_per_node=8 -m benchmarks.posetrack18.finetune --from ... --data-root ...

``--data-root`` holds ``images/`` and ``annotations/{train,val}/<seq>.json`` (official per-video
files); ``--train-annotations`` may instead name mmpose's single ``posetrack18_train.json`` (or a
folder of per-video files). Validation predicts every ground-truth box (or, with
``--set test.use_gt_boxes=false``, the ``--val-detections`` boxes above 0.4) of the labelled
validation frames and scores them with :mod:`benchmarks.posetrack18.poseval`; ``best.pt`` keeps the
best Total AP. ``--from`` accepts COCO checkpoints of any supported format (mmpose, official,
this project's ``best.pt``) whose network matches the recipe's (``--set model=...``).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from pose.datasets.coco import detection_boxes
from pose.datasets.posetrack18 import PoseTrackSequence, annotated_persons, read_sequences
from pose.errors import BadInputError, MissingFileError
from pose.estimator import TopDownEstimator
from pose.keypoints import get_keypoint_set
from pose.training.recipe import Recipe
from pose.training.records import posetrack18_records
from pose.training.run import (add_recipe_arguments, build_network, recipe_from_args, run_recipe,
                               run_training_command, training_set)

from ..coco.evaluate import PersonCrops, predict
from ..configs.posetrack18 import RECIPES
from .convert import from_coco_results
from .poseval import COLUMNS, evaluate_folders


def gt_boxes(sequences: List[PoseTrackSequence], box_end: str = "last_pixel"
             ) -> Dict[int, np.ndarray]:
    """``[N, 5]`` x1, y1, x2, y2, 1 per labelled image: the annotated persons' clean boxes
    (``box_end`` as :func:`pose.datasets.coco.clean_box`)."""
    rows: Dict[int, list] = {}
    for sequence in sequences:
        for frame, _, box in annotated_persons(sequence, box_end):
            rows.setdefault(frame.image_id, []).append(list(box) + [1.0])
    return {k: np.asarray(v, dtype=np.float64) for k, v in rows.items()}


def frames_index(sequences: List[PoseTrackSequence]):
    """A pycocotools index of the labelled frames (ids and file names), for
    :class:`benchmarks.coco.evaluate.PersonCrops`."""
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = {"images": [{"id": f.image_id, "file_name": f.file_name}
                               for s in sequences for f in s.labeled_images],
                    "annotations": [], "categories": []}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def validator(gt_dir: Path, data_root: Path, recipe: Recipe,
              detections: Optional[Path] = None, workers: int = 2):
    """An evaluator for the training engine: poses of the labelled validation frames, written as
    PoseTrack18 prediction files and scored by poseval's AP; returns ``{"AP": Total,
    "AP Head": ..., ...}`` in percent."""
    if not gt_dir.is_dir():
        raise MissingFileError(f"PoseTrack18 validation folder not found: {gt_dir} (official "
                                "per-video files are needed for the evaluator)")
    sequences = read_sequences(gt_dir)
    coco = frames_index(sequences)
    if recipe.test.use_gt_boxes:
        boxes = gt_boxes(sequences, recipe.box_end)
    elif detections is None:
        raise BadInputError("test.use_gt_boxes is false: pass --val-detections FILE")
    else:
        boxes = detection_boxes(detections, recipe.test.det_score_threshold, coco.getImgIds())
    layout = get_keypoint_set(recipe.keypoints)
    test = recipe.test

    def evaluate(model, epoch: int):
        estimator = TopDownEstimator(model, color=recipe.color, flip=test.flip_test,
                                     shift_heatmap=test.shift_heatmap,
                                     batch_size=test.batch_size, flip_pairs=layout.flip_pairs)
        dataset = PersonCrops(coco, data_root, boxes, recipe.input_size, recipe.color)
        results = predict(estimator, dataset, layout.sigma_array(), workers=workers,
                          soft_nms=test.soft_nms, progress=False)
        with tempfile.TemporaryDirectory() as folder:
            from_coco_results(results, gt_dir, Path(folder))
            table = evaluate_folders(gt_dir, Path(folder)).tables()["AP"]
        return {("AP" if c == "Total" else f"AP {c}"): table[c] for c in COLUMNS}

    return evaluate


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_recipe_arguments(parser, default="hrnet_w32_256x192")
    parser.add_argument("--from", dest="weights",
                        help="COCO checkpoint to start from: path, URL or zoo name (default: the "
                        "recipe's load_from, mmpose's HRNet-W32 COCO weights)")
    parser.add_argument("--data-root", type=Path, default=Path("data/posetrack18"))
    parser.add_argument("--train-annotations", type=Path,
                        help="folder of per-video files or mmpose's single file "
                        "(default: DATA_ROOT/annotations/train)")
    parser.add_argument("--val-annotations", type=Path,
                        help="folder of per-video files (default: DATA_ROOT/annotations/val)")
    parser.add_argument("--val-detections", type=Path, help="COCO-results person detections")
    parser.add_argument("--no-val", action="store_true", help="train without validation")
    args = parser.parse_args(argv)

    def body() -> int:
        recipe = recipe_from_args(args, RECIPES)
        if args.weights:
            recipe = dataclasses.replace(recipe, load_from=args.weights)
        if args.print_config:
            print(recipe.to_json())
            return 0
        root = args.data_root
        train_source = args.train_annotations or root / "annotations" / "train"
        val_dir = args.val_annotations or root / "annotations" / "val"

        def prepare(recipe: Recipe):
            layout = get_keypoint_set(recipe.keypoints)
            records = posetrack18_records(read_sequences(train_source), root, recipe.input_size,
                                          recipe.box_end)
            evaluate = None if args.no_val else validator(val_dir, root, recipe,
                                                          args.val_detections,
                                                          recipe.train.workers)
            return build_network(recipe, layout), training_set(recipe, records, layout), \
                evaluate, "AP"

        output = args.output or Path("runs") / f"posetrack18_{recipe.name}"
        run_recipe(recipe, output, prepare, args.resume, args.device)
        return 0

    return run_training_command(body)


if __name__ == "__main__":
    sys.exit(main())
