"""Person detectors: real ONNX YOLOX weights on real frames; torchvision backends with random
weights; detection files."""
import glob
import json

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

import detectors
from detectors.tiling import auto_grid, tile_regions
from helpers import shared_path
from pose.datasets.coco import read_rgb
from pose.errors import MissingWeightsError

ONNX = ["yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx", "yolox_nano_coco80.onnx"]


def annotated_frames():
    """(RGB frame, GT person boxes x1y1x2y2 larger than 32x32) of the COCO and PoseTrack18
    sample frames."""
    coco = json.loads(shared_path("data/coco_sample/test_coco.json").read_text())
    for image in coco["images"]:
        boxes = [a["bbox"] for a in coco["annotations"]
                 if a["image_id"] == image["id"] and not a.get("iscrowd")]
        yield shared_path("data/coco_sample/" + image["file_name"]), boxes
    val = shared_path("data/posetrack18_sample/annotations/val")
    for path in sorted(glob.glob(str(val / "*.json"))):
        data = json.loads(open(path).read())
        for image in data["images"]:
            boxes = [a["bbox"] for a in data["annotations"] if a["image_id"] == image["id"]]
            if boxes:
                yield shared_path("data/posetrack18_sample/" + image["file_name"]), boxes


@pytest.fixture(scope="module")
def frames():
    out = []
    for path, boxes in annotated_frames():
        gt = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes if w > 32 and h > 32],
                      dtype=np.float32).reshape(-1, 4)
        out.append((read_rgb(path), gt))
    return out


@pytest.mark.parametrize("weights", ONNX)
def test_yolox_finds_the_annotated_people(weights, frames):
    pytest.importorskip("onnxruntime")
    det = detectors.build_detector("yolox", weights=str(shared_path("data/detectors/" + weights)),
                                   score_threshold=0.5)
    found = total = 0
    for frame, gt in frames:
        boxes = det(frame)
        assert boxes.dtype == np.float32 and boxes.shape[1] == 5
        assert (boxes[:, 4] >= 0.5).all() and (np.diff(boxes[:, 4]) <= 0).all()
        assert (boxes[:, [0, 2]] <= frame.shape[1]).all() and (boxes[:, [1, 3]] <= frame.shape[0]).all()
        if len(boxes):
            found += int((box_iou(torch.from_numpy(gt), torch.from_numpy(boxes[:, :4]))
                          .numpy().max(1) >= 0.5).sum())
        total += len(gt)
    assert total == 25 and found / total >= 0.85


def test_yolox_variants_are_told_apart_and_batch_like_single_frames(frames):
    pytest.importorskip("onnxruntime")
    end2end, raw = (detectors.build_detector("yolox", weights=str(shared_path("data/detectors/" + w)))
                    for w in ONNX)
    assert end2end.end_to_end and not raw.end_to_end
    two = end2end.detect([frames[0][0], frames[1][0]])
    np.testing.assert_array_equal(two[1], end2end(frames[1][0]))


def test_tiling_grid():
    assert auto_grid((480, 640), (416, 416)) == (1, 1)
    assert auto_grid((1080, 1920), (416, 416)) == (2, 1)
    regions = tile_regions((1080, 1920), (2, 2))
    assert regions[0][:2] == (0, 0) and regions[-1][2:] == (1920, 1080)
    assert regions[1][0] < regions[0][2]  # neighbours overlap


def test_missing_onnx_weights_are_explained(tmp_path):
    with pytest.raises(ValueError, match="needs its ONNX file"):
        detectors.build_detector("rtmdet")
    with pytest.raises(FileNotFoundError, match="not found"):
        detectors.build_detector("yolox", weights=str(tmp_path / "nope.onnx"))


SMALL = dict(min_size=128, max_size=192)


@pytest.fixture(scope="module")
def faster_rcnn():
    torch.manual_seed(0)
    return detectors.build_detector("fasterrcnn_mobilenet_v3_large_fpn", weights="random",
                                    score_threshold=0.0, **SMALL)


def test_torchvision_person_filtering_and_coordinates(faster_rcnn):
    frame = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    predictor = faster_rcnn.model.roi_heads.box_predictor
    with torch.no_grad():
        predictor.cls_score.bias.zero_()
        predictor.cls_score.bias[3] = 20.0  # every box is a car: no persons
        assert len(faster_rcnn(frame)) == 0
        predictor.cls_score.bias[3] = 0.0
        predictor.cls_score.bias[1] = 20.0  # every box is a person
        boxes = faster_rcnn(frame)
    assert len(boxes) > 0 and boxes.dtype == np.float32
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 200).all() and (boxes[:, 3] <= 120).all()
    batched = faster_rcnn.detect([frame, frame])
    np.testing.assert_allclose(batched[0], boxes, atol=1e-3)
    np.testing.assert_allclose(batched[1], boxes, atol=1e-3)


@pytest.mark.parametrize("name", ["ssdlite320_mobilenet_v3_large", "retinanet_resnet50_fpn",
                                  "fcos_resnet50_fpn", "keypointrcnn_resnet50_fpn"])
