"""The models the options name, and loading them: the pose network, the person detector, the
device, and the published weights they need (downloaded once).

Defaults, the same in every entry point:

- pose network: the published PoseTrack18 HRNet-W32 256x192 checkpoint
  (``hrnet_w32_posetrack18_256x192``, mmpose; PoseTrack18 val 83.0 mAP with GT boxes);
- detector: on CPU the published YOLOX-nano HumanArt ONNX export (about 30 ms a frame on two
  cores; a COCO-trained R-50 detector takes seconds per frame there), on CUDA torchvision's
  Faster R-CNN R50-FPN v2 (46.7 box AP, fast on a GPU).
"""
from __future__ import annotations

import argparse
import os
from typing import Optional

import torch

import pose
from pose import zoo
from pose.checkpoints import resolve_checkpoint
from pose.errors import BadInputError, MissingWeightsError

DEFAULT_POSE_MODEL = "hrnet_w32_posetrack18_256x192"
DEFAULT_DETECTOR = {"cpu": "yolox", "cuda": "fasterrcnn_resnet50_fpn_v2"}


def pose_tracking(args: argparse.Namespace) -> bool:
    """Whether the options ask for a pose network (``--pose-model none``: boxes only)."""
    return str(args.pose_model).lower() != "none"


def pick_device(name: Optional[str]) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N``; default: CUDA when available."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInputError("--device cuda was asked for but PyTorch sees no CUDA GPU here; use "
                       "--device cpu")
    return device


def load_pose_model(name: str, weights: Optional[str], device: torch.device) -> torch.nn.Module:
    """A pose network with weights: ``name`` is a published checkpoint
    (``python -m pose checkpoints``) or a preset (``python -m pose presets``); ``weights``
    (path, URL or checkpoint name) overrides the published weights. Never random weights."""
    try:
        if zoo.is_published(name):
            entry = zoo.get_published(name)
            if weights is None:
                model = pose.pretrained(name)
            else:
                model = pose.build_model(entry.arch, input_size=entry.input_size,
                                         num_joints=entry.num_joints, keypoints=entry.keypoints,
                                         weights=weights)
        else:
            preset = pose.get_preset(name)
            weights = weights or preset.default_weights
            if weights is None:
                raise MissingWeightsError(f"the pose model {name} has no published weights: "
                                          "pass --pose-weights PATH_OR_URL (its checkpoint file)")
            model = pose.build_model(name, weights=weights)
    except MissingWeightsError as exc:  # a download that failed (pose.downloads)
        raise download_error(exc, "--pose-weights") from None
    return model.to(device).eval()


def download_error(exc: Exception, flag: str) -> MissingWeightsError:
    """A failed download as one line that also names the option taking a local copy."""
    text = " ".join(str(exc).split("\n"))
    if flag not in text:
        text += f" Then run with {flag} PATH (the downloaded file)."
    return MissingWeightsError(text)


def is_local_file(source: Optional[str]) -> bool:
    """A weights option that names a file (not a zoo name, URL or keyword)."""
    if not source or "://" in source or source in ("random", "default"):
        return False
    return not zoo.is_published(source) and (os.sep in source or "." in source
                                               or os.path.exists(source))


def fetch_model_files(args: argparse.Namespace, use_detector: bool = True,
                      use_pose: bool = True) -> None:
    """Downloads (once) every published file the options need, and reports all that cannot be
    fetched together, each with where to put it, instead of one per run."""
    import detectors

    device = pick_device(args.device)
    problems = []
    use_pose = use_pose and pose_tracking(args)
    if not use_pose:
        source = None
    elif zoo.is_published(args.pose_model) and args.pose_weights is None:
        source = args.pose_model
    else:
        source = args.pose_weights or pose.get_preset(args.pose_model).default_weights
    if source is not None:
        try:
            resolve_checkpoint(source)
        except MissingWeightsError as exc:
            problems.append(download_error(exc, "--pose-weights"))
    if use_detector:
        try:
            detectors.fetch_weights(args.detector or DEFAULT_DETECTOR[device.type],
                                    args.detector_weights)
        except MissingWeightsError as exc:
            problems.append(download_error(exc, "--detector-weights"))
    if problems:  # one "error:" line per missing file
        raise MissingWeightsError("\nerror: ".join(str(p) for p in problems))


def load_detector(name: Optional[str], weights: Optional[str], device: torch.device,
                  score_threshold: Optional[float] = None, **kwargs):
    import detectors

    name = name or DEFAULT_DETECTOR[device.type]
    if name == "file":  # --detector-weights names the detection JSON
        kwargs["detections"], weights = weights, None
    try:
        return detectors.build_detector(name, weights=weights, device=str(device),
                                        score_threshold=score_threshold, **kwargs)
    except MissingWeightsError as exc:
        raise download_error(exc, "--detector-weights") from None
