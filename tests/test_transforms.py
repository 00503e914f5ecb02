"""Box -> center/scale -> affine crop, against hand-computed cases."""
import json

import cv2
import numpy as np
import pytest
import torch

from helpers import shared_path
from pose.datasets.coco import read_rgb
from pose.transforms import (affine_matrices, affine_transform, apply_affine,
                             box_to_center_scale, crop_persons, crop_persons_grid,
                             invert_affine, sampling_maps)


def test_tall_box_is_widened_to_the_input_aspect_and_padded():
    center, scale = box_to_center_scale(np.array([[10, 20, 40, 100]]), (256, 192))
    # w=30, h=80; aspect 192/256=0.75 -> w = 60; scale = (60, 80) / 200 * 1.25
    np.testing.assert_array_equal(center, [[25.0, 60.0]])
    np.testing.assert_allclose(scale, [[0.375, 0.5]], rtol=1e-7)
    assert center.dtype == np.float32 and scale.dtype == np.float32


def test_wide_box_is_heightened():
    center, scale = box_to_center_scale(np.array([[0, 0, 150, 50, 0.9]]), (256, 192))
    # w=150 > 0.75*50 -> h = 200
    np.testing.assert_allclose(scale, [[0.9375, 1.25]], rtol=1e-7)
    np.testing.assert_array_equal(center, [[75.0, 25.0]])


def test_affine_maps_the_region_onto_the_input():
    center = np.array([100.0, 200.0], dtype=np.float32)
    scale = np.array([0.75, 1.0], dtype=np.float32)  # 150 x 200 pixels, aspect 0.75
    m = affine_transform(center, scale, (256, 192))
    corners = np.array([[25.0, 100.0], [175.0, 300.0], [100.0, 200.0]])
    np.testing.assert_allclose(apply_affine(corners, m), [[0, 0], [192, 256], [96, 128]],
                               atol=1e-4)
    back = affine_transform(center, scale, (256, 192), inverse=True)
    np.testing.assert_allclose(apply_affine(apply_affine(corners, m), back), corners, atol=1e-4)


def test_rotation_turns_the_region():
    m = affine_transform(np.array([50.0, 50.0]), np.array([1.0, 1.0]), (200, 200), rotation=90)
    # rotated by 90 degrees, a point above the source centre lands left of the output centre
    out = apply_affine(np.array([[50.0, 0.0]]), m)
    np.testing.assert_allclose(out, [[50.0, 100.0]], atol=1e-4)


def test_unit_scale_crop_copies_pixels_and_pads_black():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    # src width 0.96 * 200 = 192 = output width: a pure translation by (cx - 96, cy - 128)
    center = np.array([[150.0, 140.0]], dtype=np.float32)
    scale = np.array([[0.96, 1.28]], dtype=np.float32)
    crop = crop_persons(image, center, scale, (256, 192))[0]
    np.testing.assert_array_equal(crop, image[12:268, 54:246])
    # a region hanging over the left edge is padded with zeros
    crop = crop_persons(image, np.array([[50.0, 140.0]], np.float32), scale, (256, 192))[0]
    assert (crop[:, :46] == 0).all() and np.array_equal(crop[:, 46:], image[12:268, :146])


def test_no_boxes_gives_empty_arrays():
    center, scale = box_to_center_scale(np.zeros((0, 5)), (256, 192))
    assert center.shape == (0, 2) and scale.shape == (0, 2)
    assert crop_persons(np.zeros((10, 10, 3), np.uint8), center, scale, (64, 48)).shape == \
        (0, 64, 48, 3)


def _random_regions(n, seed=0):
    rng = np.random.default_rng(seed)
    x1y1 = rng.uniform(-50, 600, (n, 2))
    boxes = np.concatenate([x1y1, x1y1 + rng.uniform(3, 500, (n, 2))], axis=1)
    return box_to_center_scale(boxes, (256, 192))


def test_all_matrices_at_once_equal_the_official_per_person_ones():
    center, scale = _random_regions(200)
    rotation = np.random.default_rng(1).uniform(-60, 60, 200)
    for rot in (0.0, rotation):
        for inverse in (False, True):
            batched = affine_matrices(center, scale, (256, 192), rot, inverse=inverse)
            angles = np.broadcast_to(rot, (200,))
            official = np.stack([affine_transform(center[i], scale[i], (256, 192),
                                                  float(angles[i]), inverse=inverse)
                                 for i in range(200)])
            assert batched.shape == (200, 2, 3)
            np.testing.assert_allclose(batched, official, rtol=0, atol=1e-12 * 4096)
    assert affine_matrices(np.zeros((0, 2)), np.ones((0, 2)), (64, 48)).shape == (0, 2, 3)


