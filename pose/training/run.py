"""Running a recipe: the network and dataset it describes, and the command-line frame the
recipe scripts in ``benchmarks`` share (``--config``, ``--set``, ``--resume``, torchrun, errors).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import BadInputError, MissingFileError, report_errors
from ..keypoints import KeypointSet
from ..registry import build_model
from .dataset import TopDownTrainingSet
from .distributed import cleanup_distributed, init_distributed
from .engine import Evaluator, Trainer, TrainResult
from .recipe import Recipe, RecipeError, apply_overrides, load_recipe
from .records import PersonRecord
from .weights import init_official, load_backbone


def build_network(recipe: Recipe, layout: KeypointSet, weights: Optional[str] = None
                  ) -> nn.Module:
    """The recipe's network for ``layout``: seeded by ``train.seed``, initialised as
    ``recipe.init``, then the ImageNet ``backbone`` and the ``weights`` (default:
    ``recipe.load_from``) loaded if given."""
    torch.manual_seed(recipe.train.seed)
    model = build_model(recipe.model, input_size=recipe.input_size,
                        num_joints=layout.num_joints, keypoints=recipe.keypoints,
                        **recipe.model_args)
    if recipe.init == "official":
        init_official(model)
    elif recipe.init != "default":
        raise RecipeError(f"init must be 'official' or 'default', got {recipe.init!r}")
    if recipe.backbone:
        if "://" not in recipe.backbone and not Path(recipe.backbone).is_file():
            raise MissingFileError(
                f"ImageNet backbone weights not found: {recipe.backbone} (the official runs start "
                "from them; download them, or --set backbone=PATH, or --set backbone=none to "
                "train from scratch)")
        load_backbone(model, recipe.backbone)
    weights = weights or recipe.load_from
    if weights:
        from ..checkpoints import load_checkpoint

        model.loaded_weights = load_checkpoint(model, weights)
    return model


def training_set(recipe: Recipe, records: Sequence[PersonRecord], layout: KeypointSet,
                 cache_images: bool = False) -> TopDownTrainingSet:
    """The recipe's augmented training set over ``records``."""
    if not records:
        raise BadInputError("no annotated persons to train on")
    return TopDownTrainingSet(records, layout, recipe.input_size, recipe.augment, recipe.sigma,
                              recipe.color, recipe.train.seed, cache_images)


def add_recipe_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    """The options every recipe script has."""
    parser.add_argument("--config", default=default,
                        help=f"recipe name or .py/.json file (default: {default})")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.FIELD=VALUE",
                        help="change one hyper-parameter, e.g. train.epochs=5 (repeatable)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the full recipe as JSON and exit")
    parser.add_argument("--output", type=Path, default=None,
                        help="run folder for checkpoints and logs (default: runs/<recipe>)")
    parser.add_argument("--resume", type=Path,
                        help="continue a run from its last.pt (same recipe and data)")
    parser.add_argument("--device", help="default: cuda:<local rank> if available, else cpu")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision on CUDA (bfloat16 where the GPU supports it, else "
                        "float16 with gradient scaling): faster, but the published models were "
                        "trained in float32 (same as --set train.amp=true)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def recipe_from_args(args: argparse.Namespace, named: Mapping[str, Recipe]) -> Recipe:
    recipe = apply_overrides(load_recipe(args.config, named), args.overrides)
    if args.no_progress:
        recipe = apply_overrides(recipe, ["train.progress=false"])
    if getattr(args, "amp", False):
        recipe = apply_overrides(recipe, ["train.amp=true"])
    return recipe


def run_recipe(recipe: Recipe, output: Path,
               prepare: Callable[[Recipe], Tuple[nn.Module, TopDownTrainingSet, Optional[Evaluator],
                                                 str]],
               resume: Optional[Path] = None, device: Optional[str] = None) -> TrainResult:
    """Joins torchrun's process group (if any), builds model, data and evaluator with
    ``prepare(recipe) -> (model, train_set, evaluator, metric)``, trains and prints the best
    validation result."""
    context = init_distributed()
    try:
        model, train_set, evaluate, metric = prepare(recipe)
        trainer = Trainer(model, train_set, recipe.train, output, evaluate=evaluate,
                          metric=metric, device=device, meta={"recipe": recipe.to_dict()})
        if context.is_main:
            print(f"{recipe.name}: {recipe.model} {recipe.input_size[0]}x{recipe.input_size[1]}, "
                  f"{len(train_set)} training persons, {context.world_size} process(es), "
                  f"batch {recipe.train.batch_size} per process, {recipe.train.epochs} epochs, "
                  f"{trainer.precision} on {trainer.device} -> {output}", flush=True)
        result = trainer.fit(resume)
        if context.is_main and result.best is not None:
            print(f"best {metric} {result.best['value']:.4g} at epoch {result.best['epoch']} "
                  f"({result.best_checkpoint})")
        return result
    finally:
        cleanup_distributed()


def run_training_command(body: Callable[[], int]) -> int:
    """Runs a recipe script's ``body() -> exit code`` under :func:`pose.errors.report_errors`;
    Ctrl-C leaves torchrun's process group and says how to continue (exit code 130)."""
    return report_errors(body, on_interrupt=_interrupted)


def _interrupted() -> int:
    with contextlib.suppress(Exception):
        cleanup_distributed()
    print("interrupted; continue with --resume RUN/last.pt", file=sys.stderr)
    return 130
