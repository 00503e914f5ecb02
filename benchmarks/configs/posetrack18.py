"""mmpose's PoseTrack18 fine-tuning recipes (``configs/body/2d_kpt_sview_rgb_img/topdown_heatmap/
posetrack18/hrnet_w{32,48}_posetrack18_256x192.py``, mmpose 0.29).

From COCO weights, Adam 5e-4, linear warm-up over 500 iterations from 0.001x, x0.1 at epochs 10
and 15, 20 epochs, 64 persons per GPU, float32 (the config has no ``fp16``), validation
(PoseTrack18 mAP, "Total AP" selects the best) every epoch, a log line every 50 iterations.
Augmentation in mmpose's pipeline order: random shift of the box centre (factor 0.16,
probability 0.3), flip, half body (p 0.3, > 8 joints), scale factor 0.5, rotation 40 degrees
with p 0.6; sigma 2; clean boxes end at ``x1 + w`` (mmpose 0.27 and later); GT boxes for
validation (``use_gt_bbox=True``; detections would be kept above 0.4).

The ``*_legacy`` recipes are the same configs as mmpose 0.8 to 0.25 ran them, which trained the
released PoseTrack18 checkpoints (``hrnet_w32_posetrack18_256x192-1ee951c4_20201028.pth``, the
W48 one of 2021-11-30): no per-sample shift, but each person's centre shifted once when the data
set loads (probability 0.3, up to +-0.2 of the box), and boxes ending at ``x1 + w - 1``.
"""
from __future__ import annotations

import dataclasses

from pose.training.augment import AugmentConfig
from pose.training.engine import TrainConfig
from pose.training.recipe import Recipe, TestConfig

MMPOSE_COCO_W32 = ("https://download.openmmlab.com/mmpose/top_down/hrnet/"
                   "hrnet_w32_coco_256x192-c78dce93_20200708.pth")
MMPOSE_COCO_W48 = ("https://download.openmmlab.com/mmpose/top_down/hrnet/"
                   "hrnet_w48_coco_256x192-b9e0b3ab_20200708.pth")

# mmpose 0.29: TopDownRandomShiftBboxCenter(shift_factor=0.16, prob=0.3) before the flip.
AUGMENT = AugmentConfig(flip=True, scale_factor=0.5, rotation_factor=40.0, rotation_prob=0.6,
                        half_body_prob=0.3, half_body_min_joints=8, center_shift_factor=0.16,
                        center_shift_prob=0.3, center_shift_at="sample")
# mmpose 0.8-0.25: _xywh2cs shifts the centre by 0.4 * (rand(2) - 0.5) * [w, h] with p 0.3.
LEGACY_AUGMENT = dataclasses.replace(AUGMENT, center_shift_factor=0.2, center_shift_at="load")


def finetune_recipe(model: str = "hrnet_w32", input_size=(256, 192),
                    load_from: str = MMPOSE_COCO_W32, name: str = "hrnet_w32_256x192") -> Recipe:
    """mmpose 0.29's fine-tuning recipe for ``model``."""
    return Recipe(
        name=name, model=model, input_size=tuple(input_size), keypoints="posetrack18",
        init="default", backbone=None, load_from=load_from, color="rgb", box_end="edge",
        sigma=2.0, augment=AUGMENT,
        train=TrainConfig(epochs=20, batch_size=64, optimizer="adam", lr=5e-4,
                          weight_decay=0.0, lr_steps=(10, 15), lr_factor=0.1, warmup_iters=500,
                          warmup_ratio=0.001, use_target_weight=True, ohkm=False,
                          grad_clip=None, amp=False, workers=2, val_interval=1,
                          log_interval=50),
        test=TestConfig(flip_test=True, shift_heatmap=True, use_gt_boxes=True,
                        det_score_threshold=0.4, batch_size=32))


def legacy_recipe(recipe: Recipe) -> Recipe:
    """``recipe`` as mmpose 0.8-0.25 ran it: load-time centre shift, boxes to the last pixel."""
    return dataclasses.replace(recipe, name=f"{recipe.name}_legacy", augment=LEGACY_AUGMENT,
                               box_end="last_pixel")


_CURRENT = (finetune_recipe(),
            finetune_recipe("hrnet_w48", (256, 192), MMPOSE_COCO_W48, "hrnet_w48_256x192"))
RECIPES = {r.name: r for r in (*_CURRENT, *(legacy_recipe(r) for r in _CURRENT))}
