"""The box motion model: the batched Kalman filter equals filterpy's, and its noise scales
with the frame rate."""
import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from tracker.motion import (GATE_4DOF, PERSON_ASPECT, BoxKalman, full_covariance, measured_xyah,
                            to_xyah, to_xyxy)


def test_box_conversions_round_trip():
    boxes = np.array([[10.0, 20.0, 50.0, 120.0], [0.0, 0.0, 30.0, 60.0]])
    xyah = to_xyah(boxes)
    np.testing.assert_allclose(xyah[0], [30, 70, 0.4, 100])
    np.testing.assert_allclose(to_xyxy(xyah), boxes)


@pytest.mark.parametrize("fps", [7.0, 25.0])
def test_batched_filter_equals_filterpy_track_by_track(fps):
    rng = np.random.default_rng(0)
    kalman = BoxKalman(fps)
    starts = np.array([[100.0, 200.0, 0.4, 150.0], [400.0, 250.0, 0.45, 90.0]])
    mean, cov = kalman.initiate(starts)
    references = []
    for k in range(2):
        f = KalmanFilter(dim_x=8, dim_z=4)
        f.x, f.P = mean[k].copy(), full_covariance(cov[k:k + 1])[0]
        f.F, f.H = kalman.motion, kalman.observation
        references.append(f)
    for t in range(1, 15):
        mean, cov = kalman.predict(mean, cov)
        z = starts + t * np.array([[3.0, 0.5, 0.0, 0.4], [-5.0, 0.0, 0.0, -0.2]])
        z += rng.normal(0, 1, z.shape) * [2, 2, 0.01, 2]
        for k, f in enumerate(references):
            f.predict(Q=np.diag(kalman.process_variances(mean[k:k + 1])[0]))
            f.update(z[k], R=np.diag(kalman.measurement_variances(mean[k:k + 1])[0]))
        mean, cov = kalman.update(mean, cov, z)
        for k, f in enumerate(references):
            np.testing.assert_allclose(mean[k], f.x, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(full_covariance(cov[k:k + 1])[0], f.P, rtol=1e-7,
                                       atol=1e-9)
    assert mean[0, 4] == pytest.approx(3.0, abs=1.5)  # the velocities are learnt
    assert mean[1, 4] == pytest.approx(-5.0, abs=1.5)


def test_velocity_noise_grows_with_the_frame_interval_and_gates_widen_when_unseen():
    slow, fast = BoxKalman(7.5), BoxKalman(30.0)
    mean, cov = fast.initiate(np.array([[100.0, 100.0, 0.4, 100.0]]))
    q_slow, q_fast = slow.process_variances(mean)[0], fast.process_variances(mean)[0]
    np.testing.assert_allclose(q_slow[[4, 5, 7]], 16 * q_fast[[4, 5, 7]])  # (30 / 7.5)^2
    np.testing.assert_allclose(q_slow[:4], q_fast[:4])
    box = np.array([[118.0, 100.0, 0.4, 100.0]])  # 18 px (0.18 heights) away
    assert fast.gating_distance(mean, cov, box)[0, 0] < GATE_4DOF
    seen, seen_cov = fast.update(*fast.predict(mean, cov), np.array([[100.0, 100, 0.4, 100]]))
    for _ in range(5):
        seen, seen_cov = fast.update(*fast.predict(seen, seen_cov),
                                     np.array([[100.0, 100, 0.4, 100]]))
    near = fast.gating_distance(seen, seen_cov, box)[0, 0]
    unseen, unseen_cov = seen, seen_cov
    for _ in range(10):
        unseen, unseen_cov = fast.predict(unseen, unseen_cov)
    assert fast.gating_distance(unseen, unseen_cov, box)[0, 0] < near  # less certain


def test_boxes_cut_by_one_side_of_the_frame_are_measured_from_their_inner_edge():
    frame = (480, 640)
    boxes = np.array([[0.0, 100.0, 30.0, 300.0],     # cut by the left edge: 30 of 82 px seen
                      [600.0, 100.0, 640.0, 300.0],  # cut by the right edge
                      [0.0, 100.0, 120.0, 300.0],    # at the left edge, as wide as a person
                      [100.0, 100.0, 180.0, 300.0],  # inside
                      [0.0, 100.0, 640.0, 300.0]])   # both edges: nothing to tell
    xyah = measured_xyah(boxes, frame)
    person = PERSON_ASPECT * 200
    np.testing.assert_allclose(xyah[0], [30 - person / 2, 200, PERSON_ASPECT, 200])
    np.testing.assert_allclose(xyah[1], [600 + person / 2, 200, PERSON_ASPECT, 200])
    np.testing.assert_allclose(xyah[2:], to_xyah(boxes[2:]))
    np.testing.assert_allclose(measured_xyah(boxes), to_xyah(boxes))  # frame unknown
