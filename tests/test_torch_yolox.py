"""The YOLOX ONNX files run by PyTorch against onnxruntime, on the shared files and frames."""
import numpy as np
import pytest
import torch

from helpers import shared_path

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import detectors  # noqa: E402
from detectors.onnx_yolox import OnnxYoloxDetector, decode_raw_head, letterbox  # noqa: E402
from detectors.torch_yolox import TorchYolox, TorchYoloxDetector  # noqa: E402

END_TO_END = "data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx"
RAW = "data/detectors/yolox_nano_coco80.onnx"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def frames():
    """A frame of the one-person video (1000x1002), of the street (960x540) and of the crowd
    (1920x1080, detected on tiles too)."""
    from apps.video_io import VideoReader

    out = []
    for name, index in (("mmpose_body3d_demo.mp4", 60), ("mmpose_demo.mp4", 2),
                        ("mmtracking_demo.mp4", 5)):
        reader = VideoReader(shared_path(f"data/videos/{name}"), start=index, end=index + 1)
        out += [frame for _, frame in reader]
    return out


def assert_same_boxes(got: np.ndarray, expected: np.ndarray, box_px: float, score: float):
    assert got.shape == expected.shape, (got, expected)
    np.testing.assert_allclose(got[:, :4], expected[:, :4], rtol=0, atol=box_px)
    np.testing.assert_allclose(got[:, 4], expected[:, 4], rtol=0, atol=score)


@pytest.mark.parametrize("path", [END_TO_END, RAW])
def test_pytorch_runs_the_file_as_onnxruntime_does(path, frames):
    weights = str(shared_path(path))
    reference = OnnxYoloxDetector(weights, score_threshold=0.3)
    ours = TorchYoloxDetector(weights, score_threshold=0.3, device="cpu")
    assert ours.model.end_to_end == (path == END_TO_END)
    found = 0
    for frame in frames:
        expected = reference(frame)
        assert_same_boxes(ours(frame), expected, 1e-2, 1e-4)
        found += len(expected)
    assert found > 20  # the crowd is there


def test_the_decoded_head_is_the_raw_export_s_output(frames):
    """Megvii's export stops at the head: its output, decoded as the ONNX detector decodes it,
    is every cell's box and person score, as the PyTorch module gives them."""
    path = str(shared_path(RAW))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    module = TorchYolox(path).eval()
    x, _ = letterbox(frames[0], module.input_size, rounding=False)
    boxes, scores = decode_raw_head(session.run(None, {"images": x})[0][0], module.input_size)
    with torch.inference_mode():
        rows = module(torch.from_numpy(x))[0].numpy()
    assert rows.shape == (3549, 5)
    np.testing.assert_allclose(rows[:, :4], boxes, rtol=0, atol=2e-2)
    np.testing.assert_allclose(rows[:, 4], scores, rtol=0, atol=1e-5)


def test_the_end_to_end_export_s_nms_settings_are_read_from_the_file():
    module = TorchYolox(shared_path(END_TO_END))
    assert module.input_size == (416, 416) and module.levels == 3
    assert (round(module.nms_iou, 3), round(module.nms_score, 3), module.nms_max_boxes) == \
        (0.65, 0.01, 200)


def test_a_frame_and_its_tiles_in_one_batch_equal_each_alone(frames):
    detector = TorchYoloxDetector(str(shared_path(END_TO_END)), device="cpu")
    crowd = frames[2]
    images = [crowd, np.ascontiguousarray(crowd[:, 800:])]
    together = detector._detect_images(images)
    for image, boxes in zip(images, together):
        assert_same_boxes(boxes, detector._detect_images([image])[0], 1e-3, 1e-5)


def test_the_engine_is_chosen_by_device_and_onnxruntime_s_providers(monkeypatch):
    path = str(shared_path(END_TO_END))
    assert isinstance(detectors.build_detector("yolox", weights=path), OnnxYoloxDetector)
    assert isinstance(detectors.build_detector("yolox", weights=path, engine="torch"),
                      TorchYoloxDetector)
    built = []

    class Recorded:  # stands in for the GPU detector
        def __init__(self, weights, **kwargs):
            built.append(kwargs["device"])

    import detectors.torch_yolox as torch_yolox

    monkeypatch.setattr(torch_yolox, "TorchYoloxDetector", Recorded)
    monkeypatch.setattr("pose.onnx_session.has_cuda_provider", lambda: False)
    assert isinstance(detectors.build_detector("yolox", weights=path, device="cuda"), Recorded)
    monkeypatch.setattr("pose.onnx_session.has_cuda_provider", lambda: True)
    monkeypatch.setattr(OnnxYoloxDetector, "__init__", lambda self, *a, **k: None)
    assert isinstance(detectors.build_detector("yolox", weights=path, device="cuda"),
                      OnnxYoloxDetector)
    assert built == ["cuda"]
    with pytest.raises(ValueError, match="engine"):
        detectors.build_detector("yolox", weights=path, engine="tensorrt")


