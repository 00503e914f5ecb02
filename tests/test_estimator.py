"""TopDownEstimator on a real image with the official-format reference checkpoint."""
import json

import numpy as np
import pytest
import torch

import pose
from helpers import shared_path
from pose.datasets.coco import read_rgb
from pose.estimator import TopDownEstimator, normalize_crops, prepare_crops
from pose.inference import InferenceModel


@pytest.fixture(scope="module")
def model():
    m = pose.build_model("hrnet_w8")
    pose.load_checkpoint(m, shared_path("reference/hrnet_small_w8_256x192_official.pth"))
    return m.eval()


@pytest.fixture(scope="module")
def frame():
    """A COCO image with its annotated persons' boxes ``[N, 5]``."""
    data = json.loads(shared_path("data/coco_sample/test_coco.json").read_text())
    info = data["images"][3]
    boxes = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
              a["bbox"][1] + a["bbox"][3], 1.0]
             for a in data["annotations"] if a["image_id"] == info["id"]]
    image = read_rgb(shared_path("data/coco_sample/" + info["file_name"]))
    return image, np.asarray(boxes)


def test_keypoints_have_image_coordinates_inside_the_padded_boxes(model, frame):
    image, boxes = frame
    k = TopDownEstimator(model)(image, boxes)
    assert k.shape == (len(boxes), 17, 3) and len(boxes) >= 3
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    margin = np.maximum(w, h)[:, None]
    assert (k[..., 0] >= boxes[:, None, 0] - margin).all()
    assert (k[..., 0] <= boxes[:, None, 2] + margin).all()


def test_chunking_and_frame_batching_do_not_change_results(model, frame):
    image, boxes = frame
    whole = TopDownEstimator(model, batch_size=64)(image, boxes)
    chunked = TopDownEstimator(model, batch_size=1)(image, boxes)
    np.testing.assert_allclose(chunked, whole, atol=1e-3)
    est = TopDownEstimator(model)
    prepared = est.prepare(image, boxes)  # the stages one by one, as the apps time them
    np.testing.assert_array_equal(est.decode_heatmaps(est.heatmaps(prepared.inputs), prepared),
                                  est.keypoints(prepared))
    two = est.estimate_frames([image, image[:, ::-1].copy()], [boxes, boxes[:1]])
    assert [len(x) for x in two] == [len(boxes), 1]
    np.testing.assert_allclose(two[0], whole, atol=1e-3)


def test_flip_test_is_the_official_average(model, frame):
    """Flipped copies share the forward pass, and the result is the official
    ``(out + shift(flip_back(model(flip(x))))) / 2``, computed here from separate passes."""
    image, boxes = frame
    est = TopDownEstimator(model)
    x = est.prepare(image, boxes).inputs
    with torch.no_grad():
        plain = model(x)
        mirrored = model(x.flip(3)).flip(3)[:, pose.keypoints.COCO.flip_indices]
    shifted = torch.cat([mirrored[..., :1], mirrored[..., :-1]], dim=3)
    expected = (plain + shifted) * 0.5
    torch.testing.assert_close(est.heatmaps(x), expected, atol=1e-4, rtol=1e-4)
    no_flip = TopDownEstimator(model, flip=False).heatmaps(x)
    torch.testing.assert_close(no_flip, plain, atol=1e-4, rtol=1e-4)
    assert (no_flip - expected).abs().max() > 0.1  # the flip test does change the output


def test_no_boxes_gives_no_poses(model, frame):
    image, _ = frame
    assert TopDownEstimator(model)(image, np.zeros((0, 5))).shape == (0, 17, 3)
    assert [x.shape for x in TopDownEstimator(model).estimate_frames([image], [np.zeros((0, 5))])] \
        == [(0, 17, 3)]


