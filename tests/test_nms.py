"""OKS, rescoring and OKS-NMS, against hand-computed cases."""
import numpy as np

from pose.keypoints import COCO
from pose.nms import oks_nms, rescore, soft_oks_nms
from pose.oks import oks_matrix

SIGMAS = COCO.sigma_array()


def pose_at(x, y, score=0.9, spread=20.0):
    rng = np.random.default_rng(1)
    k = np.zeros((17, 3))
    k[:, 0] = x + rng.uniform(-spread, spread, 17)
    k[:, 1] = y + rng.uniform(-spread, spread, 17)
    k[:, 2] = score
    return k


def test_oks_of_identical_poses_is_one_and_far_poses_zero():
    a = pose_at(100, 100)
    far = pose_at(900, 900)
    m = oks_matrix(np.stack([a]), np.stack([a, far]), np.array([5000.0]),
                   np.array([5000.0, 5000.0]), SIGMAS)
    np.testing.assert_allclose(m, [[1.0, 0.0]], atol=1e-12)


def test_oks_matches_the_formula_for_one_joint_offset():
    a = pose_at(100, 100)
    b = a.copy()
    b[5, 0] += 10.0  # left shoulder moved 10 px
    area = 4000.0
    e = 100.0 / (2 * SIGMAS[5]) ** 2 / (area + np.spacing(1)) / 2
    expected = (16 + np.exp(-e)) / 17
    got = oks_matrix(a[None], b[None], np.array([area]), np.array([area]), SIGMAS)[0, 0]
    assert abs(got - expected) < 1e-12


def test_oks_score_threshold_counts_joints_confident_in_both():
    a, b = pose_at(100, 100), pose_at(100, 100)
    b[:, :2] += 1000  # far apart everywhere ...
    b[:3, :2] = a[:3, :2]  # ... except three identical joints
    a[3:, 2] = 0.1
    m = oks_matrix(a[None], b[None], np.array([1000.0]), np.array([1000.0]), SIGMAS,
                   score_threshold=0.2)
    assert abs(m[0, 0] - 1.0) < 1e-12
    a[:, 2] = 0.0
    assert oks_matrix(a[None], b[None], np.array([1.0]), np.array([1.0]), SIGMAS, 0.2)[0, 0] == 0


def test_rescore_is_box_score_times_mean_confident_joint():
    k = np.zeros((2, 17, 3))
    k[0, :, 2] = [0.9] * 10 + [0.1] * 7  # only the 10 joints above 0.2 count
    k[1, :, 2] = 0.2  # none strictly above 0.2
    np.testing.assert_allclose(rescore(k, np.array([0.5, 1.0])), [0.45, 0.0])


def test_oks_nms_drops_duplicates_keeps_distinct_best_first():
    a = pose_at(100, 100)
    near = a.copy()
    near[:, :2] += 0.5  # OKS ~ 1 with a
    other = pose_at(400, 100)
    kpts = np.stack([near, a, other])
    scores = np.array([0.8, 0.9, 0.7])
    areas = np.full(3, 8000.0)
    np.testing.assert_array_equal(oks_nms(kpts, scores, areas, SIGMAS, 0.9), [1, 2])
    # a threshold above the duplicates' OKS keeps them all
    assert sorted(oks_nms(kpts, scores, areas, SIGMAS, 1.0)) == [0, 1, 2]


def test_soft_oks_nms_decays_overlapping_scores_and_caps_detections():
    a = pose_at(100, 100)
    kpts = np.stack([a, a, pose_at(500, 500)])
    keep, decayed = soft_oks_nms(kpts, np.array([0.9, 0.8, 0.5]), np.full(3, 8000.0), SIGMAS,
                                 threshold=0.9)
    # the duplicate decays to 0.8 * exp(-1 / 0.9) = 0.263 < 0.5 and comes last
    np.testing.assert_array_equal(keep, [0, 2, 1])
    np.testing.assert_allclose(decayed, [0.9, 0.5, 0.8 * np.exp(-1 / 0.9)])
    many = np.stack([pose_at(100 * i, 0) for i in range(30)])
    keep, _ = soft_oks_nms(many, np.linspace(1, 0.1, 30), np.full(30, 500.0), SIGMAS)
    assert len(keep) == 20
