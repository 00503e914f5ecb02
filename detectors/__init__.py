"""Per-frame person detectors behind one interface.

>>> import detectors
>>> det = detectors.build_detector("yolox", weights="yolox_nano_8xb8-300e_humanart.onnx")
>>> boxes = det.detect([rgb_frame])[0]     # float32 [N, 5]: x1, y1, x2, y2, score (pixels)

Names: ``yolox`` / ``rtmdet`` (ONNX files, extra ``onnx``; on a GPU without onnxruntime's CUDA
build, YOLOX files run in PyTorch, :mod:`detectors.torch_yolox`), ``cascade_rcnn`` (mmdet's Cascade
R-CNN X-101-64x4d-FPN on torchvision ops), the torchvision detectors (``fasterrcnn_resnet50_fpn``,
``..._v2``, ``fasterrcnn_mobilenet_v3_large_fpn``, ``retinanet_resnet50_fpn(_v2)``,
``fcos_resnet50_fpn``, ``ssdlite320_mobilenet_v3_large``, ``keypointrcnn_resnet50_fpn``) and
``file`` (precomputed detections).

Dependencies: detectors use pose's low-level utilities (reading and downloading weights files,
CUDA graphs, COCO detection files); pose never imports detectors, and detectors never import
tracker, apps or benchmarks.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from .base import Detector, as_boxes

ONNX_NAMES = ("yolox", "rtmdet")
ONNX_ENGINES = ("auto", "onnxruntime", "torch")


def list_detectors() -> List[str]:
    from .torchvision_detectors import MODELS

    return list(ONNX_NAMES) + ["cascade_rcnn"] + list(MODELS) + ["file"]


def fetch_weights(name: str, weights: Optional[str] = None, progress: bool = True
                  ) -> Optional[Path]:
    """The local weights file :func:`build_detector` ``(name, weights)`` will read, downloaded
    (once) when it is a published one; None when there is none (``"random"`` weights, and the
    ``file`` detector, which reads detections instead).

    Raises:
        KeyError: unknown detector name.
        pose.errors.MissingWeightsError: a published file that could not be downloaded (the
            message says where to put it).
    """
    if name in ONNX_NAMES:
        from .published import DEFAULT_CPU, PUBLISHED, fetch_published_onnx

        weights = weights or (DEFAULT_CPU if name == "yolox" else None)
        if weights in PUBLISHED:
            return fetch_published_onnx(weights, progress)
        return Path(weights) if weights else None
    if name == "cascade_rcnn":
        from .cascade_rcnn import DEFAULT_WEIGHTS, resolve_weights

        return None if weights == "random" else resolve_weights(weights or DEFAULT_WEIGHTS,
                                                                progress)
    if name == "file":
        return None
    from .torchvision_detectors import MODELS

    if name not in MODELS:
        raise KeyError(f"unknown detector {name!r}; known: {', '.join(list_detectors())}")
    if weights in (None, "default"):
        from pose.downloads import fetch_to_cache

        return fetch_to_cache(MODELS[name][1].DEFAULT.url, progress=progress)
    return None if weights == "random" else Path(weights)


def build_detector(name: str, weights: Optional[str] = None, device: str = "cpu",
                   score_threshold: Optional[float] = None, *,
                   detections: Optional[str] = None, **kwargs) -> Detector:
    """A person detector.

    Args:
        name: see :func:`list_detectors`.
        weights: ONNX: the ``.onnx`` file or a published name (:mod:`detectors.published`;
            ``yolox`` defaults to the published YOLOX-nano HumanArt file); torchvision: ``None``
            for the published COCO weights (downloaded once), ``"random"``, or a state-dict
            file; cascade_rcnn: an mmdet checkpoint path/URL/zoo name (``None``: the
            published X-101-64x4d 20e file, ``"random"``: untrained); file: none.
        device: ``"cpu"`` or ``"cuda"``.
        score_threshold: minimum person score (default 0.5; 0.0 for ``file``).
        detections: the ``file`` detector's detection JSON (COCO results format,
            :class:`detectors.from_file.FileDetector`).
        **kwargs: backend options (``tiles`` for ONNX, ``images`` for file, ``batch_size``...).
            ONNX files also take ``engine``: ``"onnxruntime"``, ``"torch"``
            (:class:`detectors.torch_yolox.TorchYoloxDetector`) or ``"auto"`` (default: torch on
            CUDA when onnxruntime has no CUDA provider and the file is a YOLOX export it can
            run, else onnxruntime).
    """
    if score_threshold is None:
        score_threshold = 0.0 if name == "file" else 0.5
    if detections is not None and name != "file":
        raise ValueError(f"detections= is for the file detector, not {name}")
    if name in ONNX_NAMES:
        from .published import DEFAULT_CPU, PUBLISHED, fetch_published_onnx

        if weights is None and name == "yolox":
            weights = DEFAULT_CPU
        if weights is None:
            raise ValueError(f"the {name} detector needs its ONNX file: pass weights=PATH "
                             "(--detector-weights), e.g. an rtmlib/mmdeploy export")
        if weights in PUBLISHED:
            weights = str(fetch_published_onnx(weights))
        return _onnx_detector(weights, score_threshold, device, **kwargs)
    if name == "cascade_rcnn":
        import warnings

        from .cascade_rcnn import DEFAULT_WEIGHTS, CascadeRCNNDetector

        if weights == "random":  # explicit: untrained, for tests and speed measurements
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return CascadeRCNNDetector(weights=None, device=device,
                                           score_threshold=score_threshold, **kwargs)
        return CascadeRCNNDetector(weights=weights or DEFAULT_WEIGHTS, device=device,
                                   score_threshold=score_threshold, **kwargs)
    if name == "file":
        if weights is not None or detections is None:
            raise ValueError("the file detector reads a detection JSON, not weights: pass "
                             "detections=PATH")
        from .from_file import FileDetector

        return FileDetector(detections, score_threshold=score_threshold, **kwargs)
    from .torchvision_detectors import MODELS, TorchvisionDetector

    if name in MODELS:
        return TorchvisionDetector(name, "default" if weights is None else weights, device,
                                   score_threshold, **kwargs)
    raise KeyError(f"unknown detector {name!r}; known: {', '.join(list_detectors())}")


def _onnx_detector(weights: str, score_threshold: float, device: str, engine: str = "auto",
                   **kwargs) -> Detector:
    """The ONNX file's detector on the engine ``engine`` chooses (see :func:`build_detector`)."""
    if engine not in ONNX_ENGINES:
        raise ValueError(f"engine must be one of {ONNX_ENGINES}, got {engine!r}")
    if engine == "auto":
        from pose.onnx_session import has_cuda_provider

        on_gpu = str(device).startswith("cuda")
        engine = "torch" if on_gpu and not has_cuda_provider() else "onnxruntime"
        if engine == "torch":
            from .torch_yolox import TorchYoloxDetector

            try:
                return TorchYoloxDetector(weights, score_threshold=score_threshold,
                                          device=device, **kwargs)
            except (ValueError, ImportError) as exc:  # not a YOLOX file it can run
                import warnings

                warnings.warn(f"running {weights} with onnxruntime on the CPU: {exc}")
                engine = "onnxruntime"
    if engine == "torch":
        from .torch_yolox import TorchYoloxDetector

        return TorchYoloxDetector(weights, score_threshold=score_threshold, device=device,
                                  **kwargs)
    from .onnx_yolox import OnnxYoloxDetector

    return OnnxYoloxDetector(weights, score_threshold=score_threshold, device=device, **kwargs)


__all__ = ["Detector", "as_boxes", "build_detector", "fetch_weights", "list_detectors"]
