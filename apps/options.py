"""The command-line options of the apps and runners, and their checks before anything loads:
models (``--pose-model``, ``--detector``, ``--device``...), tracking (defaults and choices from
:class:`tracker.TrackerConfig`) and the options both apps share.
"""
from __future__ import annotations

import argparse
import os
from typing import Optional

import pose
from pose import zoo
from pose.errors import BadInputError, MissingFileError, UnknownNameError
from pose.inference import ENGINES, resolve_engine
from tracker.flow import FLOW_METHODS
from tracker.matching import MATCHERS
from tracker.similarity import SIMILARITIES
from tracker.tracker import TrackerConfig

from .models import DEFAULT_POSE_MODEL, is_local_file, pick_device, pose_tracking

def add_model_arguments(parser: argparse.ArgumentParser, detector: bool = True) -> None:
    group = parser.add_argument_group("models")
    if detector:
        group.add_argument("--detector", default=None,
                           help="person detector (default: yolox on CPU, "
                                "fasterrcnn_resnet50_fpn_v2 on CUDA; file: boxes from a "
                                "detection JSON; see docs/detectors.md)")
        group.add_argument("--detector-weights", default=None,
                           help="detector file (ONNX file, state dict or mmdet checkpoint; "
                                "with --detector file the detection JSON); default: the "
                                "published weights, downloaded once")
        group.add_argument("--box-threshold", type=float,
                           default=TrackerConfig.box_threshold,
                           help="score of a confident person box (default %(default)s); weaker "
                                f"boxes down to {TrackerConfig.low_box_threshold} only continue "
                                "tracks")
    group.add_argument("--pose-model", default=DEFAULT_POSE_MODEL,
                       help=f"published checkpoint or preset name (default {DEFAULT_POSE_MODEL}); "
                            "none: track the person boxes alone")
    group.add_argument("--pose-weights", default=None,
                       help="checkpoint path, URL or name to load into --pose-model")
    group.add_argument("--pose-backend", choices=("auto", *ENGINES), default="auto",
                       help="run the pose network with PyTorch (BN folded, channels-last), "
                            "with onnxruntime (exported to ONNX on first use, a few seconds, "
                            "then cached) or, on CUDA, as fp16 CUDA graphs (cudagraph); auto "
                            "(default): cudagraph on CUDA, onnxruntime on CPU when installed, "
                            "else PyTorch (see docs/speed.md and docs/gpu.md)")
    group.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if "
                                                      "available)")
    group.add_argument("--no-flip", action="store_true",
                       help="skip the flip test (about twice as fast, slightly less accurate)")


