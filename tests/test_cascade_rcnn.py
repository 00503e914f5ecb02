"""Cascade R-CNN (mmdet 2.x X-101-64x4d-FPN) in plain PyTorch: layout, algorithm, checkpoints.

Runs on the CPU with the ``tiny`` config and seeded weights. ``MMDET_REFERENCE`` holds what
mmdetection 2.28.2's own code returned for :func:`seeded_model` on :func:`synthetic_frame`.
"""
import math

import cv2
import numpy as np
import pytest
import torch
import torchvision

from detectors.base import Detector
from detectors.cascade_rcnn import (
    CONFIGS, DEFAULT_WEIGHTS, MMDET_ZOO, CascadeRCNN, CascadeRCNNDetector, batched_nms,
    decode_boxes, grid_anchors, load_mmdet_checkpoint, padded_size, preprocess, resized_size,
    resolve_weights)
from pose.checkpoint_reader import CheckpointError
from pose.downloads import hash_prefix_from_name

FAVOURED = {0: 4.0, 2: 4.0, 7: 4.0}  # class -> logit boost in every stage (0 = person)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny convolutions are ~10x faster on one thread than on two contending ones."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def seeded_model(config="tiny", favoured=FAVOURED, seed=0):
    """A network with deterministic, non-trivial weights: BN statistics away from identity, an
    RPN that ranks anchors, a classifier whose scores exceed 0.05 for the ``favoured`` classes."""
    model = CascadeRCNN(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.0, generator=g)
                m.bias.normal_(0, 0.1, generator=g)
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.normal_(0, math.sqrt(1.0 / m.weight[0].numel()), generator=g)
                if m.bias is not None:
                    m.bias.normal_(0, 0.1, generator=g)
        model.rpn_head.rpn_cls.weight.mul_(2)
        for head in model.roi_head.bbox_head:
            head.fc_cls.weight.normal_(0, 0.5, generator=g)
            head.fc_reg.weight.normal_(0, 0.05, generator=g)
            for cls, boost in favoured.items():
                head.fc_cls.bias[cls] += boost
    return model


