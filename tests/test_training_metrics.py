"""The training accuracy (official ``core/evaluate.accuracy``) on hand-computed cases."""
import numpy as np
import pytest

from pose.training import accuracy
from pose.training.metrics import accuracy_from_counts, joint_hits

H, W = 64, 48  # heatmap rows, columns: x is divided by H / 10 = 6.4, y by W / 10 = 4.8


def _peak(x, y, value=1.0):
    heatmap = np.zeros((H, W), np.float32)
    heatmap[y, x] = value
    return heatmap


def _case():
    """3 persons x 4 joints; see the expected values in the test."""
    output = np.zeros((3, 4, H, W), np.float32)
    target = np.zeros((3, 4, H, W), np.float32)
    # person 0
    target[0, 0], output[0, 0] = _peak(10, 20), _peak(13, 20)  # dx 3: 3 / 6.4 = 0.47 -> hit
    target[0, 1], output[0, 1] = _peak(10, 20), _peak(10, 23)  # dy 3: 3 / 4.8 = 0.63 -> miss
    output[0, 2] = _peak(5, 2, 0.7) + _peak(1, 3, 0.7)  # no target; tie -> first in row order
    target[0, 3], output[0, 3] = _peak(1, 30), _peak(1, 30)  # target x <= 1: not counted
    # person 1
    target[1, 0] = _peak(40, 60)  # output all zero: prediction (0, 0) -> miss
    target[1, 1], output[1, 1] = _peak(5, 5), _peak(7, 6)  # (2/6.4, 1/4.8): 0.38 -> hit
    target[1, 3], output[1, 3] = _peak(30, 1), _peak(30, 1)  # target y <= 1: not counted
    # person 2
    target[2, 0], output[2, 0] = _peak(20, 20), _peak(20, 20)  # hit
    output[2, 1] = -np.ones((H, W), np.float32)  # no target (invisible joint), negative output
    output[2, 1, 9, 9] = -0.5
    return output, target


def test_accuracy_equals_the_hand_computed_pck():
    output, target = _case()
    acc, average, count, pred = accuracy(output, target)
    # joint 0: persons 0 and 2 hit, person 1 misses -> 2/3; joint 1: person 0 misses, person 1
    # hits, person 2 has no target -> 1/2; joints 2 and 3: no counted target -> -1
    np.testing.assert_allclose(acc, [(2 / 3 + 1 / 2) / 2, 2 / 3, 1 / 2, -1, -1], rtol=1e-12)
    assert average == pytest.approx(7 / 12, rel=1e-12) and count == 2
    assert pred.shape == (3, 4, 2) and pred.dtype == np.float32
    np.testing.assert_array_equal(pred[0, 0], [13, 20])
    np.testing.assert_array_equal(pred[0, 2], [5, 2])  # the first maximum in row-major order
    np.testing.assert_array_equal(pred[1, 0], [0, 0])  # all-zero heatmap
    np.testing.assert_array_equal(pred[2, 1], [0, 0])  # maximum not positive


def test_x_is_normalised_by_the_height_and_y_by_the_width():
    # the official normaliser is [h, w] / 10 applied to (x, y): a 3-pixel error counts as a hit
    # along x (3 / 6.4 < 0.5) and a miss along y (3 / 4.8 > 0.5)
    target = np.stack([_peak(20, 20), _peak(20, 20)])[None]
    output = np.stack([_peak(23, 20), _peak(20, 23)])[None]
    acc, _, _, _ = accuracy(output, target)
    np.testing.assert_array_equal(acc[1:], [1.0, 0.0])
    acc, _, _, _ = accuracy(output, target, thr=0.7)
    np.testing.assert_array_equal(acc[1:], [1.0, 1.0])


def test_all_zero_targets_count_nothing():
    output = np.random.default_rng(0).random((2, 3, H, W)).astype(np.float32)
    acc, average, count, pred = accuracy(output, np.zeros_like(output))
    np.testing.assert_array_equal(acc, [0, -1, -1, -1])
    assert average == 0 and count == 0
    assert (pred > 0).any()  # predictions still come from the output
    acc, average, count, pred = accuracy(np.zeros_like(output), np.zeros_like(output))
    np.testing.assert_array_equal(acc, [0, -1, -1, -1])
    np.testing.assert_array_equal(pred, 0)


def test_counts_of_split_batches_add_up_to_the_whole_batch():
    """A global batch split over processes: adding the per-joint counts gives the accuracy of the
    whole batch, not a mean of the parts' averages."""
    rng = np.random.default_rng(1)
    target = np.zeros((8, 5, H, W), np.float32)
    output = rng.random((8, 5, H, W)).astype(np.float32)
    for n in range(8):
        for j in range(5):
            if rng.random() < 0.8:
                x, y = rng.integers(2, W), rng.integers(2, H)
                target[n, j, y, x] = 1
                output[n, j, min(H - 1, y + rng.integers(0, 5)), x] = 2
    whole = accuracy(output, target)
    parts = [joint_hits(output[:3], target[:3]), joint_hits(output[3:], target[3:])]
    hits = parts[0][0] + parts[1][0]
    counted = parts[0][1] + parts[1][1]
    acc, average, count = accuracy_from_counts(hits, counted)
    np.testing.assert_array_equal(acc, whole[0])
    assert (average, count) == (whole[1], whole[2])
    assert 0 < average < 1


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="must be equal"):
        accuracy(np.zeros((1, 2, 4, 4)), np.zeros((1, 3, 4, 4)))
