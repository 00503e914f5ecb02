"""Training top-down pose networks: datasets -> official augmentation -> heatmap targets -> loss,
and the engine (Adam, warm-up + multi-step schedule, optional AMP, DDP, the official training
accuracy, validation, exact resume).

>>> from pose.training import (TopDownTrainingSet, TrainConfig, Trainer, coco_records)
>>> model = pose.build_model("hrnet_w32")
>>> records = coco_records("person_keypoints_train2017.json", "train2017", (256, 192))
>>> data = TopDownTrainingSet(records, pose.get_keypoint_set("coco"), (256, 192), AugmentConfig())
>>> Trainer(model, data, TrainConfig(), "runs/w32").fit()

Runnable recipes live in ``benchmarks`` (``python -m benchmarks.coco.train``,
``python -m benchmarks.posetrack18.finetune``).
"""
from .augment import AugmentConfig
from .state import load_training_state
from .dataset import TopDownTrainingSet
from .distributed import DistributedContext, cleanup_distributed, init_distributed
from .engine import TrainConfig, Trainer, TrainResult
from .loss import JointsMSELoss, JointsOHKMMSELoss, build_loss
from .metrics import accuracy
from .records import PersonRecord, coco_records, mpii_records, posetrack18_records
from .schedule import WarmupMultiStepLR
from .targets import gaussian_targets
from .weights import init_official, load_backbone

__all__ = ["AugmentConfig", "TopDownTrainingSet", "TrainConfig", "Trainer", "TrainResult",
           "JointsMSELoss", "JointsOHKMMSELoss", "build_loss", "accuracy", "PersonRecord",
           "coco_records", "mpii_records", "posetrack18_records", "WarmupMultiStepLR",
           "gaussian_targets", "init_official", "load_backbone", "load_training_state",
           "DistributedContext", "init_distributed", "cleanup_distributed"]
