"""Heatmap decoding and flip handling, against hand-computed cases."""
import cv2
import numpy as np
import pytest
import torch

from pose.decode import (argmax_keypoints, dark_refine, flip_heatmaps, gaussian_smooth,
                         heatmaps_to_keypoints, official_coords_torch, quarter_offset)
from pose.keypoints import COCO
from pose.transforms import affine_transform, apply_affine


def gaussian(h, w, x, y, sigma=2.0):
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def test_single_peak_decodes_to_its_pixel_and_back_to_the_image():
    hm = np.zeros((1, 1, 64, 48), np.float32)
    hm[0, 0, 32, 24] = 1.0  # the heatmap centre; neighbours equal -> no quarter offset
    center = np.array([[300.0, 200.0]], np.float32)
    scale = np.array([[0.75, 1.0]], np.float32)  # 150 x 200 px region
    out = heatmaps_to_keypoints(hm, center, scale)
    np.testing.assert_allclose(out[0, 0], [300.0, 200.0, 1.0], atol=1e-4)
    hm[0, 0] = 0
    hm[0, 0, 0, 0] = 0.5  # top-left heatmap pixel -> top-left corner of the region
    np.testing.assert_allclose(heatmaps_to_keypoints(hm, center, scale)[0, 0],
                               [225.0, 100.0, 0.5], atol=1e-4)


def test_quarter_offset_moves_toward_the_higher_neighbour():
    hm = np.zeros((1, 2, 10, 10), np.float32)
    hm[0, 0, 5, 5], hm[0, 0, 5, 6], hm[0, 0, 4, 5] = 1.0, 0.6, 0.3  # right and up
    hm[0, 1, 5, 5], hm[0, 1, 5, 4], hm[0, 1, 6, 5] = 1.0, 0.6, 0.3  # left and down
    coords, maxvals = argmax_keypoints(hm)
    np.testing.assert_array_equal(coords[0], [[5, 5], [5, 5]])
    np.testing.assert_array_equal(quarter_offset(hm, coords)[0], [[5.25, 4.75], [4.75, 5.25]])


def test_quarter_offset_uses_the_official_strict_bounds():
    hm = np.zeros((1, 3, 10, 10), np.float32)
    hm[0, 0, 5, 1], hm[0, 0, 5, 2] = 1.0, 0.5   # x == 1: official code does not move it
    hm[0, 1, 5, 2], hm[0, 1, 5, 3] = 1.0, 0.5   # x == 2: moves
    hm[0, 2, 5, 8], hm[0, 2, 5, 7] = 1.0, 0.5   # x == w - 2: moves
    coords, _ = argmax_keypoints(hm)
    out = quarter_offset(hm, coords)[0]
    np.testing.assert_array_equal(out[:, 0], [1.0, 2.25, 7.75])


def test_non_positive_maxima_decode_to_the_origin_with_their_value():
    hm = np.full((1, 1, 8, 8), -1.0, np.float32)
    hm[0, 0, 3, 4] = -0.5
    coords, maxvals = argmax_keypoints(hm)
    np.testing.assert_array_equal(coords[0, 0], [0, 0])
    assert maxvals[0, 0, 0] == -0.5


def test_ties_pick_the_first_maximum():
    hm = np.zeros((1, 1, 8, 8), np.float32)
    hm[0, 0, 2, 6] = hm[0, 0, 5, 1] = 1.0
    np.testing.assert_array_equal(argmax_keypoints(hm)[0][0, 0], [6, 2])


def test_flip_back_twice_is_identity_and_swaps_pairs():
    x = torch.randn(2, 17, 8, 6)
    once = flip_heatmaps(x, COCO.flip_pairs, shift=False)
    assert torch.equal(flip_heatmaps(once, COCO.flip_pairs, shift=False), x)
    # left eye (1) of the flipped output is the mirrored right eye (2)
    assert torch.equal(once[:, 1], x[:, 2].flip(-1)) and torch.equal(once[:, 0], x[:, 0].flip(-1))


def test_flip_shift_moves_columns_right_keeping_column_zero():
    x = torch.arange(6.0).view(1, 1, 1, 6)
    out = flip_heatmaps(x, (), shift=True)
    assert out.flatten().tolist() == [5.0, 5.0, 4.0, 3.0, 2.0, 1.0]