def _tiny_onnx(tmp_path, op: str = "Relu", head: bool = True):
    """An ONNX file: ``op`` on the input, then one 1x1 convolution per output (named as the
    head of Megvii's raw YOLOX export, or not), each followed by a Softmax that nothing reads
    from the head."""
    from onnx import TensorProto, helper, numpy_helper

    names = ["head.cls_preds.0", "head.reg_preds.0", "head.obj_preds.0"] if head else ["conv"]
    nodes, inits = [helper.make_node(op, ["input"], ["pre"])], []
    for name, out in zip(names, (1, 4, 1)):
        inits.append(numpy_helper.from_array(np.full((out, 3, 1, 1), 0.1, np.float32),
                                             f"{name}.weight"))
        nodes.append(helper.make_node("Conv", ["pre", f"{name}.weight"], [f"{name}_out"]))
        nodes.append(helper.make_node("Softmax", [f"{name}_out"], [f"{name}_y"]))
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                      [1, 3, 32, 32])],
        [helper.make_tensor_value_info(f"{n}_y", TensorProto.FLOAT, None) for n in names],
        inits)
    path = tmp_path / f"tiny_{op}_{head}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), path)
    return str(path)


def test_files_it_cannot_run_are_refused_or_left_to_onnxruntime(tmp_path, recwarn):
    with pytest.raises(ValueError, match="no YOLOX head"):
        TorchYolox(_tiny_onnx(tmp_path, head=False))
    with pytest.raises(ValueError, match="Softsign.*onnxruntime"):
        TorchYolox(_tiny_onnx(tmp_path, "Softsign"))
    # the Softmax after the head is not needed for the head's outputs: the file runs
    module = TorchYolox(_tiny_onnx(tmp_path, "Relu"))
    rows = module(-torch.ones(2, 3, 32, 32))  # Relu: zeros into the head
    assert rows.shape == (2, 32 * 32, 5)
    # cell 33 is column 1, row 1 of a stride-1 level: centre (1, 1), size exp(0)
    torch.testing.assert_close(rows[0, 33], torch.tensor([0.5, 0.5, 1.5, 1.5, 0.25]))
    with pytest.raises(FileNotFoundError):
        TorchYolox(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a loadable"):
        TorchYolox(bad)


@needs_cuda
def test_cuda_fp16_graphs_find_the_onnxruntime_persons(frames):
    weights = str(shared_path(END_TO_END))
    reference = OnnxYoloxDetector(weights, score_threshold=0.3)
    ours = detectors.build_detector("yolox", weights=weights, device="cuda", score_threshold=0.3,
                                    engine="torch")
    assert ours.dtype == torch.float16 and ours.graphs.captured == (1, 2, 4, 8)
    from torchvision.ops import box_iou

    for frame in frames:
        expected, got = reference(frame), ours(frame)
        # fp16 moves scores by ~1e-3: persons near the threshold may come or go, and where two
        # boxes overlap about as much as the NMS threshold the other one may be kept
        sure = expected[expected[:, 4] > 0.35]
        iou = box_iou(torch.from_numpy(sure[:, :4]), torch.from_numpy(got[:, :4])).numpy()
        matched = iou.max(axis=1) > 0.9
        assert matched.mean() >= 0.95
        best = iou.argmax(axis=1)[matched]
        np.testing.assert_allclose(got[best, 4], sure[matched, 4], atol=0.02)
        assert abs(len(got) - len(expected)) <= max(2, len(expected) // 10)


@needs_cuda
def test_cuda_torchvision_detectors_run_in_fp16():
    from detectors.torchvision_detectors import TorchvisionDetector

    torch.manual_seed(0)
    detector = TorchvisionDetector("fasterrcnn_mobilenet_v3_large_fpn", "random", "cuda",
                                   score_threshold=0.0)
    assert detector.half
    boxes = detector.detect([np.zeros((480, 640, 3), np.uint8)] * 2)
    assert len(boxes) == 2 and all(b.dtype == np.float32 and b.shape[1] == 5 for b in boxes)
    with pytest.raises(ValueError, match="CUDA"):
        TorchvisionDetector("fasterrcnn_mobilenet_v3_large_fpn", "random", "cpu", half=True)