def test_bgr_checkpoints_get_reversed_channels_then_imagenet_normalisation():
    crops = np.zeros((1, 2, 2, 3), np.uint8)
    crops[..., 0] = 255  # pure red
    rgb = normalize_crops(crops, "rgb")[0, :, 0, 0]
    bgr = normalize_crops(crops, "bgr")[0, :, 0, 0]
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(rgb.numpy(), (np.array([1, 0, 0]) - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(bgr.numpy(), (np.array([0, 0, 1]) - mean) / std, rtol=1e-6)


def test_colour_order_follows_the_loaded_checkpoint(tmp_path, torch_home):
    assert pose.get_published("pose_resnet_50_coco_256x192").color == "rgb"  # mmpose file
    model = pose.build_model("pose_resnet_18")
    assert TopDownEstimator(model).color == "rgb"
    model.loaded_weights = pose.LoadedWeights(tmp_path, "official",
                                           published=pose.get_published(
                                               "pose_resnet_50_coco_256x192_official"))
    assert TopDownEstimator(model).color == "bgr"
    assert TopDownEstimator(model, color="rgb").color == "rgb"


def test_joint_count_without_a_layout_needs_flip_pairs():
    model = pose.build_model("hrnet_w8", num_joints=5)
    with pytest.raises(ValueError, match="flip_pairs"):
        TopDownEstimator(model)
    assert TopDownEstimator(model, flip_pairs=[(1, 2)]).flip_pairs == ((1, 2),)


def test_estimator_default_optimised_path_matches_the_plain_module(model, frame):
    image, boxes = frame[0], frame[1][:3]
    fast = TopDownEstimator(model)
    plain = TopDownEstimator(model, optimize=False)
    assert isinstance(fast.network, InferenceModel) and plain.network is model
    assert fast.model is model
    np.testing.assert_allclose(fast(image, boxes), plain(image, boxes), atol=1e-3)
    reused = TopDownEstimator(fast.network)  # an already optimised network runs as given
    assert reused.network is fast.network
    with pytest.raises(ValueError, match="optimize"):
        TopDownEstimator(model, optimize=False, dtype=torch.bfloat16)


def test_vectorised_crop_methods_give_nearly_the_official_keypoints(model, frame):
    image, boxes = frame[0], frame[1][:2]
    exact = TopDownEstimator(model, flip=False)(image, boxes)
    for crop in ("remap", "grid"):
        est = TopDownEstimator(model, crop=crop, flip=False)
        inputs = est.prepare(image, boxes).inputs
        assert inputs.shape == (len(boxes), 3, 256, 192)
        k = est(image, boxes)
        # a heatmap maximum may move by a quarter heatmap pixel where two are nearly equal
        assert np.median(np.abs(k[..., :2] - exact[..., :2])) < 0.05
        np.testing.assert_allclose(k[..., 2], exact[..., 2], atol=0.02)
    with pytest.raises(ValueError, match="crop"):
        TopDownEstimator(model, crop="bicubic")


def test_grid_crops_normalise_like_uint8_crops(frame):
    image, boxes = frame
    exact = prepare_crops(image, boxes, (256, 192), "bgr")
    grid = prepare_crops(image, boxes, (256, 192), "bgr", crop="grid")
    diff = (grid.inputs - exact.inputs).abs()
    assert diff.max() < 0.6 / 255 / 0.224  # half a grey level plus OpenCV's rounding
    np.testing.assert_array_equal(grid.center, exact.center)


def test_normalisation_is_the_official_one_bit_for_bit():
    crops = np.random.default_rng(0).integers(0, 256, (3, 8, 6, 3), dtype=np.uint8)
    official = torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous().float().div(255)
    official = official.sub(torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
    official = official.div(torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
    assert torch.equal(normalize_crops(crops), official)
    reversed_first = normalize_crops(np.ascontiguousarray(crops[..., ::-1]))
    assert torch.equal(normalize_crops(crops, "bgr"), reversed_first)
    assert normalize_crops(crops[:0]).shape == (0, 3, 8, 6)
