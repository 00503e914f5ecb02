"""The YOLOX ONNX person detectors run by PyTorch: on a GPU without onnxruntime's CUDA build.

``onnxruntime-gpu`` is a large install that many GPU machines lack; with the CPU build the
detector would run on the CPU beside a GPU. Here the same ``.onnx`` file runs in PyTorch: the
weights are the file's initializers and the wiring its nodes (read with the ``onnx`` package), so
the detections are those of the file, not of a re-implementation with other weights.

:class:`OnnxConvNet` runs the convolutional part of an ONNX graph (the operations a YOLOX export
is made of: convolutions with BatchNorm folded in, SiLU written as ``x * sigmoid(x)``,
max-pooling, nearest upsampling, concatenation, the Focus stem's slicing or reshaping) with torch
operations, up to chosen tensors. :class:`TorchYolox` takes the head's nine final convolutions,
found by their names (mmdet's ``bbox_head.multi_level_conv_{cls,reg,obj}.{level}``, Megvii's
``head.{cls,reg,obj}_preds.{level}``), and decodes them as YOLOX does: for the cell at column x,
row y of a level of stride s, centre ``= offset * s + (x, y) * s``, size ``= exp(log size) * s``,
person score ``= sigmoid(class 0) * sigmoid(objectness)``. :class:`TorchYoloxDetector` adds the
letterbox of :mod:`detectors.onnx_yolox`, NMS (the end-to-end export's own IoU threshold, score
floor and box limits, read from its ``NonMaxSuppression`` node; Megvii's: IoU 0.45), tiling,
fp16 and CUDA graphs (:mod:`pose.cuda_graphs`).

Checked against onnxruntime on the shared YOLOX-nano files (``tests/test_torch_yolox.py``).
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import nms

from pose.cuda_graphs import BucketedGraphs

from .base import Detector, as_boxes
from .onnx_yolox import boxes_to_frame, letterbox
from .tiling import auto_grid, detect_tiled

HEAD_NAMES = (re.compile(r"bbox_head\.multi_level_conv_(cls|reg|obj)\.(\d+)\.weight$"),
              re.compile(r"head\.(cls|reg|obj)_preds\.(\d+)\.weight$"))
KEEP_TOP_K = 100  # mmdeploy's detections per image after NMS (its post-processing default)
BUCKETS = (1, 2, 4, 8)  # a frame and its tiles run as one batch


def _attributes(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pairs(pads: Sequence[int], name: str) -> Tuple[int, ...]:
    """ONNX pads ``[begin..., end...]`` -> symmetric per-axis padding."""
    half = len(pads) // 2
    if list(pads[:half]) != list(pads[half:]):
        raise ValueError(f"asymmetric {name} padding {list(pads)} is not supported")
    return tuple(pads[:half])


class OnnxConvNet(nn.Module):
    """The part of an ONNX graph that computes ``outputs`` (tensor names), as torch operations.

    Tensor inputs that are initializers become buffers (so ``.to(device, dtype)`` moves and
    converts them); shape-like inputs (Reshape shapes, Resize scales, Slice bounds) are read
    once as constants. A Reshape whose constant target shape starts with 1 keeps the input's
    batch size there (exports fix the batch size to 1). ``forward(x)`` -> tuple of the
    ``outputs``. Unsupported operations raise ``ValueError`` naming them.
    """

    OPS = ("Conv", "Sigmoid", "Mul", "Add", "Sub", "Div", "Relu", "Concat", "MaxPool", "Resize",
           "Reshape", "Transpose", "Slice", "Identity")

    def __init__(self, graph, outputs: Sequence[str]) -> None:
        super().__init__()
        from onnx import numpy_helper

        constants: Dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t)
                                            for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                constants[node.output[0]] = numpy_helper.to_array(_attributes(node)["value"])
        producer = {out: node for node in graph.node for out in node.output}
        graph_inputs = [i.name for i in graph.input if i.name not in constants]
        if len(graph_inputs) != 1:
            raise ValueError(f"expected one image input, found {graph_inputs}")
        self.input_name = graph_inputs[0]
        needed, stack = set(), list(outputs)
        while stack:  # the nodes the outputs depend on
            name = stack.pop()
            node = producer.get(name)
            if node is None or node.op_type == "Constant" or id(node) in needed:
                continue
            needed.add(id(node))
            stack.extend(node.input)
        self.outputs = tuple(outputs)
        self.steps: List[tuple] = []
        self._buffer_of: Dict[str, str] = {}
        for node in graph.node:
            if id(node) in needed:
                self.steps.append(self._step(node, constants))

    def _tensor(self, name: str, constants: Dict[str, np.ndarray]) -> str:
        """A constant tensor input as a buffer (registered once); returns its buffer name."""
        if name not in self._buffer_of:
            buffer = f"c{len(self._buffer_of)}"
            self.register_buffer(buffer, torch.from_numpy(np.array(constants[name])))
            self._buffer_of[name] = buffer
        return self._buffer_of[name]

    def _step(self, node, constants: Dict[str, np.ndarray]) -> tuple:
        op, attrs = node.op_type, _attributes(node)
        if op not in self.OPS:
            raise ValueError(f"the ONNX operation {op} ({node.name}) is not supported by the "
                             "PyTorch runner; run this file with onnxruntime")
        inputs = list(node.input)
        params: dict = {}
        if op in ("Reshape", "Resize", "Slice"):  # shape-like inputs are read once
            data = inputs[0]
            if any(n and n not in constants for n in inputs[1:]):
                raise ValueError(f"{op} {node.name} has computed parameters; run this file "
                                 "with onnxruntime")
            values = [np.array(constants[n]) if n else None for n in inputs[1:]]
            if op == "Reshape":
                params["shape"] = [int(v) for v in values[0]]
            elif op == "Slice":
                if not values:  # opset < 10: the bounds are attributes
                    values = [np.array(attrs[k]) if k in attrs else None
                              for k in ("starts", "ends", "axes")]
                starts, ends = values[0].tolist(), values[1].tolist()
                axes = values[2].tolist() if len(values) > 2 and values[2] is not None \
                    else list(range(len(starts)))
                steps = values[3].tolist() if len(values) > 3 and values[3] is not None \
                    else [1] * len(starts)
                params["slices"] = list(zip(axes, starts, ends, steps))
            else:
                if attrs.get("mode", b"nearest") != b"nearest" or \
                        attrs.get("coordinate_transformation_mode") == b"align_corners":
                    raise ValueError(f"Resize {node.name}: only nearest upsampling is supported")
                # opset 10: (X, scales); 11 and later: (X, roi, scales[, sizes])
                scales = values[0] if len(values) == 1 else values[1] if len(values) > 1 \
                    else None
                if scales is None or scales.size == 0:
                    raise ValueError(f"Resize {node.name} needs constant scales")
                if list(scales[:2]) != [1, 1] or any(s != int(s) or s < 1 for s in scales[2:]):
                    raise ValueError(f"Resize {node.name}: only integer spatial scales are "
                                     f"supported, got {scales.tolist()}")
                params["scale"] = tuple(int(s) for s in scales[2:])
            inputs = [data]
        elif op == "Conv":
            params = {"stride": tuple(attrs.get("strides", (1, 1))),
                      "padding": _pairs(attrs.get("pads", (0, 0, 0, 0)), "convolution"),
                      "dilation": tuple(attrs.get("dilations", (1, 1))),
                      "groups": int(attrs.get("group", 1))}
        elif op == "MaxPool":
            if attrs.get("ceil_mode", 0):
                raise ValueError(f"MaxPool {node.name}: ceil_mode is not supported")
            kernel = tuple(attrs["kernel_shape"])
            params = {"kernel_size": kernel, "stride": tuple(attrs.get("strides", kernel)),
                      "padding": _pairs(attrs.get("pads", (0,) * 2 * len(kernel)), "pooling")}
        elif op == "Concat":
            params = {"axis": int(attrs["axis"])}
        elif op == "Transpose":
            params = {"perm": tuple(attrs["perm"])}
        sources = [("buffer", self._tensor(n, constants)) if n in constants else ("value", n)
                   for n in inputs]
        return op, sources, node.output[0], params

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        values: Dict[str, torch.Tensor] = {self.input_name: x}
        buffers = dict(self.named_buffers())
        for op, sources, output, p in self.steps:
            args = [buffers[name] if kind == "buffer" else values[name] for kind, name in sources]
            a = args[0]
            if op == "Conv":
                out = F.conv2d(a, args[1], args[2] if len(args) > 2 else None, p["stride"],
                               p["padding"], p["dilation"], p["groups"])
            elif op == "Sigmoid":
                out = torch.sigmoid(a)
            elif op == "Relu":
                out = torch.relu(a)
            elif op == "Mul":
                out = a * args[1]
            elif op == "Add":
                out = a + args[1]
            elif op == "Sub":
                out = a - args[1]
            elif op == "Div":
                out = a / args[1]
            elif op == "Concat":
                out = torch.cat(args, dim=p["axis"])
            elif op == "MaxPool":
                out = F.max_pool2d(a, p["kernel_size"], p["stride"], p["padding"])
            elif op == "Resize":
                out = F.interpolate(a, scale_factor=p["scale"], mode="nearest")
            elif op == "Reshape":
                shape = list(p["shape"])
                if shape and shape[0] == 1:
                    shape[0] = a.shape[0]
                out = a.reshape(shape)
            elif op == "Transpose":
                out = a.permute(p["perm"])
            elif op == "Slice":
                index = [slice(None)] * a.dim()
                for axis, start, end, step in p["slices"]:
                    size = a.shape[axis]
                    index[axis] = slice(max(-size, min(start, size)), max(-size, min(end, size)),
                                        step)
                out = a[tuple(index)]
            else:  # Identity
                out = a
            values[output] = out
        return tuple(values[name] for name in self.outputs)


def _head_outputs(graph) -> Tuple[List[Tuple[str, str, str]], int]:
    """The head's ``(cls, reg, obj)`` output names per level, and which naming matched
    (0: mmdet / mmdeploy end-to-end, 1: Megvii)."""
    for style, pattern in enumerate(HEAD_NAMES):
        found: Dict[Tuple[int, str], str] = {}
        for node in graph.node:
            if node.op_type == "Conv" and len(node.input) > 1:
                match = pattern.search(node.input[1])
                if match:
                    found[(int(match.group(2)), match.group(1))] = node.output[0]
        levels = sorted({level for level, _ in found})
        if found and levels == list(range(len(levels))) \
                and all((lv, k) in found for lv in levels for k in ("cls", "reg", "obj")):
            return [tuple(found[(lv, k)] for k in ("cls", "reg", "obj")) for lv in levels], style
    raise ValueError("no YOLOX head found (convolutions named bbox_head.multi_level_conv_"
                     "{cls,reg,obj}.N or head.{cls,reg,obj}_preds.N); run this file with "
                     "onnxruntime")


class TorchYolox(nn.Module):
    """A YOLOX ONNX file as a PyTorch module: ``forward(x [B, 3, H, W])`` (BGR, 0-255, the
    file's input size) -> ``[B, A, 5]`` float32: x1, y1, x2, y2 (input pixels) and the person
    score of every cell of every level (A = 3549 for 416x416).

    Attributes: ``input_size`` ``(H, W)``; ``end_to_end`` (an mmdeploy export, whose NMS
    settings are ``nms_iou``, ``nms_score``, ``nms_max_boxes``; else Megvii's raw export);
    ``person_class`` (0).
    """

    def __init__(self, path: Union[str, Path]) -> None:
        super().__init__()
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError:
            raise ImportError("running an ONNX detector with PyTorch needs the onnx package: "
                              "pip install -e \".[onnx]\"") from None
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX detector file not found: {path}")
        try:
            model = onnx.load(str(path))
        except Exception as exc:  # noqa: BLE001 - protobuf raises several types
            raise ValueError(f"{path} is not a loadable ONNX model ({exc})") from None
        graph = model.graph
        heads, style = _head_outputs(graph)
        self.end_to_end = style == 0
        self.person_class = 0
        self.net = OnnxConvNet(graph, [name for level in heads for name in level])
        shape = next(i for i in graph.input if i.name == self.net.input_name)
        dims = [d.dim_value for d in shape.type.tensor_type.shape.dim]
        if len(dims) != 4 or dims[1] != 3 or not dims[2] or not dims[3]:
            raise ValueError(f"{path}: expected a fixed image input [1, 3, H, W], got {dims}")
        self.input_size = (int(dims[2]), int(dims[3]))
        self.levels = len(heads)
        self.nms_iou, self.nms_score, self.nms_max_boxes = 0.45, 0.0, None
        if self.end_to_end:
            constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
            for node in graph.node:
                if node.op_type == "Constant":
                    constants[node.output[0]] = numpy_helper.to_array(
                        _attributes(node)["value"])
            node = next((n for n in graph.node if n.op_type == "NonMaxSuppression"), None)
            if node is None:
                raise ValueError(f"{path}: an end-to-end export without NonMaxSuppression")
            value = [float(np.array(constants[n]).reshape(-1)[0]) if n in constants else None
                     for n in list(node.input[2:5]) + [""] * (3 - len(node.input[2:5]))]
            self.nms_max_boxes = int(value[0]) if value[0] else None
            self.nms_iou = value[1] if value[1] is not None else 0.0
            self.nms_score = value[2] if value[2] is not None else 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = self.net(x)
        rows = []
        for level in range(self.levels):
            cls, reg, obj = outs[3 * level:3 * level + 3]
            b, _, h, w = cls.shape
            stride = x.shape[2] // h
            ys, xs = torch.meshgrid(torch.arange(h, device=x.device),
                                    torch.arange(w, device=x.device), indexing="ij")
            prior = torch.stack([xs, ys], dim=-1).reshape(1, h * w, 2).float() * stride
            reg = reg.float().permute(0, 2, 3, 1).reshape(b, h * w, 4)
            centre = reg[..., :2] * stride + prior
            half = reg[..., 2:].exp() * stride / 2
            score = (torch.sigmoid(cls[:, self.person_class].float())
                     * torch.sigmoid(obj[:, 0].float())).reshape(b, h * w, 1)
            rows.append(torch.cat([centre - half, centre + half, score], dim=2))
        return torch.cat(rows, dim=1)

    def select(self, dets: torch.Tensor, score_threshold: float) -> torch.Tensor:
        """The person boxes ``[M, 5]`` one image keeps from its ``[A, 5]`` rows: score floor,
        NMS and box limits as the file's export (mmdeploy: strictly above its floor, then at
        most ``nms_max_boxes`` and :data:`KEEP_TOP_K`), then ``score_threshold``; best first."""
        keep = dets[:, 4] > self.nms_score
        keep &= dets[:, 4] >= score_threshold
        dets = dets[keep]
        if len(dets):
            dets = dets[nms(dets[:, :4], dets[:, 4], self.nms_iou)]
            if self.end_to_end:
                limit = min(KEEP_TOP_K, self.nms_max_boxes or KEEP_TOP_K)
                dets = dets[:limit]
        return dets


class TorchYoloxDetector(Detector):
    """Person detector from a YOLOX ONNX file, run by PyTorch (see the module doc); the same
    options as :class:`detectors.onnx_yolox.OnnxYoloxDetector`.

    Args:
        weights: path of the ``.onnx`` file.
        score_threshold: minimum person score.
        device: ``"cuda"``, ``"cuda:N"`` or ``"cpu"``.
        dtype: of weights and activations; default float16 on CUDA, float32 elsewhere.
        tiles: ``"auto"``, ``(columns, rows)`` or ``1`` (see :mod:`detectors.tiling`); the frame
            and its tiles run as one batch.
        cuda_graphs: replay CUDA graphs (default: on CUDA), captured while loading.

    On CUDA the detector runs on its own stream, so that it can overlap the pose network
    when it runs ahead in another thread (:mod:`apps.overlap`).
    """

    name = "yolox"

    def __init__(self, weights: str, score_threshold: float = 0.5, device: str = "cuda",
                 dtype: Optional[torch.dtype] = None, tiles="auto",
                 cuda_graphs: Optional[bool] = None) -> None:
        super().__init__(score_threshold)
        if tiles not in ("auto", 1) and not (isinstance(tiles, (tuple, list)) and len(tiles) == 2):
            raise ValueError(f"tiles must be 'auto', 1 or (columns, rows), got {tiles!r}")
        self.device = torch.device(device)
        cuda = self.device.type == "cuda"
        self.dtype = dtype or (torch.float16 if cuda else torch.float32)
        self.model = TorchYolox(weights).eval().to(self.device, self.dtype)
        if cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.input_size = self.model.input_size
        self.tiles = tiles
        self.stream = torch.cuda.Stream(self.device) if cuda else None
        self.graphs = BucketedGraphs(self.model, (3, *self.input_size), dtype=self.dtype,
                                     device=self.device, buckets=BUCKETS, capture=cuda_graphs,
                                     memory_format=torch.channels_last if cuda
                                     else torch.contiguous_format)
        if self.graphs.capture:
            with self._on_stream():
                self.graphs.prepare()
                torch.cuda.current_stream(self.device).synchronize()

    def _on_stream(self):
        """The detector's CUDA stream as the current one (nothing on the CPU)."""
        return torch.cuda.stream(self.stream) if self.stream is not None \
            else contextlib.nullcontext()

    def _grid(self, frame: np.ndarray):
        if self.tiles == "auto":
            return auto_grid(frame.shape[:2], self.input_size)
        return (1, 1) if self.tiles == 1 else tuple(self.tiles)

    def _detect(self, frames: List[np.ndarray]) -> List[np.ndarray]:
        return [detect_tiled(self._detect_images, frame, self._grid(frame), batched=True)
                for frame in frames]

    @torch.inference_mode()
    def _detect_images(self, images: List[np.ndarray]) -> List[np.ndarray]:
        """Boxes ``[N, 5]`` of each image, all images in one forward pass."""
        inputs, scales = zip(*(letterbox(image, self.input_size, self.model.end_to_end)
                               for image in images))
        batch = torch.from_numpy(np.concatenate(inputs))
        with self._on_stream():
            if self.stream is not None:
                batch = batch.pin_memory().to(self.device, non_blocking=True)
            dets = self.graphs(batch)
            kept = [self.model.select(d, self.score_threshold).float().cpu().numpy()
                    for d in dets]
        return [as_boxes(boxes_to_frame(k[:, :4], scale, image.shape[:2]), k[:, 4],
                         self.score_threshold)
                for k, scale, image in zip(kept, scales, images)]