def test_invert_affine_undoes_the_crop_matrix():
    center, scale = _random_regions(5)
    forward = affine_matrices(center, scale, (256, 192))
    back = invert_affine(forward)
    points = np.array([[0.0, 0.0], [191.0, 255.0], [40.5, 7.25]])
    for f, b in zip(forward, back):
        np.testing.assert_allclose(apply_affine(apply_affine(points, b), f), points, atol=1e-9)


def test_exact_crops_are_the_official_warps_bit_for_bit():
    """With the batched matrices (equal to 1e-12) warpAffine rounds 2 of these 400 crops
    differently somewhere; the exact method must use the official per-person matrices."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    corner = rng.uniform(-30, [300, 200], (400, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(5, 250, (400, 2))], axis=1)
    center, scale = box_to_center_scale(boxes, (64, 48))
    crops = crop_persons(image, center, scale, (64, 48))
    for i in range(400):
        official = cv2.warpAffine(image, affine_transform(center[i], scale[i], (64, 48)),
                                  (48, 64), flags=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(crops[i], official)


def coco_sample_persons(index: int):
    """Image ``index`` of the shared COCO sample (RGB) and its annotated persons' boxes
    ``[N, 4]`` x1, y1, x2, y2."""
    data = json.loads(shared_path("data/coco_sample/test_coco.json").read_text())
    info = data["images"][index]
    boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                       a["bbox"][1] + a["bbox"][3]]
                      for a in data["annotations"] if a["image_id"] == info["id"]])
    return read_rgb(shared_path("data/coco_sample/" + info["file_name"])), boxes


def _real_crops():
    """A COCO sample image and its annotated persons' crop regions."""
    image, boxes = coco_sample_persons(2)
    center, scale = box_to_center_scale(boxes, (256, 192))
    return image, center, scale


def test_one_remap_for_all_persons_matches_warp_affine_to_one_grey_level():
    image, center, scale = _real_crops()
    exact = crop_persons(image, center, scale, (256, 192)).astype(np.int16)
    remap = crop_persons(image, center, scale, (256, 192), method="remap").astype(np.int16)
    assert remap.shape == exact.shape and len(exact) >= 3
    assert np.abs(remap - exact).max() <= 1
    assert (remap != exact).mean() < 1e-3  # only 1/32-pixel rounding ties differ


def test_grid_sample_crops_are_the_unrounded_bilinear_values():
    image, center, scale = _real_crops()
    exact = crop_persons(image, center, scale, (256, 192)).astype(np.float32)
    grid = crop_persons_grid(image, center, scale, (256, 192))
    assert grid.shape == (len(center), 3, 256, 192) and grid.dtype == torch.float32
    diff = np.abs(grid.permute(0, 2, 3, 1).numpy() - exact)
    # uint8 rounding (0.5) plus OpenCV's 1/32-pixel positions and 15-bit weights
    assert diff.max() < 0.6 and diff.mean() < 0.3


def test_grid_crops_sample_at_the_remap_positions():
    """The sampling grid is built on the image's device from the crop matrices; on the CPU it
    is the numpy grid of ``sampling_maps`` bit for bit."""
    image, center, scale = _real_crops()
    h, w = image.shape[:2]
    map_x, map_y = sampling_maps(invert_affine(affine_matrices(center, scale, (256, 192))),
                                 (256, 192))
    grid = np.stack([map_x * np.float32(2 / w) + np.float32(1 / w - 1),
                     map_y * np.float32(2 / h) + np.float32(1 / h - 1)], axis=-1)
    frame = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    expected = torch.nn.functional.grid_sample(
        frame, torch.from_numpy(grid.reshape(1, -1, 192, 2)), mode="bilinear",
        padding_mode="zeros", align_corners=False)
    expected = expected.view(3, len(center), 256, 192).transpose(0, 1)
    assert torch.equal(crop_persons_grid(image, center, scale, (256, 192)), expected)


def test_vectorised_crops_keep_the_black_border_and_unit_scale_copy():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    center = np.array([[150.0, 140.0], [50.0, 140.0]], dtype=np.float32)
    scale = np.array([[0.96, 1.28], [0.96, 1.28]], dtype=np.float32)
    remap = crop_persons(image, center, scale, (256, 192), method="remap")
    grid = crop_persons_grid(image, center, scale, (256, 192)).permute(0, 2, 3, 1).numpy()
    for crops, atol in ((remap, 0), (grid, 0.05)):  # grid: float32 normalised coordinates
        np.testing.assert_allclose(crops[0], image[12:268, 54:246], rtol=0, atol=atol)
        assert (crops[1][:, :46] == 0).all()
        np.testing.assert_allclose(crops[1][:, 46:], image[12:268, :146], rtol=0, atol=atol)
    assert crop_persons(image, center[:0], scale[:0], (64, 48), method="remap").shape == \
        (0, 64, 48, 3)
    assert crop_persons_grid(image, center[:0], scale[:0], (64, 48)).shape == (0, 3, 64, 48)
    with pytest.raises(ValueError, match="remap"):
        crop_persons(image, center, scale, (64, 48), method="nearest")
