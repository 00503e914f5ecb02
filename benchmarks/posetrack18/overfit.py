"""Overfitting check of PoseTrack18 fine-tuning on the sample frames (CPU, minutes).

    python -m benchmarks.posetrack18.overfit [--from runs/coco_overfit/last.pt] [--json OUT.json]

Starts from the checkpoint of ``benchmarks.coco.overfit`` (same small HRNet; the 17 COCO channels
become the 17 PoseTrack18 slots, as mmpose fine-tunes), trains with the fine-tuning recipe of
:mod:`benchmarks.configs.posetrack18` - Adam, linear warm-up from 0.001x, x0.1 steps at half and
three quarters of the run - shortened to the 14 persons of the 3 labelled frames of
``../shared/data/posetrack18_sample`` (flip augmentation only, 4 persons per step), and scores the
same frames (ground-truth boxes, flip test) with the built-in PoseTrack18 evaluator. Passes when
the final mAP (poseval's Total AP, percent) is at least 50.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import List, Optional

from pose.datasets.posetrack18 import read_sequences
from pose.errors import MissingFileError
from pose.keypoints import get_keypoint_set
from pose.training.recipe import Recipe, apply_overrides
from pose.training.records import posetrack18_records
from pose.training.run import run_training_command

from ..coco.overfit import RECIPE as COCO_RECIPE
from ..coco.overfit import overfit, overfit_arguments, report, set_threads
from ..configs.posetrack18 import finetune_recipe
from ..shared_data import SHARED_DATA
from .finetune import validator

TARGET_MAP = 50.0
EPOCHS = 80


def overfit_recipe(weights: str) -> Recipe:
    """mmpose's fine-tuning recipe on the COCO overfit network, shortened to the sample."""
    base = finetune_recipe(COCO_RECIPE.model, COCO_RECIPE.input_size, weights,
                           "posetrack18_overfit")
    train = dataclasses.replace(base.train, epochs=EPOCHS, batch_size=4,
                                lr_steps=(EPOCHS // 2, EPOCHS * 3 // 4), warmup_iters=20,
                                amp=False, workers=0, val_interval=20)
    return dataclasses.replace(base, model_args=dict(COCO_RECIPE.model_args),
                               augment=COCO_RECIPE.augment, train=train,
                               test=dataclasses.replace(base.test, batch_size=32))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="weights", type=Path,
                        default=Path("runs/coco_overfit/last.pt"),
                        help="checkpoint of benchmarks.coco.overfit (default: %(default)s)")
    overfit_arguments(parser, "runs/posetrack18_overfit", SHARED_DATA / "posetrack18_sample",
                      "folder with images/ and annotations/val/")
    args = parser.parse_args(argv)

    def body() -> int:
        set_threads(args.threads)
        if not args.weights.is_file():
            raise MissingFileError(f"checkpoint not found: {args.weights} (run python -m "
                                    "benchmarks.coco.overfit first, or pass --from)")
        recipe = apply_overrides(overfit_recipe(str(args.weights)), args.overrides)
        layout = get_keypoint_set(recipe.keypoints)
        gt_dir = args.data / "annotations" / "val"
        evaluate = validator(gt_dir, args.data, recipe, workers=0)
        records = posetrack18_records(read_sequences(gt_dir), args.data, recipe.input_size,
                                      recipe.box_end)
        summary = overfit(recipe, records, layout, evaluate, args.output)
        summary["from"] = str(args.weights)
        return report(summary, TARGET_MAP, args.json, unit="")

    return run_training_command(body)


if __name__ == "__main__":
    sys.exit(main())
