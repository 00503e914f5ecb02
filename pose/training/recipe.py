"""Training recipes: every hyper-parameter of a run in one dataclass, readable from Python or JSON.

A :class:`Recipe` names the network, its input size and joint layout, the initial weights, the
target and augmentation settings (:class:`.augment.AugmentConfig`), the optimisation
(:class:`.engine.TrainConfig`) and the validation (:class:`TestConfig`). Named recipes live in
``benchmarks/configs``; a recipe file is a Python file defining ``RECIPE`` or a JSON file as
printed by ``--print-config``; ``--set section.field=value`` changes single values.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ..datasets import load_json
from ..datasets.coco import BOX_ENDS
from ..errors import BadInputError
from .augment import AugmentConfig
from .engine import TrainConfig


class RecipeError(BadInputError):
    """A recipe that cannot be found, read or changed as asked."""


@dataclass(frozen=True)
class TestConfig:
    """Validation settings (official COCO test values by default).

    Attributes:
        flip_test: average with the mirrored image's heatmaps.
        shift_heatmap: shift the mirrored heatmaps by one pixel (official ``SHIFT_HEATMAP``).
        use_gt_boxes: persons from the ground-truth boxes, else from a detection file.
        det_score_threshold: drop detections below this (official ``IMAGE_THRE`` 0.0; mmpose
            PoseTrack18 ``det_bbox_thr`` 0.4).
        batch_size: persons per forward pass.
        soft_nms: soft OKS-NMS instead of OKS-NMS (threshold 0.9 either way).
    """

    flip_test: bool = True
    shift_heatmap: bool = True
    use_gt_boxes: bool = False
    det_score_threshold: float = 0.0
    batch_size: int = 32
    soft_nms: bool = False


@dataclass(frozen=True)
class Recipe:
    """One training run's hyper-parameters.

    Attributes:
        name: recipe name.
        model: network preset (:func:`pose.build_model`), e.g. ``"hrnet_w32"``.
        input_size: network input ``(height, width)``; heatmaps are a quarter of it.
        keypoints: joint layout (:func:`pose.get_keypoint_set`), e.g. ``"coco"``,
            ``"posetrack18"``; custom layouts are given by the recipe runner.
        model_args: architecture overrides for :func:`pose.build_model` (``num_modules``...).
        init: ``"official"`` (N(0, 0.001) convolutions, see :mod:`.weights`) or ``"default"``.
        backbone: ImageNet checkpoint (path or URL) for the backbone, as the official runs
            (``hrnet_w32-36af842e.pth`` ...); None trains from scratch.
        load_from: a whole pose checkpoint (path, URL or zoo name) to start from (fine-tuning).
        color: channel order of the network input (``"rgb"``: HRNet ``COLOR_RGB: true``;
            official SimpleBaseline configs use ``"bgr"``).
        box_end: where a clean annotation box ends, for the training persons and the
            ground-truth validation boxes: ``"last_pixel"`` (``x2 = x1 + w - 1``: official HRNet,
            mmpose 0.26 and earlier) or ``"edge"`` (``x2 = x1 + w``: mmpose 0.27 and later).
        sigma: heatmap Gaussian sigma (heatmap pixels).
        augment, train, test: see the classes.
    """

    name: str
    model: str = "hrnet_w32"
    input_size: Tuple[int, int] = (256, 192)
    keypoints: str = "coco"
    model_args: Dict[str, Any] = field(default_factory=dict)
    init: str = "official"
    backbone: Optional[str] = None
    load_from: Optional[str] = None
    color: str = "rgb"
    box_end: str = "last_pixel"
    sigma: float = 2.0
    augment: AugmentConfig = AugmentConfig()
    train: TrainConfig = TrainConfig()
    test: TestConfig = TestConfig()

    def __post_init__(self) -> None:
        if self.box_end not in BOX_ENDS:
            raise ValueError(f"box_end must be one of {', '.join(BOX_ENDS)}, got "
                             f"{self.box_end!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


_SECTIONS = {"augment": AugmentConfig, "train": TrainConfig, "test": TestConfig}


def _coerce(value: Any, current: Any, where: str) -> Any:
    """``value`` in the type of the field's current value (lists -> tuples, ints -> floats)."""
    if isinstance(current, bool) or isinstance(value, bool):
        if not isinstance(value, bool) or not isinstance(current, (bool, type(None))):
            raise RecipeError(f"{where}: expected {type(current).__name__}, got {value!r}")
        return value
    if isinstance(current, float) and isinstance(value, int):
        return float(value)
    if isinstance(current, int) and isinstance(value, float):
        if not value.is_integer():
            raise RecipeError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if isinstance(current, tuple) and isinstance(value, (list, tuple)):
        return tuple(_coerce(v, current[0], where) if current else v for v in value)
    if current is not None and value is not None and not isinstance(value, type(current)):
        if not (isinstance(current, (int, float)) and isinstance(value, (int, float))):
            raise RecipeError(f"{where}: expected {type(current).__name__}, got {value!r}")
    return value


