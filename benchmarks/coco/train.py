"""COCO keypoint training with the official HRNet / SimpleBaseline recipes.

    python -m benchmarks.coco.train --config hrnet_w32_256x192 --data-root data/coco \
        [--set train.epochs=5 ...] [--output runs/w32] [--resume runs/w32/last.pt]
    torchrun --nproc_per_node=4 -m benchmarks.coco.train --config hrnet_w32_256x192 ...

``--data-root`` is the official layout (``images/train2017``, ``images/val2017``,
``annotations/person_keypoints_{train,val}2017.json``,
``person_detection_results/COCO_val2017_detections_AP_H_56_person.json``); single paths can be given
instead. Custom COCO-format datasets: ``--custom-layout`` takes the joint names from the training
file (flip pairs inferred from left/right names, or ``--flip-pairs``; ``--sigmas``). Validation:
COCO AP with pycocotools every ``train.val_interval`` epochs (the recipes: every epoch, as the
official code); ``best.pt`` keeps the best AP. Recipes: ``--config NAME`` (see ``--list``) or a
.py/.json file; ``--print-config`` shows every value. Details: docs/training.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional


from pose.errors import BadInputError, MissingFileError
from pose.datasets.coco import detection_boxes, ground_truth_boxes, load_coco
from pose.datasets.custom import custom_layout
from pose.estimator import TopDownEstimator
from pose.keypoints import KeypointSet, get_keypoint_set
from pose.training.recipe import Recipe, TestConfig
from pose.training.records import coco_records
from pose.training.run import (add_recipe_arguments, build_network, recipe_from_args, run_recipe,
                               run_training_command, training_set)

from ..configs.coco import RECIPES
from .evaluate import PersonCrops, predict
from .metrics import keypoint_stats


def validator(coco, images: Path, boxes, recipe: Recipe, layout: KeypointSet,
              workers: int = 2):
    """An evaluator for the training engine: predicts every boxed person of ``coco``'s images
    (as ``benchmarks.coco.evaluate``: flip test, rescoring, OKS-NMS) and returns pycocotools'
    ten stats (``AP``, ``AP .5``, ...)."""
    if not images.is_dir():
        raise MissingFileError(f"image folder not found: {images}")
    test: TestConfig = recipe.test
    sigmas = layout.sigma_array()

    def evaluate(model, epoch: int):
        estimator = TopDownEstimator(model, color=recipe.color, flip=test.flip_test,
                                     shift_heatmap=test.shift_heatmap,
                                     batch_size=test.batch_size, flip_pairs=layout.flip_pairs)
        dataset = PersonCrops(coco, images, boxes, recipe.input_size, recipe.color)
        results = predict(estimator, dataset, sigmas, workers=workers, soft_nms=test.soft_nms,
                          progress=False)
        return keypoint_stats(coco, results, sigmas)

    return evaluate


def validation_boxes(coco, recipe: Recipe, detections: Optional[Path]):
    """Ground-truth boxes, or the detection file's above ``test.det_score_threshold``."""
    if recipe.test.use_gt_boxes:
        return ground_truth_boxes(coco, recipe.box_end)
    if detections is None:
        raise BadInputError("the recipe validates on detection boxes (test.use_gt_boxes=false): "
                            "pass --val-detections FILE or --set test.use_gt_boxes=true")
    return detection_boxes(detections, recipe.test.det_score_threshold, coco.getImgIds())


def _layout(args, train_annotations: Path, recipe: Recipe) -> KeypointSet:
    if not args.custom_layout:
        return get_keypoint_set(recipe.keypoints)
    pairs = json.loads(args.flip_pairs) if args.flip_pairs else None
    sigmas = [float(v) for v in args.sigmas.split(",")] if args.sigmas else None
    return custom_layout(train_annotations, name=recipe.keypoints, flip_pairs=pairs,
                         sigmas=sigmas)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_recipe_arguments(parser, default="hrnet_w32_256x192")
    parser.add_argument("--list", action="store_true", help="list the named recipes and exit")
    parser.add_argument("--data-root", type=Path, default=Path("data/coco"))
    parser.add_argument("--train-images", type=Path)
    parser.add_argument("--train-annotations", type=Path)
    parser.add_argument("--val-images", type=Path)
    parser.add_argument("--val-annotations", type=Path)
    parser.add_argument("--val-detections", type=Path,
                        help="person detections for validation when test.use_gt_boxes is false")
    parser.add_argument("--no-val", action="store_true", help="train without validation")
    parser.add_argument("--custom-layout", action="store_true",
                        help="take the joint layout from the training file (custom datasets; "
                        "name it with --set keypoints=NAME)")
    parser.add_argument("--flip-pairs", help="custom layout: JSON list of [left, right] indices")
    parser.add_argument("--sigmas", help="custom layout: comma-separated OKS sigmas")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(sorted(RECIPES)))
        return 0

    def body() -> int:
        recipe = recipe_from_args(args, RECIPES)
        if args.print_config:
            print(recipe.to_json())
            return 0
        root = args.data_root
        train_ann = args.train_annotations or root / "annotations/person_keypoints_train2017.json"
        train_images = args.train_images or root / "images/train2017"
        val_ann = args.val_annotations or root / "annotations/person_keypoints_val2017.json"
        val_images = args.val_images or root / "images/val2017"
        detections = args.val_detections or (
            root / "person_detection_results/COCO_val2017_detections_AP_H_56_person.json")
        if not detections.is_file():
            detections = args.val_detections

        def prepare(recipe: Recipe):
            layout = _layout(args, train_ann, recipe)
            records = coco_records(train_ann, train_images, recipe.input_size, recipe.box_end)
            data = training_set(recipe, records, layout)
            evaluate = None
            if not args.no_val:
                coco = load_coco(val_ann)
                evaluate = validator(coco, val_images, validation_boxes(coco, recipe, detections),
                                     recipe, layout, recipe.train.workers)
            return build_network(recipe, layout), data, evaluate, "AP"

        output = args.output or Path("runs") / recipe.name
        run_recipe(recipe, output, prepare, args.resume, args.device)
        return 0

    return run_training_command(body)


if __name__ == "__main__":
    sys.exit(main())
