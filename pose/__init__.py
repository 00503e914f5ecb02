"""Top-down pose estimation: HRNet and SimpleBaseline networks, presets, checkpoints, inference.

>>> import pose
>>> model = pose.build_model("hrnet_w32")             # random weights, 256x192 input, 17 joints
>>> model = pose.pretrained("hrnet_w32_coco_256x192")  # published weights (downloaded once)
>>> keypoints = pose.TopDownEstimator(model)(rgb_image, boxes)   # [N, 17, 3] x, y, confidence
"""
from .checkpoint_reader import UnsafeCheckpointError, read_checkpoint
from .checkpoints import CheckpointError, LoadedWeights, load_checkpoint
from .estimator import TopDownEstimator
from .inference import optimize_for_inference
from .keypoints import KeypointSet, get_keypoint_set
from .registry import ModelPreset, build_model, get_preset, list_presets, pretrained
from .zoo import PublishedWeights, get_published, list_published

__all__ = ["build_model", "pretrained", "get_preset", "list_presets", "ModelPreset",
           "load_checkpoint", "LoadedWeights", "CheckpointError",
           "UnsafeCheckpointError", "read_checkpoint",
           "PublishedWeights", "get_published", "list_published", "TopDownEstimator",
           "optimize_for_inference",
           "KeypointSet", "get_keypoint_set"]
