"""mmpose's PoseTrack18 fine-tuning recipe (``configs/body/2d_kpt_sview_rgb_img/topdown_heatmap/
posetrack18/hrnet_w32_posetrack18_256x192.py``): from COCO weights, Adam 5e-4, linear warm-up over
500 iterations from 0.001x, x0.1 at epochs 10 and 15, 20 epochs, 64 persons per GPU, validation
(PoseTrack18 mAP, "Total AP" selects the best) every epoch. Augmentation: flip, half body (p 0.3,
> 8 joints), scale factor 0.5, rotation 40 degrees with p 0.6; sigma 2; GT boxes for validation
(``use_gt_bbox=True``; detections would be kept above 0.4).
"""
from __future__ import annotations

from pose.training.augment import AugmentConfig
from pose.training.engine import TrainConfig
from pose.training.recipe import Recipe, TestConfig

MMPOSE_COCO_W32 = ("https://download.openmmlab.com/mmpose/top_down/hrnet/"
                   "hrnet_w32_coco_256x192-c78dce93_20200708.pth")


def finetune_recipe(model: str = "hrnet_w32", input_size=(256, 192),
                    load_from: str = MMPOSE_COCO_W32, name: str = "hrnet_w32_256x192") -> Recipe:
    return Recipe(
        name=name, model=model, input_size=tuple(input_size), keypoints="posetrack18",
        init="default", backbone=None, load_from=load_from, color="rgb", sigma=2.0,
        augment=AugmentConfig(flip=True, scale_factor=0.5, rotation_factor=40.0,
                              rotation_prob=0.6, half_body_prob=0.3, half_body_min_joints=8),
        train=TrainConfig(epochs=20, batch_size=64, optimizer="adam", lr=5e-4,
                          weight_decay=0.0, lr_steps=(10, 15), lr_factor=0.1, warmup_iters=500,
                          warmup_ratio=0.001, use_target_weight=True, ohkm=False,
                          grad_clip=None, amp=True, workers=2, val_interval=1),
        test=TestConfig(flip_test=True, shift_heatmap=True, use_gt_boxes=True,
                        det_score_threshold=0.4, batch_size=32))


RECIPES = {r.name: r for r in (
    finetune_recipe(),
    finetune_recipe("hrnet_w48", (256, 192), "https://download.openmmlab.com/mmpose/top_down/"
                    "hrnet/hrnet_w48_coco_256x192-b9e0b3ab_20200708.pth", "hrnet_w48_256x192"),
)}