def test_other_torchvision_backends_run(name):
    torch.manual_seed(0)
    kwargs = {} if name.startswith("ssd") else SMALL
    det = detectors.build_detector(name, weights="random", score_threshold=0.0, **kwargs)
    out = det.detect([np.zeros((96, 128, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)])
    assert len(out) == 2 and all(o.shape[1] == 5 and o.dtype == np.float32 for o in out)


def test_torchvision_weights_from_a_file(tmp_path, faster_rcnn):
    torch.save(faster_rcnn.model.state_dict(), tmp_path / "w.pth")
    det = detectors.build_detector("fasterrcnn_mobilenet_v3_large_fpn",
                                   weights=str(tmp_path / "w.pth"), **SMALL)
    for a, b in zip(det.model.state_dict().values(), faster_rcnn.model.state_dict().values()):
        assert torch.equal(a, b)
    torch.save({"backbone.x": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="do not fit"):
        detectors.build_detector("fasterrcnn_mobilenet_v3_large_fpn",
                                 weights=str(tmp_path / "bad.pth"), **SMALL)


def test_offline_published_weights_say_what_to_do(torch_home, monkeypatch):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("pose.downloads.urlopen", offline)
    with pytest.raises(Exception, match="put it at .*checkpoints/ssdlite320"):
        detectors.build_detector("ssdlite320_mobilenet_v3_large")


def test_detection_files_by_id_name_and_frame_index():
    path = shared_path("data/posetrack18_sample/annotations/test_posetrack18_human_detections.json")
    names = shared_path("data/posetrack18_sample/annotations/test_posetrack18_val.json")
    det = detectors.build_detector("file", detections=str(path), images=str(names))
    entries = [e for e in json.loads(path.read_text()) if e["image_id"] == 10128340000]
    by_id = det.boxes_for(10128340000)
    assert len(by_id) == len(entries) and (np.diff(by_id[:, 4]) <= 0).all()
    best = max(entries, key=lambda e: e["score"])
    x, y, w, h = best["bbox"]
    np.testing.assert_allclose(by_id[0], [x, y, x + w, y + h, best["score"]], rtol=1e-6)
    name = next(i["file_name"] for i in json.loads(names.read_text())["images"]
                if i["id"] == 10128340000)
    np.testing.assert_array_equal(det.boxes_for(name), by_id)
    index = det.image_ids.index(10128340000)
    np.testing.assert_array_equal(det.boxes_for(f"#{index}"), by_id)
    strict = detectors.build_detector("file", detections=str(path), score_threshold=0.9)
    assert (strict.boxes_for(10128340000)[:, 4] >= 0.9).all()
    frames = [np.zeros((4, 4, 3), np.uint8)] * len(det.image_ids)
    assert len(det.detect(frames)) == len(det.image_ids)


def test_bad_frames_and_names_are_refused():
    det = detectors.build_detector("file", detections=str(shared_path(
        "data/coco_sample/test_coco_det_AP_H_56.json")))
    with pytest.raises(ValueError, match="RGB uint8"):
        det.detect([np.zeros((4, 4), np.uint8)])
    with pytest.raises(ValueError, match="detections=PATH"):
        detectors.build_detector("file", weights="detections.json")
    with pytest.raises(TypeError, match="list of frames"):
        det.detect(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(KeyError, match="known"):
        detectors.build_detector("yolov99")


def test_cascade_rcnn_through_the_registry(torch_home, monkeypatch):
    import urllib.error

    det = detectors.build_detector("cascade_rcnn", weights="random", config="tiny")
    out = det.detect([np.zeros((96, 128, 3), np.uint8)])
    assert out[0].shape[1] == 5 and out[0].dtype == np.float32

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("pose.downloads.urlopen", offline)
    with pytest.raises(Exception, match="cascade_rcnn_x101_64x4d_fpn_20e_coco"):
        detectors.build_detector("cascade_rcnn", config="tiny")  # default: the published file


def _serve_published(monkeypatch, tmp_path, onnx_bytes):
    """Points the published YOLOX entry at a local zip holding ``onnx_bytes`` as
    ``<folder>/end2end.onnx`` (the layout of OpenMMLab's archives)."""
    import dataclasses
    import zipfile

    from detectors import published

    archive = tmp_path / "served.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("yolox_nano/end2end.onnx", onnx_bytes)
        zf.writestr("yolox_nano/pipeline.json", "{}")
    name = published.DEFAULT_CPU
    entry = dataclasses.replace(published.PUBLISHED[name], url=archive.as_uri())
    monkeypatch.setitem(published.PUBLISHED, name, entry)
    return name


def test_published_yolox_is_downloaded_extracted_and_checked(torch_home, monkeypatch, tmp_path):
    pytest.importorskip("onnxruntime")
    from detectors import published

    real = shared_path("data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx")
    name = _serve_published(monkeypatch, tmp_path, real.read_bytes())
    det = detectors.build_detector("yolox")  # no weights: the published default
    cached = published.cached_path(name)
    assert cached.read_bytes() == real.read_bytes()
    assert len(det.detect([np.zeros((64, 64, 3), np.uint8)])) == 1
    # a corrupted archive content is refused and nothing is kept
    cached.unlink()
    _serve_published(monkeypatch, tmp_path, b"not an onnx file")
    with pytest.raises(MissingWeightsError, match="SHA-256"):
        detectors.build_detector("yolox")
    assert not cached.exists()


def test_published_yolox_offline_says_what_to_fetch(torch_home, monkeypatch):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("pose.downloads.urlopen", offline)
    with pytest.raises(MissingWeightsError,
                       match=r"(?s)yolox_nano_8xb8-300e_humanart-40f6f0d0.zip.*end2end.onnx.*"
                             r"--detector-weights"):
        detectors.build_detector("yolox")
