"""Choosing and loading the detector, pose network and tracker from command-line options.

Shared by ``apps/track_video.py``, ``apps/webcam.py`` and the PoseTrack18 runner so that every
entry point offers the same options with the same defaults:

- pose network: the published PoseTrack18 HRNet-W32 256x192 checkpoint
  (``hrnet_w32_posetrack18_256x192``, mmpose; PoseTrack18 val 83.0 mAP with GT boxes);
- detector: on CPU the published YOLOX-nano HumanArt ONNX export (about 30 ms a frame on two
  cores; a COCO-trained R-50 detector takes seconds per frame there), on CUDA torchvision's
  Faster R-CNN R50-FPN v2 (46.7 box AP, fast on a GPU).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Optional

import torch

import pose
from pose import zoo
from pose.allocator import retain_freed_memory
from pose.inference import ENGINES, optimize_for_inference, resolve_engine
from pose.checkpoints import CheckpointDownloadError, resolve_checkpoint
from pose.errors import (BadInputError, MissingFileError, MissingPackageError, MissingWeightsError,
                         UnknownNameError)
from pose.keypoints import KeypointSet, get_keypoint_set
from tracker.flow import FLOW_METHODS
from tracker.matching import MATCHERS
from tracker.similarity import SIMILARITIES
from tracker.tracker import PoseTracker, TrackerConfig

from .pipeline import PoseTrackingPipeline, StageTimer

DEFAULT_POSE_MODEL = "hrnet_w32_posetrack18_256x192"
DEFAULT_DETECTOR = {"cpu": "yolox", "cuda": "fasterrcnn_resnet50_fpn_v2"}


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
        if zoo.has_checkpoint(name):
            entry = zoo.get_checkpoint(name)
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
    except CheckpointDownloadError as exc:
        raise download_error(exc, "--pose-weights") from None
    return model.to(device).eval()


def onnx_network(model: torch.nn.Module, device: torch.device):
    """``model`` exported to ONNX (BN folded; cached by weights, see
    :meth:`pose.onnx_runtime.OnnxPoseModel.from_torch`) and loaded in onnxruntime on ``device``
    (CPU with as many threads as torch uses, or CUDA), as
    :class:`pose.onnx_runtime.OnnxPoseModel` (the estimator's network API)."""
    try:
        import onnxruntime

        from pose.onnx_runtime import OnnxPoseModel
    except ImportError as exc:
        raise MissingPackageError(f"--pose-backend onnxruntime needs onnx and onnxruntime "
                                  f"({exc}): pip install -e \".[onnx]\"") from None
    if device.type == "cpu":
        providers = ["CPUExecutionProvider"]
    elif "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers = ["CUDAExecutionProvider"]
    else:
        raise BadInputError(f"--pose-backend onnxruntime on {device} needs onnxruntime with "
                            "CUDA (pip install onnxruntime-gpu); or use --pose-backend torch")
    return OnnxPoseModel.from_torch(model.cpu(), exporter="torchscript", cache=True,
                                    threads=torch.get_num_threads(), providers=providers)


def download_error(exc: Exception, flag: str) -> MissingWeightsError:
    """A failed download as one line that also names the option taking a local copy."""
    text = " ".join(str(exc).split("\n"))
    if flag not in text:
        text += f" Then run with {flag} PATH (the downloaded file)."
    return MissingWeightsError(text)


def _is_local_file(source: Optional[str]) -> bool:
    """A weights option that names a file (not a zoo name, URL or keyword)."""
    if not source or "://" in source or source in ("random", "default"):
        return False
    return not zoo.has_checkpoint(source) and (os.sep in source or "." in source
                                               or os.path.exists(source))


def check_model_options(args: argparse.Namespace, use_detector: bool = True,
                        use_pose: bool = True) -> None:
    """Checks the model options before anything is opened or loaded: known pose model and
    detector names, a usable ``--device`` and pose engine, and weights files that exist (``--pose-model none``:
    no pose model); and the tracker's options."""
    use_pose = use_pose and pose_tracking(args)
    check_tracker_options(args)
    device = pick_device(args.device)
    if use_pose:
        resolve_engine(args.pose_backend, device)  # e.g. the CUDA graph engine on a CPU
    if use_pose and not zoo.has_checkpoint(args.pose_model):
        pose.get_preset(args.pose_model)  # KeyError listing the known names
    for flag, source, used in (("--pose-weights", args.pose_weights, use_pose),
                               ("--detector-weights", getattr(args, "detector_weights", None),
                                use_detector)):
        if used and _is_local_file(source) and not os.path.isfile(source):
            raise MissingFileError(f"{flag} {source}: no such file")
    if use_detector and getattr(args, "detector", None) is not None:
        import detectors

        if args.detector not in detectors.list_detectors():
            raise UnknownNameError(f"--detector {args.detector}: unknown; known: "
                           f"{', '.join(detectors.list_detectors())}")


def model_files(args: argparse.Namespace) -> list:
    """``(option, path)`` of the local weights files the options name (inputs an output must
    never overwrite)."""
    return [(flag, source) for flag, source in
            (("--pose-weights", args.pose_weights),
             ("--detector-weights", getattr(args, "detector_weights", None)))
            if _is_local_file(source)]


def fetch_model_files(args: argparse.Namespace, use_detector: bool = True,
                      use_pose: bool = True) -> None:
    """Downloads (once) every published file the options need, and reports all that cannot be
    fetched together, each with where to put it, instead of one per run."""
    import detectors
    from detectors.published import DetectorDownloadError

    device = pick_device(args.device)
    problems = []
    use_pose = use_pose and pose_tracking(args)
    if not use_pose:
        source = None
    elif zoo.has_checkpoint(args.pose_model) and args.pose_weights is None:
        source = args.pose_model
    else:
        source = args.pose_weights or pose.get_preset(args.pose_model).default_weights
    if source is not None:
        try:
            resolve_checkpoint(source)
        except CheckpointDownloadError as exc:
            problems.append(download_error(exc, "--pose-weights"))
    if use_detector:
        try:
            detectors.fetch_weights(args.detector or DEFAULT_DETECTOR[device.type],
                                    args.detector_weights)
        except (CheckpointDownloadError, DetectorDownloadError) as exc:
            problems.append(download_error(exc, "--detector-weights"))
    if problems:  # one "error:" line per missing file
        raise MissingWeightsError("\nerror: ".join(str(p) for p in problems))


def load_detector(name: Optional[str], weights: Optional[str], device: torch.device,
                  score_threshold: Optional[float] = None, **kwargs):
    import detectors
    from detectors.published import DetectorDownloadError

    name = name or DEFAULT_DETECTOR[device.type]
    try:
        return detectors.build_detector(name, weights=weights, device=str(device),
                                        score_threshold=score_threshold, **kwargs)
    except (CheckpointDownloadError, DetectorDownloadError) as exc:
        raise download_error(exc, "--detector-weights") from None


def add_model_arguments(parser: argparse.ArgumentParser, detector: bool = True) -> None:
    group = parser.add_argument_group("models")
    if detector:
        group.add_argument("--detector", default=None,
                           help="person detector (default: yolox on CPU, "
                                "fasterrcnn_resnet50_fpn_v2 on CUDA; see README)")
        group.add_argument("--detector-weights", default=None,
                           help="detector file (ONNX file, state dict or mmdet checkpoint); "
                                "default: the published weights, downloaded once")
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
                            "else PyTorch (see docs/gpu.md and README's Speed)")
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


@dataclass
class Components:
    pipeline: PoseTrackingPipeline
    keypoint_set: Optional[KeypointSet]  # None when tracking boxes alone
    description: str


def layout_name(components: Components) -> Optional[str]:
    """The joint layout's name of the poses (None when tracking boxes alone)."""
    return components.keypoint_set.name if components.keypoint_set is not None else None


def pose_tracking(args: argparse.Namespace) -> bool:
    """Whether the options ask for a pose network (``--pose-model none``: boxes only)."""
    return str(args.pose_model).lower() != "none"


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
                      description)


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
    return Components(pipeline, get_keypoint_set(layout), f"{det_text}, poses given, {device}")

