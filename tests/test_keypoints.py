"""Keypoint layouts."""
import numpy as np
import pytest

from pose.keypoints import (KEYPOINT_SETS, POSETRACK15, POSETRACK18,
                            POSETRACK18_TO_POSETRACK15, get_keypoint_set)


def mirror(name):
    side, _, joint = name.partition("_")
    return {"left": "right", "right": "left"}[side] + "_" + joint


@pytest.mark.parametrize("name", sorted(KEYPOINT_SETS))
def test_layout_is_consistent(name):
    s = get_keypoint_set(name)
    flip = s.flip_indices
    assert (flip[flip] == np.arange(s.num_joints)).all()  # a flip twice is the identity
    for a, b in s.flip_pairs:  # pairs swap left and right joints of the same kind
        assert mirror(s.names[a]) == s.names[b]
    assert all(0 <= i < s.num_joints for edge in s.skeleton for i in edge)
    assert s.sigmas is None or len(s.sigmas) == s.num_joints


def test_sizes_and_coco_sigmas():
    sizes = {n: s.num_joints for n, s in KEYPOINT_SETS.items()}
    assert sizes == {"coco": 17, "posetrack18": 17, "posetrack15": 15, "mpii": 16,
                     "crowdpose": 14, "aic": 14}
    np.testing.assert_allclose(KEYPOINT_SETS["coco"].sigma_array()[[0, 5, 11, 16]],
                               [0.026, 0.079, 0.107, 0.089])


def test_posetrack15_is_poseval_order_of_posetrack18_slots():
    names = [POSETRACK18.names[i] for i in POSETRACK18_TO_POSETRACK15]
    assert [n.replace("head_bottom", "neck") for n in names] == list(POSETRACK15.names)
    assert {3, 4}.isdisjoint(POSETRACK18_TO_POSETRACK15)  # the ears are not evaluated


def test_unknown_set_is_refused():
    with pytest.raises(KeyError, match="coco"):
        get_keypoint_set("h36m")