def test_dark_recovers_a_subpixel_peak_better_than_the_quarter_offset():
    hm = gaussian(64, 48, 20.3, 30.7)[None, None]
    coords, _ = argmax_keypoints(hm)
    official = quarter_offset(hm, coords)[0, 0]
    dark = dark_refine(hm, coords)[0, 0]
    assert np.abs(dark - [20.3, 30.7]).max() < 0.05
    assert np.abs(official - [20.3, 30.7]).max() > 0.04
    center, scale = np.array([[24.0, 32.0]], np.float32), np.array([[0.24, 0.32]], np.float32)
    out = heatmaps_to_keypoints(hm, center, scale, method="dark")
    np.testing.assert_allclose(out[0, 0, :2], [20.3, 30.7], atol=0.05)  # region = heatmap grid


def test_unknown_decoding_is_refused():
    with pytest.raises(ValueError, match="dark"):
        heatmaps_to_keypoints(np.zeros((1, 1, 4, 4)), np.zeros((1, 2)), np.ones((1, 2)), "udp")


def test_decoding_all_persons_at_once_equals_the_per_person_inverse_transform():
    rng = np.random.default_rng(0)
    hm = rng.random((6, 17, 64, 48)).astype(np.float32)
    center = rng.uniform(0, 600, (6, 2)).astype(np.float32)
    scale = rng.uniform(0.2, 3, (6, 2)).astype(np.float32)
    out = heatmaps_to_keypoints(hm, center, scale)
    coords = quarter_offset(hm, argmax_keypoints(hm)[0])
    for i in range(6):
        inverse = affine_transform(center[i], scale[i], (64, 48), inverse=True)
        np.testing.assert_allclose(out[i, :, :2], apply_affine(coords[i].astype(np.float64),
                                                               inverse), rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(out[..., 2], hm.reshape(6, 17, -1).max(axis=2))
    assert heatmaps_to_keypoints(hm[:0], center[:0], scale[:0], "dark").shape == (0, 17, 3)


def test_dark_smoothing_of_all_maps_equals_blurring_each_alone():
    rng = np.random.default_rng(1)
    hm = (rng.random((3, 200, 16, 12)) ** 4).astype(np.float32)  # 600 maps: several blur chunks
    smooth = gaussian_smooth(hm)
    for i, k in ((0, 0), (1, 57), (2, 199)):
        one = cv2.GaussianBlur(hm[i, k].astype(np.float64), (11, 11), 0,
                               borderType=cv2.BORDER_CONSTANT)
        np.testing.assert_allclose(smooth[i, k], one * hm[i, k].max() / one.max(), rtol=1e-12)


def test_torch_decoding_gives_the_numpy_coordinates_exactly():
    """The decoding that runs on a GPU, here on the CPU, against the numpy path: random maps
    plus ties, maxima on and next to every border, equal neighbours and no positive maximum."""
    rng = np.random.default_rng(2)
    hm = rng.random((5, 17, 64, 48)).astype(np.float32)
    hm[0, 0] = 0.5  # all equal: the first pixel
    hm[0, 1, 10, 20] = hm[0, 1, 30, 5] = 3.0  # two equal maxima: the first one
    for j, (y, x) in enumerate([(0, 0), (1, 1), (2, 2), (63, 47), (62, 46), (61, 45), (1, 30),
                                (30, 46)]):
        hm[1, j, y, x] = 5.0
    hm[2, 0, 20, 20] = 4.0
    hm[2, 0, 20, 19] = hm[2, 0, 20, 21] = 1.0  # equal neighbours: no step along x
    hm[3, 4] = -rng.random((64, 48))  # no positive maximum: (0, 0)
    coords, maxvals = argmax_keypoints(hm)
    expected = quarter_offset(hm, coords)
    got, got_max = official_coords_torch(torch.from_numpy(hm))
    np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(got_max.numpy(), maxvals)
    assert got.numpy()[2, 0, 0] == 20.0 and got.numpy()[2, 0, 1] != 20.0
    tiny = rng.random((2, 3, 2, 2)).astype(np.float32)  # no interior at all
    np.testing.assert_array_equal(official_coords_torch(torch.from_numpy(tiny))[0].numpy(),
                                  argmax_keypoints(tiny)[0])