def add_tracker_arguments(parser: argparse.ArgumentParser, poses: bool = True) -> None:
    """The tracker's options; defaults and choices come from :class:`TrackerConfig` and the
    tracker's tables, so the command line and the API cannot disagree. ``poses=False``: only
    those that matter when tracking boxes alone."""
    defaults = TrackerConfig()
    group = parser.add_argument_group("tracking")
    similarities = tuple(SIMILARITIES) if poses else tuple(s for s in SIMILARITIES if s != "oks")
    group.add_argument("--similarity", choices=similarities, default=defaults.similarity,
                       help=f"track-detection similarity (default {defaults.similarity}: IoU, "
                            "plus OKS where there are poses)")
    group.add_argument("--matching", choices=tuple(MATCHERS), default=defaults.matching,
                       help=f"default {defaults.matching}")
    group.add_argument("--flow", choices=("none", *FLOW_METHODS), default=defaults.flow or "none",
                       help="optical flow that measures the camera's motion, which moves every "
                            f"track (default {defaults.flow or 'none'}; none: a fixed camera)")
    group.add_argument("--max-lost", type=float, default=defaults.max_lost, metavar="SECONDS",
                       help=f"how long a lost track is kept for re-identification (default "
                            f"{defaults.max_lost} s)")
    group.add_argument("--propagation", type=float, default=defaults.propagation,
                       metavar="SECONDS",
                       help="keep reporting a tracked person the detector misses, at the "
                            "predicted box (with a pose model: where it finds the person), for "
                            f"up to SECONDS (default {defaults.propagation}; 0: off)")
    if not poses:
        return
    group.add_argument("--smoothing", choices=("none", "one_euro", "kalman"),
                       default=defaults.smoothing or "none", help="of the output poses")
    group.add_argument("--min-joints", type=int, default=defaults.min_joints, metavar="N",
                       help=f"joints scoring above {defaults.joint_threshold} a pose needs to "
                            f"start a track or to confirm a propagated box (default "
                            f"{defaults.min_joints}; 0: any)")


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both apps share: models, tracking, ``--detect-every``, ``--draw-boxes``."""
    parser.add_argument("--detect-every", type=int, default=1, metavar="K",
                        help="run the detector every K frames; between, people are carried at "
                             "their predicted boxes where the pose network finds them "
                             "(default 1)")
    parser.add_argument("--draw-boxes", action="store_true", help="outline person boxes")
    add_model_arguments(parser)
    add_tracker_arguments(parser)


def parse_app_arguments(parser: argparse.ArgumentParser,
                        argv: Optional[list] = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.detect_every < 1:
        parser.error("--detect-every must be at least 1")
    if args.detect_every > 1 and not pose_tracking(args):
        parser.error("--detect-every above 1 carries people between detector frames where the "
                     "pose network finds them; with --pose-model none every frame is detected")
    return args


def check_model_options(args: argparse.Namespace, use_detector: bool = True,
                        use_pose: bool = True) -> None:
    """Checks the model options before anything is opened or loaded: known pose model and
    detector names, a usable ``--device`` and pose engine, and weights files that exist
    (``--pose-model none``: no pose model); and the tracker's options."""
    use_pose = use_pose and pose_tracking(args)
    check_tracker_options(args)
    device = pick_device(args.device)
    if use_pose:
        resolve_engine(args.pose_backend, device)  # e.g. the CUDA graph engine on a CPU
    if use_pose and not zoo.is_published(args.pose_model):
        pose.get_preset(args.pose_model)  # KeyError listing the known names
    for flag, source, used in (("--pose-weights", args.pose_weights, use_pose),
                               ("--detector-weights", getattr(args, "detector_weights", None),
                                use_detector)):
        if used and is_local_file(source) and not os.path.isfile(source):
            raise MissingFileError(f"{flag} {source}: no such file")
    if use_detector and getattr(args, "detector", None) is not None:
        import detectors

        if args.detector not in detectors.list_detectors():
            raise UnknownNameError(f"--detector {args.detector}: unknown; known: "
                                   f"{', '.join(detectors.list_detectors())}")
        if args.detector == "file" and not getattr(args, "detector_weights", None):
            raise BadInputError("--detector file reads the boxes of a detection JSON: pass it "
                                "with --detector-weights PATH")


def check_tracker_options(args: argparse.Namespace) -> None:
    """Option combinations that cannot work, found before anything loads."""
    if not pose_tracking(args):
        if args.similarity == "oks":
            raise BadInputError("--similarity oks compares poses; with --pose-model none use iou "
                                "or both (both: IoU where there are no poses)")
        if getattr(args, "pose_weights", None):
            raise BadInputError("--pose-weights given with --pose-model none: name the pose "
                                "model, or drop --pose-weights to track boxes alone")
    tracker_config(args)


def tracker_config(args: argparse.Namespace, keypoints: str = "coco",
                   fps: float = 30.0) -> TrackerConfig:
    """The :class:`TrackerConfig` of the options (``--box-threshold`` is the confident-detection
    threshold; checked here, before anything loads)."""
    default = TrackerConfig()
    smoothing = getattr(args, "smoothing", "none")
    fields = dict(similarity=args.similarity, matching=args.matching,
                  flow=None if args.flow == "none" else args.flow, max_lost=args.max_lost,
                  min_joints=getattr(args, "min_joints", default.min_joints),
                  propagation=args.propagation,
                  smoothing=None if smoothing in (None, "none") else smoothing,
                  keypoints=keypoints, fps=fps)
    if getattr(args, "box_threshold", None) is not None:
        margin = default.new_track_threshold - default.box_threshold  # ByteTrack's 0.1
        fields.update(box_threshold=args.box_threshold,
                      low_box_threshold=min(default.low_box_threshold, args.box_threshold),
                      new_track_threshold=args.box_threshold + margin)
        if hasattr(args, "new_track_threshold"):  # None: every confident box may start one
            fields["new_track_threshold"] = (args.new_track_threshold
                                             if args.new_track_threshold is not None
                                             else args.box_threshold)
    config = TrackerConfig(**fields)
    try:
        config.check()
    except ValueError as exc:
        raise BadInputError(f"tracker options: {exc}") from None
    return config


def model_files(args: argparse.Namespace) -> list:
    """``(option, path)`` of the local weights files the options name (inputs an output must
    never overwrite)."""
    return [(flag, source) for flag, source in
            (("--pose-weights", args.pose_weights),
             ("--detector-weights", getattr(args, "detector_weights", None)))
            if is_local_file(source)]
