"""Box -> center/scale -> affine crop, against hand-computed cases."""
import numpy as np

from pose.transforms import (affine_transform, apply_affine, box_to_center_scale,
                             crop_persons)


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
