"""Cascade R-CNN person detector: mmdetection 2.x's ``cascade_rcnn_*_fpn`` models in PyTorch.

A reimplementation on ``torchvision.ops`` (no mmcv / mmdet needed) of the network and the
single-image test-time algorithm of mmdetection 2.x (as of 2.28) for
``configs/cascade_rcnn/cascade_rcnn_x101_64x4d_fpn_{1x,20e}_coco.py`` -- the detector whose boxes
the PoseTrack18 literature used. mmdet's published checkpoints load one to one (same
``state_dict`` keys, shapes and order) and give mmdet's boxes: on seeded random weights, the
outputs of all 80 classes were identical (difference 0.0, same order) to those of mmdet 2.28.2's
``inference_detector`` with mmcv 1.7.2 (its NMS; torchvision's RoIAlign), for the full
X-101-64x4d model and for small ones (see ``tests/test_cascade_rcnn.py``).

Test-time steps (``CascadeRCNNConfig`` holds every number):

1. **Resize** keeping the aspect ratio to fit ``img_scale`` = (1333, 800) (long edge <= 1333, short
   edge <= 800): factor ``min(1333 / long, 800 / short)``, new size ``int(side * factor + 0.5)``,
   ``cv2.resize`` bilinear on the uint8 frame. ``scale_factor = (new_w / w, new_h / h)``.
2. **Normalise** RGB with ImageNet mean/std in 0-255 units (mmdet's ``to_rgb=True`` on BGR input;
   frames here are already RGB) with mmcv's ``imnormalize`` operations (:func:`normalize`), then
   **pad** bottom/right with zeros to a multiple of 32.
3. **Backbone** ResNet/ResNeXt (pytorch style: stride on the 3x3 conv), **FPN** with 5 outputs
   (nearest upsampling, extra level by 1x1 max-pool with stride 2).
4. **RPN**: 3 anchors per location (ratios h/w 0.5, 1, 2; size 8 x stride; strides 4..64; anchor
   centres on ``(x * stride, y * stride)``, i.e. centre offset 0), sigmoid objectness, the 1000
   best per level, deltas decoded (stds 1), clipped to the resized image, zero-size boxes dropped,
   NMS 0.7 within each level, the 1000 best kept.
5. **Three cascade stages**: RoIAlign 7x7 (``aligned=True``, adaptive sampling) from the level
   ``floor(log2(sqrt(area) / 56 + 1e-6))`` clamped to P2..P5, two shared FC layers (1024), 81 logits
   (80 COCO classes + background last) and 4 class-agnostic deltas with stds (0.1, 0.1, 0.2, 0.2),
   (0.05, 0.05, 0.1, 0.1), (0.033, 0.033, 0.067, 0.067). Stages 1 and 2 refine the boxes (clipped).
6. **Scores** = softmax of the *mean of the three stages' logits* (mmdet averages the raw
   ``cls_score`` of the stages and applies softmax once); boxes = last stage's deltas applied to its
   input boxes, clipped, divided by ``scale_factor`` (back to frame pixels).
7. **Per-class NMS** 0.5 over all (box, class) pairs scoring > 0.05, the 100 best over all classes
   kept; :class:`CascadeRCNNDetector` then returns the person (COCO class 0) ones.

Boxes are ``x1, y1, x2, y2`` in pixels, continuous coordinates (a box covering pixel columns 0..9
has ``x2 = 10``), as mmdet 2.x (no +1 conventions).

NMS reproduces mmcv's ``batched_nms``: the groups are separated by mmcv's coordinate offset
``group * (max coordinate + 1)`` and one ``torchvision.ops.nms`` runs on the offset boxes (IoUs
from the very same float32 numbers), visiting boxes in ``torch.sort`` order as mmcv's CPU kernel
does, so that even exact score ties resolve alike (mmcv's CUDA kernel may order ties otherwise).

Frames of one padded size go through the network together (``batch_size`` per forward pass);
frames of different sizes are never padded to a common size, so every frame gets exactly the boxes
mmdet's single-image test gives it (bigger padding would change the features near the borders).

Modules: :mod:`.model` (configuration and network), :mod:`.boxes` (box decoding, anchors, NMS),
:mod:`.weights` (mmdet's published checkpoints and loading them), :mod:`.detector` (frame
pre-processing and :class:`CascadeRCNNDetector`).
"""
from .boxes import batched_nms, decode_boxes, grid_anchors
from .detector import (PERSON, CascadeRCNNDetector, normalize, padded_size, preprocess,
                       resize_frame, resized_size)
from .model import CONFIGS, CascadeRCNN, CascadeRCNNConfig, get_config
from .weights import (DEFAULT_WEIGHTS, MMDET_ZOO, PublishedCascadeWeights, load_mmdet_checkpoint,
                      resolve_weights)

__all__ = ["CascadeRCNNDetector", "CascadeRCNN", "CascadeRCNNConfig", "CONFIGS", "get_config",
           "DEFAULT_WEIGHTS", "MMDET_ZOO", "PublishedCascadeWeights", "load_mmdet_checkpoint",
           "resolve_weights",
           "preprocess", "padded_size", "resized_size", "resize_frame", "normalize", "PERSON",
           "decode_boxes", "grid_anchors", "batched_nms"]
