"""Assembling the pipeline the options describe: pose network (on the chosen engine), person
detector and tracker (:func:`build_components`). The options themselves are in
:mod:`apps.options`, the models and their weights in :mod:`apps.models`.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from typing import Optional

import torch

import pose
from pose.allocator import retain_freed_memory
from pose.errors import BadInputError, MissingPackageError
from pose.inference import optimize_for_inference, resolve_engine
from pose.keypoints import KeypointSet, get_keypoint_set
from tracker.tracker import PoseTracker, TrackerConfig

from .models import DEFAULT_DETECTOR, load_detector, load_pose_model, pick_device, pose_tracking
from .options import check_tracker_options, tracker_config
from .pipeline import PoseTrackingPipeline, StageTimer


@dataclass
class Components:
    """The assembled pipeline, the joint layout of its poses (None when tracking boxes alone),
    a one-line description, and the device of the tracker."""

    pipeline: PoseTrackingPipeline
    keypoint_set: Optional[KeypointSet]
    description: str
    device: str = "cpu"

    def next_video(self, fps: float) -> None:
        """Ready for another video at ``fps``: a new tracker (no identity carries over) and
        stage timer; the networks stay loaded."""
        config = dataclasses.replace(self.pipeline.tracker.config, fps=fps)
        self.pipeline.tracker = PoseTracker(config, device=self.device)
        self.pipeline.timer = StageTimer()
        self.pipeline.start_sequence()


def layout_name(components: Components) -> Optional[str]:
    """The joint layout's name of the poses (None when tracking boxes alone)."""
    return components.keypoint_set.name if components.keypoint_set is not None else None


def onnx_network(model: torch.nn.Module, device: torch.device):
    """``model`` exported to ONNX (BN folded; cached by weights, see
    :meth:`pose.onnx_runtime.OnnxPoseModel.from_torch`) and loaded in onnxruntime on ``device``
    (CPU with as many threads as torch uses, or CUDA; providers from
    :func:`pose.onnx_session.execution_providers`), as :class:`pose.onnx_runtime.OnnxPoseModel`
    (the estimator's network API)."""
    import importlib

    try:
        importlib.import_module("onnxruntime")
        from pose.onnx_runtime import OnnxPoseModel
    except ImportError as exc:
        raise MissingPackageError(f"--pose-backend onnxruntime needs onnx and onnxruntime "
                                  f"({exc}): pip install -e \".[onnx]\"") from None
    from pose.onnx_session import execution_providers, has_cuda_provider

    if device.type == "cuda" and not has_cuda_provider():
        raise BadInputError(f"--pose-backend onnxruntime on {device} needs onnxruntime with "
                            "CUDA (pip install onnxruntime-gpu); or use --pose-backend torch")
    return OnnxPoseModel.from_torch(model.cpu(), exporter="torchscript", cache=True,
                                    threads=torch.get_num_threads(),
                                    providers=execution_providers(device))


def build_components(args: argparse.Namespace, fps: float = 30.0, detect_every: int = 1,
                     use_detector: bool = True, pose_layout: Optional[str] = None
                     ) -> Components:
    """Loads everything the options name and assembles the pipeline. From its end on, freed
    memory stays in the process (:func:`pose.allocator.retain_freed_memory`): every frame's
    network activations reuse the last frame's.

    ``--pose-backend auto`` that cannot use onnxruntime (it fails to load or export) warns and
    runs the network with PyTorch. ``--pose-model none`` loads no pose network: the boxes are
    tracked alone (``Components.keypoint_set`` is None). ``pose_layout`` (a joint layout name):
    no pose network is loaded; every frame's poses, in that layout, are given to the pipeline
    (an oracle)."""
    device = pick_device(args.device)
    if pose_layout is not None:
        return _components_without_pose(args, device, pose_layout, fps, use_detector)
    check_tracker_options(args)
    estimator, layout, backend, weights = None, "coco", "torch", None
    if pose_tracking(args):
        backend = resolve_engine(args.pose_backend, device)
        model = load_pose_model(args.pose_model, args.pose_weights, device)
        network = model
        if backend == "cudagraph":  # captured now, so that the first frames do not wait
            network = optimize_for_inference(model, dtype=torch.float16,
                                             cuda_graphs=True).warmup()
        elif backend == "onnxruntime":
            try:
                network = onnx_network(model, device)
            except Exception as exc:
                if args.pose_backend != "auto":
                    raise
                print(f"warning: onnxruntime unavailable ({str(exc).splitlines()[0]}); running "
                      "the pose network with PyTorch (--pose-backend torch skips this attempt)",
                      file=sys.stderr)
                backend, network = "torch", model.to(device)
        # on a GPU the crops are sampled there from the uploaded frame (grid_sample)
        estimator = pose.TopDownEstimator(network, flip=not args.no_flip, device=device,
                                          crop="grid" if device.type == "cuda" else "exact")
        layout = model.preset.keypoints
        weights = getattr(getattr(model, "checkpoint", None), "path", None)
    config = tracker_config(args, layout, fps)
    tracker = PoseTracker(config, device=str(device))
    detector, det_text = _detector(args, device, use_detector, config)
    pipeline = PoseTrackingPipeline(estimator, tracker, detector, detect_every=detect_every,
                                    propagate_boxes=config.propagation > 0,
                                    timer=StageTimer())
    if estimator is None:
        description = f"{det_text}, boxes only (no pose model), {device}"
    else:
        description = (f"{det_text}, pose {args.pose_model}"
                       f"{f' ({weights.name})' if weights is not None else ''}, "
                       f"{'flip test, ' if not args.no_flip else ''}"
                       f"{'' if backend == 'torch' else backend + ', '}{device}")
    retain_freed_memory()  # from here on: what loading freed has gone back to the system
    return Components(pipeline, get_keypoint_set(layout) if estimator is not None else None,
                      description, str(device))


def _detector(args: argparse.Namespace, device: torch.device, use_detector: bool,
              config: TrackerConfig) -> tuple:
    """``(detector or None, description)``; the detector keeps boxes down to the tracker's
    ``low_box_threshold``."""
    if not use_detector:
        return None, "boxes given"
    detector = load_detector(args.detector, args.detector_weights, device,
                             config.low_box_threshold)
    return detector, f"detector {args.detector or DEFAULT_DETECTOR[device.type]}"


def _components_without_pose(args: argparse.Namespace, device: torch.device, layout: str,
                             fps: float, use_detector: bool) -> Components:
    config = tracker_config(args, layout, fps)
    detector, det_text = _detector(args, device, use_detector, config)
    pipeline = PoseTrackingPipeline(None, PoseTracker(config, device=str(device)), detector,
                                    timer=StageTimer())
    return Components(pipeline, get_keypoint_set(layout), f"{det_text}, poses given, {device}",
                      str(device))
