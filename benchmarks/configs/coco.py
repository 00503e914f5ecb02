"""The official COCO training configs of HRNet and SimpleBaseline as recipes.

Values from ``experiments/coco/{hrnet,resnet}/*_adam_lr1e-3.yaml`` of the official repository
(leoxiaobin/deep-high-resolution-net.pytorch) and its ``lib/config/default.py`` for what the files
leave out. The official runs used 4 GPUs (``GPUS: (0,1,2,3)``), so ``batch_size`` is per GPU and the
global batch is 4x: run them with ``torchrun --nproc_per_node=4``. The official Adam ignores the
files' ``WD: 0.0001`` (weight decay is passed to SGD only), so ``weight_decay`` is 0.

The official ``tools/train.py`` calls ``MultiStepLR.step()`` at the start of every epoch, so
``LR_STEP: [170, 200]`` lowers the rate from the 170th and the 200th epoch on (1-based), i.e. from
0-based epochs 169 and 199: ``lr_steps`` (0-based, as mmpose's ``step``) is ``LR_STEP - 1``. As
the official ``tools/train.py`` the recipes validate after every epoch and keep the best
checkpoint; they train in float32 (``train.amp`` off) and log every ``PRINT_FREQ`` (100)
iterations. Boxes end at the last pixel (``x2 = x1 + w - 1``) as in the official ``coco.py``.

Backbones start from ImageNet weights as in the official runs: HRNet's are published on the
HRNet-Image-Classification page (no direct link; the recipe expects the official relative path,
change it with ``--set backbone=PATH``), torchvision's ResNets download from their URL.
"""
from __future__ import annotations

from pose.training.augment import AugmentConfig
from pose.training.engine import TrainConfig
from pose.training.recipe import Recipe, TestConfig

HRNET_AUGMENT = AugmentConfig(flip=True, scale_factor=0.35, rotation_factor=45.0,
                              rotation_prob=0.6, half_body_prob=0.3, half_body_min_joints=8)
# resnet yaml files: ROT_FACTOR 40, SCALE_FACTOR 0.3, PROB_HALF_BODY from default.py (0.0)
RESNET_AUGMENT = AugmentConfig(flip=True, scale_factor=0.3, rotation_factor=40.0,
                               rotation_prob=0.6, half_body_prob=0.0, half_body_min_joints=8)


def _train(epochs: int, lr_step, batch_size: int = 32) -> TrainConfig:
    """``lr_step``: the files' ``LR_STEP`` (see the module docstring for the ``- 1``)."""
    return TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adam", lr=1e-3,
                       weight_decay=0.0, lr_steps=tuple(s - 1 for s in lr_step), lr_factor=0.1,
                       warmup_iters=0, use_target_weight=True, ohkm=False, grad_clip=None,
                       amp=False, sync_bn=False, workers=24 // 4, shuffle=True, seed=0,
                       val_interval=1, log_interval=100)


def _test(batch_size: int = 32) -> TestConfig:
    # USE_GT_BBOX: true in the released files (the paper's detection-box numbers need
    # --val-detections); FLIP_TEST, SHIFT_HEATMAP, OKS_THRE 0.9, IN_VIS_THRE 0.2, IMAGE_THRE 0.0
    return TestConfig(flip_test=True, shift_heatmap=True, use_gt_boxes=True,
                      det_score_threshold=0.0, batch_size=batch_size)


def _hrnet(width: int, size, sigma: float, batch_size: int) -> Recipe:
    return Recipe(
        name=f"hrnet_w{width}_{size[0]}x{size[1]}", model=f"hrnet_w{width}", input_size=size,
        keypoints="coco", init="official", box_end="last_pixel",
        backbone=f"models/pytorch/imagenet/hrnet_w{width}-"
                 f"{ {32: '36af842e', 48: '8ef0771d'}[width]}.pth",
        color="rgb", sigma=sigma, augment=HRNET_AUGMENT,
        train=_train(210, (170, 200), batch_size), test=_test(batch_size))


_RESNET_HASH = {50: "19c8e357", 101: "5d3b4d8f", 152: "b121ed2d"}


def _resnet(depth: int, size, sigma: float) -> Recipe:
    return Recipe(
        name=f"pose_resnet_{depth}_{size[0]}x{size[1]}", model=f"pose_resnet_{depth}",
        input_size=size, keypoints="coco", init="official", box_end="last_pixel",
        backbone=f"https://download.pytorch.org/models/resnet{depth}-{_RESNET_HASH[depth]}.pth",
        color="bgr", sigma=sigma, augment=RESNET_AUGMENT, train=_train(140, (90, 120)),
        test=_test())


RECIPES = {r.name: r for r in (
    _hrnet(32, (256, 192), 2.0, 32), _hrnet(32, (384, 288), 3.0, 32),
    _hrnet(48, (256, 192), 2.0, 32), _hrnet(48, (384, 288), 3.0, 24),
    *(_resnet(d, (256, 192), 2.0) for d in (50, 101, 152)),
    *(_resnet(d, (384, 288), 3.0) for d in (50, 101, 152)),
)}
