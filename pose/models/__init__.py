"""Pose network architectures. Use :func:`pose.build_model` to build one from a preset name."""
from .hrnet import HRNet, HighResolutionModule
from .pose_resnet import PoseResNet

__all__ = ["HRNet", "HighResolutionModule", "PoseResNet"]
