"""Overfitting check of the whole training stack on the 4 COCO sample images (CPU, minutes).

    python -m benchmarks.coco.overfit [--json OUT.json] [--output runs/coco_overfit] [--set ...]

A small HRNet (W8 at 128x96, official initialisation, no ImageNet weights) is trained on the 12
annotated persons of ``../shared/data/coco_sample`` with flip augmentation (joint swap) and
validated on the same images with ground-truth boxes, flip test and the COCO evaluator. It passes
when the final COCO AP is at least 0.5 (exit code 0, else 1). The JSON holds ``{"AP", "epochs",
"seconds", ...}``; ``OUTPUT/last.pt`` is the starting point of ``benchmarks.posetrack18.overfit``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional

import torch

from pose.errors import BadInputError
from pose.safe_output import write_json_atomic
from pose.datasets.coco import load_coco
from pose.keypoints import KeypointSet, get_keypoint_set
from pose.training.augment import AugmentConfig
from pose.training.engine import TrainConfig, Trainer
from pose.training.recipe import Recipe, TestConfig, apply_overrides
from pose.training.records import PersonRecord, coco_records
from pose.training.run import build_network, run_training_command, training_set

from ..shared_data import SHARED_DATA
from .train import validation_boxes, validator

TARGET_AP = 0.5
RECIPE = Recipe(
    name="coco_overfit", model="hrnet_w8", input_size=(128, 96), keypoints="coco",
    init="official", backbone=None, load_from=None, color="rgb", sigma=2.0,
    augment=AugmentConfig(flip=True, scale_factor=0.0, rotation_factor=0.0, rotation_prob=0.0,
                          half_body_prob=0.0),
    train=TrainConfig(epochs=300, batch_size=4, optimizer="adam", lr=2e-3, lr_steps=(240,),
                      lr_factor=0.1, warmup_iters=0, amp=False, workers=0, seed=0,
                      val_interval=30),
    test=TestConfig(flip_test=True, shift_heatmap=True, use_gt_boxes=True, batch_size=32),
)


def overfit(recipe: Recipe, records: List[PersonRecord], layout: KeypointSet,
            evaluate: Callable, output: Path, weights: Optional[str] = None) -> dict:
    """Trains ``recipe`` on ``records`` (images cached), validating with ``evaluate``; returns
    the JSON summary (final ``AP``, best, ``epochs``, wall ``seconds``)."""
    began = time.perf_counter()
    model = build_network(recipe, layout, weights)
    data = training_set(recipe, records, layout, cache_images=True)
    print(f"{recipe.name}: {recipe.model} {recipe.input_size[0]}x{recipe.input_size[1]}, "
          f"{len(data)} persons, {recipe.train.epochs} epochs -> {output}", flush=True)
    result = Trainer(model, data, recipe.train, output, evaluate=evaluate, metric="AP",
                     device="cpu", meta={"recipe": recipe.to_dict()}).fit()
    final = result.history[-1]
    return {"AP": round(final["val/AP"], 4), "best_AP": round(result.best["value"], 4),
            "best_epoch": result.best["epoch"], "epochs": result.epochs,
            "seconds": round(time.perf_counter() - began, 1), "persons": len(data),
            "model": recipe.model, "input_size": list(recipe.input_size),
            "checkpoint": str(result.last_checkpoint)}


def report(summary: dict, target: float, json_path: Optional[Path], unit: str = "") -> int:
    """Prints the summary, writes it to ``json_path``, and returns 0 when ``AP >= target``."""
    passed = summary["AP"] >= target
    summary["target"], summary["passed"] = target, passed
    print(f"AP {summary['AP']}{unit} after {summary['epochs']} epochs in {summary['seconds']} s "
          f"({'reached' if passed else 'below'} the target {target}{unit})")
    if json_path is not None:
        write_json_atomic(summary, json_path, indent=2)
    return 0 if passed else 1


def overfit_arguments(parser: argparse.ArgumentParser, output: str, data: Path,
                      data_help: str) -> None:
    """The options both overfitting checks have."""
    parser.add_argument("--json", type=Path, help="write {AP, epochs, seconds, ...} here")
    parser.add_argument("--output", type=Path, default=Path(output))
    parser.add_argument("--data", type=Path, default=data, help=data_help)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.FIELD=VALUE", help="change a recipe value")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: torch's; 1 is faster on a busy machine)")


def set_threads(threads: Optional[int]) -> None:
    if threads is not None:
        if threads < 1:
            raise BadInputError(f"--threads must be positive, got {threads}")
        torch.set_num_threads(threads)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    overfit_arguments(parser, "runs/coco_overfit", SHARED_DATA / "coco_sample",
                      "folder with the images and test_coco.json")
    args = parser.parse_args(argv)

    def body() -> int:
        set_threads(args.threads)
        recipe = apply_overrides(RECIPE, args.overrides)
        annotations = args.data / "test_coco.json"
        layout = get_keypoint_set(recipe.keypoints)
        coco = load_coco(annotations)
        evaluate = validator(coco, args.data, validation_boxes(coco, recipe, None), recipe,
                             layout, workers=0)
        records = coco_records(annotations, args.data, recipe.input_size, recipe.box_end)
        return report(overfit(recipe, records, layout, evaluate, args.output), TARGET_AP,
                      args.json)

    return run_training_command(body)


if __name__ == "__main__":
    sys.exit(main())