def recipe_from_dict(data: Mapping[str, Any], where: str = "recipe") -> Recipe:
    """A recipe from :meth:`Recipe.to_dict` output (unknown keys are refused)."""
    base = Recipe(name=str(data.get("name", "custom")))
    changes = {}
    known = {f.name for f in dataclasses.fields(Recipe)}
    for key, value in data.items():
        if key not in known:
            raise RecipeError(f"{where}: unknown recipe field {key!r}; known: {sorted(known)}")
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise RecipeError(f"{where}: {key} must be a mapping")
            section = getattr(base, key)
            names = {f.name for f in dataclasses.fields(section)}
            unknown = set(value) - names
            if unknown:
                raise RecipeError(f"{where}: unknown {key} field(s) {sorted(unknown)}; known: "
                                  f"{sorted(names)}")
            changes[key] = _replace(section, {k: _coerce(v, getattr(section, k), f"{key}.{k}")
                                              for k, v in value.items()}, f"{where}: {key}")
        elif key != "name":
            changes[key] = _coerce(value, getattr(base, key), key)
    return _replace(base, changes, where)


def _replace(obj, changes: dict, where: str):
    try:
        return dataclasses.replace(obj, **changes)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{where}: {exc}") from None


def load_recipe(name_or_file: str, named: Mapping[str, Recipe]) -> Recipe:
    """A named recipe, or one read from a ``.py`` file (defining ``RECIPE``) or ``.json`` file."""
    if name_or_file in named:
        return named[name_or_file]
    path = Path(name_or_file)
    if path.suffix not in (".py", ".json"):
        raise RecipeError(f"unknown recipe {name_or_file!r}; named recipes: "
                          f"{', '.join(sorted(named))}; or pass a .py / .json recipe file")
    if not path.is_file():
        raise RecipeError(f"recipe file not found: {path}")
    if path.suffix == ".json":
        return recipe_from_dict(load_json(path, "recipe file", RecipeError), str(path))
    recipe = runpy.run_path(str(path)).get("RECIPE")
    if not isinstance(recipe, Recipe):
        raise RecipeError(f"{path} must define RECIPE = pose.training.recipe.Recipe(...)")
    return recipe


def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(recipe: Recipe, assignments: Sequence[str]) -> Recipe:
    """Applies ``field=value`` / ``section.field=value`` assignments (values as Python
    literals; ``true``/``false``/``none`` accepted), e.g. ``train.epochs=5``."""
    data = recipe.to_dict()
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep:
            raise RecipeError(f"--set expects section.field=value, got {assignment!r}")
        parts = key.strip().split(".")
        target = data
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict) or part not in _SECTIONS:
                raise RecipeError(f"--set {key}: {part!r} is not a recipe section "
                                  f"({', '.join(_SECTIONS)})")
            target = target[part]
        if parts[-1] not in target:
            raise RecipeError(f"--set {key}: unknown field; known: {sorted(target)}")
        target[parts[-1]] = _parse_value(text)
    return recipe_from_dict(data, "--set")