def synthetic_frame(height=150, width=200):
    """A deterministic RGB uint8 frame: smooth gradients, three rectangles, a fine texture (so
    that no two anchors get exactly the same objectness)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    frame = np.stack([128 + 100 * np.sin(x / 13.0), 128 + 100 * np.cos(y / 7.0),
                      (x + 2 * y) % 256], axis=-1)
    for i, (x0, y0, w, h) in enumerate([(20, 30, 40, 90), (110, 20, 50, 60), (70, 100, 90, 35)]):
        frame[y0:y0 + h, x0:x0 + w] = (40 * i, 255 - 60 * i, 90)
    texture = 12 * np.sin(0.37 * x + 0.11 * y) * np.sin(0.23 * y - 0.05 * x)
    return np.clip(frame + texture[..., None], 0, 255).astype(np.uint8)


def make_detector(favoured=FAVOURED, score_threshold=0.3, **kwargs):
    with pytest.warns(UserWarning, match="randomly initialised"):
        det = CascadeRCNNDetector(config="tiny", score_threshold=score_threshold, **kwargs)
    det.model.load_state_dict(seeded_model(favoured=favoured).state_dict())
    return det


def run_model(model, frames):
    with torch.inference_mode():
        return model(*preprocess(frames, model.config))


# ---------------------------------------------------------------------------------- algorithm


# mmdet 2.28.2 + mmcv 1.7.2 (``inference_detector``; NMS: mmcv's CPU algorithm, RoIAlign:
# torchvision's) on seeded_model("tiny") and synthetic_frame(h, w): detections per class (100 in
# all) and the 5 best persons (x1, y1, x2, y2 in frame pixels, score). Our full outputs were
# identical to mmdet's (all classes, same order, difference 0.0) when these were recorded.
MMDET_REFERENCE = {
    (150, 200): ({0: 63, 2: 1, 7: 36}, [
        [0.2088, 101.9605, 33.7673, 150.0000, 0.374515],
        [0.1742, 105.7198, 18.2162, 149.7002, 0.365386],
        [0.0957, 116.9872, 10.4998, 149.7763, 0.351872],
        [151.8993, 20.4775, 180.4415, 34.2668, 0.345034],
        [77.4948, 58.7845, 134.1594, 115.0513, 0.344683]]),
    (120, 90): ({0: 56, 2: 1, 7: 43}, [
        [10.8457, 115.2487, 30.6698, 119.9911, 0.361070],
        [0.1013, 115.1557, 17.2624, 119.9920, 0.338610],
        [18.1859, 115.8939, 38.5625, 119.9680, 0.331934],
        [0.0187, 5.5124, 7.6778, 81.4359, 0.326767],
        [56.0430, 115.1800, 74.6630, 119.9441, 0.324894]]),
}


@pytest.mark.parametrize("shape", list(MMDET_REFERENCE))
def test_matches_mmdet_reference_output(shape):
    counts, persons = MMDET_REFERENCE[shape]
    boxes, scores, labels = run_model(seeded_model(), [synthetic_frame(*shape)])[0]
    assert {int(c): int((labels == c).sum()) for c in labels.unique()} == counts
    assert torch.all(scores[:-1] >= scores[1:])
    best = torch.cat([boxes, scores[:, None]], 1)[labels == 0][:5].numpy()
    np.testing.assert_allclose(best, np.array(persons, dtype=np.float32), atol=1e-3, rtol=0)


def test_anchors_match_mmdet():
    # mmdet's AnchorGenerator docstring: strides [16], ratios [1], scales [1], base_sizes [9]
    expected = torch.tensor([[-4.5, -4.5, 4.5, 4.5], [11.5, -4.5, 20.5, 4.5],
                             [-4.5, 11.5, 4.5, 20.5], [11.5, 11.5, 20.5, 20.5]])
    assert torch.equal(grid_anchors(16, (2, 2), [1.0], [1.0], base_size=9), expected)
    assert torch.equal(grid_anchors(32, (1, 1), [1.0], [1.0], base_size=18),
                       torch.tensor([[-9.0, -9.0, 9.0, 9.0]]))
    # the real config, stride 4: ratio (h/w) 0.5, 1, 2 around (0, 0), then the next column
    anchors = grid_anchors(4, (2, 3), (0.5, 1.0, 2.0), (8.0,))
    assert anchors.shape == (2 * 3 * 3, 4)
    w, h = 32 / math.sqrt(0.5), 32 * math.sqrt(0.5)
    torch.testing.assert_close(anchors[0], torch.tensor([-w / 2, -h / 2, w / 2, h / 2]))
    torch.testing.assert_close(anchors[1], torch.tensor([-16.0, -16.0, 16.0, 16.0]))
    torch.testing.assert_close(anchors[3], anchors[0] + torch.tensor([4.0, 0, 4.0, 0]))
    torch.testing.assert_close(anchors[9], anchors[0] + torch.tensor([0, 4.0, 0, 4.0]))


def test_decode_matches_mmdet():
    # mmdet's delta2bbox docstring example (stds 1, clipped to a 32x32 image)
    rois = torch.tensor([[0.0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [5, 5, 5, 5]])
    deltas = torch.tensor([[0.0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 2, -1], [0.7, -1.9, -0.5, 0.3]])
    expected = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.1409, 0.1409, 2.8591, 2.8591],
                             [0.0, 0.3161, 4.1945, 0.6839], [5.0, 5.0, 5.0, 5.0]])
    out = decode_boxes(rois, deltas, (1.0, 1.0, 1.0, 1.0), torch.tensor([32, 32]))
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)
    # stds scale the deltas; dw is clamped at |log(16 / 1000)|
    box = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    out = decode_boxes(box, torch.tensor([[1.0, 0.0, 100.0, 0.0]]), (0.1, 0.1, 0.2, 0.2))
    width = 20 * 1000 / 16
    torch.testing.assert_close(out, torch.tensor([[22 - width / 2, 20.0, 22 + width / 2, 60.0]]))


def mmcv_cpu_nms(boxes, scores, iou):
    """mmcv 1.x ``nms_cpu`` (offset 0): visit boxes in ``scores.sort`` order, drop IoU > iou."""
    order = scores.sort(0, descending=True)[1].tolist()
    b = boxes.tolist()
    area = [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in b]
    keep, dropped = [], set()
    for n, i in enumerate(order):
        if i in dropped:
            continue
        keep.append(i)
        for j in order[n + 1:]:
            w = max(0.0, min(b[i][2], b[j][2]) - max(b[i][0], b[j][0]))
            h = max(0.0, min(b[i][3], b[j][3]) - max(b[i][1], b[j][1]))
            if w * h / (area[i] + area[j] - w * h) > iou:
                dropped.add(j)
    return keep


def test_batched_nms_is_mmcv_batched_nms():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(600, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(600, 2, generator=g) * 30], 1)
    scores = torch.randint(0, 20, (600,), generator=g).float() / 20  # many exact ties
    groups = torch.randint(0, 3, (600,), generator=g)
    keep = batched_nms(boxes, scores, groups, 0.5)
    offset = groups.float()[:, None] * (boxes.max() + 1)  # mmcv's separation of the groups
    assert keep.tolist() == mmcv_cpu_nms(boxes + offset, scores, 0.5)
    assert batched_nms(boxes[:0], scores[:0], groups[:0], 0.5).shape == (0,)


def test_proposals_outside_the_image_give_no_detections():
    model = seeded_model()
    with torch.no_grad():  # every RPN box moves 20 anchor widths right: clipped to zero width
        model.rpn_head.rpn_reg.weight.zero_()
        model.rpn_head.rpn_reg.bias.copy_(torch.tensor([20.0, 0, 0, 0] * 3))
    images, sizes, factors = preprocess([synthetic_frame()], model.config)
    with torch.inference_mode():
        feats = model.neck(model.backbone(images))
        assert model.proposals(feats, sizes)[0].shape == (0, 4)
        boxes, scores, labels = model(images, sizes, factors)[0]
    assert boxes.shape == (0, 4) and scores.shape == labels.shape == (0,)


def test_resize_and_pad_follow_mmcv():
    assert resized_size((480, 640), (1333, 800)) == (800, 1067)
    assert resized_size((1080, 1920), (1333, 800)) == (750, 1333)
    assert resized_size((2000, 500), (1333, 800)) == (1333, 333)
    assert padded_size((480, 640), CONFIGS["x101_64x4d"]) == (800, 1088)
    assert padded_size((1080, 1920), CONFIGS["x101_64x4d"]) == (768, 1344)


def test_normalisation_is_mmcv_imnormalize():
    config = CONFIGS["tiny"]  # img_scale (256, 192): a 192x256 frame is not resized
    values = np.arange(192 * 256 * 3) % 256
    frame = values.reshape(192, 256, 3).astype(np.uint8)
    images, sizes, factors = preprocess([frame, frame[:100, :120]], config)
    assert images.shape == (2, 3, 192, 256) and images.dtype == torch.float32
    assert sizes.tolist() == [[192, 256], [192, 230]]  # factor min(256 / 120, 192 / 100)
    np.testing.assert_allclose(factors.numpy(), [[1, 1, 1, 1], [230 / 120, 1.92] * 2], rtol=1e-6)
    # mmcv.imnormalize on the (BGR -> RGB converted) float32 image: cv2 subtract / multiply.
    # The same operations; compared with a tolerance of a few float32 steps, as the last bit of
    # OpenCV's arithmetic may depend on the CPU's vector unit.
    reference = frame.astype(np.float32)
    cv2.subtract(reference, np.float64(np.float32(config.mean)).reshape(1, -1), reference)
    cv2.multiply(reference, 1 / np.float64(np.float32(config.std)).reshape(1, -1), reference)
    got = images[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-6)
    exact = (frame.astype(np.float64) - np.float32(config.mean)) / np.float32(config.std)
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-6)
    assert images[1, :, :, 230:].abs().max() == 0 and images[1, :, :, 229].abs().max() > 0


# ----------------------------------------------------------------------------------- detector


def test_detector_outputs():
    det = make_detector()
    assert isinstance(det, Detector)
    out = det.detect([synthetic_frame(), synthetic_frame(120, 90)])
    assert len(out) == 2
    for boxes, (h, w) in zip(out, [(150, 200), (120, 90)]):
        assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 5
        assert len(boxes) > 0
        assert np.all(np.diff(boxes[:, 4]) <= 0) and np.all(boxes[:, 4] >= 0.3)
        assert np.all(boxes[:, [0, 1]] >= 0) and np.all(boxes[:, 2] <= w)
        assert np.all(boxes[:, 3] <= h) and np.all(boxes[:, 2:4] >= boxes[:, :2])
    assert det.detect([]) == []
    assert det(synthetic_frame()).shape == out[0].shape


def test_batching_equals_one_by_one():
    det = make_detector(batch_size=4)
    frame = synthetic_frame()
    frames = [frame, np.ascontiguousarray(frame[::-1]), synthetic_frame(120, 90),
              np.ascontiguousarray(frame[:, ::-1])]
    together = det.detect(frames)  # three frames share a padded size, one does not
    for frame, boxes in zip(frames, together):
        alone = det.detect([frame])[0]
        assert alone.shape == boxes.shape and len(alone) > 0
        np.testing.assert_allclose(boxes, alone, atol=1e-4)


def test_only_person_boxes_come_out():
    frame = synthetic_frame()
    # the classifier favours class 3: the network detects things, the detector returns nothing
    det = make_detector(favoured={3: 6.0}, score_threshold=0.0)
    boxes, scores, labels = run_model(det.model, [frame])[0]
    assert len(labels) > 0 and set(labels.tolist()) == {3}
    assert det(frame).shape == (0, 5)
    # several classes detected: exactly the person (label 0) detections come out
    det = make_detector(score_threshold=0.0)
    boxes, scores, labels = run_model(det.model, [frame])[0]
    assert {0, 2, 7} <= set(labels.tolist())
    out = det(frame)
    expected = torch.cat([boxes, scores[:, None]], 1)[labels == 0].numpy()
    assert len(out) == len(expected) > 0
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_boxes_are_in_frame_pixels():
    det = make_detector()
    small = synthetic_frame(192, 256)  # exactly the tiny config's input size: not resized
    large = small.repeat(2, axis=0).repeat(2, axis=1)  # resized back to `small` exactly
    a, b = det.detect([small, large])
    assert len(a) > 0 and a.shape == b.shape
    np.testing.assert_allclose(b[:, :4], 2 * a[:, :4], atol=1e-3)
    np.testing.assert_allclose(b[:, 4], a[:, 4], atol=1e-6)
    assert b[:, 2].max() > 256  # really in the large frame's pixels


# -------------------------------------------------------------------------------- checkpoints


def mmdet_file(path, state, meta=None):
    meta = {"mmdet_version": "2.28.2", "CLASSES": ("person", "bicycle"), "epoch": 20} \
        if meta is None else meta
    torch.save({"meta": meta, "state_dict": state}, path)
    return path


def test_checkpoint_round_trip(tmp_path):
    source = seeded_model(seed=0)
    state = source.state_dict()
    assert any(k.startswith("backbone.") for k in state)
    target = seeded_model(seed=1)
    meta = load_mmdet_checkpoint(target, mmdet_file(tmp_path / "a.pth", state))
    assert meta["mmdet_version"] == "2.28.2"
    for key, value in target.state_dict().items():
        assert torch.equal(value, state[key]), key
    # files without BatchNorm counters load too
    target = seeded_model(seed=1)
    lean = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    load_mmdet_checkpoint(target, mmdet_file(tmp_path / "b.pth", lean))
    assert torch.equal(target.rpn_head.rpn_reg.weight, source.rpn_head.rpn_reg.weight)


def test_checkpoint_with_python_objects_in_meta(tmp_path):
    path = mmdet_file(tmp_path / "c.pth", seeded_model().state_dict(),
                      meta={"env_info": np.array([1, 2])})
    target = seeded_model(seed=1)
    meta = load_mmdet_checkpoint(target, path)
    assert meta["env_info"].tolist() == [1, 2]
    assert torch.equal(target.rpn_head.rpn_cls.bias, seeded_model().rpn_head.rpn_cls.bias)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.__setitem__("rpn_head.rpn_cls.weight", torch.zeros(4, 16, 1, 1)),
     "rpn_head.rpn_cls.weight (4, 16, 1, 1) vs (3, 16, 1, 1)"),
    (lambda s: s.pop("roi_head.bbox_head.2.fc_reg.bias"), "missing from the checkpoint: "
                                                          "roi_head.bbox_head.2.fc_reg.bias"),
    (lambda s: s.__setitem__("roi_head.mask_head.0.conv.weight", torch.zeros(1)),
     "not in the model: roi_head.mask_head.0.conv.weight"),
])
def test_mismatching_checkpoint_is_refused(tmp_path, change, message):
    state = seeded_model(seed=0).state_dict()
    change(state)
    target = seeded_model(seed=1)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_mmdet_checkpoint(target, mmdet_file(tmp_path / "bad.pth", state))
    assert message in str(info.value)
    for key, value in target.state_dict().items():  # nothing loaded
        assert torch.equal(value, before[key]), key


def test_other_architecture_is_refused(tmp_path):
    path = mmdet_file(tmp_path / "r.pth", seeded_model().state_dict())
    with torch.device("meta"):
        model = CascadeRCNN("r50")
    with pytest.raises(CheckpointError, match="backbone.conv1.weight"):
        load_mmdet_checkpoint(model, path)


def test_zoo_table(monkeypatch):
    assert DEFAULT_WEIGHTS in MMDET_ZOO
    assert {e.box_ap for e in MMDET_ZOO.values()} == {44.5, 44.7}
    calls = []
    monkeypatch.setattr("detectors.cascade_rcnn.weights.fetch_to_cache",
                        lambda url, sha, progress=True: calls.append((url, sha)) or "file.pth")
    for name, entry in MMDET_ZOO.items():
        filename = entry.url.rsplit("/", 1)[1]
        assert filename.startswith(name + "_") and entry.url.startswith("https://")
        assert entry.sha256 == hash_prefix_from_name(filename) == filename[-12:-4]
        assert entry.config in CONFIGS
        assert resolve_weights(name) == "file.pth" and calls[-1] == (entry.url, entry.sha256)
        resolve_weights(entry.url)
        assert calls[-1] == (entry.url, entry.sha256)
    with pytest.raises(FileNotFoundError, match="cascade_rcnn_x101_64x4d_fpn_20e_coco"):
        resolve_weights("no/such/file.pth")


# ------------------------------------------------------------------------------------- layout


def non_backbone_layout(fpn=256, fc=1024, classes=80, in_channels=(256, 512, 1024, 2048)):
    """Keys and shapes of mmdet's neck / RPN / cascade heads, from mmdet 2.28's FPN, RPNHead and
    Shared2FCBBoxHead (``reg_class_agnostic=True``) in registration order."""
    layout = {}
    for i, c in enumerate(in_channels):
        layout[f"neck.lateral_convs.{i}.conv.weight"] = (fpn, c, 1, 1)
        layout[f"neck.lateral_convs.{i}.conv.bias"] = (fpn,)
    for i in range(len(in_channels)):
        layout[f"neck.fpn_convs.{i}.conv.weight"] = (fpn, fpn, 3, 3)
        layout[f"neck.fpn_convs.{i}.conv.bias"] = (fpn,)
    layout.update({"rpn_head.rpn_conv.weight": (fpn, fpn, 3, 3), "rpn_head.rpn_conv.bias": (fpn,),
                   "rpn_head.rpn_cls.weight": (3, fpn, 1, 1), "rpn_head.rpn_cls.bias": (3,),
                   "rpn_head.rpn_reg.weight": (12, fpn, 1, 1), "rpn_head.rpn_reg.bias": (12,)})
    for s in range(3):
        head = f"roi_head.bbox_head.{s}."
        layout.update({head + "fc_cls.weight": (classes + 1, fc),
                       head + "fc_cls.bias": (classes + 1,),
                       head + "fc_reg.weight": (4, fc), head + "fc_reg.bias": (4,),
                       head + "shared_fcs.0.weight": (fc, fpn * 7 * 7),
                       head + "shared_fcs.0.bias": (fc,),
                       head + "shared_fcs.1.weight": (fc, fc), head + "shared_fcs.1.bias": (fc,)})
    return layout


@pytest.mark.parametrize("config, torchvision_model, published_params", [
    ("x101_64x4d", torchvision.models.resnext101_64x4d, 83_455_272),
    ("r50", torchvision.models.resnet50, 25_557_032),
])
def test_full_size_layout(config, torchvision_model, published_params):
    with torch.device("meta"):  # no memory, no init time
        model = CascadeRCNN(config)
        reference = torchvision_model()
    state = model.state_dict()
    # backbone: exactly torchvision's ResNeXt/ResNet (same names as mmdet's) without its fc layer
    backbone = [(k[len("backbone."):], tuple(v.shape)) for k, v in state.items()
                if k.startswith("backbone.")]
    expected = [(k, tuple(v.shape)) for k, v in reference.state_dict().items()
                if not k.startswith("fc.")]
    assert backbone == expected
    fc = 2048 * 1000 + 1000
    backbone_params = sum(p.numel() for n, p in model.named_parameters()
                          if n.startswith("backbone."))
    assert backbone_params == published_params - fc  # torchvision's published num_params
    rest = [(k, tuple(v.shape)) for k, v in state.items() if not k.startswith("backbone.")]
    assert rest == list(non_backbone_layout().items())
    heads = sum(math.prod(s) for s in non_backbone_layout().values())
    assert sum(p.numel() for p in model.parameters()) == backbone_params + heads
    if config == "x101_64x4d":
        assert sum(p.numel() for p in model.parameters()) == 127_293_006
        assert tuple(state["backbone.layer1.0.conv2.weight"].shape) == (256, 4, 3, 3)  # 64 x 4d
        assert tuple(state["backbone.layer4.2.conv3.weight"].shape) == (2048, 2048, 1, 1)
        assert len(state) == 670


def test_detector_without_weights_warns():
    with pytest.warns(UserWarning, match=DEFAULT_WEIGHTS):
        det = CascadeRCNNDetector(config="tiny")
    assert det.name == "cascade_rcnn" and det.score_threshold == 0.5
    with pytest.raises(KeyError, match="x101_64x4d"):
        CascadeRCNN("x102")
